#pragma once
/// \file ops.hpp
/// \brief Image operations: Pillow-exact resampling, crop, channel conversion (`to_rgb`).
///
/// The resampler mirrors Pillow 9.4 `Image.resize` (libImaging/Resample.c and Geometry.c) bit for bit
/// for 8-bit images: coefficients computed in double, converted to 22-bit fixed point with C truncation,
/// horizontal pass first (only over the source rows the vertical pass reads), then the vertical pass,
/// each rounded and clipped to uint8. NEAREST follows `ImagingScaleAffine` (accumulated double position).

#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/image/parallel.hpp>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::imaging {

using filter = rscovlm::image::filter;

/// \brief Name of a filter ("nearest", "bilinear", "bicubic", "lanczos").
inline std::string_view filter_name(filter f) noexcept {
    switch (f) {
    case filter::nearest: return "nearest";
    case filter::bilinear: return "bilinear";
    case filter::bicubic: return "bicubic";
    case filter::lanczos: return "lanczos";
    }
    return "bicubic";
}

/// \brief Parses a filter name; throws `image_error` "bad_filter" for an unknown name.
inline filter parse_filter(std::string_view name) {
    if (name == "nearest") return filter::nearest;
    if (name == "bilinear") return filter::bilinear;
    if (name == "bicubic") return filter::bicubic;
    if (name == "lanczos") return filter::lanczos;
    RSCOVLM_THROW(image_error, "bad_filter",
                  "unknown resampling filter '" + std::string(name) + "' (nearest|bilinear|bicubic|lanczos)");
}

/// \brief Options of `resize`.
struct resize_options {
    /// Worker threads (0 = hardware concurrency). The output does not depend on it.
    int threads = 0;
};

namespace detail {

/// Resizes `v` to `n` elements. When it has to allocate a large block (>= 8 MiB) on Linux, the fresh block
/// is advised for transparent huge pages before it is first touched: faulting in multi-megabyte image
/// buffers 4 KiB at a time costs more than decoding them on some (virtualised) hosts. Old contents are
/// kept only when no reallocation is needed; callers overwrite every element.
template <class T>
inline void grow_buffer(std::vector<T>& v, std::size_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const std::size_t bytes = n * sizeof(T);
    if (v.capacity() < n && bytes >= (std::size_t{8} << 20)) {
        std::vector<T>().swap(v);
        v.reserve(n);
        const std::uintptr_t huge = std::uintptr_t{2} << 20;
        const std::uintptr_t b = reinterpret_cast<std::uintptr_t>(v.data());
        const std::uintptr_t lo = (b + huge - 1) & ~(huge - 1), hi = (b + bytes) & ~(huge - 1);
        if (hi > lo) (void)::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
    }
#endif
    v.resize(n);
}

/// A `w x h x c` image whose buffer comes from `grow_buffer` (zero-filled like `image(w, h, c)`).
inline image make_image(int w, int h, int c) {
    image img;
    img.width = w > 0 ? w : 0;
    img.height = h > 0 ? h : 0;
    img.channels = c > 0 ? c : 0;
    grow_buffer(img.data, img.size_bytes());
    return img;
}

// Pillow Resample.c: PRECISION_BITS = 32 - 8 - 2.
inline constexpr int precision_bits = 22;

// Pillow Resample.c bicubic_filter (a = -0.5).
inline double bicubic_kernel(double x) noexcept {
    constexpr double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

// Pillow Resample.c bilinear_filter.
inline double bilinear_kernel(double x) noexcept {
    if (x < 0.0) x = -x;
    if (x < 1.0) return 1.0 - x;
    return 0.0;
}

// Pillow Resample.c sinc_filter / lanczos_filter (truncated sinc, support 3).
inline double sinc_kernel(double x) noexcept {
    if (x == 0.0) return 1.0;
    x = x * 3.14159265358979323846;
    return std::sin(x) / x;
}
inline double lanczos_kernel(double x) noexcept {
    if (-3.0 <= x && x < 3.0) return sinc_kernel(x) * sinc_kernel(x / 3);
    return 0.0;
}

/// Fixed-point coefficients of one resampling axis (Pillow `precompute_coeffs` + `normalize_coeffs_8bpc`).
struct axis_coeffs {
    int ksize = 0;
    std::vector<int> bounds;        // [xmin, n] per output pixel
    std::vector<std::int32_t> kk;   // ksize per output pixel
};

inline axis_coeffs precompute_coeffs(int in_size, int out_size, filter f) {
    double support_base = 2.0;
    double (*kernel)(double) = &bicubic_kernel;
    if (f == filter::bilinear) {
        support_base = 1.0;
        kernel = &bilinear_kernel;
    } else if (f == filter::lanczos) {
        support_base = 3.0;
        kernel = &lanczos_kernel;
    }
    // Pillow: scale = (double)(in1 - in0) / outSize, with the box edges as C floats (exact below 2^24).
    const double in_extent = static_cast<double>(static_cast<float>(in_size) - 0.0f);
    const double scale = in_extent / out_size;
    const double filterscale = scale < 1.0 ? 1.0 : scale;
    const double support = support_base * filterscale;
    axis_coeffs c;
    c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
    const std::size_t ks = static_cast<std::size_t>(c.ksize);
    c.bounds.resize(static_cast<std::size_t>(out_size) * 2);
    c.kk.assign(static_cast<std::size_t>(out_size) * ks, 0);
    std::vector<double> k(ks);
    for (int xx = 0; xx < out_size; ++xx) {
        const double center = 0.0 + (xx + 0.5) * scale;
        double ww = 0.0;
        const double ss = 1.0 / filterscale;
        int xmin = static_cast<int>(center - support + 0.5);  // C truncation toward zero, as Pillow
        if (xmin < 0) xmin = 0;
        int xmax = static_cast<int>(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        if (xmax > c.ksize) xmax = c.ksize;  // never happens for valid sizes; guards the buffer
        if (xmax < 0) xmax = 0;
        for (int x = 0; x < xmax; ++x) {
            const double w = kernel((x + xmin - center + 0.5) * ss);
            k[static_cast<std::size_t>(x)] = w;
            ww += w;
        }
        std::int32_t* out = c.kk.data() + static_cast<std::size_t>(xx) * ks;
        for (int x = 0; x < xmax; ++x) {
            double w = k[static_cast<std::size_t>(x)];
            if (ww != 0.0) w /= ww;
            // Pillow normalize_coeffs_8bpc: round half away from zero via C truncation.
            out[x] = w < 0 ? static_cast<std::int32_t>(-0.5 + w * (1 << precision_bits))
                           : static_cast<std::int32_t>(0.5 + w * (1 << precision_bits));
        }
        c.bounds[static_cast<std::size_t>(xx) * 2] = xmin;
        c.bounds[static_cast<std::size_t>(xx) * 2 + 1] = xmax;
    }
    return c;
}

// Pillow clip8: (ss >> PRECISION_BITS) clamped to [0, 255] (arithmetic shift of a signed int).
inline std::uint8_t clip8(std::int32_t v) noexcept {
    const std::int32_t s = v >> precision_bits;
    return static_cast<std::uint8_t>(s < 0 ? 0 : (s > 255 ? 255 : s));
}

template <int NC>
inline void resample_horizontal_rows(const image& in, image& out, int y_offset, const axis_coeffs& c, std::size_t y0,
                                     std::size_t y1) {
    const int nc = NC > 0 ? NC : in.channels;
    const std::size_t ks = static_cast<std::size_t>(c.ksize);
    for (std::size_t yy = y0; yy < y1; ++yy) {
        const std::uint8_t* src = in.row(static_cast<int>(yy) + y_offset);
        std::uint8_t* dst = out.row(static_cast<int>(yy));
        for (int xx = 0; xx < out.width; ++xx) {
            const int xmin = c.bounds[static_cast<std::size_t>(xx) * 2];
            const int n = c.bounds[static_cast<std::size_t>(xx) * 2 + 1];
            const std::int32_t* k = c.kk.data() + static_cast<std::size_t>(xx) * ks;
            const std::uint8_t* s = src + static_cast<std::size_t>(xmin) * static_cast<std::size_t>(nc);
            if constexpr (NC == 3) {
                std::int32_t s0 = 1 << (precision_bits - 1), s1 = s0, s2 = s0;
                for (int x = 0; x < n; ++x, s += 3) {
                    s0 += s[0] * k[x];
                    s1 += s[1] * k[x];
                    s2 += s[2] * k[x];
                }
                dst[0] = clip8(s0);
                dst[1] = clip8(s1);
                dst[2] = clip8(s2);
                dst += 3;
            } else {
                for (int ch = 0; ch < nc; ++ch) {
                    std::int32_t acc = 1 << (precision_bits - 1);
                    for (int x = 0; x < n; ++x) acc += s[x * nc + ch] * k[x];
                    dst[ch] = clip8(acc);
                }
                dst += nc;
            }
        }
    }
}

inline void resample_horizontal(const image& in, image& out, int y_offset, const axis_coeffs& c, int threads) {
    const std::size_t rows = static_cast<std::size_t>(out.height);
    // Chunks of at least 8 rows keep the thread overhead small for tiny images.
    parallel_for(
        rows, threads,
        [&](std::size_t a, std::size_t b) {
            if (in.channels == 3)
                resample_horizontal_rows<3>(in, out, y_offset, c, a, b);
            else
                resample_horizontal_rows<0>(in, out, y_offset, c, a, b);
        },
        8);
}

inline void resample_vertical(const image& in, image& out, const axis_coeffs& c, int threads) {
    const std::size_t ks = static_cast<std::size_t>(c.ksize);
    const std::size_t row_len = out.stride();
    parallel_for(
        static_cast<std::size_t>(out.height), threads,
        [&](std::size_t a, std::size_t b) {
            std::vector<std::int32_t> acc(row_len);
            for (std::size_t yy = a; yy < b; ++yy) {
                const int ymin = c.bounds[yy * 2];
                const int n = c.bounds[yy * 2 + 1];
                const std::int32_t* k = c.kk.data() + yy * ks;
                std::fill(acc.begin(), acc.end(), std::int32_t{1} << (precision_bits - 1));
                std::int32_t* accp = acc.data();
                for (int y = 0; y < n; ++y) {
                    const std::uint8_t* src = in.row(ymin + y);
                    const std::int32_t ky = k[y];
                    for (std::size_t i = 0; i < row_len; ++i) accp[i] += src[i] * ky;
                }
                std::uint8_t* dst = out.row(static_cast<int>(yy));
                for (std::size_t i = 0; i < row_len; ++i) dst[i] = clip8(accp[i]);
            }
        },
        8);
}

// Pillow ImagingResampleInner for one 8-bit image (channels resampled independently).
inline image resample(const image& src, int w, int h, filter f, int threads) {
    const bool need_h = w != src.width;
    const bool need_v = h != src.height;
    if (!need_h && !need_v) return src;
    axis_coeffs ch = precompute_coeffs(src.width, w, f);
    axis_coeffs cv = precompute_coeffs(src.height, h, f);
    const int ybox_first = cv.bounds[0];
    const int ybox_last = cv.bounds[static_cast<std::size_t>(h) * 2 - 2] + cv.bounds[static_cast<std::size_t>(h) * 2 - 1];
    image tmp;
    const image* cur = &src;
    if (need_h) {
        for (int i = 0; i < h; ++i) cv.bounds[static_cast<std::size_t>(i) * 2] -= ybox_first;
        tmp = make_image(w, ybox_last - ybox_first, src.channels);
        resample_horizontal(src, tmp, ybox_first, ch, threads);
        cur = &tmp;
    }
    if (need_v) {
        image out = make_image(w, h, src.channels);
        resample_vertical(*cur, out, cv, threads);
        return out;
    }
    return tmp;
}

// Pillow Geometry.c ImagingScaleAffine with COORD(v) = v < 0 ? -1 : (int)v; positions accumulate in double.
inline image resize_nearest(const image& src, int w, int h) {
    const double ax = static_cast<double>(static_cast<float>(src.width) - 0.0f) / w;
    const double ay = static_cast<double>(static_cast<float>(src.height) - 0.0f) / h;
    std::vector<int> xin(static_cast<std::size_t>(w), -1);
    double xo = 0.0 + ax * 0.5;
    for (int x = 0; x < w; ++x) {
        const int xi = xo < 0.0 ? -1 : static_cast<int>(xo);
        if (xi >= 0 && xi < src.width) xin[static_cast<std::size_t>(x)] = xi;
        xo += ax;
    }
    image out(w, h, src.channels);
    const std::size_t nc = static_cast<std::size_t>(src.channels);
    double yo = 0.0 + ay * 0.5;
    for (int y = 0; y < h; ++y) {
        const int yi = yo < 0.0 ? -1 : static_cast<int>(yo);
        if (yi >= 0 && yi < src.height) {
            const std::uint8_t* in = src.row(yi);
            std::uint8_t* o = out.row(y);
            for (int x = 0; x < w; ++x) {
                const int xi = xin[static_cast<std::size_t>(x)];
                if (xi >= 0) std::memcpy(o + static_cast<std::size_t>(x) * nc, in + static_cast<std::size_t>(xi) * nc, nc);
            }
        }
        yo += ay;
    }
    return out;
}

// Pillow Convert.c MULDIV255 / rgbA2rgba and lA2la: premultiply colour by alpha.
inline void premultiply(image& img) noexcept {
    const int nc = img.channels;
    if (nc != 2 && nc != 4) return;
    const std::size_t n = static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height);
    std::uint8_t* p = img.data.data();
    for (std::size_t i = 0; i < n; ++i, p += nc) {
        const unsigned a = p[nc - 1];
        for (int c = 0; c < nc - 1; ++c) {
            const unsigned t = p[c] * a + 128;
            p[c] = static_cast<std::uint8_t>(((t >> 8) + t) >> 8);
        }
    }
}

// Pillow Convert.c rgba2rgbA and la2lA (9.4): colour = clip8(255 * c / a) unless a is 0 or 255.
inline void unpremultiply(image& img) noexcept {
    const int nc = img.channels;
    if (nc != 2 && nc != 4) return;
    const std::size_t n = static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height);
    std::uint8_t* p = img.data.data();
    for (std::size_t i = 0; i < n; ++i, p += nc) {
        const unsigned a = p[nc - 1];
        if (a == 0 || a == 255) continue;
        for (int c = 0; c < nc - 1; ++c) {
            const unsigned v = (255u * p[c]) / a;
            p[c] = static_cast<std::uint8_t>(v > 255u ? 255u : v);
        }
    }
}

}  // namespace detail

/// \brief Resizes to `w x h` exactly as Pillow 9.4 `Image.resize((w, h), f)` does for modes L, LA, RGB, RGBA.
///
/// 2- and 4-channel images are resampled premultiplied (Pillow converts LA/RGBA to La/RGBa and back for
/// every filter but NEAREST). A same-size resize is a copy. Throws `image_error` "bad_size" for a
/// non-positive target size (Pillow: "height and width must be > 0") and "empty_image" for an empty source.
inline image resize(const image& src, int w, int h, filter f = filter::bicubic, const resize_options& opt = {}) {
    if (w <= 0 || h <= 0)
        RSCOVLM_THROW(image_error, "bad_size",
                      "resize: height and width must be > 0 (got " + std::to_string(w) + "x" + std::to_string(h) + ")");
    if (src.empty())
        RSCOVLM_THROW(image_error, "empty_image", "resize: the source image has no pixels");
    if (src.data.size() != src.size_bytes())
        RSCOVLM_THROW(image_error, "bad_buffer", "resize: data holds " + std::to_string(src.data.size()) +
                                                     " bytes, expected " + std::to_string(src.size_bytes()));
    if (w == src.width && h == src.height) return src;
    if (f == filter::nearest) return detail::resize_nearest(src, w, h);
    if (src.channels == 2 || src.channels == 4) {
        image pre = src;
        detail::premultiply(pre);
        image out = detail::resample(pre, w, h, f, opt.threads);
        detail::unpremultiply(out);
        return out;
    }
    return detail::resample(src, w, h, f, opt.threads);
}

/// \brief Crops the box [x0, x1) x [y0, y1) like Pillow `Image.crop((x0, y0, x1, y1))`: the box may extend
/// past the image, and pixels outside it are zero. Throws `image_error` "bad_box" when x1 < x0 or y1 < y0.
inline image crop(const image& src, int x0, int y0, int x1, int y1) {
    if (x1 < x0 || y1 < y0)
        RSCOVLM_THROW(image_error, "bad_box",
                      "crop: box (" + std::to_string(x0) + ", " + std::to_string(y0) + ", " + std::to_string(x1) +
                          ", " + std::to_string(y1) + ") has right < left or lower < upper");
    image out(x1 - x0, y1 - y0, src.channels);
    const int sx0 = std::max(x0, 0), sx1 = std::min(x1, src.width);
    const int sy0 = std::max(y0, 0), sy1 = std::min(y1, src.height);
    if (sx1 <= sx0 || sy1 <= sy0) return out;
    const std::size_t nc = static_cast<std::size_t>(src.channels);
    const std::size_t len = static_cast<std::size_t>(sx1 - sx0) * nc;
    for (int y = sy0; y < sy1; ++y)
        std::memcpy(out.row(y - y0) + static_cast<std::size_t>(sx0 - x0) * nc, src.row(y) + static_cast<std::size_t>(sx0) * nc,
                    len);
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

}  // namespace rscovlm::imaging

namespace rscovlm {

inline image image::resize(const image& src, int w, int h, filter f) { return imaging::resize(src, w, h, f); }
inline image image::crop(const image& src, int x0, int y0, int x1, int y1) { return imaging::crop(src, x0, y0, x1, y1); }

}  // namespace rscovlm
