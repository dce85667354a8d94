#pragma once
/// \file
/// Plain geometry value types shared by every rscovlm module: points, horizontal boxes,
/// rotated boxes (theta in radians), quadrilaterals and polygons, plus tiny helpers.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <vector>

namespace rscovlm::geometry {

/// A 2-D point in pixel coordinates (x to the right, y down).
struct point {
    double x = 0.0;
    double y = 0.0;
};

/// An axis-aligned box given by its top-left (x1, y1) and bottom-right (x2, y2) corners.
struct hbox {
    double x1 = 0.0;
    double y1 = 0.0;
    double x2 = 0.0;
    double y2 = 0.0;
};

/// A rotated box: centre (cx, cy), size (w, h) and rotation theta in radians (image frame,
/// positive theta rotates clockwise on screen because y points down, as in mmrotate).
struct rbox {
    double cx = 0.0;
    double cy = 0.0;
    double w = 0.0;
    double h = 0.0;
    double theta = 0.0;
};

/// Four vertices, in order (DOTA polygons: x1,y1,...,x4,y4).
using quad = std::array<point, 4>;

/// A simple polygon given by its vertices in order.
using polygon = std::vector<point>;

inline bool operator==(const point& a, const point& b) noexcept {
    return a.x == b.x && a.y == b.y;
}
inline bool operator!=(const point& a, const point& b) noexcept {
    return !(a == b);
}
inline bool operator==(const hbox& a, const hbox& b) noexcept {
    return a.x1 == b.x1 && a.y1 == b.y1 && a.x2 == b.x2 && a.y2 == b.y2;
}
inline bool operator!=(const hbox& a, const hbox& b) noexcept {
    return !(a == b);
}
inline bool operator==(const rbox& a, const rbox& b) noexcept {
    return a.cx == b.cx && a.cy == b.cy && a.w == b.w && a.h == b.h && a.theta == b.theta;
}
inline bool operator!=(const rbox& a, const rbox& b) noexcept {
    return !(a == b);
}

/// Width of a horizontal box (x2 - x1; negative when the box is inverted).
inline double width(const hbox& b) noexcept {
    return b.x2 - b.x1;
}
/// Height of a horizontal box (y2 - y1; negative when the box is inverted).
inline double height(const hbox& b) noexcept {
    return b.y2 - b.y1;
}

/// Area of a horizontal box; 0 when the box is empty or inverted.
inline double area(const hbox& b) noexcept {
    return std::max(0.0, b.x2 - b.x1) * std::max(0.0, b.y2 - b.y1);
}
/// Area of a rotated box (|w * h|).
inline double area(const rbox& b) noexcept {
    return std::abs(b.w * b.h);
}

/// Absolute area of a simple polygon (shoelace formula). Works on any container of points.
template <class Points> inline double polygon_area(const Points& pts) noexcept {
    const std::size_t n = pts.size();
    if (n < 3) return 0.0;
    double s = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        const point& a = pts[i];
        const point& b = pts[(i + 1) % n];
        s += a.x * b.y - b.x * a.y;
    }
    return std::abs(s) * 0.5;
}
/// Absolute area of a quadrilateral (shoelace).
inline double area(const quad& q) noexcept {
    return polygon_area(q);
}
/// Absolute area of a polygon (shoelace).
inline double area(const polygon& p) noexcept {
    return polygon_area(p);
}

/// Axis-aligned bounds of a set of points; a zero box at the origin when empty.
template <class Points> inline hbox points_bounds(const Points& pts) noexcept {
    if (pts.size() == 0) return hbox{};
    hbox b{pts[0].x, pts[0].y, pts[0].x, pts[0].y};
    for (const point& p : pts) {
        b.x1 = std::min(b.x1, p.x);
        b.y1 = std::min(b.y1, p.y);
        b.x2 = std::max(b.x2, p.x);
        b.y2 = std::max(b.y2, p.y);
    }
    return b;
}
/// Axis-aligned bounds of a quadrilateral.
inline hbox bounds(const quad& q) noexcept {
    return points_bounds(q);
}
/// Axis-aligned bounds of a polygon.
inline hbox bounds(const polygon& p) noexcept {
    return points_bounds(p);
}
/// Axis-aligned bounds of a rotated box (the hull of its four corners).
inline hbox bounds(const rbox& r) noexcept {
    const double c = std::abs(std::cos(r.theta)), s = std::abs(std::sin(r.theta));
    const double hw = 0.5 * (r.w * c + r.h * s), hh = 0.5 * (r.w * s + r.h * c);
    return hbox{r.cx - hw, r.cy - hh, r.cx + hw, r.cy + hh};
}

/// Centre of a horizontal box.
inline point center(const hbox& b) noexcept {
    return point{(b.x1 + b.x2) * 0.5, (b.y1 + b.y2) * 0.5};
}

} // namespace rscovlm::geometry
