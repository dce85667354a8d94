#pragma once
/// \file
/// RSCoVLM's oriented-box rule (`convert_segmentation_to_obb` in
/// rscovlm/training/data/dense_det_dataset.py): `cv2.minAreaRect` on the int32 polygon, then
/// "w is the long side, add 90 when swapping, wrap the angle to [-90, 90)", then `int()` of each
/// value (truncation toward zero).

#include <rscovlm/detail/py/int.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/geometry/min_area_rect.hpp>
#include <rscovlm/geometry/types.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace rscovlm::geometry {

/// An oriented box (cx, cy, w, h, angle in degrees), RSCoVLM's text form before truncation.
struct obb_deg {
    double cx = 0, cy = 0, w = 0, h = 0, a = 0;
};

/// RSCoVLM's fix-up of an OpenCV rect, in double precision as Python does it:
/// `if w < h: w, h = h, w; a += 90`, then `while not 90 > a >= -90: a -= 180 if a >= 90 else a += 180`.
inline obb_deg rscovlm_obb(const rotated_rect& r) noexcept {
    obb_deg o{r.cx, r.cy, r.w, r.h, r.angle};
    if (o.w < o.h) {
        std::swap(o.w, o.h);
        o.a += 90;
    }
    if (!std::isfinite(o.a)) return o;                    // Python would loop forever; never produced by minAreaRect
    if (std::abs(o.a) > 1e6) o.a = std::fmod(o.a, 180.0); // where Python's loop would not terminate either
    while (!(90 > o.a && o.a >= -90)) {
        if (o.a >= 90)
            o.a -= 180;
        else
            o.a += 180;
    }
    return o;
}

/// Python `int(x)` of a float: truncation toward zero (`detail::py::int_trunc`: saturated at the
/// int64 range; NaN gives 0).
inline std::int64_t py_int(double x) noexcept {
    return ::rscovlm::detail::py::int_trunc(x);
}

/// Python `int(x)` of one value of an oriented box, where Python raises for NaN ("cannot convert
/// float NaN to integer") and infinities ("cannot convert float infinity to integer"): geometry_error
/// "not_finite"; a finite value beyond the int64 range (a Python big int) is geometry_error "int_overflow".
inline std::int64_t py_int_checked(double x, const char* what) {
    if (std::isnan(x))
        RSCOVLM_THROW(geometry_error, "not_finite",
                      std::string("int(") + what + "): cannot convert float NaN to integer");
    if (std::isinf(x))
        RSCOVLM_THROW(geometry_error, "not_finite",
                      std::string("int(") + what + "): cannot convert float infinity to integer");
    if (x >= 9.2233720368547758e18 || x < -9.2233720368547758e18)
        RSCOVLM_THROW(geometry_error, "int_overflow",
                      std::string("int(") + what + "): " + std::to_string(x) + " is outside the int64 range");
    return ::rscovlm::detail::py::int_trunc(x);
}

/// `[int(x), int(y), int(w), int(h), int(a)]` of a fixed-up box. Throws geometry_error "not_finite"
/// for a NaN or infinite value (Python's `int()` raises) and "int_overflow" beyond the int64 range.
inline std::array<std::int64_t, 5> truncate(const obb_deg& o) {
    return {py_int_checked(o.cx, "cx"), py_int_checked(o.cy, "cy"), py_int_checked(o.w, "w"), py_int_checked(o.h, "h"),
            py_int_checked(o.a, "angle")};
}

/// `np.array(polygon).astype(int)` followed by the binding's int64 -> int32 cast: float values are
/// truncated toward zero, then wrapped to int32 as C does.
inline std::vector<point_i32> to_i32_reference(const std::vector<double>& flat) {
    std::vector<point_i32> pts;
    pts.reserve(flat.size() / 2);
    for (std::size_t i = 0; i + 1 < flat.size(); i += 2)
        pts.push_back(point_i32{wrap_int32(::rscovlm::detail::py::int_trunc(flat[i])),
                                wrap_int32(::rscovlm::detail::py::int_trunc(flat[i + 1]))});
    return pts;
}

/// RSCoVLM `convert_segmentation_to_obb(segmentation)` for one polygon given flat
/// (x1, y1, x2, y2, ...): returns `[int(x), int(y), int(w), int(h), int(a)]`.
/// Throws geometry_error `bad_polygon` for an odd number of values and `calipers_orientation`
/// where OpenCV raises.
inline std::array<std::int64_t, 5> segmentation_to_obb(const std::vector<double>& flat) {
    if (flat.size() % 2 != 0)
        RSCOVLM_THROW(geometry_error, "bad_polygon",
                      "polygon has an odd number of coordinates (" + std::to_string(flat.size()) + ")");
    return truncate(rscovlm_obb(min_area_rect(to_i32_reference(flat))));
}

/// Non-throwing `segmentation_to_obb`.
inline result<std::array<std::int64_t, 5>> try_segmentation_to_obb(const std::vector<double>& flat) {
    return try_call([&] { return segmentation_to_obb(flat); });
}

} // namespace rscovlm::geometry
