#pragma once
/// \file ops.hpp
/// \brief Image operations: crop, channel conversion (`to_rgb`), and the Pillow-exact resampler
/// (`resize`, in resample.hpp, which this header includes).

#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/resample.hpp>
#include <rscovlm/limits.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace rscovlm::imaging {

/// \brief Crops the box [x0, x1) x [y0, y1) like Pillow `Image.crop((x0, y0, x1, y1))`: the box may extend
/// past the image, and pixels outside it are zero. Throws `image_error` "bad_box" when x1 < x0 or y1 < y0,
/// and `rscovlm.limit.output_pixels` (before allocating) for a box over the `output_pixels` limit.
inline image crop(const image& src, int x0, int y0, int x1, int y1) {
    if (x1 < x0 || y1 < y0)
        RSCOVLM_THROW(image_error, "bad_box",
                      "crop: box (" + std::to_string(x0) + ", " + std::to_string(y0) + ", " + std::to_string(x1) +
                          ", " + std::to_string(y1) + ") has right < left or lower < upper");
    const std::uint64_t cw = static_cast<std::uint64_t>(static_cast<std::int64_t>(x1) - x0);
    const std::uint64_t chh = static_cast<std::uint64_t>(static_cast<std::int64_t>(y1) - y0);
    limits::check("output_pixels", limits::mul(cw, chh),
                  "crop (" + std::to_string(x0) + ", " + std::to_string(y0) + ", " + std::to_string(x1) + ", " +
                      std::to_string(y1) + ")");
    if (cw > 0x7fffffffu || chh > 0x7fffffffu)
        RSCOVLM_THROW(image_error, "bad_box",
                      "crop: box (" + std::to_string(x0) + ", " + std::to_string(y0) + ", " + std::to_string(x1) +
                          ", " + std::to_string(y1) + ") is wider or taller than 2^31-1 pixels");
    image out(static_cast<int>(cw), static_cast<int>(chh), src.channels);
    const int sx0 = std::max(x0, 0), sx1 = std::min(x1, src.width);
    const int sy0 = std::max(y0, 0), sy1 = std::min(y1, src.height);
    if (sx1 <= sx0 || sy1 <= sy0) return out;
    const std::size_t nc = static_cast<std::size_t>(src.channels);
    const std::size_t len = static_cast<std::size_t>(sx1 - sx0) * nc;
    for (int y = sy0; y < sy1; ++y)
        std::memcpy(out.row(y - y0) + static_cast<std::size_t>(sx0 - x0) * nc,
                    src.row(y) + static_cast<std::size_t>(sx0) * nc, len);
    return out;
}

/// \brief How `to_rgb` treats an alpha channel.
enum class rgb_mode {
    /// qwen-vl-utils `to_rgb`: RGBA is pasted on a white canvas through its alpha (the RSCoVLM path).
    composite,
    /// Pillow `convert("RGB")`: alpha is dropped.
    convert,
};

/// \brief Parses "composite" (also "white_composite") or "convert"; throws `image_error` "bad_to_rgb".
inline rgb_mode parse_rgb_mode(std::string_view s) {
    if (s == "composite" || s == "white_composite") return rgb_mode::composite;
    if (s == "convert") return rgb_mode::convert;
    RSCOVLM_THROW(image_error, "bad_to_rgb", "unknown to_rgb mode '" + std::string(s) + "' (composite|convert)");
}

/// \brief Converts a 1..4 channel image to 3-channel RGB.
///
/// Grey (L) is replicated and grey+alpha (LA) drops its alpha, as Pillow `convert("RGB")`. Four channels
/// (RGBA) follow `mode`: composite on white with Pillow's paste blend `DIV255(c*a + 255*(255-a))`
/// (qwen-vl-utils `to_rgb`), or drop alpha (`convert("RGB")`). Pillow opens only true RGBA sources as
/// RGBA; `io::load_image` already drops the tRNS-derived alpha of paletted, grey and RGB PNGs.
inline image to_rgb(const image& src, rgb_mode mode = rgb_mode::composite) {
    if (src.channels == 3) return src;
    if (src.channels < 1 || src.channels > 4)
        RSCOVLM_THROW(image_error, "bad_channels", "to_rgb: unsupported channel count " + std::to_string(src.channels));
    image out = detail::make_image(src.width, src.height, 3);
    const std::size_t n = static_cast<std::size_t>(src.width) * static_cast<std::size_t>(src.height);
    const std::uint8_t* s = src.data.data();
    std::uint8_t* d = out.data.data();
    const int nc = src.channels;
    for (std::size_t i = 0; i < n; ++i, s += nc, d += 3) {
        if (nc <= 2) {
            d[0] = d[1] = d[2] = s[0];
        } else if (mode == rgb_mode::convert) {
            d[0] = s[0];
            d[1] = s[1];
            d[2] = s[2];
        } else {
            const unsigned a = s[3];
            for (int c = 0; c < 3; ++c) {
                // Pillow Paste.c BLEND(mask, in1=white, in2=src) = DIV255(in1*(255-mask) + in2*mask).
                const unsigned t = 255u * (255u - a) + s[c] * a + 128u;
                d[c] = static_cast<std::uint8_t>(((t >> 8) + t) >> 8);
            }
        }
    }
    return out;
}

} // namespace rscovlm::imaging

namespace rscovlm {

inline image image::crop(const image& src, int x0, int y0, int x1, int y1) {
    return imaging::crop(src, x0, y0, x1, y1);
}

} // namespace rscovlm
