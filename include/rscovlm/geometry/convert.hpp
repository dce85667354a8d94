#pragma once
/// \file
/// Conversions between horizontal boxes, rotated boxes and quadrilaterals, and the rotated-box
/// angle conventions of mmrotate (`oc`, `le90`, `le135`), in radians or degrees.

#include <rscovlm/detail/py/math.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/geometry/min_area_rect.hpp>
#include <rscovlm/geometry/types.hpp>

#include <cmath>
#include <string>
#include <string_view>

namespace rscovlm::geometry {

/// pi, as numpy's `np.pi`.
inline constexpr double pi = 3.141592653589793;

/// Degrees to radians (`a / 180 * np.pi`, the order mmrotate uses).
inline double deg2rad(double a) noexcept {
    return a / 180.0 * pi;
}
/// Radians to degrees (`a * 180 / np.pi`).
inline double rad2deg(double a) noexcept {
    return a * 180.0 / pi;
}

/// Angle conventions of rotated boxes (mmrotate's `angle_version`).
enum class angle_convention {
    oc,    ///< OpenCV style: theta in [-pi/2, 0), w and h not ordered (mmrotate "oc")
    le90,  ///< long edge is w, theta in [-pi/2, pi/2)
    le135, ///< long edge is w, theta in [-pi/4, 3pi/4)
};

/// "oc" / "le90" / "le135".
inline std::string_view to_string(angle_convention c) noexcept {
    switch (c) {
    case angle_convention::oc:
        return "oc";
    case angle_convention::le90:
        return "le90";
    default:
        return "le135";
    }
}
/// Parses "oc", "le90" or "le135"; throws geometry_error `bad_convention` otherwise.
inline angle_convention parse_angle_convention(std::string_view s) {
    if (s == "oc") return angle_convention::oc;
    if (s == "le90") return angle_convention::le90;
    if (s == "le135") return angle_convention::le135;
    RSCOVLM_THROW(geometry_error, "bad_convention",
                  "unknown angle convention '" + std::string(s) + "' (expected oc, le90 or le135)");
}

/// Python's float `%` (result has the sign of the divisor; `detail::py::mod`).
inline double py_mod(double a, double b) noexcept {
    return ::rscovlm::detail::py::mod(a, b);
}

/// mmrotate `norm_angle(angle, angle_range)` (radians): `oc` unchanged,
/// `le135`: `(a + pi/4) % pi - pi/4`, `le90`: `(a + pi/2) % pi - pi/2`.
inline double norm_angle(double a, angle_convention c) noexcept {
    switch (c) {
    case angle_convention::oc:
        return a;
    case angle_convention::le135:
        return py_mod(a + pi / 4, pi) - pi / 4;
    default:
        return py_mod(a + pi / 2, pi) - pi / 2;
    }
}

/// mmrotate 1.x `RotatedBoxes.regularize_boxes(pattern)` for one box (radians):
/// `le90`/`le135` make w the longer side (swapping and adding pi/2 when w <= h) and wrap theta to
/// [-pi/2, pi/2) / [-pi/4, 3pi/4); `oc` wraps theta to [-pi/2, 0) by swapping w and h.
inline rbox regularize(const rbox& b, angle_convention c) noexcept {
    const bool width_longer = c != angle_convention::oc;
    const double start = (c == angle_convention::le135 ? -45.0 : -90.0) / 180.0 * pi;
    rbox r = b;
    if (width_longer) {
        const bool keep = b.w > b.h;
        r.w = keep ? b.w : b.h;
        r.h = keep ? b.h : b.w;
        const double t = keep ? b.theta : b.theta + pi / 2;
        r.theta = py_mod(t - start, pi) + start;
    } else {
        const double t = py_mod(b.theta - start, pi);
        const bool keep = t < pi / 2;
        r.w = keep ? b.w : b.h;
        r.h = keep ? b.h : b.w;
        r.theta = (keep ? t : t - pi / 2) + start;
    }
    return r;
}

/// mmrotate `hbox2rbox`: centre, size, theta = 0.
inline rbox hbox_to_rbox(const hbox& b) noexcept {
    return rbox{(b.x1 + b.x2) * 0.5, (b.y1 + b.y2) * 0.5, b.x2 - b.x1, b.y2 - b.y1, 0.0};
}
/// mmrotate `hbox2qbox`: (x1,y1), (x2,y1), (x2,y2), (x1,y2).
inline quad hbox_to_quad(const hbox& b) noexcept {
    return quad{point{b.x1, b.y1}, point{b.x2, b.y1}, point{b.x2, b.y2}, point{b.x1, b.y2}};
}
/// mmrotate `rbox2qbox`: ctr + vec1 + vec2, ctr + vec1 - vec2, ctr - vec1 - vec2, ctr - vec1 + vec2
/// with vec1 = w/2 (cos, sin) and vec2 = h/2 (-sin, cos).
inline quad rbox_to_quad(const rbox& r) noexcept {
    const double c = std::cos(r.theta), s = std::sin(r.theta);
    const point v1{r.w / 2 * c, r.w / 2 * s};
    const point v2{-r.h / 2 * s, r.h / 2 * c};
    return quad{point{r.cx + v1.x + v2.x, r.cy + v1.y + v2.y}, point{r.cx + v1.x - v2.x, r.cy + v1.y - v2.y},
                point{r.cx - v1.x - v2.x, r.cy - v1.y - v2.y}, point{r.cx - v1.x + v2.x, r.cy - v1.y + v2.y}};
}
/// mmrotate `rbox2hbox`: centre -/+ (|w/2 cos| + |h/2 sin|, |w/2 sin| + |h/2 cos|).
inline hbox rbox_to_hbox(const rbox& r) noexcept {
    const double c = std::cos(r.theta), s = std::sin(r.theta);
    const double xb = std::abs(r.w / 2 * c) + std::abs(r.h / 2 * s);
    const double yb = std::abs(r.w / 2 * s) + std::abs(r.h / 2 * c);
    return hbox{r.cx - xb, r.cy - yb, r.cx + xb, r.cy + yb};
}
/// mmrotate `qbox2hbox`: min / max of the vertices.
inline hbox quad_to_hbox(const quad& q) noexcept {
    return bounds(q);
}

/// mmrotate `qbox2rbox`: `cv2.minAreaRect` on the float32 vertices, angle to radians, then
/// `regularize` in convention `c` (as `ConvertBoxType` + the detector's angle version do).
/// Throws geometry_error `calipers_orientation` where OpenCV raises.
inline rbox quad_to_rbox(const quad& q, angle_convention c = angle_convention::le90) {
    const std::vector<point> pts(q.begin(), q.end());
    const rotated_rect rr = min_area_rect(to_f32(pts));
    const rbox r{rr.cx, rr.cy, rr.w, rr.h, static_cast<double>(rr.angle) / 180.0 * pi};
    return regularize(r, c);
}

/// An rbox with theta in degrees converted to radians (and back), other fields unchanged.
inline rbox rbox_deg_to_rad(rbox r) noexcept {
    r.theta = deg2rad(r.theta);
    return r;
}
/// An rbox with theta in radians converted to degrees.
inline rbox rbox_rad_to_deg(rbox r) noexcept {
    r.theta = rad2deg(r.theta);
    return r;
}

} // namespace rscovlm::geometry
