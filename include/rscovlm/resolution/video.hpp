#pragma once
/// \file video.hpp
/// \brief Qwen2-VL / Qwen2.5-VL video input: frame count (`smart_nframes`), frame sampling, per-video
/// resize budget, resizing, and patchify into `pixel_values_videos [grid_t*grid_h*grid_w, 1176]` with
/// `video_grid_thw` and `second_per_grid_ts`.
///
/// Mirrors qwen-vl-utils 0.0.11 `vision_process.py` (`smart_nframes`, the video readers' frame sampling,
/// `fetch_video`) followed by transformers' slow `Qwen2VLImageProcessor._preprocess` for videos and the
/// Qwen2.5-VL processor's `second_per_grid_ts = temporal_patch_size / fps`. Two inputs, as in the
/// reference:
///  - a **list of frame images** (`fetch_video` with `ele["video"]` a list): every frame goes through
///    `fetch_image` (to_rgb, smart_resize with the *image* budget, Pillow bicubic), the count is padded
///    to a multiple of FRAME_FACTOR by repeating the last frame, and the sample fps is `ele["fps"]`
///    (2.0 when absent); no frame sampling;
///  - a **decoded video** (`ele["video"]` a path): `smart_nframes` frames sampled at
///    `torch.linspace(start, end, nframes).round()`, a per-frame budget derived from `total_pixels`,
///    torchvision antialiased bicubic resize of the uint8 tensor (`resize_torch_bicubic_aa`), and the sample
///    fps `nframes / total_frames * video_fps`. Decoding video files is not part of rscovlm (see
///    `<rscovlm/io/video_source.hpp>`): the caller supplies the sampled frames.
/// The processor then resizes every frame to the size its own smart_resize (transformers variant, the
/// processor's budget) gives for the *first* frame (a no-op for the sizes qwen-vl-utils produces within
/// that budget; Pillow bicubic otherwise), pads the frame count to a multiple of `temporal_patch_size` by
/// repeating the last frame, rescales/normalises exactly like the image path and patchifies with the
/// reshape `(gt, T, C, gh/2, 2, 14, gw/2, 2, 14)` transposed `(0, 3, 6, 4, 7, 2, 1, 5, 8)`: rows in
/// (t, merge block row, merge block col, 2x2 window) order, columns `(c, t', py, px)`.
///
/// Not a registry component: the `resolution` kind maps an image size to a plan, whereas a video's
/// budget also depends on its frame count and fps; the functions here are its building blocks.

#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/antialias_resize.hpp>
#include <rscovlm/imaging/ops.hpp>
#include <rscovlm/imaging/parallel.hpp>
#include <rscovlm/resolution/preprocess.hpp>
#include <rscovlm/resolution/smart_resize.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace rscovlm::resolution {

/// \brief qwen-vl-utils `FRAME_FACTOR`: frame counts are multiples of it.
inline constexpr int video_frame_factor = 2;
/// \brief qwen-vl-utils `FPS`: the default sampling rate (frames per second).
inline constexpr double video_default_fps = 2.0;
/// \brief qwen-vl-utils `FPS_MIN_FRAMES`.
inline constexpr int video_fps_min_frames = 4;
/// \brief qwen-vl-utils `FPS_MAX_FRAMES`.
inline constexpr int video_fps_max_frames = 768;
/// \brief qwen-vl-utils `VIDEO_MIN_PIXELS` (per frame).
inline constexpr long long video_min_pixels = 128LL * 28 * 28;
/// \brief qwen-vl-utils `VIDEO_MAX_PIXELS` (per frame).
inline constexpr long long video_max_pixels = 768LL * 28 * 28;
/// \brief qwen-vl-utils 0.0.11 `VIDEO_TOTAL_PIXELS` default, `int(128000 * 28 * 28 * 0.9)` (the reference
/// also reads it from the environment variable `VIDEO_MAX_PIXELS`; rscovlm takes it as an option).
inline constexpr long long video_total_pixels = 90316800LL;
/// \brief qwen-vl-utils `MIN_PIXELS` / `MAX_PIXELS` (the image budget `fetch_image` uses for list frames).
inline constexpr long long image_min_pixels = 4LL * 28 * 28;
inline constexpr long long image_max_pixels = 16384LL * 28 * 28;

/// \brief The frame-count keys of a qwen-vl-utils video element (`ele`). Absent = not in the dict.
struct nframes_request {
    /// `ele["fps"]`: sampling rate; default `FPS` (2.0). Exclusive with `nframes`.
    std::optional<double> fps;
    /// `ele["nframes"]`: explicit frame count, rounded to a multiple of 2 (half to even).
    std::optional<double> nframes;
    /// `ele["min_frames"]` (default 4) and `ele["max_frames"]` (default `min(768, total_frames)`).
    std::optional<double> min_frames;
    std::optional<double> max_frames;
};

namespace video_detail {
// Python round(x / f) * f, math.ceil(x / f) * f, math.floor(x / f) * f with the result as a double.
inline double round_by(double v, int f) {
    return std::nearbyint(v / f) * f;
}
inline double ceil_by(double v, int f) {
    return std::ceil(v / f) * f;
}
inline double floor_by(double v, int f) {
    return std::floor(v / f) * f;
}
inline std::string num(double v) {
    if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
    return std::to_string(v);
}
} // namespace video_detail

/// \brief qwen-vl-utils `smart_nframes`: how many frames of a `total_frames`-frame video at `video_fps`
/// the model gets.
///
/// With `nframes`: `round(nframes / 2) * 2` (Python round, half to even: 3 -> 4, 5 -> 4). Otherwise
/// `floor(min(min(max(total / video_fps * fps, ceil2(min_frames)), floor2(max_frames)), total) / 2) * 2`.
/// Errors (`resolution_error`): "fps_and_nframes" when both are given (the reference's assert),
/// "zero_fps" when `video_fps` is 0 on the fps path (ZeroDivisionError), "bad_nframes" when the result is
/// outside `[2, total_frames]` (the reference's ValueError, e.g. a 1-frame video).
inline int smart_nframes(const nframes_request& r, long long total_frames, double video_fps) {
    using namespace video_detail;
    if (r.fps && r.nframes)
        RSCOVLM_THROW(resolution_error, "fps_and_nframes", "smart_nframes: only accept either `fps` or `nframes`");
    double n = 0;
    const double total = static_cast<double>(total_frames);
    if (r.nframes) {
        n = round_by(*r.nframes, video_frame_factor);
    } else {
        const double fps = r.fps ? *r.fps : video_default_fps;
        const double min_frames = ceil_by(r.min_frames ? *r.min_frames : video_fps_min_frames, video_frame_factor);
        const double max_frames =
            floor_by(r.max_frames ? *r.max_frames : std::min<double>(video_fps_max_frames, total), video_frame_factor);
        if (video_fps == 0.0)
            RSCOVLM_THROW(resolution_error, "zero_fps", "smart_nframes: the video fps is 0 (division by zero)");
        n = total / video_fps * fps;
        // min(min(max(n, min_frames), max_frames), total): Python's min/max keep the first of equal values,
        // which does not matter for the floor below.
        n = std::min(std::min(std::max(n, min_frames), max_frames), total);
        n = floor_by(n, video_frame_factor);
    }
    if (!(video_frame_factor <= n && n <= total) || !std::isfinite(n))
        RSCOVLM_THROW(resolution_error, "bad_nframes",
                      "smart_nframes: nframes should in interval [" + std::to_string(video_frame_factor) + ", " +
                          std::to_string(total_frames) + "], but got " + num(n));
    return static_cast<int>(n);
}

/// \brief `smart_nframes` returning a `result`.
inline result<int> try_smart_nframes(const nframes_request& r, long long total_frames, double video_fps) {
    return try_call([&] { return smart_nframes(r, total_frames, video_fps); });
}

/// \brief `torch.linspace(start, end, steps)` in float32 as torch 1.13's CPU kernel computes it.
///
/// `step = float(end - start) / (steps - 1)`; index `i < steps/2` gets `start + step * i`, the others
/// `end - step * (steps - i - 1)`. The kernel is vectorised: in blocks of 16 values (two vectors of 8
/// floats in torch's AVX2 and default builds) each vector starts at the value above and adds `k * step`
/// for its lane k (`Vectorized::arange`); the tail (fewer than 16 values) runs the scalar formula. In the
/// AVX2 build GCC fuses the vector bases and the scalar formula into FMAs (lanes are not fused); the
/// golden data pins both builds bit for bit.
inline std::vector<float> torch_linspace(double start, double end, long long steps,
                                         imaging::torch_kernel kernel = imaging::torch_kernel::avx2) {
    using imaging::torch_detail::mul;
    std::vector<float> out;
    if (steps <= 0) return out;
    out.resize(static_cast<std::size_t>(steps));
    const float s = static_cast<float>(start), e = static_cast<float>(end);
    if (steps == 1) {
        out[0] = s;
        return out;
    }
    const bool fused = kernel == imaging::torch_kernel::avx2;
    const float step = (e - s) / static_cast<float>(steps - 1);
    const long long halfway = steps / 2;
    auto value = [&](long long i) -> float {
        if (i < halfway) return fused ? std::fma(step, static_cast<float>(i), s) : s + mul(step, static_cast<float>(i));
        const float k = static_cast<float>(steps - i - 1);
        return fused ? std::fma(-step, k, e) : e - mul(step, k);
    };
    constexpr long long vw = 8;
    long long i = 0;
    for (; i + 2 * vw <= steps; i += 2 * vw)
        for (long long v = 0; v < 2; ++v) {
            const long long idx = i + v * vw;
            const float base = value(idx);
            for (long long k = 0; k < vw; ++k)
                out[static_cast<std::size_t>(idx + k)] = k == 0 ? base : base + mul(static_cast<float>(k), step);
        }
    for (; i < steps; ++i)
        out[static_cast<std::size_t>(i)] = value(i);
    return out;
}

/// \brief The reference's frame indices: `torch.linspace(start, end, nframes).round().long()` (float32,
/// round half to even). The torchvision reader uses `start = 0, end = total_frames - 1`.
inline std::vector<std::int64_t> sample_frame_indices(long long start, long long end, int nframes,
                                                      imaging::torch_kernel kernel = imaging::torch_kernel::avx2) {
    const std::vector<float> v = torch_linspace(static_cast<double>(start), static_cast<double>(end), nframes, kernel);
    std::vector<std::int64_t> idx(v.size());
    for (std::size_t i = 0; i < v.size(); ++i)
        idx[i] = static_cast<std::int64_t>(std::nearbyint(v[i]));
    return idx;
}

/// \brief The sample fps the video readers return: `nframes / max(total_frames, 1e-6) * video_fps`.
inline double video_sample_fps(int nframes, long long total_frames, double video_fps) noexcept {
    return static_cast<double>(nframes) / std::max(static_cast<double>(total_frames), 1e-6) * video_fps;
}

/// \brief Qwen2.5-VL `second_per_grid_t = temporal_patch_size / fps` (Python double; the processor stores
/// it as a float32 tensor). Throws `resolution_error` "zero_fps" for fps 0.
inline double second_per_grid_t(double fps, int temporal_patch_size = 2) {
    if (fps == 0.0) RSCOVLM_THROW(resolution_error, "zero_fps", "second_per_grid_ts: fps is 0 (division by zero)");
    return static_cast<double>(temporal_patch_size) / fps;
}

/// \brief `fetch_video`'s per-frame pixel budget for a decoded video of `nframes` frames:
/// `max(min(VIDEO_MAX_PIXELS, total_pixels / nframes * 2), int(min_pixels * 1.05))`, then
/// `min(max_pixels, that)` when the element gives `max_pixels` (the reference only warns when it is larger).
inline double video_frame_max_pixels(double min_pixels, double total_pixels, int nframes,
                                     std::optional<double> max_pixels = std::nullopt) {
    if (nframes == 0) RSCOVLM_THROW(resolution_error, "bad_nframes", "video budget: nframes is 0 (division by zero)");
    const double per = total_pixels / static_cast<double>(nframes) * video_frame_factor;
    const double lo = std::trunc(min_pixels * 1.05); // Python int(): truncation toward zero
    double mp = std::max(std::min(static_cast<double>(video_max_pixels), per), lo);
    if (max_pixels) mp = std::min(*max_pixels, mp);
    return mp;
}

/// \brief qwen-vl-utils 0.0.11 `smart_resize` (the `qwen_vl_utils` variant) with real-valued budgets (the video budget
/// is a float in Python: `total_pixels / nframes * 2`). Same errors as `smart_resize` ("aspect_ratio", "zero_size",
/// ...).
inline size smart_resize_real(long long height, long long width, int factor, double min_pixels, double max_pixels) {
    // Validation and the round branch are the integer smart_resize's; only the comparisons and betas use
    // the real budgets.
    smart_resize_options so;
    so.factor = factor;
    so.min_pixels = 0;
    so.max_pixels = 0x7fffffffffffffffLL;
    const size rounded = smart_resize(height, width, so); // validation + round_by_factor (clamped to factor)
    long long h_bar = rounded.height, w_bar = rounded.width;
    const double h = static_cast<double>(height), w = static_cast<double>(width), fd = factor;
    if (static_cast<double>(h_bar * w_bar) > max_pixels) {
        if (max_pixels == 0.0)
            RSCOVLM_THROW(resolution_error, "zero_division", "smart_resize: max_pixels is 0 (division by zero)");
        const double ratio = (h * w) / max_pixels;
        if (ratio < 0)
            RSCOVLM_THROW(resolution_error, "bad_budget", "smart_resize: negative max_pixels (math domain error)");
        const double beta = std::sqrt(ratio);
        // qwen-vl-utils 0.0.11: no clamp to `factor` here (a 0 side is refused by the resize step).
        h_bar = static_cast<long long>(std::floor(h / beta / fd)) * factor;
        w_bar = static_cast<long long>(std::floor(w / beta / fd)) * factor;
    } else if (static_cast<double>(h_bar * w_bar) < min_pixels) {
        const double beta = std::sqrt(min_pixels / (h * w));
        h_bar = static_cast<long long>(std::ceil(h * beta / fd)) * factor;
        w_bar = static_cast<long long>(std::ceil(w * beta / fd)) * factor;
    }
    if (h_bar > 0x7fffffffLL || w_bar > 0x7fffffffLL)
        RSCOVLM_THROW(resolution_error, "too_large", "smart_resize: result overflows int");
    return size{static_cast<int>(h_bar), static_cast<int>(w_bar)};
}

/// \brief How the frames of a video reach the model (see the file comment).
enum class video_input {
    /// `ele["video"]` is a list of frame images: per-frame fetch_image, Pillow bicubic, no sampling.
    frame_list,
    /// `ele["video"]` is a decoded video: smart_nframes sampling, video budget, torchvision resize.
    decoded,
};

/// \brief Options of the video pipeline: the qwen-vl-utils element keys plus the processor's settings.
struct video_options {
    /// Frame-count keys (`fps`, `nframes`, `min_frames`, `max_frames`). For a frame list, `fps` is only
    /// the reported sample fps (default 2.0) and the others are ignored, as in the reference.
    nframes_request frames;
    /// `ele["min_pixels"]` (default VIDEO_MIN_PIXELS for decoded videos, MIN_PIXELS for frame lists).
    std::optional<double> min_pixels;
    /// `ele["max_pixels"]` (decoded: capped by the total_pixels budget; frame lists: MAX_PIXELS).
    std::optional<double> max_pixels;
    /// `ele["total_pixels"]` (decoded videos; default VIDEO_TOTAL_PIXELS).
    std::optional<double> total_pixels;
    /// `ele["resized_height"]` / `ele["resized_width"]`: passed through smart_resize with the defaults.
    std::optional<size> resized;
    int patch_size = 14;
    int merge_size = 2;
    int temporal_patch_size = 2;
    std::array<float, 3> mean = clip_mean;
    std::array<float, 3> std = clip_std;
    /// The processor's own smart_resize budget (transformers variant), applied to the first frame's size.
    long long processor_min_pixels = 56LL * 56;
    long long processor_max_pixels = 28LL * 28 * 1280;
    /// RGBA handling of list frames (`to_rgb`); decoded frames are RGB already.
    imaging::rgb_mode rgb = imaging::rgb_mode::composite;
    /// torch CPU kernel build reproduced by the frame sampling (linspace) and the decoded-video resize.
    imaging::torch_kernel torch_kernel = imaging::torch_kernel::avx2;
    /// Also produce `pixel_values_videos` as bfloat16 bits.
    bool bf16 = false;
    /// Worker threads (0 = hardware concurrency); results do not depend on it.
    int threads = 0;
};

/// \brief Frame sampling of a decoded video (`smart_nframes` + linspace + sample fps).
struct video_sampling {
    int nframes = 0;
    std::vector<std::int64_t> frame_indices;
    double sample_fps = 0.0;
};

/// \brief Frames to read from a decoded video of `total_frames` frames at `video_fps`, as the
/// torchvision/decord readers of qwen-vl-utils choose them (whole video: indices in `[0, total-1]`).
inline video_sampling plan_video_sampling(long long total_frames, double video_fps, const video_options& o = {}) {
    if (total_frames <= 0) RSCOVLM_THROW(resolution_error, "bad_nframes", "video: the video has no frames");
    video_sampling s;
    s.nframes = smart_nframes(o.frames, total_frames, video_fps);
    s.frame_indices = sample_frame_indices(0, total_frames - 1, s.nframes, o.torch_kernel);
    s.sample_fps = video_sample_fps(s.nframes, total_frames, video_fps);
    return s;
}

/// \brief Output of the video pipeline for one video.
struct video_result {
    /// Row-major `[rows, cols]` float32 `pixel_values_videos`; `rows = grid_t*grid_h*grid_w`, cols 1176.
    std::vector<float> pixel_values;
    /// The same values as bfloat16 bits when `video_options::bf16` is set.
    std::vector<std::uint16_t> pixel_values_bf16;
    std::array<int, 3> grid_thw{{0, 0, 0}};
    std::size_t rows = 0;
    std::size_t cols = 0;
    int resized_height = 0;
    int resized_width = 0;
    /// Frames given to the processor (after FRAME_FACTOR padding of a frame list).
    int nframes = 0;
    /// Source frame index of every frame given to the processor (sampled indices, or list positions with
    /// the padding repeats).
    std::vector<std::int64_t> frame_indices;
    /// The sample fps returned by `fetch_video` (fed to the processor as `fps`).
    double sample_fps = 0.0;
    /// `temporal_patch_size / sample_fps` (double) and its float32 tensor value.
    double second_per_grid_t = 0.0;
    float second_per_grid_t_f32 = 0.0f;
    /// `<|video_pad|>` tokens: `grid_t*grid_h*grid_w / merge_size^2`.
    long long tokens = 0;
};

namespace video_detail {

inline void check_options(const video_options& o) {
    if (o.patch_size <= 0 || o.merge_size <= 0 || o.temporal_patch_size <= 0)
        RSCOVLM_THROW(resolution_error, "bad_option", "video: patch, merge and temporal sizes must be positive");
}

// The processor's per-video resize (slow Qwen2VLImageProcessor: the first frame's size decides).
inline void processor_resize(std::vector<image>& frames, const video_options& o) {
    smart_resize_options so;
    so.factor = o.patch_size * o.merge_size;
    so.min_pixels = o.processor_min_pixels;
    so.max_pixels = o.processor_max_pixels;
    so.variant = smart_resize_variant::transformers;
    const size t = smart_resize(frames.front().height, frames.front().width, so);
    imaging::resize_options ro;
    ro.threads = o.threads;
    for (image& f : frames)
        if (f.height != t.height || f.width != t.width)
            f = imaging::resize(f, t.width, t.height, imaging::filter::bicubic, ro);
}

} // namespace video_detail

/// \brief Normalises and patchifies RGB frames of one size (multiples of `patch_size * merge_size`) into
/// `pixel_values_videos`; pads the count to a multiple of `temporal_patch_size` with the last frame.
/// Returns `video_grid_thw`. Throws `resolution_error` "bad_size" / "bad_channels" / "no_frames".
inline std::array<int, 3> normalize_patchify_video(const std::vector<image>& frames, std::vector<float>& out,
                                                   const video_options& o = {}) {
    video_detail::check_options(o);
    if (frames.empty()) RSCOVLM_THROW(resolution_error, "no_frames", "normalize_patchify_video: no frames");
    const int p = o.patch_size, m = o.merge_size, tps = o.temporal_patch_size;
    const int H = frames.front().height, W = frames.front().width;
    for (const image& f : frames) {
        if (f.channels != 3)
            RSCOVLM_THROW(resolution_error, "bad_channels",
                          "normalize_patchify_video: expected RGB frames, got " + std::to_string(f.channels) +
                              " channels");
        if (f.height != H || f.width != W)
            RSCOVLM_THROW(resolution_error, "bad_size",
                          "normalize_patchify_video: frames differ in size (" + std::to_string(f.width) + "x" +
                              std::to_string(f.height) + " vs " + std::to_string(W) + "x" + std::to_string(H) + ")");
    }
    if (H <= 0 || W <= 0 || H % (p * m) != 0 || W % (p * m) != 0)
        RSCOVLM_THROW(resolution_error, "bad_size",
                      "normalize_patchify_video: " + std::to_string(W) + "x" + std::to_string(H) +
                          " is not a positive multiple of " + std::to_string(p * m));
    const std::size_t n = frames.size();
    const std::size_t padded =
        (n + static_cast<std::size_t>(tps) - 1) / static_cast<std::size_t>(tps) * static_cast<std::size_t>(tps);
    const int gt = static_cast<int>(padded / static_cast<std::size_t>(tps)), gh = H / p, gw = W / p;
    const std::size_t pp = static_cast<std::size_t>(p) * static_cast<std::size_t>(p);
    const std::size_t tpp = static_cast<std::size_t>(tps) * pp;
    const std::size_t cols = 3 * tpp;
    const std::size_t rows_per_t = static_cast<std::size_t>(gh) * static_cast<std::size_t>(gw);
    out.assign(static_cast<std::size_t>(gt) * rows_per_t * cols, 0.0f);
    const auto lut = detail::normalize_lut(o.mean, o.std);
    const std::size_t mm = static_cast<std::size_t>(m) * static_cast<std::size_t>(m);
    const std::size_t windows_per_t = rows_per_t / mm;
    const int bw_n = gw / m;
    imaging::parallel_for(
        static_cast<std::size_t>(gt) * windows_per_t, o.threads,
        [&](std::size_t w0, std::size_t w1) {
            for (std::size_t wi = w0; wi < w1; ++wi) {
                const std::size_t g = wi / windows_per_t, win = wi % windows_per_t;
                const int bh = static_cast<int>(win / static_cast<std::size_t>(bw_n));
                const int bw = static_cast<int>(win % static_cast<std::size_t>(bw_n));
                for (int mh = 0; mh < m; ++mh)
                    for (int mw = 0; mw < m; ++mw) {
                        const std::size_t r = g * rows_per_t + win * mm + static_cast<std::size_t>(mh * m + mw);
                        float* dst = out.data() + r * cols;
                        const int y0 = (bh * m + mh) * p, x0 = (bw * m + mw) * p;
                        for (int t = 0; t < tps; ++t) {
                            // Temporal padding: frames past the end repeat the last frame.
                            const std::size_t fi =
                                std::min(g * static_cast<std::size_t>(tps) + static_cast<std::size_t>(t), n - 1);
                            const image& f = frames[fi];
                            for (int py = 0; py < p; ++py) {
                                const std::uint8_t* s = f.row(y0 + py) + static_cast<std::size_t>(x0) * 3;
                                float* d = dst + static_cast<std::size_t>(t) * pp +
                                           static_cast<std::size_t>(py) * static_cast<std::size_t>(p);
                                for (int px = 0; px < p; ++px)
                                    for (std::size_t c = 0; c < 3; ++c)
                                        d[c * tpp + static_cast<std::size_t>(px)] =
                                            lut[c][s[static_cast<std::size_t>(px) * 3 + c]];
                            }
                        }
                    }
            }
        },
        4);
    return {{gt, gh, gw}};
}

namespace video_detail {

inline video_result finish(std::vector<image>& frames, double sample_fps, const video_options& o) {
    video_result r;
    processor_resize(frames, o);
    r.grid_thw = normalize_patchify_video(frames, r.pixel_values, o);
    r.cols = 3 * static_cast<std::size_t>(o.temporal_patch_size) * static_cast<std::size_t>(o.patch_size) *
             static_cast<std::size_t>(o.patch_size);
    r.rows = r.pixel_values.size() / r.cols;
    r.resized_height = frames.front().height;
    r.resized_width = frames.front().width;
    r.nframes = static_cast<int>(frames.size());
    r.sample_fps = sample_fps;
    r.second_per_grid_t = second_per_grid_t(sample_fps, o.temporal_patch_size);
    r.second_per_grid_t_f32 = static_cast<float>(r.second_per_grid_t);
    r.tokens = static_cast<long long>(r.grid_thw[0]) * r.grid_thw[1] * r.grid_thw[2] / (o.merge_size * o.merge_size);
    if (o.bf16) r.pixel_values_bf16 = to_bfloat16(r.pixel_values, o.threads);
    return r;
}

} // namespace video_detail

/// \brief The target frame size qwen-vl-utils chooses for a decoded video of `nframes` frames of
/// `height x width` (explicit `resized` size, or smart_resize with the video budget).
inline size video_target_size(int height, int width, int nframes, const video_options& o = {}) {
    video_detail::check_options(o);
    const int factor = o.patch_size * o.merge_size;
    if (o.resized)
        return smart_resize_real(o.resized->height, o.resized->width, factor, image_min_pixels, image_max_pixels);
    const double min_px = o.min_pixels ? *o.min_pixels : static_cast<double>(video_min_pixels);
    const double total = o.total_pixels ? *o.total_pixels : static_cast<double>(video_total_pixels);
    const double max_px = video_frame_max_pixels(min_px, total, nframes, o.max_pixels);
    return smart_resize_real(height, width, factor, min_px, max_px);
}

/// \brief The decoded-video path: `frames` are the sampled frames (uint8 RGB, one size), `sample_fps`
/// what the reader returned (see `plan_video_sampling`). Resizes with torchvision's antialiased bicubic
/// (`resize_torch_bicubic_aa`), then runs the processor. `frame_indices` is copied into the result.
/// Errors: "no_frames", "bad_size" (frames of different sizes: a video tensor cannot hold them),
/// "bad_channels", smart_resize's errors.
inline video_result preprocess_decoded_video(const std::vector<image>& frames, double sample_fps,
                                             const video_options& o = {},
                                             const std::vector<std::int64_t>& frame_indices = {}) {
    video_detail::check_options(o);
    if (frames.empty()) RSCOVLM_THROW(resolution_error, "no_frames", "video: no frames");
    const int H = frames.front().height, W = frames.front().width;
    for (std::size_t i = 0; i < frames.size(); ++i) {
        if (frames[i].channels != 3)
            RSCOVLM_THROW(resolution_error, "bad_channels",
                          "video: frame " + std::to_string(i) + " has " + std::to_string(frames[i].channels) +
                              " channels, expected RGB");
        if (frames[i].height != H || frames[i].width != W)
            RSCOVLM_THROW(resolution_error, "bad_size",
                          "video: frame " + std::to_string(i) + " is " + std::to_string(frames[i].width) + "x" +
                              std::to_string(frames[i].height) + " but frame 0 is " + std::to_string(W) + "x" +
                              std::to_string(H) + " (a decoded video has one frame size)");
    }
    const size t = video_target_size(H, W, static_cast<int>(frames.size()), o);
    if (t.height <= 0 || t.width <= 0)
        RSCOVLM_THROW(resolution_error, "zero_side", "video: smart_resize gave a zero side");
    std::vector<image> resized(frames.size());
    imaging::torch_resize_options tro;
    tro.kernel = o.torch_kernel;
    tro.threads = 1;
    imaging::parallel_for(frames.size(), o.threads, [&](std::size_t a, std::size_t b) {
        for (std::size_t i = a; i < b; ++i)
            resized[i] = imaging::resize_torch_bicubic_aa(frames[i], t.width, t.height, tro);
    });
    video_result r = video_detail::finish(resized, sample_fps, o);
    r.frame_indices = frame_indices;
    return r;
}

/// \brief The frame-list path: every frame through `fetch_image` (to_rgb, smart_resize with
/// `min_pixels`/`max_pixels` or the image defaults, Pillow bicubic), padded to an even count with the last
/// frame; sample fps `o.frames.fps` or 2.0. Frames may differ in size (each gets its own smart_resize;
/// the processor then resizes all to the first frame's size, as the reference does).
inline video_result preprocess_frame_list(const std::vector<image>& frames, const video_options& o = {}) {
    video_detail::check_options(o);
    if (frames.empty()) RSCOVLM_THROW(resolution_error, "no_frames", "video: the frame list is empty");
    preprocess_options po;
    po.patch_size = o.patch_size;
    po.merge_size = o.merge_size;
    po.rgb = o.rgb;
    po.threads = 1;
    const int factor = o.patch_size * o.merge_size;
    const double min_px = o.min_pixels ? *o.min_pixels : static_cast<double>(image_min_pixels);
    const double max_px = o.max_pixels ? *o.max_pixels : static_cast<double>(image_max_pixels);
    std::vector<image> resized(frames.size());
    std::vector<error_info> errs(frames.size());
    imaging::parallel_for(frames.size(), o.threads, [&](std::size_t a, std::size_t b) {
        for (std::size_t i = a; i < b; ++i) {
            auto res = try_call([&] {
                if (frames[i].empty())
                    RSCOVLM_THROW(resolution_error, "zero_size",
                                  "video: frame " + std::to_string(i) + " has no pixels");
                const size t = o.resized ? smart_resize_real(o.resized->height, o.resized->width, factor,
                                                             image_min_pixels, image_max_pixels)
                                         : smart_resize_real(frames[i].height, frames[i].width, factor, min_px, max_px);
                if (t.height <= 0 || t.width <= 0)
                    RSCOVLM_THROW(resolution_error, "zero_side",
                                  "video: smart_resize gave a zero side for frame " + std::to_string(i));
                imaging::resize_options ro;
                ro.threads = 1;
                return imaging::resize(imaging::to_rgb(frames[i], o.rgb), t.width, t.height, imaging::filter::bicubic,
                                       ro);
            });
            if (res.ok())
                resized[i] = std::move(res.value());
            else
                errs[i] = res.error();
        }
    });
    for (const error_info& e : errs)
        if (!e.id.empty()) result<int>(e).value(); // re-raises the first failing frame's error with its id
    std::vector<std::int64_t> idx(frames.size());
    for (std::size_t i = 0; i < idx.size(); ++i)
        idx[i] = static_cast<std::int64_t>(i);
    // nframes = ceil_by_factor(len(images), FRAME_FACTOR); pad with the last frame.
    while (resized.size() % static_cast<std::size_t>(video_frame_factor) != 0) {
        resized.push_back(resized.back());
        idx.push_back(idx.back());
    }
    const double fps = o.frames.fps ? *o.frames.fps : video_default_fps;
    video_result r = video_detail::finish(resized, fps, o);
    r.frame_indices = std::move(idx);
    return r;
}

} // namespace rscovlm::resolution
