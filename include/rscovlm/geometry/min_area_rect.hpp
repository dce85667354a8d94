#pragma once
/// \file
/// Minimum-area enclosing rectangle with OpenCV 4.6 `cv::minAreaRect` semantics (convex hull by
/// Sklansky's scan, then rotating calipers), reproduced in OpenCV's own float/int arithmetic so
/// that the inexact results OpenCV returns (e.g. 213.99997 x 88.99998 for an axis-aligned
/// 214 x 89 integer rectangle) come back bit for bit; plus `box_points` (`cv::boxPoints`).

#include <rscovlm/errors.hpp>
#include <rscovlm/geometry/types.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace rscovlm::geometry {

/// OpenCV's `RotatedRect` as returned by `cv2.minAreaRect`: centre, size and angle in degrees,
/// all float32 (OpenCV's convention: the angle is the direction of the `width` side).
struct rotated_rect {
    float cx = 0.f;
    float cy = 0.f;
    float w = 0.f;
    float h = 0.f;
    float angle = 0.f;
};

/// A float32 input point (what `np.float32` arrays hand to OpenCV).
struct point_f32 {
    float x = 0.f;
    float y = 0.f;
};

/// An int32 input point (what integer arrays hand to OpenCV; int64 values are wrapped to int32
/// by the Python binding, see `wrap_int32`).
struct point_i32 {
    std::int32_t x = 0;
    std::int32_t y = 0;
};

/// C-style wrap of a 64-bit integer to int32 (what numpy's `astype(np.int32)` and OpenCV's
/// binding do with int64 values outside the int32 range).
inline std::int32_t wrap_int32(std::int64_t v) noexcept {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(static_cast<std::uint64_t>(v)));
}

namespace detail {

// The reference (OpenCV 4.6 built for baseline x86-64) never fuses a*b+c into an FMA. When this
// header is compiled for a target with FMA, products are forced through memory so that no
// contraction changes the float rounding.
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA) || defined(__aarch64__)
inline float mulf(float a, float b) noexcept {
    volatile float r = a * b;
    return r;
}
inline double muld(double a, double b) noexcept {
    volatile double r = a * b;
    return r;
}
#else
inline float mulf(float a, float b) noexcept {
    return a * b;
}
inline double muld(double a, double b) noexcept {
    return a * b;
}
#endif

template <class T> inline int cv_sign(T a) noexcept {
    return (a > T(0)) - (a < T(0));
}

// int32 arithmetic with the wrap-around that OpenCV's `int` code exhibits on overflow
// (computed in uint32 so that it is well defined here).
inline std::int32_t wsub(std::int32_t a, std::int32_t b) noexcept {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(a) - static_cast<std::uint32_t>(b));
}
inline std::int32_t wmul(std::int32_t a, std::int32_t b) noexcept {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(a) * static_cast<std::uint32_t>(b));
}

inline float sub_(float a, float b) noexcept {
    return a - b;
}
inline std::int32_t sub_(std::int32_t a, std::int32_t b) noexcept {
    return wsub(a, b);
}
// `_DotTp convexity = (_DotTp)ay*bx - (_DotTp)ax*by` with _DotTp = double for float input and
// int64 for int input (the differences themselves stay in _Tp and wrap for int32).
inline double cross_(float ay, float bx, float ax, float by) noexcept {
    return muld(static_cast<double>(ay), static_cast<double>(bx)) -
           muld(static_cast<double>(ax), static_cast<double>(by));
}
inline std::int64_t cross_(std::int32_t ay, std::int32_t bx, std::int32_t ax, std::int32_t by) noexcept {
    return static_cast<std::int64_t>(ay) * bx - static_cast<std::int64_t>(ax) * by;
}

// Mirrors OpenCV 4.6 convhull.cpp `Sklansky_<_Tp, _DotTp>`: one monotone chain of Sklansky's scan
// over the x-sorted index array `order` from `start` to `end` (inclusive). Coordinate differences
// are taken in `_Tp` (int32 wraps around: the source of the failures for coordinates near 2e9).
template <class P>
inline int sklansky(const P* pts, const int* order, int start, int end, int* stack, int nsign, int sign2) {
    using T = decltype(P{}.x);
    const int incr = end > start ? 1 : -1;
    int pprev = start, pcur = pprev + incr, pnext = pcur + incr;
    int stacksize = 3;
    if (start == end || (pts[order[start]].x == pts[order[end]].x && pts[order[start]].y == pts[order[end]].y)) {
        stack[0] = start;
        return 1;
    }
    stack[0] = pprev;
    stack[1] = pcur;
    stack[2] = pnext;
    end += incr; // make end = afterend
    while (pnext != end) {
        const T cury = pts[order[pcur]].y;
        const T nexty = pts[order[pnext]].y;
        const T by = sub_(nexty, cury);
        if (cv_sign(by) != nsign) {
            const T ax = sub_(pts[order[pcur]].x, pts[order[pprev]].x);
            const T bx = sub_(pts[order[pnext]].x, pts[order[pcur]].x);
            const T ay = sub_(cury, pts[order[pprev]].y);
            const auto convexity = cross_(ay, bx, ax, by); // if >0 then convex angle
            if (cv_sign(convexity) == sign2 && (ax != 0 || ay != 0)) {
                pprev = pcur;
                pcur = pnext;
                pnext += incr;
                stack[stacksize] = pnext;
                stacksize++;
            } else {
                if (pprev == start) {
                    pcur = pnext;
                    stack[1] = pcur;
                    pnext += incr;
                    stack[2] = pnext;
                } else {
                    stack[stacksize - 2] = pnext;
                    pcur = pprev;
                    pprev = stack[stacksize - 4];
                    stacksize--;
                }
            }
        } else {
            pnext += incr;
            stack[stacksize - 1] = pnext;
        }
    }
    return --stacksize;
}

// Mirrors OpenCV 4.6 `cv::convexHull(points, hull, clockwise, returnPoints=true)`: returns
// the indices (into `pts`) of the hull vertices in OpenCV's output order, including its cyclic
// shift that makes the index sequence ascending or descending when possible.
template <class P> inline std::vector<int> convex_hull_indices(const P* pts, int total, bool clockwise) {
    std::vector<int> hullbuf;
    if (total <= 0) return hullbuf;
    using T = decltype(P{}.x);
    std::vector<int> order(static_cast<std::size_t>(total));
    for (int i = 0; i < total; ++i)
        order[static_cast<std::size_t>(i)] = i;
    // CHullCmpPoints: x, then y, then the address in the input (= the index): a total order.
    std::sort(order.begin(), order.end(), [pts](int a, int b) {
        if (pts[a].x != pts[b].x) return pts[a].x < pts[b].x;
        if (pts[a].y != pts[b].y) return pts[a].y < pts[b].y;
        return a < b;
    });
    int miny_ind = 0, maxy_ind = 0;
    for (int i = 1; i < total; ++i) {
        const T y = pts[order[static_cast<std::size_t>(i)]].y;
        if (pts[order[static_cast<std::size_t>(miny_ind)]].y > y) miny_ind = i;
        if (pts[order[static_cast<std::size_t>(maxy_ind)]].y < y) maxy_ind = i;
    }
    std::vector<int> stackv(static_cast<std::size_t>(total) + 2);
    int* stack = stackv.data();
    const int* ord = order.data();
    hullbuf.reserve(static_cast<std::size_t>(total));
    const P& first = pts[ord[0]];
    const P& last = pts[ord[total - 1]];
    if (first.x == last.x && first.y == last.y) {
        hullbuf.push_back(ord[0]);
        return hullbuf;
    }
    // upper half
    int* tl_stack = stack;
    int tl_count = sklansky(pts, ord, 0, maxy_ind, tl_stack, -1, 1);
    int* tr_stack = stack + tl_count;
    int tr_count = sklansky(pts, ord, total - 1, maxy_ind, tr_stack, -1, -1);
    if (!clockwise) {
        std::swap(tl_stack, tr_stack);
        std::swap(tl_count, tr_count);
    }
    for (int i = 0; i < tl_count - 1; ++i)
        hullbuf.push_back(ord[tl_stack[i]]);
    for (int i = tr_count - 1; i > 0; --i)
        hullbuf.push_back(ord[tr_stack[i]]);
    const int stop_idx = tr_count > 2 ? tr_stack[1] : tl_count > 2 ? tl_stack[tl_count - 2] : -1;
    // lower half
    int* bl_stack = stack;
    int bl_count = sklansky(pts, ord, 0, miny_ind, bl_stack, 1, -1);
    int* br_stack = stack + bl_count;
    int br_count = sklansky(pts, ord, total - 1, miny_ind, br_stack, 1, 1);
    if (clockwise) {
        std::swap(bl_stack, br_stack);
        std::swap(bl_count, br_count);
    }
    if (stop_idx >= 0) {
        const int check_idx = bl_count > 2 ? bl_stack[1] : bl_count + br_count > 2 ? br_stack[2 - bl_count] : -1;
        if (check_idx == stop_idx || (check_idx >= 0 && pts[ord[check_idx]].x == pts[ord[stop_idx]].x &&
                                      pts[ord[check_idx]].y == pts[ord[stop_idx]].y)) {
            // all the points lie on the same line: the bottom part of the hull is the mirrored
            // top part (except the extreme points)
            bl_count = std::min(bl_count, 2);
            br_count = std::min(br_count, 2);
        }
    }
    for (int i = 0; i < bl_count - 1; ++i)
        hullbuf.push_back(ord[bl_stack[i]]);
    for (int i = br_count - 1; i > 0; --i)
        hullbuf.push_back(ord[br_stack[i]]);
    // try to make the hull indices an ascending or descending sequence by a cyclic shift
    const int nout = static_cast<int>(hullbuf.size());
    if (nout >= 3) {
        int min_idx = 0, max_idx = 0, lt = 0;
        for (int i = 1; i < nout; ++i) {
            const int idx = hullbuf[static_cast<std::size_t>(i)];
            lt += hullbuf[static_cast<std::size_t>(i - 1)] < idx;
            if (lt > 1 && lt <= i - 2) break;
            if (idx < hullbuf[static_cast<std::size_t>(min_idx)]) min_idx = i;
            if (idx > hullbuf[static_cast<std::size_t>(max_idx)]) max_idx = i;
        }
        const int mmdist = std::abs(max_idx - min_idx);
        if ((mmdist == 1 || mmdist == nout - 1) && (lt <= 1 || lt >= nout - 2)) {
            const int ascending = (max_idx + 1) % nout == min_idx;
            const int i0 = ascending ? min_idx : max_idx;
            int j = i0;
            if (i0 > 0) {
                int i = 0;
                for (; i < nout; ++i) {
                    const int curr_idx = stack[i] = hullbuf[static_cast<std::size_t>(j)];
                    const int next_j = j + 1 < nout ? j + 1 : 0;
                    const int next_idx = hullbuf[static_cast<std::size_t>(next_j)];
                    if (i < nout - 1 && (ascending != (curr_idx < next_idx))) break;
                    j = next_j;
                }
                if (i == nout) std::memcpy(hullbuf.data(), stack, static_cast<std::size_t>(nout) * sizeof(int));
            }
        }
    }
    return hullbuf;
}

// Mirrors OpenCV 4.6 rotcalipers.cpp `rotatingCalipers(points, n, CALIPERS_MINAREARECT, out)`.
// Returns false where OpenCV's `CV_Assert(orientation != 0)` fires.
inline bool rotating_calipers(const point_f32* points, int n, float* out) {
    float minarea = 3.402823466e+38F; // FLT_MAX
    std::vector<float> inv_vect_length(static_cast<std::size_t>(n));
    std::vector<point_f32> vect(static_cast<std::size_t>(n));
    int left = 0, bottom = 0, right = 0, top = 0;
    int seq[4] = {-1, -1, -1, -1};
    float orientation = 0;
    float base_a;
    float base_b = 0;
    float left_x, right_x, top_y, bottom_y;
    point_f32 pt0 = points[0];
    left_x = right_x = pt0.x;
    top_y = bottom_y = pt0.y;
    for (int i = 0; i < n; i++) {
        if (pt0.x < left_x) left_x = pt0.x, left = i;
        if (pt0.x > right_x) right_x = pt0.x, right = i;
        if (pt0.y > top_y) top_y = pt0.y, top = i;
        if (pt0.y < bottom_y) bottom_y = pt0.y, bottom = i;
        const point_f32 pt = points[i + 1 < n ? i + 1 : 0];
        const double dx = static_cast<double>(pt.x - pt0.x);
        const double dy = static_cast<double>(pt.y - pt0.y);
        vect[static_cast<std::size_t>(i)].x = static_cast<float>(dx);
        vect[static_cast<std::size_t>(i)].y = static_cast<float>(dy);
        inv_vect_length[static_cast<std::size_t>(i)] = static_cast<float>(1. / std::sqrt(muld(dx, dx) + muld(dy, dy)));
        pt0 = pt;
    }
    // find convex hull orientation
    {
        double ax = vect[static_cast<std::size_t>(n - 1)].x;
        double ay = vect[static_cast<std::size_t>(n - 1)].y;
        for (int i = 0; i < n; i++) {
            const double bx = vect[static_cast<std::size_t>(i)].x;
            const double by = vect[static_cast<std::size_t>(i)].y;
            const double convexity = muld(ax, by) - muld(ay, bx);
            if (convexity != 0) {
                orientation = (convexity > 0) ? 1.f : (-1.f);
                break;
            }
            ax = bx;
            ay = by;
        }
        if (orientation == 0) return false;
    }
    base_a = orientation;
    seq[0] = bottom;
    seq[1] = right;
    seq[2] = top;
    seq[3] = left;
    std::int32_t buf_i0 = 0, buf_i5 = 0;
    float buf1 = 0, buf2 = 0, buf3 = 0, buf4 = 0;
    auto V = [&](int k) -> const point_f32& { return vect[static_cast<std::size_t>(k)]; };
    auto L = [&](int k) -> float { return inv_vect_length[static_cast<std::size_t>(k)]; };
    for (int k = 0; k < n; k++) {
        // choose the minimum angle between calipers side and polygon edge by dot product sign
        // (4.6's rotate90CW / rotate180 / rotate90CCW + firstVecIsRight)
        point_f32 rot_vect[4];
        rot_vect[0] = V(seq[0]);
        rot_vect[1] = point_f32{V(seq[1]).y, -V(seq[1]).x};
        rot_vect[2] = point_f32{-V(seq[2]).x, -V(seq[2]).y};
        rot_vect[3] = point_f32{-V(seq[3]).y, V(seq[3]).x};
        int main_element = 0;
        for (int i = 1; i < 4; i++) {
            // firstVecIsRight(v1, v2): rotate90CW(v1) . v2 < 0
            const point_f32& v1 = rot_vect[i];
            const point_f32& v2 = rot_vect[main_element];
            if (mulf(v1.y, v2.x) + mulf(-v1.x, v2.y) < 0) main_element = i;
        }
        {
            const int pindex = seq[main_element];
            const float lead_x = V(pindex).x * L(pindex);
            const float lead_y = V(pindex).y * L(pindex);
            switch (main_element) {
            case 0:
                base_a = lead_x;
                base_b = lead_y;
                break;
            case 1:
                base_a = lead_y;
                base_b = -lead_x;
                break;
            case 2:
                base_a = -lead_x;
                base_b = -lead_y;
                break;
            default:
                base_a = -lead_y;
                base_b = lead_x;
                break;
            }
        }
        seq[main_element] += 1;
        seq[main_element] = (seq[main_element] == n) ? 0 : seq[main_element];
        // CALIPERS_MINAREARECT: area of the rectangle
        float dx = points[seq[1]].x - points[seq[3]].x;
        float dy = points[seq[1]].y - points[seq[3]].y;
        const float width = mulf(dx, base_a) + mulf(dy, base_b);
        dx = points[seq[2]].x - points[seq[0]].x;
        dy = points[seq[2]].y - points[seq[0]].y;
        const float height = mulf(-dx, base_b) + mulf(dy, base_a);
        const float area = width * height;
        if (area <= minarea) {
            minarea = area;
            buf_i0 = seq[3]; // leftist point
            buf1 = base_a;
            buf2 = width;
            buf3 = base_b;
            buf4 = height;
            buf_i5 = seq[0]; // bottom point
        }
    }
    const float A1 = buf1;
    const float B1 = buf3;
    const float A2 = -buf3;
    const float B2 = buf1;
    const float C1 = mulf(A1, points[buf_i0].x) + mulf(points[buf_i0].y, B1);
    const float C2 = mulf(A2, points[buf_i5].x) + mulf(points[buf_i5].y, B2);
    const float idet = 1.f / (mulf(A1, B2) - mulf(A2, B1));
    const float px = (mulf(C1, B2) - mulf(C2, B1)) * idet;
    const float py = (mulf(A1, C2) - mulf(A2, C1)) * idet;
    out[0] = px;
    out[1] = py;
    out[2] = A1 * buf2;
    out[3] = B1 * buf2;
    out[4] = A2 * buf4;
    out[5] = B2 * buf4;
    return true;
}

// Mirrors `cv::minAreaRect` after the hull: `hp` are the hull points already converted to float.
inline bool min_area_rect_from_hull(const std::vector<point_f32>& hp, rotated_rect& box) {
    constexpr double cv_pi = 3.1415926535897932384626433832795;
    const int n = static_cast<int>(hp.size());
    box = rotated_rect{};
    if (n > 2) {
        float out[6];
        if (!rotating_calipers(hp.data(), n, out)) return false;
        box.cx = out[0] + (out[2] + out[4]) * 0.5f;
        box.cy = out[1] + (out[3] + out[5]) * 0.5f;
        box.w = static_cast<float>(std::sqrt(muld(out[2], out[2]) + muld(out[3], out[3])));
        box.h = static_cast<float>(std::sqrt(muld(out[4], out[4]) + muld(out[5], out[5])));
        box.angle = static_cast<float>(std::atan2(static_cast<double>(out[3]), static_cast<double>(out[2])));
    } else if (n == 2) {
        box.cx = (hp[0].x + hp[1].x) * 0.5f;
        box.cy = (hp[0].y + hp[1].y) * 0.5f;
        const double dx = static_cast<double>(hp[1].x - hp[0].x);
        const double dy = static_cast<double>(hp[1].y - hp[0].y);
        box.w = static_cast<float>(std::sqrt(muld(dx, dx) + muld(dy, dy)));
        box.h = 0;
        box.angle = static_cast<float>(std::atan2(dy, dx));
    } else if (n == 1) {
        box.cx = hp[0].x;
        box.cy = hp[0].y;
    }
    // `box.angle*180/CV_PI`: float * int is a float product, then the division in double.
    const float deg = box.angle * 180.0f;
    box.angle = static_cast<float>(static_cast<double>(deg) / cv_pi);
    return true;
}

inline std::string calipers_message(std::size_t n) {
    return "minAreaRect: rotating calipers found no orientation for the convex hull of " + std::to_string(n) +
           " points (OpenCV asserts orientation != 0 here)";
}

} // namespace detail

/// Convex hull of float32 points as OpenCV 4.6 `cv::convexHull(pts, hull, clockwise, true)` returns
/// it (same vertex order and start vertex; `cv2.convexHull`'s default is clockwise = false).
inline std::vector<point_f32> convex_hull(const std::vector<point_f32>& pts, bool clockwise = false) {
    const auto idx = detail::convex_hull_indices(pts.data(), static_cast<int>(pts.size()), clockwise);
    std::vector<point_f32> out;
    out.reserve(idx.size());
    for (int i : idx)
        out.push_back(pts[static_cast<std::size_t>(i)]);
    return out;
}
/// Convex hull of int32 points as OpenCV 4.6 returns it (int32 differences wrap on overflow).
inline std::vector<point_i32> convex_hull(const std::vector<point_i32>& pts, bool clockwise = false) {
    const auto idx = detail::convex_hull_indices(pts.data(), static_cast<int>(pts.size()), clockwise);
    std::vector<point_i32> out;
    out.reserve(idx.size());
    for (int i : idx)
        out.push_back(pts[static_cast<std::size_t>(i)]);
    return out;
}

/// `cv2.minAreaRect` on a float32 point array. Throws geometry_error `calipers_orientation` where
/// OpenCV raises (a hull whose edges are all parallel in float arithmetic).
inline rotated_rect min_area_rect(const std::vector<point_f32>& pts) {
    const auto hull = convex_hull(pts, false); // cv::minAreaRect uses convexHull(points, hull, false, true)
    rotated_rect box;
    if (!detail::min_area_rect_from_hull(hull, box))
        RSCOVLM_THROW(geometry_error, "calipers_orientation", detail::calipers_message(pts.size()));
    return box;
}

/// `cv2.minAreaRect` on an int32 point array (the hull is computed in int32, then converted to
/// float as OpenCV's `convertTo(CV_32F)` does). Throws geometry_error `calipers_orientation` where
/// OpenCV raises (typically int32 overflow inside the hull for coordinates around 1e8..2e9).
inline rotated_rect min_area_rect(const std::vector<point_i32>& pts) {
    const auto hull = convex_hull(pts, false); // cv::minAreaRect uses convexHull(points, hull, false, true)
    std::vector<point_f32> hf;
    hf.reserve(hull.size());
    for (const auto& p : hull)
        hf.push_back(point_f32{static_cast<float>(p.x), static_cast<float>(p.y)});
    rotated_rect box;
    if (!detail::min_area_rect_from_hull(hf, box))
        RSCOVLM_THROW(geometry_error, "calipers_orientation", detail::calipers_message(pts.size()));
    return box;
}

/// Non-throwing `min_area_rect` for float32 input.
inline result<rotated_rect> try_min_area_rect(const std::vector<point_f32>& pts) {
    return try_call([&] { return min_area_rect(pts); });
}
/// Non-throwing `min_area_rect` for int32 input.
inline result<rotated_rect> try_min_area_rect(const std::vector<point_i32>& pts) {
    return try_call([&] { return min_area_rect(pts); });
}

/// Converts double points to float32 the way `np.asarray(points, np.float32)` does.
inline std::vector<point_f32> to_f32(const std::vector<point>& pts) {
    std::vector<point_f32> out;
    out.reserve(pts.size());
    for (const auto& p : pts)
        out.push_back(point_f32{static_cast<float>(p.x), static_cast<float>(p.y)});
    return out;
}

/// `cv2.boxPoints(rect)`: the four corners of a rotated rect in OpenCV's order (float32, from
/// `RotatedRect::points`: bottom-left, top-left, top-right, bottom-right in y-up terms).
inline std::array<point_f32, 4> box_points(const rotated_rect& r) {
    // RotatedRect::points: angle in radians computed in double, then float math.
    const double angle = static_cast<double>(r.angle) * 3.1415926535897932384626433832795 / 180.;
    const float b = static_cast<float>(std::cos(angle)) * 0.5f;
    const float a = static_cast<float>(std::sin(angle)) * 0.5f;
    std::array<point_f32, 4> pt;
    pt[0].x = r.cx - detail::mulf(a, r.h) - detail::mulf(b, r.w);
    pt[0].y = r.cy + detail::mulf(b, r.h) - detail::mulf(a, r.w);
    pt[1].x = r.cx + detail::mulf(a, r.h) - detail::mulf(b, r.w);
    pt[1].y = r.cy - detail::mulf(b, r.h) - detail::mulf(a, r.w);
    pt[2].x = 2 * r.cx - pt[0].x;
    pt[2].y = 2 * r.cy - pt[0].y;
    pt[3].x = 2 * r.cx - pt[1].x;
    pt[3].y = 2 * r.cy - pt[1].y;
    return pt;
}

} // namespace rscovlm::geometry
