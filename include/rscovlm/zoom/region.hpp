#pragma once
/// \file
/// Turning a model-emitted zoom box into a crop window: the explicit box policy (reorder, clamp,
/// minimum size, maximum aspect ratio) and the mapping from the resized full-image frame to the
/// original image.
///
/// Reference: RSCoVLM `rscovlm/eval/inferencer.py` prepare_visual_cot_message maps
/// `x * w / resized_w` (resized_w = grid_w * factor) and crops with Pillow, which rounds the float
/// box with Python `round()` (half to even) in `Image._crop` and pads outside pixels with zeros.
/// The reference applies no other policy; every step here is optional and reported.

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include <rscovlm/detail/py/math.hpp>
#include <rscovlm/geometry/types.hpp>
#include <rscovlm/zoom/source.hpp>

namespace rscovlm::zoom {

/// How emitted boxes are repaired before cropping (all in the frame the model sees).
struct box_policy {
    /// Swap x1/x2 (y1/y2) when inverted; otherwise an inverted box is malformed.
    bool reorder_inverted = true;
    /// Clamp to the frame; otherwise parts outside are cropped as zeros (Pillow) and a box with no
    /// overlap with the frame is still malformed.
    bool clamp = true;
    /// Minimum side in the model frame (pixels); boxes are grown around their centre. 28 = one
    /// Qwen2.5-VL patch-merge factor. 0 disables.
    double min_size = 28.0;
    /// Maximum long/short side ratio; the short side is grown (then the long side shrunk if the
    /// frame is too small). smart_resize rejects ratios above 200. 0 disables.
    double max_aspect_ratio = 100.0;
};

/// Result of apply_box_policy.
struct fixed_box {
    geometry::hbox box;                   ///< repaired box (model frame)
    std::vector<std::string> adjustments; ///< "reordered", "clamped", "grown", "aspect_limited"
    std::string error;                    ///< non-empty when unusable: "inverted_box", "outside_image", "empty_box"
    bool ok() const noexcept { return error.empty(); }
};

namespace detail {
// Grows [lo, hi] to at least `size` around its centre, shifted back inside [0, extent] when `inside`.
inline void grow_axis(double& lo, double& hi, double size, double extent, bool inside) {
    if (hi - lo >= size) return;
    if (inside) size = std::min(size, extent);
    double c = 0.5 * (lo + hi);
    lo = c - 0.5 * size;
    hi = c + 0.5 * size;
    if (inside) {
        if (lo < 0) {
            hi -= lo;
            lo = 0;
        }
        if (hi > extent) {
            lo -= hi - extent;
            hi = extent;
        }
        lo = std::max(lo, 0.0);
    }
}
inline void shrink_axis(double& lo, double& hi, double size) {
    if (hi - lo <= size) return;
    double c = 0.5 * (lo + hi);
    lo = c - 0.5 * size;
    hi = c + 0.5 * size;
}
} // namespace detail

/// Applies `policy` to `raw` in a `frame_w` x `frame_h` frame.
inline fixed_box apply_box_policy(const geometry::hbox& raw, double frame_w, double frame_h, const box_policy& policy) {
    fixed_box r;
    geometry::hbox b = raw;
    if (b.x2 < b.x1 || b.y2 < b.y1) {
        if (!policy.reorder_inverted) {
            r.box = b;
            r.error = "inverted_box";
            return r;
        }
        if (b.x2 < b.x1) std::swap(b.x1, b.x2);
        if (b.y2 < b.y1) std::swap(b.y1, b.y2);
        r.adjustments.push_back("reordered");
    }
    // No overlap with the frame at all (a point on the border counts as overlap).
    if (b.x1 > frame_w || b.y1 > frame_h || b.x2 < 0 || b.y2 < 0) {
        r.box = b;
        r.error = "outside_image";
        return r;
    }
    if (policy.clamp && (b.x1 < 0 || b.y1 < 0 || b.x2 > frame_w || b.y2 > frame_h)) {
        b.x1 = std::clamp(b.x1, 0.0, frame_w);
        b.x2 = std::clamp(b.x2, 0.0, frame_w);
        b.y1 = std::clamp(b.y1, 0.0, frame_h);
        b.y2 = std::clamp(b.y2, 0.0, frame_h);
        r.adjustments.push_back("clamped");
    }
    if (policy.min_size > 0) {
        double w0 = b.x2 - b.x1, h0 = b.y2 - b.y1;
        detail::grow_axis(b.x1, b.x2, policy.min_size, frame_w, policy.clamp);
        detail::grow_axis(b.y1, b.y2, policy.min_size, frame_h, policy.clamp);
        if (b.x2 - b.x1 != w0 || b.y2 - b.y1 != h0) r.adjustments.push_back("grown");
    }
    if (b.x2 - b.x1 <= 0 || b.y2 - b.y1 <= 0) {
        r.box = b;
        r.error = "empty_box";
        return r;
    }
    if (policy.max_aspect_ratio >= 1.0) {
        double w = b.x2 - b.x1, h = b.y2 - b.y1;
        double ar = std::max(w, h) / std::min(w, h);
        if (ar > policy.max_aspect_ratio) {
            if (w < h) {
                detail::grow_axis(b.x1, b.x2, h / policy.max_aspect_ratio, frame_w, policy.clamp);
                detail::shrink_axis(b.y1, b.y2, (b.x2 - b.x1) * policy.max_aspect_ratio);
            } else {
                detail::grow_axis(b.y1, b.y2, w / policy.max_aspect_ratio, frame_h, policy.clamp);
                detail::shrink_axis(b.x1, b.x2, (b.y2 - b.y1) * policy.max_aspect_ratio);
            }
            r.adjustments.push_back("aspect_limited");
        }
    }
    r.box = b;
    return r;
}

/// Maps a box from a `from_w` x `from_h` frame to a `to_w` x `to_h` frame (`x * to_w / from_w`,
/// the reference's order of operations).
inline geometry::hbox map_box(const geometry::hbox& b, double from_w, double from_h, double to_w, double to_h) {
    return geometry::hbox{b.x1 * to_w / from_w, b.y1 * to_h / from_h, b.x2 * to_w / from_w, b.y2 * to_h / from_h};
}

/// Python `round()` of a double (half to even), saturated to int.
inline int py_round(double v) noexcept {
    const double r = ::rscovlm::detail::py::round_half_even(v);
    if (r > 2147483647.0) return 2147483647;
    if (r < -2147483648.0) return -2147483647 - 1;
    return static_cast<int>(r);
}

/// The integer crop window Pillow uses for a float box (`Image._crop`: `map(int, map(round, box))`).
inline pixel_box pillow_crop_box(const geometry::hbox& b) noexcept {
    return pixel_box{py_round(b.x1), py_round(b.y1), py_round(b.x2), py_round(b.y2)};
}

} // namespace rscovlm::zoom
