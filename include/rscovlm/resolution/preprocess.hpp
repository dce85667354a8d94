#pragma once
/// \file preprocess.hpp
/// \brief Qwen2-VL / Qwen2.5-VL image preprocessing: to_rgb, smart_resize, Pillow bicubic resize,
/// rescale + CLIP normalisation, temporal duplication and patchify into `pixel_values [N, 1176]`.
///
/// Mirrors qwen-vl-utils `fetch_image` followed by transformers' slow `Qwen2VLImageProcessor`:
/// `x = float32(float64(u8) * (1/255))`, then `(x - mean) / std` in float32 with float32 mean/std, then
/// the reshape `(1, 2, 3, gh/2, 2, 14, gw/2, 2, 14)` transposed `(0,3,6,4,7,2,1,5,8)`: rows in 2x2
/// merge-window order (`bh, bw, mh, mw`), columns `c, t, py, px`. The result is bit-identical to the
/// reference float32 values (the transformers *fast* processor folds the rescale into mean/std and
/// differs by up to 2.4e-7).

#include <rscovlm/detail/py/float16.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/ops.hpp>
#include <rscovlm/imaging/parallel.hpp>
#include <rscovlm/limits.hpp>
#include <rscovlm/resolution/smart_resize.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace rscovlm::resolution {

/// \brief CLIP mean used by Qwen2-VL's image processor (`OPENAI_CLIP_MEAN`).
inline constexpr std::array<float, 3> clip_mean{{0.48145466f, 0.4578275f, 0.40821073f}};
/// \brief CLIP std used by Qwen2-VL's image processor (`OPENAI_CLIP_STD`).
inline constexpr std::array<float, 3> clip_std{{0.26862954f, 0.26130258f, 0.27577711f}};

/// \brief Options of `preprocess` (defaults: the Hugging Face processor's budget).
struct preprocess_options {
    long long min_pixels = 56 * 56;
    long long max_pixels = 28LL * 28 * 1280;
    int patch_size = 14;
    int merge_size = 2;
    int temporal_patch_size = 2;
    smart_resize_variant variant = smart_resize_variant::qwen_vl_utils;
    /// RGBA handling (qwen-vl-utils `to_rgb` white composite by default).
    imaging::rgb_mode rgb = imaging::rgb_mode::composite;
    imaging::filter filter = imaging::filter::bicubic;
    std::array<float, 3> mean = clip_mean;
    std::array<float, 3> std = clip_std;
    /// Worker threads for resize and patchify (0 = hardware concurrency); results do not depend on it.
    int threads = 0;
    /// Explicit target size (`resized_height`/`resized_width` already chosen by a strategy); skips smart_resize.
    std::optional<size> resized;
    /// Keep the resized RGB image in the result.
    bool keep_resized_image = false;
};

/// \brief Output of `preprocess` for one image.
struct preprocess_result {
    /// Row-major `[rows, cols]` float32, `rows = grid_t*grid_h*grid_w`, `cols = 3*T*p*p` (1176).
    std::vector<float> pixel_values;
    std::array<int, 3> grid_thw{{0, 0, 0}};
    int resized_height = 0;
    int resized_width = 0;
    int original_height = 0;
    int original_width = 0;
    /// `<|image_pad|>` tokens: `grid_t*grid_h*grid_w / merge_size^2`.
    long long tokens = 0;
    std::size_t rows = 0;
    std::size_t cols = 0;
    /// The resized RGB image when `keep_resized_image` was set.
    image resized_image;
};

namespace detail {

// lut[c][v] = float32((float32(float64(v) * (1/255)) - mean[c]) / std[c]), the reference's float32 steps.
inline std::array<std::array<float, 256>, 3> normalize_lut(const std::array<float, 3>& mean,
                                                           const std::array<float, 3>& sd) {
    std::array<std::array<float, 256>, 3> lut{};
    const double scale = 1.0 / 255.0; // Python 1 / 255
    for (int c = 0; c < 3; ++c)
        for (int v = 0; v < 256; ++v) {
            volatile float x = static_cast<float>(static_cast<double>(v) * scale); // no contraction/excess precision
            volatile float d = x - mean[static_cast<std::size_t>(c)];
            lut[static_cast<std::size_t>(c)][static_cast<std::size_t>(v)] = d / sd[static_cast<std::size_t>(c)];
        }
    return lut;
}

// One patch row of P pixels -> the three channel planes of every temporal copy (frame t at +t*P*P), so
// the duplicated frames are written in the same pass instead of being copied afterwards.
template <int P, int T> inline void lut_row3(const std::uint8_t* s, const std::array<std::array<float, 256>, 3>& lut,
                                             float* d, std::size_t plane_stride) noexcept {
    constexpr std::size_t pp = static_cast<std::size_t>(P) * P;
    float* d1 = d + plane_stride;
    float* d2 = d1 + plane_stride;
    for (int px = 0; px < P; ++px) {
        const float r = lut[0][s[px * 3]], g = lut[1][s[px * 3 + 1]], b = lut[2][s[px * 3 + 2]];
        for (int t = 0; t < T; ++t) {
            d[t * pp + px] = r;
            d1[t * pp + px] = g;
            d2[t * pp + px] = b;
        }
    }
}

} // namespace detail

/// \brief Normalises and patchifies an RGB image whose sides are multiples of `patch_size * merge_size`.
///
/// Writes `pixel_values` (`[grid_h*grid_w, 3*T*p*p]`, the frame repeated T times) and returns grid_thw
/// `{1, H/p, W/p}`. Throws `resolution_error` "bad_size" when the sides are not multiples of p*merge.
inline std::array<int, 3> normalize_patchify(const image& rgb, std::vector<float>& out,
                                             const preprocess_options& o = {}) {
    if (rgb.channels != 3)
        RSCOVLM_THROW(resolution_error, "bad_channels",
                      "normalize_patchify: expected an RGB image, got " + std::to_string(rgb.channels) + " channels");
    const int p = o.patch_size, m = o.merge_size, tps = o.temporal_patch_size;
    if (p <= 0 || m <= 0 || tps <= 0)
        RSCOVLM_THROW(resolution_error, "bad_option",
                      "normalize_patchify: patch, merge and temporal sizes must be positive");
    if (rgb.width <= 0 || rgb.height <= 0 || rgb.width % (p * m) != 0 || rgb.height % (p * m) != 0)
        RSCOVLM_THROW(resolution_error, "bad_size",
                      "normalize_patchify: " + std::to_string(rgb.width) + "x" + std::to_string(rgb.height) +
                          " is not a positive multiple of " + std::to_string(p * m));
    const int gh = rgb.height / p, gw = rgb.width / p;
    const std::size_t pp = static_cast<std::size_t>(p) * static_cast<std::size_t>(p);
    const std::size_t cols = 3 * static_cast<std::size_t>(tps) * pp;
    const std::size_t rows = static_cast<std::size_t>(gh) * static_cast<std::size_t>(gw);
    imaging::detail::grow_buffer(out, rows * cols);
    const auto lut = detail::normalize_lut(o.mean, o.std);
    const int bw_n = gw / m;
    const std::size_t mm = static_cast<std::size_t>(m) * static_cast<std::size_t>(m);
    // One work item = one merge window (m*m consecutive rows).
    const std::size_t windows = rows / mm;
    imaging::parallel_for(
        windows, o.threads,
        [&](std::size_t w0, std::size_t w1) {
            for (std::size_t win = w0; win < w1; ++win) {
                const int bh = static_cast<int>(win / static_cast<std::size_t>(bw_n));
                const int bw = static_cast<int>(win % static_cast<std::size_t>(bw_n));
                for (int mh = 0; mh < m; ++mh)
                    for (int mw = 0; mw < m; ++mw) {
                        const std::size_t r = win * mm + static_cast<std::size_t>(mh * m + mw);
                        float* dst = out.data() + r * cols;
                        const int y0 = (bh * m + mh) * p, x0 = (bw * m + mw) * p;
                        // Qwen2-VL's geometry (p = 14, T = 2): fixed trip counts, both frames in one pass.
                        if (p == 14 && tps == 2) {
                            for (int py = 0; py < p; ++py) {
                                const std::uint8_t* s = rgb.row(y0 + py) + static_cast<std::size_t>(x0) * 3;
                                detail::lut_row3<14, 2>(s, lut, dst + static_cast<std::size_t>(py) * 14, 2 * pp);
                            }
                            continue;
                        }
                        // t = 0 frame: one pass over the p rows of the patch, all three channels.
                        for (int py = 0; py < p; ++py) {
                            const std::uint8_t* s = rgb.row(y0 + py) + static_cast<std::size_t>(x0) * 3;
                            float* d0 = dst + static_cast<std::size_t>(py) * static_cast<std::size_t>(p);
                            for (int px = 0; px < p; ++px)
                                for (std::size_t c = 0; c < 3; ++c)
                                    d0[c * static_cast<std::size_t>(tps) * pp + static_cast<std::size_t>(px)] =
                                        lut[c][s[static_cast<std::size_t>(px) * 3 + c]];
                        }
                        // Temporal duplication: frames 1..T-1 repeat frame 0 (per channel).
                        for (std::size_t c = 0; c < 3; ++c) {
                            float* plane = dst + c * static_cast<std::size_t>(tps) * pp;
                            for (int t = 1; t < tps; ++t)
                                std::memcpy(plane + static_cast<std::size_t>(t) * pp, plane, pp * sizeof(float));
                        }
                    }
            }
        },
        4);
    return {{1, gh, gw}};
}

/// \brief The whole reference image pipeline for one decoded image (any channel count 1..4).
///
/// to_rgb (composite or convert) -> smart_resize (or `o.resized`) -> Pillow resize -> normalize_patchify.
/// Errors: smart_resize's (`aspect_ratio`, `zero_size`, ...); "zero_side" when the floor branch gives a 0
/// side (Pillow: "height and width must be > 0"); "bad_size" for sizes that are not multiples of 28;
/// `rscovlm.limit.output_pixels` / `rscovlm.limit.grid_patches` for a resized size over those limits
/// (e.g. `min_pixels = 1e10`), before anything is allocated.
inline preprocess_result preprocess(const image& img, const preprocess_options& o = {}) {
    if (img.empty()) RSCOVLM_THROW(resolution_error, "zero_size", "preprocess: the image has no pixels");
    preprocess_result r;
    r.original_height = img.height;
    r.original_width = img.width;
    size target;
    if (o.resized) {
        target = *o.resized;
    } else {
        smart_resize_options so;
        so.factor = o.patch_size * o.merge_size;
        so.min_pixels = o.min_pixels;
        so.max_pixels = o.max_pixels;
        so.variant = o.variant;
        target = smart_resize(img.height, img.width, so);
    }
    if (target.height <= 0 || target.width <= 0)
        RSCOVLM_THROW(resolution_error, "zero_side",
                      "preprocess: smart_resize gave " + std::to_string(target.height) + "x" +
                          std::to_string(target.width) + " for " + std::to_string(img.height) + "x" +
                          std::to_string(img.width) +
                          "; the reference's Pillow resize raises 'height and width must be > 0'");
    // A budget (min_pixels, an explicit size) can ask for any size: bound it before resizing.
    const std::string what = "preprocess: resized size " + std::to_string(target.height) + "x" +
                             std::to_string(target.width) + " of a " + std::to_string(img.height) + "x" +
                             std::to_string(img.width) + " image";
    limits::check("output_pixels",
                  limits::mul(static_cast<std::uint64_t>(target.height), static_cast<std::uint64_t>(target.width)),
                  what);
    if (o.patch_size > 0)
        limits::check("grid_patches",
                      limits::mul(static_cast<std::uint64_t>(target.height / o.patch_size),
                                  static_cast<std::uint64_t>(target.width / o.patch_size)),
                      what);
    // An RGB input is used as is (to_rgb would copy it: tens of MB for a large image).
    image converted;
    const image* rgb = &img;
    if (img.channels != 3) {
        converted = imaging::to_rgb(img, o.rgb);
        rgb = &converted;
    }
    imaging::resize_options ro;
    ro.threads = o.threads;
    image resized = imaging::resize(*rgb, target.width, target.height, o.filter, ro);
    r.grid_thw = normalize_patchify(resized, r.pixel_values, o);
    r.resized_height = target.height;
    r.resized_width = target.width;
    r.cols = 3 * static_cast<std::size_t>(o.temporal_patch_size) * static_cast<std::size_t>(o.patch_size) *
             static_cast<std::size_t>(o.patch_size);
    r.rows = r.cols == 0 ? 0 : r.pixel_values.size() / r.cols;
    r.tokens = static_cast<long long>(r.grid_thw[0]) * r.grid_thw[1] * r.grid_thw[2] / (o.merge_size * o.merge_size);
    if (o.keep_resized_image) r.resized_image = std::move(resized);
    return r;
}

/// \brief `preprocess` returning a `result`.
inline result<preprocess_result> try_preprocess(const image& img, const preprocess_options& o = {}) {
    return try_call([&] { return preprocess(img, o); });
}

/// \brief Output of `preprocess_images`: the Hugging Face processor's batch layout.
struct batch_result {
    /// All images' rows concatenated in input order: `[sum(rows), 1176]` float32.
    std::vector<float> pixel_values;
    /// `image_grid_thw`, one entry per image.
    std::vector<std::array<int, 3>> image_grid_thw;
    /// Per-image results without their pixel values (sizes, tokens).
    std::vector<preprocess_result> images;
    std::size_t rows = 0;
    std::size_t cols = 0;
};

/// \brief Preprocesses several images, in parallel over images (each image single-threaded), and
/// concatenates their rows as the reference processor does for a multi-image sample. The first
/// failing image's error (in input order) is raised as `rscovlm::error` with its original id.
inline batch_result preprocess_images(const std::vector<image>& imgs, const preprocess_options& o = {}) {
    std::vector<result<preprocess_result>> parts(imgs.size(), result<preprocess_result>(error_info{"", ""}));
    preprocess_options one = o;
    one.threads = 1;
    imaging::parallel_for(imgs.size(), o.threads, [&](std::size_t a, std::size_t b) {
        for (std::size_t i = a; i < b; ++i)
            parts[i] = try_preprocess(imgs[i], one);
    });
    batch_result out;
    out.cols = 3 * static_cast<std::size_t>(o.temporal_patch_size) * static_cast<std::size_t>(o.patch_size) *
               static_cast<std::size_t>(o.patch_size);
    std::size_t total = 0;
    for (auto& p : parts)
        total += p.ok() ? p.value().pixel_values.size() : 0;
    out.pixel_values.reserve(total);
    for (std::size_t i = 0; i < parts.size(); ++i) {
        auto& p = parts[i];
        preprocess_result r = p.value(); // re-raises the image's error with its original id
        out.pixel_values.insert(out.pixel_values.end(), r.pixel_values.begin(), r.pixel_values.end());
        out.rows += r.rows;
        out.image_grid_thw.push_back(r.grid_thw);
        r.pixel_values.clear();
        r.pixel_values.shrink_to_fit();
        out.images.push_back(std::move(r));
    }
    return out;
}

/// \brief float32 -> bfloat16 bits as torch's `.to(torch.bfloat16)` (detail::py::f32_to_bf16:
/// round to nearest even, NaN -> 0x7FC0).
inline std::uint16_t float_to_bf16(float f) noexcept {
    return ::rscovlm::detail::py::f32_to_bf16(f);
}

/// \brief bfloat16 bits -> float32 (exact; detail::py::bf16_to_f32).
inline float bf16_to_float(std::uint16_t b) noexcept {
    return ::rscovlm::detail::py::bf16_to_f32(b);
}

/// \brief Converts pixel values to bfloat16 bits (the dtype Qwen2.5-VL runs in).
inline std::vector<std::uint16_t> to_bfloat16(const std::vector<float>& v, int threads = 0) {
    std::vector<std::uint16_t> out(v.size());
    imaging::parallel_for(
        v.size(), threads,
        [&](std::size_t a, std::size_t b) {
            for (std::size_t i = a; i < b; ++i)
                out[i] = float_to_bf16(v[i]);
        },
        1 << 16);
    return out;
}

} // namespace rscovlm::resolution
