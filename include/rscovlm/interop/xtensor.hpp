#pragma once
/// \file interop/xtensor.hpp
/// \brief xtensor views of rscovlm's buffers, and images built from xtensor expressions.
///
/// `rscovlm::image` and `preprocess_result::pixel_values` are plain contiguous buffers so that the
/// core stays cheap to compile. This opt-in header is not part of the umbrella `rscovlm.hpp` nor of
/// the single header (xtensor's headers cost seconds per translation unit); include it next to either
/// to see those buffers as xtensor containers without copying:
///
///   - `imaging::as_xtensor(img)` : a `[height, width, channels]` `uint8` adaptor over `img.data`
///     (writes go to the image; the view is invalidated when the image is resized or destroyed);
///   - `imaging::pixel_values_xtensor(r)` : a `[rows, cols]` `float` adaptor over a preprocess result
///     (`[grid_t*grid_h*grid_w, 1176]` for Qwen2.5-VL), the array `Qwen2VLImageProcessor` returns;
///   - `imaging::from_xtensor(e)` : copies a 2-D (`[H, W]`, grey) or 3-D (`[H, W, C]`, C in 1..4)
///     expression into an image. Values must be integers in [0, 255]: a fractional or out-of-range
///     value is an `image_error` "bad_tensor" naming the first offending element, never a silent
///     clip, because the reference pipeline only ever feeds uint8 pixels to Pillow.
///
/// Include it before any `using namespace rscovlm;` directive: xtl (xtensor's support library) calls
/// an unqualified `data(...)`, which the namespace `rscovlm::data` would otherwise hide.

#include <rscovlm/detail/xtensor.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/resolution/preprocess.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

namespace rscovlm::imaging {

/// \brief A `[height, width, channels]` view of `img`'s pixels (no copy).
inline auto as_xtensor(image& img) {
    const std::array<std::size_t, 3> shape{{static_cast<std::size_t>(img.height), static_cast<std::size_t>(img.width),
                                            static_cast<std::size_t>(img.channels)}};
    return xt::adapt(img.data.data(), img.data.size(), xt::no_ownership(), shape);
}

/// \brief A read-only `[height, width, channels]` view of `img`'s pixels (no copy).
inline auto as_xtensor(const image& img) {
    const std::array<std::size_t, 3> shape{{static_cast<std::size_t>(img.height), static_cast<std::size_t>(img.width),
                                            static_cast<std::size_t>(img.channels)}};
    return xt::adapt(img.data.data(), img.data.size(), xt::no_ownership(), shape);
}

/// \brief A `[rows, cols]` view of a preprocess result's `pixel_values` (no copy).
inline auto pixel_values_xtensor(resolution::preprocess_result& r) {
    const std::array<std::size_t, 2> shape{{r.rows, r.cols}};
    if (r.rows * r.cols != r.pixel_values.size())
        RSCOVLM_THROW(image_error, "bad_tensor",
                      "pixel_values_xtensor: rows*cols (" + std::to_string(r.rows) + "*" + std::to_string(r.cols) +
                          ") does not match pixel_values.size() (" + std::to_string(r.pixel_values.size()) + ")");
    return xt::adapt(r.pixel_values.data(), r.pixel_values.size(), xt::no_ownership(), shape);
}

/// \brief Copies a `[H, W]` or `[H, W, C]` (C in 1..4) expression of integer pixel values in [0, 255]
/// into an image. Throws `image_error` "bad_tensor" for another rank, channel count or value.
template <class E> image from_xtensor(const xt::xexpression<E>& expr) {
    using value_type = typename E::value_type;
    static_assert(std::is_arithmetic_v<value_type>, "from_xtensor: the expression must hold numbers");
    const auto& e = expr.derived_cast();
    const auto& shape = e.shape();
    const std::size_t rank = shape.size();
    if (rank != 2 && rank != 3)
        RSCOVLM_THROW(image_error, "bad_tensor",
                      "from_xtensor: expected a [H, W] or [H, W, C] tensor, got rank " + std::to_string(rank));
    const std::size_t h = shape[0], w = shape[1], c = rank == 3 ? shape[2] : 1;
    if (c < 1 || c > 4)
        RSCOVLM_THROW(image_error, "bad_tensor",
                      "from_xtensor: the channel axis must be 1..4, got " + std::to_string(c));
    constexpr std::size_t max_side = 1u << 30;
    if (h > max_side || w > max_side)
        RSCOVLM_THROW(image_error, "bad_tensor", "from_xtensor: a side exceeds 2^30 pixels");
    image out(static_cast<int>(w), static_cast<int>(h), static_cast<int>(c));
    std::size_t i = 0;
    // Iterate in row-major order whatever the expression's layout, so views and transposes work.
    for (auto it = e.template begin<xt::layout_type::row_major>(); it != e.template end<xt::layout_type::row_major>();
         ++it, ++i) {
        const value_type v = *it;
        bool ok;
        if constexpr (std::is_floating_point_v<value_type>)
            ok = v >= 0 && v <= 255 && std::floor(v) == v;
        else if constexpr (std::is_signed_v<value_type>)
            ok = v >= 0 && v <= 255;
        else
            ok = v <= 255;
        if (!ok) {
            const std::size_t px = i / c;
            RSCOVLM_THROW(image_error, "bad_tensor",
                          "from_xtensor: element [" + std::to_string(px / w) + ", " + std::to_string(px % w) +
                              (rank == 3 ? ", " + std::to_string(i % c) : std::string()) +
                              "] is not an integer in [0, 255]");
        }
        out.data[i] = static_cast<std::uint8_t>(v);
    }
    return out;
}

} // namespace rscovlm::imaging
