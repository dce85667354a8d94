#pragma once
/// \file polygon_iou.hpp
/// Exact (double precision) intersection, IoU and IoF of simple polygons, quadrilaterals and
/// rotated boxes, convex or concave, plus an IoU matrix with bounding-box prefiltering and threads.
///
/// Algorithm: the intersection area of a polygon A with a *convex* polygon C equals the signed
/// area of A clipped successively by the half-planes of C's edges (Sutherland-Hodgman). For a
/// simple subject the clipped outline may contain zero-width bridges along C's edges, but its
/// signed shoelace area is still the area of A inside C, because clipping preserves the winding
/// number of every point of the half-plane. When neither polygon is convex the second one is
/// triangulated (ear clipping) and the areas of the clips by each triangle are summed.
/// All coordinates are translated to a local origin first, so large offsets (1e5..1e6 pixels)
/// do not cost precision.
///
/// Degenerate inputs have defined results (never NaN for finite input):
/// - a polygon with fewer than 3 vertices or zero area has area 0 and intersects nothing;
/// - IoU is 0 when the union area is 0 (two zero-area polygons, identical or not);
/// - IoF is 0 when the foreground (first) polygon has zero area;
/// - touching polygons (shared edge or vertex only) have intersection 0;
/// - vertex order (clockwise or counter-clockwise, any start vertex) does not matter;
/// - a self-intersecting quadrilateral ("bow-tie") is taken as the union of its two triangles
///   (the region GEOS `make_valid` returns); other polygons must be simple.
/// Non-finite coordinates, or coordinates so large that the areas overflow, give 0.

#include <rscovlm/geometry/types.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <thread>
#include <vector>

namespace rscovlm::eval {

using geometry::hbox;
using geometry::point;
using geometry::polygon;
using geometry::quad;
using geometry::rbox;

/// Corners of a rotated box in the mmrotate `rbox2qbox` convention:
/// v1 = (w/2 cos t, w/2 sin t), v2 = (-h/2 sin t, h/2 cos t), corners c+v1+v2, c+v1-v2, c-v1-v2, c-v1+v2.
inline quad rbox_corners(const rbox& r) noexcept {
    const double c = std::cos(r.theta), s = std::sin(r.theta);
    const double v1x = r.w / 2 * c, v1y = r.w / 2 * s;
    const double v2x = -r.h / 2 * s, v2y = r.h / 2 * c;
    return quad{point{r.cx + v1x + v2x, r.cy + v1y + v2y}, point{r.cx + v1x - v2x, r.cy + v1y - v2y},
                point{r.cx - v1x - v2x, r.cy - v1y - v2y}, point{r.cx - v1x + v2x, r.cy - v1y + v2y}};
}

namespace detail {

inline double cross3(const point& o, const point& a, const point& b) noexcept {
    return (a.x - o.x) * (b.y - o.y) - (b.x - o.x) * (a.y - o.y);
}

inline double signed_area(const point* p, std::size_t n) noexcept {
    if (n < 3) return 0.0;
    double s = 0.0;
    for (std::size_t i = 0, j = n - 1; i < n; j = i++)
        s += p[j].x * p[i].y - p[i].x * p[j].y;
    return 0.5 * s;
}

/// Small-buffer polygon used by the clipper (no allocation up to 32 vertices).
class poly_buf {
public:
    static constexpr std::size_t inline_cap = 32;
    poly_buf() = default;
    void clear() noexcept { m_n = 0; }
    void push(const point& p) {
        if (m_n < inline_cap) {
            m_small[m_n] = p;
        } else {
            if (m_n == inline_cap) m_big.assign(m_small.begin(), m_small.end());
            m_big.push_back(p);
        }
        ++m_n;
    }
    std::size_t size() const noexcept { return m_n; }
    const point* data() const noexcept { return m_n <= inline_cap ? m_small.data() : m_big.data(); }
    const point& operator[](std::size_t i) const noexcept { return data()[i]; }

private:
    std::array<point, inline_cap> m_small{};
    std::vector<point> m_big;
    std::size_t m_n = 0;
};

/// True when the (non-degenerate) polygon turns only one way (collinear vertices allowed).
inline bool is_convex(const point* p, std::size_t n) noexcept {
    if (n < 4) return true;
    int sign = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double c = cross3(p[i], p[(i + 1) % n], p[(i + 2) % n]);
        const int s = (c > 0) - (c < 0);
        if (s == 0) continue;
        if (sign == 0)
            sign = s;
        else if (s != sign)
            return false;
    }
    return true;
}

/// Area of `subject` (any orientation; sign kept) inside the convex CCW polygon `clip`.
/// Returns the signed area of the clipped outline (positive for a CCW simple subject).
inline double clip_area_convex(const point* subject, std::size_t ns, const point* clip, std::size_t nc) {
    poly_buf a, b;
    for (std::size_t i = 0; i < ns; ++i)
        a.push(subject[i]);
    poly_buf* in = &a;
    poly_buf* out = &b;
    for (std::size_t e = 0; e < nc && in->size() > 0; ++e) {
        const point& c0 = clip[e];
        const point& c1 = clip[(e + 1) % nc];
        if (c0.x == c1.x && c0.y == c1.y) continue; // repeated vertex: no half-plane
        out->clear();
        const std::size_t n = in->size();
        const point* v = in->data();
        double sp = cross3(c0, c1, v[n - 1]);
        point prev = v[n - 1];
        for (std::size_t i = 0; i < n; ++i) {
            const point cur = v[i];
            const double sc = cross3(c0, c1, cur);
            const bool cin = sc >= 0, pin = sp >= 0;
            if (cin != pin) {
                // Crossing of the clip line: interpolate with the side values (never 0/0 here,
                // because exactly one of sp, sc is negative).
                const double t = sp / (sp - sc);
                out->push(point{prev.x + (cur.x - prev.x) * t, prev.y + (cur.y - prev.y) * t});
            }
            if (cin) out->push(cur);
            prev = cur;
            sp = sc;
        }
        std::swap(in, out);
    }
    return signed_area(in->data(), in->size());
}

/// Ear-clipping triangulation of a simple CCW polygon; appends triangles (CCW) to `tris`.
inline void triangulate(const point* p, std::size_t n, std::vector<std::array<point, 3>>& tris) {
    std::vector<std::size_t> idx(n);
    for (std::size_t i = 0; i < n; ++i)
        idx[i] = i;
    std::size_t guard = 0;
    while (idx.size() > 3 && guard < 4 * n * n + 16) {
        ++guard;
        bool clipped = false;
        const std::size_t m = idx.size();
        for (std::size_t k = 0; k < m; ++k) {
            const point& a = p[idx[(k + m - 1) % m]];
            const point& b = p[idx[k]];
            const point& c = p[idx[(k + 1) % m]];
            const double turn = cross3(a, b, c);
            if (turn < 0) continue; // reflex vertex
            bool empty = true;
            if (turn > 0) {
                for (std::size_t j = 0; j < m && empty; ++j) {
                    const std::size_t q = idx[j];
                    if (q == idx[(k + m - 1) % m] || q == idx[k] || q == idx[(k + 1) % m]) continue;
                    const point& t = p[q];
                    if (cross3(a, b, t) >= 0 && cross3(b, c, t) >= 0 && cross3(c, a, t) >= 0) empty = false;
                }
            }
            if (!empty) continue;
            if (turn > 0) tris.push_back({a, b, c});
            idx.erase(idx.begin() + static_cast<std::ptrdiff_t>(k));
            clipped = true;
            break;
        }
        if (!clipped) break; // not simple: stop (remaining area dropped)
    }
    if (idx.size() == 3) {
        const point &a = p[idx[0]], &b = p[idx[1]], &c = p[idx[2]];
        if (cross3(a, b, c) > 0) tris.push_back({a, b, c});
    }
}

/// A prepared polygon: translated, oriented CCW, split into simple pieces.
struct prepared {
    std::vector<std::vector<point>> pieces; // each simple, CCW, non-degenerate
    double area = 0.0;
    bool convex = true; // single convex piece
};

inline bool finite_pt(const point& p) noexcept {
    return std::isfinite(p.x) && std::isfinite(p.y);
}

inline void add_piece(prepared& out, std::vector<point> pts) {
    double a = signed_area(pts.data(), pts.size());
    if (!(a != 0.0)) return;
    if (a < 0) {
        std::reverse(pts.begin(), pts.end());
        a = -a;
    }
    out.area += a;
    out.pieces.push_back(std::move(pts));
}

/// Segment intersection of p0p1 and p2p3 if they cross properly (used for bow-tie repair).
inline bool proper_cross(const point& p0, const point& p1, const point& p2, const point& p3, point& x) noexcept {
    const double d1 = cross3(p0, p1, p2), d2 = cross3(p0, p1, p3);
    const double d3 = cross3(p2, p3, p0), d4 = cross3(p2, p3, p1);
    if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) {
        const double t = d3 / (d3 - d4);
        x = point{p0.x + (p1.x - p0.x) * t, p0.y + (p1.y - p0.y) * t};
        return true;
    }
    return false;
}

inline prepared prepare(const point* p, std::size_t n, const point& origin) {
    prepared out;
    std::vector<point> v;
    v.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        if (!finite_pt(p[i])) return out;
        const point q{p[i].x - origin.x, p[i].y - origin.y};
        if (!v.empty() && v.back().x == q.x && v.back().y == q.y) continue; // drop repeated vertices
        v.push_back(q);
    }
    while (v.size() > 1 && v.front().x == v.back().x && v.front().y == v.back().y)
        v.pop_back();
    if (v.size() < 3) return out;
    if (v.size() == 4) {
        // Bow-tie repair: edges 0-1 x 2-3 or 1-2 x 3-0 crossing -> two triangles.
        point x;
        if (proper_cross(v[0], v[1], v[2], v[3], x)) {
            add_piece(out, {x, v[1], v[2]});
            add_piece(out, {v[0], x, v[3]});
            out.convex = out.pieces.size() <= 1;
            return out;
        }
        if (proper_cross(v[1], v[2], v[3], v[0], x)) {
            add_piece(out, {v[0], v[1], x});
            add_piece(out, {x, v[2], v[3]});
            out.convex = out.pieces.size() <= 1;
            return out;
        }
    }
    const bool convex = is_convex(v.data(), v.size());
    add_piece(out, std::move(v));
    out.convex = convex;
    return out;
}

/// Intersection area of two prepared polygons.
inline double intersection_prepared(const prepared& a, const prepared& b) {
    if (a.pieces.empty() || b.pieces.empty()) return 0.0;
    double total = 0.0;
    for (const auto& pa : a.pieces) {
        for (const auto& pb : b.pieces) {
            const bool ca = a.convex || pa.size() == 3;
            const bool cb = b.convex || pb.size() == 3;
            if (cb) {
                total += clip_area_convex(pa.data(), pa.size(), pb.data(), pb.size());
            } else if (ca) {
                total += clip_area_convex(pb.data(), pb.size(), pa.data(), pa.size());
            } else {
                std::vector<std::array<point, 3>> tris;
                triangulate(pb.data(), pb.size(), tris);
                for (const auto& t : tris)
                    total += clip_area_convex(pa.data(), pa.size(), t.data(), 3);
            }
        }
    }
    // The exact value lies in [0, min(area)]; clamp rounding noise.
    total = std::max(0.0, total);
    return std::min(total, std::min(a.area, b.area));
}

template <class Points> inline point local_origin(const Points& a, const Points& b) noexcept {
    // Centre of the overlap of the two bounding boxes (or of their union when disjoint).
    const hbox ba = geometry::points_bounds(a), bb = geometry::points_bounds(b);
    const double x1 = std::max(ba.x1, bb.x1), x2 = std::min(ba.x2, bb.x2);
    const double y1 = std::max(ba.y1, bb.y1), y2 = std::min(ba.y2, bb.y2);
    point o{0.5 * (x1 + x2), 0.5 * (y1 + y2)};
    if (!std::isfinite(o.x) || !std::isfinite(o.y)) o = point{0, 0};
    return o;
}

/// Areas of A, B and of their intersection.
struct overlap_areas {
    double area_a = 0.0;
    double area_b = 0.0;
    double inter = 0.0;
};

template <class PA, class PB> inline overlap_areas overlap(const PA& a, const PB& b) {
    const point o = local_origin(a, b);
    const prepared pa = prepare(a.data(), a.size(), o);
    const prepared pb = prepare(b.data(), b.size(), o);
    overlap_areas r;
    r.area_a = pa.area;
    r.area_b = pb.area;
    const hbox ba = geometry::points_bounds(a), bb = geometry::points_bounds(b);
    if (std::min(ba.x2, bb.x2) <= std::max(ba.x1, bb.x1) || std::min(ba.y2, bb.y2) <= std::max(ba.y1, bb.y1))
        return r; // bounding boxes do not overlap (or only touch)
    r.inter = intersection_prepared(pa, pb);
    return r;
}

inline double iou_from(const overlap_areas& o) noexcept {
    const double u = o.area_a + o.area_b - o.inter;
    if (!(u > 0.0) || !std::isfinite(u) || !std::isfinite(o.inter)) return 0.0; // overflow: defined as 0
    return std::min(1.0, o.inter / u);
}
inline double iof_from(const overlap_areas& o) noexcept {
    if (!(o.area_a > 0.0) || !std::isfinite(o.area_a) || !std::isfinite(o.inter)) return 0.0;
    return std::min(1.0, o.inter / o.area_a);
}

} // namespace detail

/// Area of the intersection of two polygons (simple, any orientation; bow-tie quads repaired).
template <class PA, class PB> inline double intersection_area(const PA& a, const PB& b) {
    return detail::overlap(a, b).inter;
}

/// Exact IoU of two polygons (see the file comment for degenerate cases).
inline double polygon_iou(const polygon& a, const polygon& b) {
    return detail::iou_from(detail::overlap(a, b));
}
/// Exact IoU of two quadrilaterals, taken as given (not re-fitted to rectangles).
inline double quad_iou(const quad& a, const quad& b) {
    return detail::iou_from(detail::overlap(a, b));
}
/// Exact IoU of two rotated boxes (through their `rbox_corners`).
inline double rbox_iou(const rbox& a, const rbox& b) {
    return quad_iou(rbox_corners(a), rbox_corners(b));
}

/// Intersection over foreground: |A ∩ B| / |A| (0 when |A| = 0). The splitter uses it to decide
/// whether an object belongs to a patch (A = object, B = patch window).
inline double polygon_iof(const polygon& a, const polygon& b) {
    return detail::iof_from(detail::overlap(a, b));
}
/// IoF of quadrilaterals: |A ∩ B| / |A|.
inline double quad_iof(const quad& a, const quad& b) {
    return detail::iof_from(detail::overlap(a, b));
}
/// IoF of rotated boxes.
inline double rbox_iof(const rbox& a, const rbox& b) {
    return quad_iof(rbox_corners(a), rbox_corners(b));
}

/// Which ratio an overlap matrix holds.
enum class overlap_mode { iou, iof };

namespace detail {
template <class F> inline void parallel_rows(std::size_t n, int threads, F&& fn) {
    unsigned t = threads > 0 ? static_cast<unsigned>(threads) : std::max(1u, std::thread::hardware_concurrency());
    if (t > n) t = static_cast<unsigned>(n);
    if (t <= 1) {
        fn(std::size_t{0}, n);
        return;
    }
    std::vector<std::thread> pool;
    const std::size_t chunk = (n + t - 1) / t;
    for (unsigned i = 1; i < t; ++i) {
        const std::size_t b = i * chunk, e = std::min(n, b + chunk);
        if (b >= e) break;
        pool.emplace_back([&fn, b, e] { fn(b, e); });
    }
    fn(std::size_t{0}, std::min(n, chunk));
    for (auto& th : pool)
        th.join();
}
} // namespace detail

/// Overlap matrix (row-major `a.size() x b.size()`) of two sets of quadrilaterals. Pairs whose
/// bounding boxes do not overlap are 0 without clipping; `threads` 0 = all cores, 1 = this thread.
inline std::vector<double> quad_overlaps(const std::vector<quad>& a, const std::vector<quad>& b,
                                         overlap_mode mode = overlap_mode::iou, int threads = 1) {
    std::vector<double> out(a.size() * b.size(), 0.0);
    if (a.empty() || b.empty()) return out;
    std::vector<hbox> ba(a.size()), bb(b.size());
    for (std::size_t i = 0; i < a.size(); ++i)
        ba[i] = geometry::bounds(a[i]);
    for (std::size_t j = 0; j < b.size(); ++j)
        bb[j] = geometry::bounds(b[j]);
    const std::size_t nb = b.size();
    detail::parallel_rows(a.size(), threads, [&](std::size_t r0, std::size_t r1) {
        for (std::size_t i = r0; i < r1; ++i) {
            for (std::size_t j = 0; j < nb; ++j) {
                const hbox &x = ba[i], &y = bb[j];
                if (std::min(x.x2, y.x2) <= std::max(x.x1, y.x1) || std::min(x.y2, y.y2) <= std::max(x.y1, y.y1))
                    continue;
                const detail::overlap_areas o = detail::overlap(a[i], b[j]);
                out[i * nb + j] = mode == overlap_mode::iou ? detail::iou_from(o) : detail::iof_from(o);
            }
        }
    });
    return out;
}

/// Overlap matrix of two sets of rotated boxes (see `quad_overlaps`).
inline std::vector<double> rbox_overlaps(const std::vector<rbox>& a, const std::vector<rbox>& b,
                                         overlap_mode mode = overlap_mode::iou, int threads = 1) {
    std::vector<quad> qa(a.size()), qb(b.size());
    for (std::size_t i = 0; i < a.size(); ++i)
        qa[i] = rbox_corners(a[i]);
    for (std::size_t j = 0; j < b.size(); ++j)
        qb[j] = rbox_corners(b[j]);
    return quad_overlaps(qa, qb, mode, threads);
}

} // namespace rscovlm::eval
