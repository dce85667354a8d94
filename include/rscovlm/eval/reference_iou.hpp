#pragma once
/// \file reference_iou.hpp
/// Bit-faithful re-implementations of the IoU routines the two DOTA evaluation references use,
/// so that TP/FP decisions at the 0.5 threshold come out exactly as in those references:
///
/// - `devkit_polyiou`: DOTA_devkit `polyiou.iou_poly` (polyiou.cpp, float64). It sums signed
///   triangle intersections relative to the *origin*, so it is not exact (rounding grows with the
///   coordinate magnitude), not symmetric, returns NaN for two zero-area polygons (0/0) and a
///   signed-area value for self-intersecting quads. Use `quad_iou` (polygon_iou.hpp) for the
///   exact value.
/// - `mmcv_iou_rotated_f32`: mmcv 2.x CPU `single_box_iou_rotated<float>`
///   (box_iou_rotated_utils.hpp), used by mmrotate 1.x `eval_rbbox_map` for `rbox`.
/// - `mmcv_iou_quadri_f32`: mmcv `single_box_iou_quadri<float>`, used for `qbox`; its
///   vertex-inside test is only right for parallelograms (as in the reference).
///
/// Both float kernels reproduce the reference's mixed float/double expression types. They assume
/// IEEE single/double arithmetic without fused multiply-add contraction (the default on x86-64
/// without `-march` flags that enable FMA).

#include <rscovlm/geometry/min_area_rect.hpp>
#include <rscovlm/geometry/types.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <utility>
#include <vector>

namespace rscovlm::eval {

namespace detail::devkit {

// polyiou.cpp: eps = 1e-8 and the three-way sign with that tolerance.
inline constexpr double eps = 1e-8;
inline int sig(double d) noexcept {
    return (d > eps) - (d < -eps);
}

struct pt {
    double x, y;
};
inline bool same(const pt& a, const pt& b) noexcept {
    return sig(a.x - b.x) == 0 && sig(a.y - b.y) == 0;
}
inline double cross(const pt& o, const pt& a, const pt& b) noexcept {
    return (a.x - o.x) * (b.y - o.y) - (b.x - o.x) * (a.y - o.y);
}
// polyiou `area`: sum of x_i*y_{i+1} - y_i*x_{i+1}, halved (signed). Writes ps[n] = ps[0].
inline double area(pt* ps, int n) noexcept {
    ps[n] = ps[0];
    double res = 0;
    for (int i = 0; i < n; ++i)
        res += ps[i].x * ps[i + 1].y - ps[i].y * ps[i + 1].x;
    return res / 2.0;
}

// polyiou keeps its cutting buffer in a function-static array, so a point that `lineCross`
// does not write keeps an earlier value; one buffer per thread reproduces that behaviour for a
// sequential run.
inline pt* cut_buffer() noexcept {
    static thread_local pt buf[512];
    return buf;
}

// polyiou `lineCross`: returns 2 (collinear) / 0 (parallel) without writing p.
inline int line_cross(const pt& a, const pt& b, const pt& c, const pt& d, pt& p) noexcept {
    const double s1 = cross(a, b, c);
    const double s2 = cross(a, b, d);
    if (sig(s1) == 0 && sig(s2) == 0) return 2;
    if (sig(s2 - s1) == 0) return 0;
    p.x = (c.x * s2 - d.x * s1) / (s2 - s1);
    p.y = (c.y * s2 - d.y * s1) / (s2 - s1);
    return 1;
}

// polyiou `lineCross` given s1 = cross(a,b,c) and s2 = cross(a,b,d) already computed (the same
// expressions, hence the same values).
inline int line_cross_s(double s1, double s2, const pt& c, const pt& d, pt& p) noexcept {
    if (sig(s1) == 0 && sig(s2) == 0) return 2;
    if (sig(s2 - s1) == 0) return 0;
    p.x = (c.x * s2 - d.x * s1) / (s2 - s1);
    p.y = (c.y * s2 - d.y * s1) / (s2 - s1);
    return 1;
}

// polyiou `polygon_cut`: keeps the part of p left of the directed line a->b, in place. The side
// values are computed once per vertex (the reference recomputes identical expressions).
inline void polygon_cut(pt* p, int& n, const pt& a, const pt& b) noexcept {
    pt* pp = cut_buffer();
    int m = 0;
    p[n] = p[0];
    double cr[33];
    for (int i = 0; i <= n; ++i)
        cr[i] = cross(a, b, p[i]);
    for (int i = 0; i < n; ++i) {
        const int si = sig(cr[i]);
        if (si > 0) pp[m++] = p[i];
        if (si != sig(cr[i + 1])) line_cross_s(cr[i], cr[i + 1], p[i], p[i + 1], pp[m++]);
    }
    n = 0;
    for (int i = 0; i < m; ++i)
        if (!i || !same(pp[i], pp[i - 1])) p[n++] = pp[i];
    while (n > 1 && same(p[n - 1], p[0]))
        --n;
}

// polyiou `intersectArea(a,b,c,d)`: signed intersection of triangles (o,a,b) and (o,c,d).
inline double tri_intersect(pt a, pt b, pt c, pt d) noexcept {
    const pt o{0, 0};
    const int s1 = sig(cross(o, a, b));
    const int s2 = sig(cross(o, c, d));
    if (s1 == 0 || s2 == 0) return 0.0;
    if (s1 == -1) std::swap(a, b);
    if (s2 == -1) std::swap(c, d);
    pt p[32] = {o, a, b}; // the reference uses 10; up to 25 entries are reachable in theory
    int n = 3;
    polygon_cut(p, n, o, c);
    polygon_cut(p, n, c, d);
    polygon_cut(p, n, d, o);
    double res = std::fabs(area(p, n));
    if (s1 * s2 == -1) res = -res;
    return res;
}

} // namespace detail::devkit

/// DOTA_devkit `polyiou.iou_poly(p, q)` reproduced operation by operation (float64). Note the
/// argument order matters in the last bits; DOTA's `voc_eval` calls it as (GT, detection) and its
/// NMS as (kept, other). Returns NaN for two zero-area quads, like the reference.
inline double devkit_polyiou(const geometry::quad& p, const geometry::quad& q) noexcept {
    using detail::devkit::pt;
    pt ps1[8], ps2[8];
    for (int i = 0; i < 4; ++i) {
        ps1[i] = pt{p[static_cast<std::size_t>(i)].x, p[static_cast<std::size_t>(i)].y};
        ps2[i] = pt{q[static_cast<std::size_t>(i)].x, q[static_cast<std::size_t>(i)].y};
    }
    // intersectArea(ps1, 4, ps2, 4): orient both counter-clockwise first (in place).
    if (detail::devkit::area(ps1, 4) < 0) std::reverse(ps1, ps1 + 4);
    if (detail::devkit::area(ps2, 4) < 0) std::reverse(ps2, ps2 + 4);
    ps1[4] = ps1[0];
    ps2[4] = ps2[0];
    double inter = 0;
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
            inter += detail::devkit::tri_intersect(ps1[i], ps1[i + 1], ps2[j], ps2[j + 1]);
    const double uni = std::fabs(detail::devkit::area(ps1, 4)) + std::fabs(detail::devkit::area(ps2, 4)) - inter;
    return inter / uni;
}

namespace detail::mmcv {

struct fpt {
    float x, y;
};
inline fpt operator-(const fpt& a, const fpt& b) noexcept {
    return fpt{a.x - b.x, a.y - b.y};
}
inline fpt operator+(const fpt& a, const fpt& b) noexcept {
    return fpt{a.x + b.x, a.y + b.y};
}
inline fpt operator*(const fpt& a, float c) noexcept {
    return fpt{a.x * c, a.y * c};
}
inline float dot(const fpt& a, const fpt& b) noexcept {
    return a.x * b.x + a.y * b.y;
}
inline float cross(const fpt& a, const fpt& b) noexcept {
    return a.x * b.y - b.x * a.y;
}

// get_intersection_points: edge crossings, then vertices of 1 inside 2 and of 2 inside 1 using
// the projection test on edges AB and AD (exact only for parallelograms).
inline int intersection_points(const fpt (&p1)[4], const fpt (&p2)[4], fpt (&out)[24]) noexcept {
    fpt v1[4], v2[4];
    for (int i = 0; i < 4; ++i) {
        v1[i] = p1[(i + 1) % 4] - p1[i];
        v2[i] = p2[(i + 1) % 4] - p2[i];
    }
    int num = 0;
    for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 4; ++j) {
            const float det = cross(v2[j], v1[i]);
            if (std::fabs(det) <= 1e-14) continue;
            const fpt v12 = p2[j] - p1[i];
            const float t1 = cross(v2[j], v12) / det;
            const float t2 = cross(v1[i], v12) / det;
            if (t1 >= 0.0f && t1 <= 1.0f && t2 >= 0.0f && t2 <= 1.0f) out[num++] = p1[i] + v1[i] * t1;
        }
    }
    auto inside = [&num, &out](const fpt(&pa)[4], const fpt(&pb)[4], const fpt(&vb)[4]) {
        const fpt& ab = vb[0];
        const fpt& da = vb[3];
        const float abab = dot(ab, ab);
        const float adad = dot(da, da);
        for (int i = 0; i < 4; ++i) {
            const fpt ap = pa[i] - pb[0];
            const float apab = dot(ap, ab);
            const float apad = -dot(ap, da);
            if (apab >= 0 && apad >= 0 && apab <= abab && apad <= adad) out[num++] = pa[i];
        }
    };
    inside(p1, p2, v2);
    inside(p2, p1, v1);
    return num;
}

// convex_hull_graham (CPU branch, shift_to_zero = true) followed by polygon_area.
inline float hull_area(const fpt (&p)[24], int num_in) {
    fpt q[24];
    int t = 0;
    for (int i = 1; i < num_in; ++i)
        if (p[i].y < p[t].y || (p[i].y == p[t].y && p[i].x < p[t].x)) t = i;
    const fpt start = p[t];
    for (int i = 0; i < num_in; ++i)
        q[i] = p[i] - start;
    std::swap(q[0], q[t]);
    // The reference sorts with std::sort (libstdc++ introsort) and this comparator; the same
    // library gives the same order, which matters for the float rounding of the area below.
    std::sort(q + 1, q + num_in, [](const fpt& a, const fpt& b) -> bool {
        const float temp = cross(a, b);
        if (std::fabs(temp) < 1e-6) return dot(a, a) < dot(b, b);
        return temp > 0;
    });
    float dist[24];
    for (int i = 0; i < num_in; ++i)
        dist[i] = dot(q[i], q[i]);
    int k = 1;
    for (; k < num_in; ++k)
        if (dist[k] > 1e-8) break;
    if (k == num_in) return 0.0f; // hull is one point: polygon_area(m = 1) = 0
    q[1] = q[k];
    int m = 2;
    for (int i = k + 1; i < num_in; ++i) {
        while (m > 1 && cross(q[i] - q[m - 2], q[m - 1] - q[m - 2]) >= 0)
            --m;
        q[m++] = q[i];
    }
    if (m <= 2) return 0.0f;
    float a = 0;
    for (int i = 1; i < m - 1; ++i)
        a += std::fabs(cross(q[i] - q[0], q[i + 1] - q[0]));
    return static_cast<float>(a / 2.0);
}

inline float quad_area(const fpt (&q)[4]) noexcept {
    float a = 0;
    for (int i = 1; i < 3; ++i)
        a += std::fabs(cross(q[i] - q[0], q[i + 1] - q[0]));
    return static_cast<float>(a / 2.0);
}

// get_rotated_vertices (theta in radians, "MODIFIED" variant of mmcv).
inline void rotated_vertices(float xc, float yc, float w, float h, float a, fpt (&pts)[4]) noexcept {
    const double theta = a;
    const float c2 = static_cast<float>(std::cos(theta)) * 0.5f;
    const float s2 = static_cast<float>(std::sin(theta)) * 0.5f;
    pts[0].x = xc - s2 * h - c2 * w;
    pts[0].y = yc + c2 * h - s2 * w;
    pts[1].x = xc + s2 * h - c2 * w;
    pts[1].y = yc - c2 * h - s2 * w;
    pts[2].x = 2 * xc - pts[0].x;
    pts[2].y = 2 * yc - pts[0].y;
    pts[3].x = 2 * xc - pts[1].x;
    pts[3].y = 2 * yc - pts[1].y;
}

} // namespace detail::mmcv

/// mmcv `single_box_iou_rotated<float>(box1, box2, mode)`: boxes are float32
/// `[cx, cy, w, h, theta_radians]`; `iof == true` gives intersection / area(box1).
inline float mmcv_iou_rotated_f32(const std::array<float, 5>& b1, const std::array<float, 5>& b2, bool iof = false) {
    using namespace detail::mmcv;
    // The shift is a double (float sum / 2.0), the shifted centres are stored back as float.
    const double sx = (b1[0] + b2[0]) / 2.0;
    const double sy = (b1[1] + b2[1]) / 2.0;
    const float x1 = static_cast<float>(b1[0] - sx), y1 = static_cast<float>(b1[1] - sy);
    const float x2 = static_cast<float>(b2[0] - sx), y2 = static_cast<float>(b2[1] - sy);
    const float area1 = b1[2] * b1[3];
    const float area2 = b2[2] * b2[3];
    if (area1 < 1e-14 || area2 < 1e-14) return 0.f;
    fpt p1[4], p2[4];
    rotated_vertices(x1, y1, b1[2], b1[3], b1[4], p1);
    rotated_vertices(x2, y2, b2[2], b2[3], b2[4], p2);
    fpt pts[24];
    const int num = intersection_points(p1, p2, pts);
    const float inter = num <= 2 ? 0.0f : hull_area(pts, num);
    const float base = iof ? area1 : (area1 + area2 - inter);
    return inter / base;
}

/// mmcv `single_box_iou_quadri<float>(q1, q2, mode)` on float32 quads `[x1, y1, ..., x4, y4]`.
inline float mmcv_iou_quadri_f32(const std::array<float, 8>& q1, const std::array<float, 8>& q2, bool iof = false) {
    using namespace detail::mmcv;
    const double sx = (q1[0] + q2[0] + q1[2] + q2[2] + q1[4] + q2[4] + q1[6] + q2[6]) / 8.0;
    const double sy = (q1[1] + q2[1] + q1[3] + q2[3] + q1[5] + q2[5] + q1[7] + q2[7]) / 8.0;
    fpt p1[4], p2[4];
    for (int i = 0; i < 4; ++i) {
        p1[i].x = static_cast<float>(q1[static_cast<std::size_t>(2 * i)] - sx);
        p1[i].y = static_cast<float>(q1[static_cast<std::size_t>(2 * i + 1)] - sy);
        p2[i].x = static_cast<float>(q2[static_cast<std::size_t>(2 * i)] - sx);
        p2[i].y = static_cast<float>(q2[static_cast<std::size_t>(2 * i + 1)] - sy);
    }
    const float area1 = quad_area(p1);
    const float area2 = quad_area(p2);
    if (area1 < 1e-14 || area2 < 1e-14) return 0.f;
    fpt pts[24];
    const int num = intersection_points(p1, p2, pts);
    const float inter = num <= 2 ? 0.0f : hull_area(pts, num);
    const float base = iof ? area1 : (area1 + area2 - inter);
    return inter / base;
}

/// mmrotate 1.x `qbox2rbox` on one quad: float32 points -> `cv2.minAreaRect` ->
/// `[x, y, w, h, angle / 180 * pi]` (angle arithmetic in double) -> float32. Returns false where
/// OpenCV raises (then `out` is all zeros).
inline bool qbox2rbox_f32(const geometry::quad& q, std::array<float, 5>& out) {
    std::vector<geometry::point_f32> pts(4);
    for (std::size_t i = 0; i < 4; ++i)
        pts[i] = {static_cast<float>(q[i].x), static_cast<float>(q[i].y)};
    auto r = geometry::try_min_area_rect(pts);
    if (!r) {
        out = {0, 0, 0, 0, 0};
        return false;
    }
    const geometry::rotated_rect& rr = r.value();
    const double pi = 3.141592653589793;
    out = {rr.cx, rr.cy, rr.w, rr.h, static_cast<float>(static_cast<double>(rr.angle) / 180 * pi)};
    return true;
}

} // namespace rscovlm::eval
