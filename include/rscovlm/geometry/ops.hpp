#pragma once
/// \file
/// RSCoVLM's quadrilateral vertex normalisation, frame mapping between the original and the
/// resized image (with the reference's `int()` truncation), and clipping.

#include <rscovlm/geometry/obb.hpp>
#include <rscovlm/geometry/types.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

namespace rscovlm::geometry {

/// RSCoVLM / LMMRotate `normalize_polygon(polygon, clockwise)`: sort the four vertices by
/// `atan2(y - cy, x - cx)` around their centroid (ascending for `clockwise` in the y-down image
/// frame, descending otherwise; Python's stable sort, so ties keep input order), then rotate the
/// list to start at the top-most, then left-most vertex (`min(points, key=(y, x))`, first match).
inline quad normalize_polygon(const quad& q, bool clockwise = true) {
    // center = (sum(x) / 4, sum(y) / 4); Python sums ints exactly, doubles left to right.
    const double cx = (((q[0].x + q[1].x) + q[2].x) + q[3].x) / 4;
    const double cy = (((q[0].y + q[1].y) + q[2].y) + q[3].y) / 4;
    std::array<double, 4> key;
    for (std::size_t i = 0; i < 4; ++i)
        key[i] = std::atan2(q[i].y - cy, q[i].x - cx);
    std::array<std::size_t, 4> idx{0, 1, 2, 3};
    if (clockwise)
        std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return key[a] < key[b]; });
    else // reverse=True keeps equal keys in their original order
        std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return key[a] > key[b]; });
    quad s;
    for (std::size_t i = 0; i < 4; ++i)
        s[i] = q[idx[i]];
    std::size_t m = 0;
    for (std::size_t i = 1; i < 4; ++i)
        if (s[i].y < s[m].y || (s[i].y == s[m].y && s[i].x < s[m].x)) m = i;
    // points.index(min(...)): the first vertex equal to the minimum
    for (std::size_t i = 0; i < 4; ++i)
        if (s[i] == s[m]) {
            m = i;
            break;
        }
    quad out;
    for (std::size_t i = 0; i < 4; ++i)
        out[i] = s[(m + i) % 4];
    return out;
}

/// `int(v * resized / orig)` (dense_det_dataset.py `resize_coordinates_in_metadata`): original to
/// resized frame with truncation toward zero; Python's left-to-right evaluation is kept.
inline std::int64_t to_resized_int(double v, int resized, int orig) noexcept {
    if (orig == 0) return 0;
    return ::rscovlm::detail::py::int_trunc(v * static_cast<double>(resized) / static_cast<double>(orig));
}

/// `v * orig / resized` (dense_det.py `parse_*_output`): resized to original frame, no rounding.
inline double to_original(double v, int orig, int resized) noexcept {
    if (resized == 0) return 0.0;
    return v * static_cast<double>(orig) / static_cast<double>(resized);
}

/// `v / resized * orig` (RSCoVLM grounding metric `resize_bbox`): the same mapping with the division
/// first, which rounds differently.
inline double to_original_div_first(double v, int orig, int resized) noexcept {
    if (resized == 0) return 0.0;
    return v / static_cast<double>(resized) * static_cast<double>(orig);
}

/// Original and resized image sizes: the frame mapping of RSCoVLM's data and metrics (what a
/// `resolution::plan` gives with `frames()`), with the reference's conversions per axis.
struct frame {
    int orig_width = 0;
    int orig_height = 0;
    int resized_width = 0;
    int resized_height = 0;

    /// Target coordinates into the resized frame: Python `int(v * resized / orig)`, as an int
    /// (saturated; NaN gives 0).
    int to_resized_x(double v) const noexcept { return clamp_int(to_resized_int(v, resized_width, orig_width)); }
    int to_resized_y(double v) const noexcept { return clamp_int(to_resized_int(v, resized_height, orig_height)); }
    /// Predictions back to the original frame: `v * orig / resized` (dense_det metric).
    double to_original_x(double v) const noexcept { return to_original(v, orig_width, resized_width); }
    double to_original_y(double v) const noexcept { return to_original(v, orig_height, resized_height); }
    /// Predictions back with the grounding metric's order: `v / resized * orig` (`resize_bbox`).
    double to_original_x_div_first(double v) const noexcept {
        return to_original_div_first(v, orig_width, resized_width);
    }
    double to_original_y_div_first(double v) const noexcept {
        return to_original_div_first(v, orig_height, resized_height);
    }

private:
    static int clamp_int(std::int64_t v) noexcept {
        return static_cast<int>(std::min<std::int64_t>(std::max<std::int64_t>(v, -2147483647 - 1), 2147483647));
    }
};

/// Maps flat (x, y, x, y, ...) coordinates from the resized frame back to the original frame.
inline void map_to_original(std::vector<double>& xy, const frame& f) noexcept {
    for (std::size_t i = 0; i + 1 < xy.size(); i += 2) {
        xy[i] = to_original(xy[i], f.orig_width, f.resized_width);
        xy[i + 1] = to_original(xy[i + 1], f.orig_height, f.resized_height);
    }
}

/// Maps flat (x, y, ...) coordinates from the original frame to the resized frame with `int()`.
inline std::vector<std::int64_t> map_to_resized(const std::vector<double>& xy, const frame& f) {
    std::vector<std::int64_t> out(xy.size());
    for (std::size_t i = 0; i + 1 < xy.size(); i += 2) {
        out[i] = to_resized_int(xy[i], f.resized_width, f.orig_width);
        out[i + 1] = to_resized_int(xy[i + 1], f.resized_height, f.orig_height);
    }
    return out;
}

/// Clamps a horizontal box to [0, width] x [0, height].
inline hbox clip(const hbox& b, double width, double height) noexcept {
    auto cx = [&](double v) { return std::clamp(v, 0.0, width); };
    auto cy = [&](double v) { return std::clamp(v, 0.0, height); };
    return hbox{cx(b.x1), cy(b.y1), cx(b.x2), cy(b.y2)};
}
/// Clamps every vertex of a quadrilateral to [0, width] x [0, height].
inline quad clip(const quad& q, double width, double height) noexcept {
    quad o = q;
    for (auto& p : o) {
        p.x = std::clamp(p.x, 0.0, width);
        p.y = std::clamp(p.y, 0.0, height);
    }
    return o;
}
/// Clamps every vertex of a polygon to [0, width] x [0, height].
inline polygon clip(const polygon& poly, double width, double height) {
    polygon o = poly;
    for (auto& p : o) {
        p.x = std::clamp(p.x, 0.0, width);
        p.y = std::clamp(p.y, 0.0, height);
    }
    return o;
}

/// Flat (x1, y1, ..., x4, y4) to a quad (the first eight values).
inline quad quad_from_flat(const double* v) noexcept {
    return quad{point{v[0], v[1]}, point{v[2], v[3]}, point{v[4], v[5]}, point{v[6], v[7]}};
}
/// A quad to flat (x1, y1, ..., x4, y4).
inline std::vector<double> flat(const quad& q) {
    return {q[0].x, q[0].y, q[1].x, q[1].y, q[2].x, q[2].y, q[3].x, q[3].y};
}

} // namespace rscovlm::geometry
