#pragma once
/// \file smart_resize.hpp
/// \brief `smart_resize`: the target size Qwen2-VL / Qwen2.5-VL give an image (multiples of 28 within a pixel budget).

#include <rscovlm/errors.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

namespace rscovlm::resolution {

/// \brief A (height, width) pair, in that order as in the reference.
struct size {
    int height = 0;
    int width = 0;
    friend bool operator==(const size& a, const size& b) noexcept { return a.height == b.height && a.width == b.width; }
    friend bool operator!=(const size& a, const size& b) noexcept { return !(a == b); }
};

/// \brief Which reference `smart_resize` to mirror.
enum class smart_resize_variant {
    /// qwen-vl-utils 0.0.11 `smart_resize` (RSCoVLM's): the rounded sides are clamped to at least
    /// `factor`; the floor branch is not, so it can return a 0 side.
    qwen_vl_utils,
    /// transformers `Qwen2VLImageProcessor` `smart_resize` in its current form (the version in which the
    /// small-side check was dropped): no clamp after rounding (a side under factor/2 rounds to 0 and is then
    /// lifted by the ceil branch), `max(factor, ...)` in the floor branch, no error for small sides.
    transformers,
    /// transformers `smart_resize` as released around 4.49/4.50 (read from the source: `size` given as
    /// shortest_edge/longest_edge, fast processor present): raises ValueError "height:{h} or width:{w} must
    /// be larger than factor:{factor}" when a side is below `factor` (here `resolution_error` "small_side"),
    /// no clamp after rounding and none in the floor branch (so it can return a 0 side like qwen-vl-utils).
    /// (Still older releases, 4.45, raised only below 10 px; not modelled.)
    transformers_legacy,
};

/// \brief Parses "qwen_vl_utils" or "transformers"; throws `resolution_error` "bad_variant".
inline smart_resize_variant parse_variant(std::string_view s) {
    if (s == "qwen_vl_utils" || s == "qwen-vl-utils") return smart_resize_variant::qwen_vl_utils;
    if (s == "transformers") return smart_resize_variant::transformers;
    if (s == "transformers_legacy") return smart_resize_variant::transformers_legacy;
    RSCOVLM_THROW(resolution_error, "bad_variant",
                  "unknown smart_resize variant '" + std::string(s) +
                      "' (qwen_vl_utils|transformers|transformers_legacy)");
}

/// \brief Name of a variant as `parse_variant` accepts it.
inline const char* variant_name(smart_resize_variant v) noexcept {
    switch (v) {
    case smart_resize_variant::transformers:
        return "transformers";
    case smart_resize_variant::transformers_legacy:
        return "transformers_legacy";
    default:
        return "qwen_vl_utils";
    }
}

/// \brief Parameters of `smart_resize`.
struct smart_resize_options {
    int factor = 28;
    long long min_pixels = 56 * 56;
    long long max_pixels = 14LL * 14 * 4 * 1280;
    smart_resize_variant variant = smart_resize_variant::qwen_vl_utils;
};

/// \brief The reference's aspect-ratio limit (`MAX_RATIO`).
inline constexpr double max_aspect_ratio = 200.0;

/// \brief smart_resize as in the reference, in IEEE double exactly like Python.
///
/// Mirrors qwen-vl-utils `smart_resize` (or transformers', see `smart_resize_variant`):
///  - `max(h, w) / min(h, w) > 200` raises `resolution_error` "aspect_ratio" (Python ValueError); a 0 side
///    raises "zero_size" (Python ZeroDivisionError); negative sides raise "negative_size" (Python would
///    compute nonsense); `factor <= 0` raises "bad_factor".
///  - Python `round()` is half to even: `std::nearbyint` in the default rounding mode (70 px -> 56).
///  - floor branch: `beta = sqrt((h*w) / max_pixels)`, `floor((h / beta) / factor) * factor` — this exact
///    operation order matters (see the `fp_sensitive` golden cases). It can return a 0 side
///    (qwen_vl_utils variant), as the reference does; Pillow then refuses the resize.
///  - `max_pixels == 0` in the floor branch raises "zero_division", a negative one "bad_budget" (sqrt of a
///    negative number is Python's "math domain error").
inline size smart_resize(long long height, long long width, const smart_resize_options& o) {
    const long long f = o.factor;
    if (f <= 0)
        RSCOVLM_THROW(resolution_error, "bad_factor",
                      "smart_resize: factor must be positive, got " + std::to_string(f));
    if (height < 0 || width < 0)
        RSCOVLM_THROW(resolution_error, "negative_size",
                      "smart_resize: negative size " + std::to_string(height) + "x" + std::to_string(width));
    // transformers_legacy tests the small side first (`if ... elif ratio`), so a 0 side is "small_side" there.
    if (o.variant == smart_resize_variant::transformers_legacy && (height < f || width < f))
        RSCOVLM_THROW(resolution_error, "small_side",
                      "smart_resize: height:" + std::to_string(height) + " or width:" + std::to_string(width) +
                          " must be larger than factor:" + std::to_string(f));
    const long long mx = height > width ? height : width;
    const long long mn = height > width ? width : height;
    if (mn == 0)
        RSCOVLM_THROW(resolution_error, "zero_size",
                      "smart_resize: division by zero for size " + std::to_string(height) + "x" +
                          std::to_string(width));
    // Python int / int true division is correctly rounded; exact operands below 2^53 give the same double.
    if (static_cast<double>(mx) / static_cast<double>(mn) > max_aspect_ratio)
        RSCOVLM_THROW(resolution_error, "aspect_ratio",
                      "smart_resize: absolute aspect ratio must be smaller than 200, got " +
                          std::to_string(static_cast<double>(mx) / static_cast<double>(mn)) + " for " +
                          std::to_string(height) + "x" + std::to_string(width));
    const double h = static_cast<double>(height), w = static_cast<double>(width), fd = static_cast<double>(f);
    // round_by_factor: round(number / factor) * factor, Python round() = ties to even.
    long long h_bar = static_cast<long long>(std::nearbyint(h / fd)) * f;
    long long w_bar = static_cast<long long>(std::nearbyint(w / fd)) * f;
    if (o.variant == smart_resize_variant::qwen_vl_utils) {
        if (h_bar < f) h_bar = f;
        if (w_bar < f) w_bar = f;
    }
    if (h_bar * w_bar > o.max_pixels) {
        if (o.max_pixels == 0)
            RSCOVLM_THROW(resolution_error, "zero_division", "smart_resize: max_pixels is 0 (division by zero)");
        const double ratio = static_cast<double>(height * width) / static_cast<double>(o.max_pixels);
        if (ratio < 0)
            RSCOVLM_THROW(resolution_error, "bad_budget",
                          "smart_resize: negative max_pixels " + std::to_string(o.max_pixels) + " (math domain error)");
        const double beta = std::sqrt(ratio);
        h_bar = static_cast<long long>(std::floor(h / beta / fd)) * f;
        w_bar = static_cast<long long>(std::floor(w / beta / fd)) * f;
        if (o.variant == smart_resize_variant::transformers) {
            if (h_bar < f) h_bar = f;
            if (w_bar < f) w_bar = f;
        }
    } else if (h_bar * w_bar < o.min_pixels) {
        const double beta = std::sqrt(static_cast<double>(o.min_pixels) / static_cast<double>(height * width));
        h_bar = static_cast<long long>(std::ceil(h * beta / fd)) * f;
        w_bar = static_cast<long long>(std::ceil(w * beta / fd)) * f;
    }
    if (h_bar > 0x7fffffffLL || w_bar > 0x7fffffffLL)
        RSCOVLM_THROW(resolution_error, "too_large",
                      "smart_resize: result " + std::to_string(h_bar) + "x" + std::to_string(w_bar) + " overflows int");
    return size{static_cast<int>(h_bar), static_cast<int>(w_bar)};
}

/// \brief smart_resize(height, width, factor, min_pixels, max_pixels) with the qwen-vl-utils variant.
inline size smart_resize(long long height, long long width, int factor = 28, long long min_pixels = 56 * 56,
                         long long max_pixels = 14LL * 14 * 4 * 1280) {
    smart_resize_options o;
    o.factor = factor;
    o.min_pixels = min_pixels;
    o.max_pixels = max_pixels;
    return smart_resize(height, width, o);
}

/// \brief `smart_resize` returning a `result`.
inline result<size> try_smart_resize(long long height, long long width, const smart_resize_options& o) {
    return try_call([&] { return smart_resize(height, width, o); });
}

/// \brief Which branch `smart_resize` takes: "round", "floor" (over max_pixels) or "ceil" (under min_pixels).
/// Assumes the input passes the error checks.
inline std::string_view smart_resize_branch(long long height, long long width, const smart_resize_options& o) {
    const long long f = o.factor > 0 ? o.factor : 1;
    long long h_bar = static_cast<long long>(std::nearbyint(static_cast<double>(height) / static_cast<double>(f))) * f;
    long long w_bar = static_cast<long long>(std::nearbyint(static_cast<double>(width) / static_cast<double>(f))) * f;
    if (o.variant == smart_resize_variant::qwen_vl_utils) {
        if (h_bar < f) h_bar = f;
        if (w_bar < f) w_bar = f;
    }
    if (h_bar * w_bar > o.max_pixels) return "floor";
    if (h_bar * w_bar < o.min_pixels) return "ceil";
    return "round";
}

} // namespace rscovlm::resolution
