#pragma once
/// \file resample.hpp
/// \brief Pillow-exact resampling: `resize` and its filters (NEAREST, BILINEAR, BICUBIC, LANCZOS).
///
/// The resampler mirrors Pillow 9.4 `Image.resize` (libImaging/Resample.c and Geometry.c) bit for bit
/// for 8-bit images: coefficients computed in double, converted to 22-bit fixed point with C truncation,
/// horizontal pass first (only over the source rows the vertical pass reads), then the vertical pass,
/// each rounded and clipped to uint8. NEAREST follows `ImagingScaleAffine` (accumulated double position).

#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/parallel.hpp>
#include <rscovlm/limits.hpp>

// Exact integer AVX2 kernels of the resampler (GCC/Clang on x86; chosen at run time when the CPU has
// AVX2). Define RSCOVLM_NO_SIMD to compile only the portable scalar code.
#if !defined(RSCOVLM_NO_SIMD) && defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define RSCOVLM_IMAGING_AVX2 1
#include <immintrin.h>
#define RSCOVLM_AVX2_TARGET __attribute__((target("avx2")))
#else
#define RSCOVLM_IMAGING_AVX2 0
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
    case filter::nearest:
        return "nearest";
    case filter::bilinear:
        return "bilinear";
    case filter::bicubic:
        return "bicubic";
    case filter::lanczos:
        return "lanczos";
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
    /// Use the AVX2 kernels where the build and the CPU have them. They compute the same int32 sums as
    /// the portable code, so the output is bit-identical either way; false forces the portable code.
    bool simd = true;
};

/// \brief True when `resize` can use its AVX2 kernels (built for x86 with GCC/Clang, without
/// RSCOVLM_NO_SIMD, and the CPU supports AVX2).
inline bool resize_simd_available() noexcept {
#if RSCOVLM_IMAGING_AVX2
    // __builtin_cpu_init: the answer is right even when first asked from a static initialiser. The check
    // includes the OS saving the YMM state.
    static const bool avx2 = (__builtin_cpu_init(), __builtin_cpu_supports("avx2") != 0);
    return avx2;
#else
    return false;
#endif
}

namespace detail {

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
    std::vector<int> bounds;      // [xmin, n] per output pixel
    std::vector<std::int32_t> kk; // ksize per output pixel
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
        int xmin = static_cast<int>(center - support + 0.5); // C truncation toward zero, as Pillow
        if (xmin < 0) xmin = 0;
        int xmax = static_cast<int>(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        if (xmax > c.ksize) xmax = c.ksize; // never happens for valid sizes; guards the buffer
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

template <int NC> inline void resample_horizontal_rows(const image& in, image& out, int y_offset, const axis_coeffs& c,
                                                       std::size_t y0, std::size_t y1) {
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
                    for (int x = 0; x < n; ++x)
                        acc += s[x * nc + ch] * k[x];
                    dst[ch] = clip8(acc);
                }
                dst += nc;
            }
        }
    }
}

#if RSCOVLM_IMAGING_AVX2
// AVX2 versions of the two passes. Each computes the scalar code's int32 sum (1 << 21 plus pixel times
// 22-bit coefficient over the taps) modulo 2^32: the mullo kernels term by term, the madd kernel from
// split coefficients (see there). Only the order of the additions differs, and addition modulo 2^32 is
// associative; since the true sum stays far inside the int32 range for Pillow's normalised coefficients
// (as in Pillow itself), the results are identical. The rounding step is clip8: arithmetic shift by 22,
// then the signed saturating packs clamp to [0, 255] exactly like the scalar comparisons.

// Clips 8 int32 sums to 8 bytes.
RSCOVLM_AVX2_TARGET inline __m128i clip8x8_avx2(__m256i acc) noexcept {
    acc = _mm256_srai_epi32(acc, precision_bits);
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    return _mm_packus_epi16(w, w); // low 8 bytes
}

RSCOVLM_AVX2_TARGET inline void resample_vertical_rows_avx2(const image& in, image& out, const axis_coeffs& c,
                                                            std::size_t y0, std::size_t y1) {
    const std::size_t ks = static_cast<std::size_t>(c.ksize);
    const std::size_t row_len = out.stride();
    const std::size_t stride = in.stride();
    const std::int32_t init = std::int32_t{1} << (precision_bits - 1);
    const __m256i vinit = _mm256_set1_epi32(init);
    for (std::size_t yy = y0; yy < y1; ++yy) {
        const int ymin = c.bounds[yy * 2];
        const int n = c.bounds[yy * 2 + 1];
        const std::int32_t* k = c.kk.data() + yy * ks;
        const std::uint8_t* base = in.row(ymin);
        std::uint8_t* dst = out.row(static_cast<int>(yy));
        std::size_t i = 0;
        for (; i + 32 <= row_len; i += 32) {
            __m256i a0 = vinit, a1 = vinit, a2 = vinit, a3 = vinit;
            const std::uint8_t* p = base + i;
            for (int y = 0; y < n; ++y, p += stride) {
                const __m256i kv = _mm256_set1_epi32(k[y]);
                const __m128i v0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
                const __m128i v1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
                a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(v0), kv));
                a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(v0, 8)), kv));
                a2 = _mm256_add_epi32(a2, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(v1), kv));
                a3 = _mm256_add_epi32(a3, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(v1, 8)), kv));
            }
            const __m128i lo = _mm_unpacklo_epi64(clip8x8_avx2(a0), clip8x8_avx2(a1));
            const __m128i hi = _mm_unpacklo_epi64(clip8x8_avx2(a2), clip8x8_avx2(a3));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), lo);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i + 16), hi);
        }
        for (; i + 8 <= row_len; i += 8) {
            __m256i a0 = vinit;
            const std::uint8_t* p = base + i;
            for (int y = 0; y < n; ++y, p += stride) {
                const __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
                a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(v), _mm256_set1_epi32(k[y])));
            }
            _mm_storel_epi64(reinterpret_cast<__m128i*>(dst + i), clip8x8_avx2(a0));
        }
        for (; i < row_len; ++i) {
            std::int32_t acc = init;
            const std::uint8_t* p = base + i;
            for (int y = 0; y < n; ++y, p += stride)
                acc += *p * k[y];
            dst[i] = clip8(acc);
        }
    }
}

// Coefficients of the horizontal pass with each output pixel's taps zero-padded to a multiple of `group`
// (8 for one channel, else 4), so that the AVX2 loop runs whole groups: a zero coefficient adds nothing.
struct padded_coeffs {
    std::size_t stride = 0; // int32 per output pixel
    std::vector<std::int32_t> kk;
};

inline padded_coeffs pad_coeffs(const axis_coeffs& c, int out_size, std::size_t group) {
    padded_coeffs p;
    const std::size_t ks = static_cast<std::size_t>(c.ksize);
    p.stride = (ks + group - 1) / group * group;
    p.kk.assign(static_cast<std::size_t>(out_size) * p.stride, 0);
    for (std::size_t xx = 0; xx < static_cast<std::size_t>(out_size); ++xx) {
        const std::size_t n = static_cast<std::size_t>(c.bounds[xx * 2 + 1]);
        std::copy(c.kk.begin() + static_cast<std::ptrdiff_t>(xx * ks),
                  c.kk.begin() + static_cast<std::ptrdiff_t>(xx * ks + n),
                  p.kk.begin() + static_cast<std::ptrdiff_t>(xx * p.stride));
    }
    return p;
}

template <int NC> RSCOVLM_AVX2_TARGET inline void resample_horizontal_rows_avx2(const image& in, image& out,
                                                                                int y_offset, const axis_coeffs& c,
                                                                                const padded_coeffs& pc, std::size_t y0,
                                                                                std::size_t y1) {
    static_assert(NC == 1 || NC == 2, "1 or 2 channels (3 and 4: resample_horizontal_rows_madd)");
    constexpr int group = NC == 1 ? 8 : 4;
    constexpr std::ptrdiff_t load_bytes = 8; // one group's load
    constexpr std::ptrdiff_t group_bytes = static_cast<std::ptrdiff_t>(group) * NC;
    const std::int32_t init = std::int32_t{1} << (precision_bits - 1);
    // Padded taps may read past the last tap (times a zero coefficient); only inside the buffer.
    const std::uint8_t* const buf_end = in.data.data() + in.data.size();
    const int* const bounds = c.bounds.data();
    const std::int32_t* const kks = c.kk.data();
    const std::size_t ks = static_cast<std::size_t>(c.ksize);
    const std::int32_t* const kkp = pc.kk.data();
    const std::size_t kstride = pc.stride;
    const int out_w = out.width;
    // Two channels: coefficient t of a group of four for lanes 2t and 2t + 1.
    const __m256i k_dup = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    for (std::size_t yy = y0; yy < y1; ++yy) {
        const std::uint8_t* src = in.row(static_cast<int>(yy) + y_offset);
        std::uint8_t* dst = out.row(static_cast<int>(yy));
        for (int xx = 0; xx < out_w; ++xx, dst += NC) {
            const int xmin = bounds[static_cast<std::size_t>(xx) * 2];
            const int n = bounds[static_cast<std::size_t>(xx) * 2 + 1];
            const std::uint8_t* s = src + static_cast<std::size_t>(xmin) * NC;
            const int groups = (n + group - 1) / group;
            if (groups > 0 && buf_end - s < (groups - 1) * group_bytes + load_bytes) {
                // Near the end of the buffer: the scalar sums (same values).
                const std::int32_t* k = kks + static_cast<std::size_t>(xx) * ks;
                for (int ch = 0; ch < NC; ++ch) {
                    std::int32_t acc = init;
                    for (int x = 0; x < n; ++x)
                        acc += s[x * NC + ch] * k[x];
                    dst[ch] = clip8(acc);
                }
                continue;
            }
            const std::int32_t* k = kkp + static_cast<std::size_t>(xx) * kstride;
            __m256i acc = _mm256_setzero_si256();
            for (int g = 0; g < groups; ++g, s += group_bytes, k += group) {
                if constexpr (NC == 1) {
                    const __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(s));
                    const __m256i kv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(k));
                    acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(v), kv));
                } else {
                    const __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(s));
                    const __m256i k4 = _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k)));
                    acc = _mm256_add_epi32(
                        acc, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(v), _mm256_permutevar8x32_epi32(k4, k_dup)));
                }
            }
            __m128i t = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
            if constexpr (NC == 1) {
                t = _mm_add_epi32(t, _mm_srli_si128(t, 8));
                t = _mm_add_epi32(t, _mm_srli_si128(t, 4));
            } else {
                t = _mm_add_epi32(t, _mm_srli_si128(t, 8));
            }
            t = _mm_srai_epi32(_mm_add_epi32(t, _mm_set1_epi32(init)), precision_bits);
            const __m128i w = _mm_packs_epi32(t, t);
            const std::uint32_t bytes = static_cast<std::uint32_t>(_mm_cvtsi128_si32(_mm_packus_epi16(w, w)));
            dst[0] = static_cast<std::uint8_t>(bytes);
            if constexpr (NC == 2) dst[1] = static_cast<std::uint8_t>(bytes >> 8);
        }
    }
}

// 3- and 4-channel horizontal pass with _mm256_madd_epi16, exact by splitting every coefficient:
// k = hi * 2^15 + lo with lo = k & 0x7fff in [0, 32767] and hi = k >> 15 (an int16 while |k| < 2^30;
// Pillow's coefficients stay below 2^23). A pixel p in [0, 255] times hi or lo, summed in pairs, cannot
// overflow int32, so each madd is exact, and (sum_hi << 15) + sum_lo equals the int32 sum of p * k modulo
// 2^32, i.e. exactly the scalar sum (which never leaves the int32 range).
struct madd_coeffs {
    bool ok = false;               // every coefficient splits (|k| < 2^30)
    std::size_t groups = 0;        // groups of 4 taps per output pixel
    std::vector<std::int32_t> vec; // per output pixel and group: 8 int32 of hi pairs, 8 of lo pairs
};

inline madd_coeffs make_madd_coeffs(const axis_coeffs& c, int out_size) {
    madd_coeffs m;
    const std::size_t ks = static_cast<std::size_t>(c.ksize);
    m.groups = (ks + 3) / 4;
    m.vec.assign(static_cast<std::size_t>(out_size) * m.groups * 16, 0);
    for (std::size_t xx = 0; xx < static_cast<std::size_t>(out_size); ++xx) {
        const std::size_t n = static_cast<std::size_t>(c.bounds[xx * 2 + 1]);
        const std::int32_t* k = c.kk.data() + xx * ks;
        for (std::size_t x = 0; x < n; ++x)
            if (k[x] >= (std::int32_t{1} << 30) || k[x] < -(std::int32_t{1} << 30)) return m;
        auto tap = [&](std::size_t x) { return x < n ? k[x] : std::int32_t{0}; };
        // Two int16 (tap a in the low half, tap b in the high half) as one int32 lane.
        auto pair = [](std::int32_t a, std::int32_t b) {
            return static_cast<std::int32_t>((static_cast<std::uint32_t>(a) & 0xffffu) |
                                             (static_cast<std::uint32_t>(b) << 16));
        };
        auto hi = [](std::int32_t v) { return v >> 15; };
        auto lo = [](std::int32_t v) { return v & 0x7fff; };
        for (std::size_t g = 0; g < m.groups; ++g) {
            std::int32_t* o = m.vec.data() + (xx * m.groups + g) * 16;
            const std::int32_t k0 = tap(4 * g), k1 = tap(4 * g + 1), k2 = tap(4 * g + 2), k3 = tap(4 * g + 3);
            for (int l = 0; l < 4; ++l) {
                o[l] = pair(hi(k0), hi(k1));
                o[4 + l] = pair(hi(k2), hi(k3));
                o[8 + l] = pair(lo(k0), lo(k1));
                o[12 + l] = pair(lo(k2), lo(k3));
            }
        }
    }
    m.ok = true;
    return m;
}

// R rows at once (they share every output pixel's bounds and coefficients).
template <int NC, int R>
RSCOVLM_AVX2_TARGET inline void resample_horizontal_madd_block(const image& in, image& out, int y_offset,
                                                               const axis_coeffs& c, const madd_coeffs& mc,
                                                               std::size_t yy) {
    static_assert(NC == 3 || NC == 4, "3 or 4 channels");
    static_assert(R >= 1 && R <= 4, "1 to 4 rows");
    constexpr std::ptrdiff_t group_bytes = 4 * NC;
    const std::int32_t init = std::int32_t{1} << (precision_bits - 1);
    // A group's 16-byte load reads 4 bytes past its 4 taps for 3 channels (times zero coefficients, or
    // bytes the shuffle drops); only inside the buffer.
    const std::uint8_t* const buf_end = in.data.data() + in.data.size();
    const int* const bounds = c.bounds.data();
    const std::int32_t* const kks = c.kk.data();
    const std::size_t ks = static_cast<std::size_t>(c.ksize);
    const int out_w = out.width;
    // Per 128-bit lane: int16 pairs (channel c of tap 0, of tap 1) for taps 0, 1 (low lane) and 2, 3 (high).
    const __m256i spread = NC == 3 ? _mm256_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1, 6, -1,
                                                      9, -1, 7, -1, 10, -1, 8, -1, 11, -1, -1, -1, -1, -1)
                                   : _mm256_setr_epi8(0, -1, 4, -1, 1, -1, 5, -1, 2, -1, 6, -1, 3, -1, 7, -1, 8, -1, 12,
                                                      -1, 9, -1, 13, -1, 10, -1, 14, -1, 11, -1, 15, -1);
    const __m256i vinit = _mm256_set1_epi32(init);
    const std::uint8_t* src[R];
    std::uint8_t* dst[R];
    for (int r = 0; r < R; ++r) {
        src[r] = in.row(static_cast<int>(yy) + r + y_offset);
        dst[r] = out.row(static_cast<int>(yy) + r);
    }
    for (int xx = 0; xx < out_w; ++xx) {
        const int xmin = bounds[static_cast<std::size_t>(xx) * 2];
        const int n = bounds[static_cast<std::size_t>(xx) * 2 + 1];
        const std::size_t off = static_cast<std::size_t>(xmin) * NC;
        const std::size_t o = static_cast<std::size_t>(xx) * NC;
        const int groups = (n + 3) / 4;
        if (groups > 0 && buf_end - (src[R - 1] + off) < (groups - 1) * group_bytes + 16) {
            // Near the end of the buffer: the scalar sums (same values).
            const std::int32_t* k = kks + static_cast<std::size_t>(xx) * ks;
            for (int r = 0; r < R; ++r)
                for (int ch = 0; ch < NC; ++ch) {
                    std::int32_t acc = init;
                    for (int x = 0; x < n; ++x)
                        acc += src[r][off + static_cast<std::size_t>(x * NC + ch)] * k[x];
                    dst[r][o + static_cast<std::size_t>(ch)] = clip8(acc);
                }
            continue;
        }
        const __m256i* kv =
            reinterpret_cast<const __m256i*>(mc.vec.data() + static_cast<std::size_t>(xx) * mc.groups * 16);
        __m256i acc_hi[R], acc_lo[R];
        for (int r = 0; r < R; ++r)
            acc_hi[r] = acc_lo[r] = _mm256_setzero_si256();
        for (std::ptrdiff_t g = 0; g < groups; ++g, kv += 2) {
            const __m256i kh = _mm256_loadu_si256(kv), kl = _mm256_loadu_si256(kv + 1);
            for (int r = 0; r < R; ++r) {
                const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src[r] + off + g * group_bytes));
                const __m256i v = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(raw), spread);
                acc_hi[r] = _mm256_add_epi32(acc_hi[r], _mm256_madd_epi16(v, kh));
                acc_lo[r] = _mm256_add_epi32(acc_lo[r], _mm256_madd_epi16(v, kl));
            }
        }
        __m256i acc[R];
        for (int r = 0; r < R; ++r)
            acc[r] = _mm256_add_epi32(_mm256_slli_epi32(acc_hi[r], 15), acc_lo[r]);
        // Rows 2p and 2p + 1: lane l of the 128-bit half h is channel l of row 2p + h (all taps).
        for (int p = 0; 2 * p < R; ++p) {
            const __m256i a0 = acc[2 * p], a1 = 2 * p + 1 < R ? acc[2 * p + 1] : acc[2 * p];
            __m256i u =
                _mm256_add_epi32(_mm256_permute2x128_si256(a0, a1, 0x20), _mm256_permute2x128_si256(a0, a1, 0x31));
            u = _mm256_srai_epi32(_mm256_add_epi32(u, vinit), precision_bits);
            const __m256i w = _mm256_packs_epi32(u, u);
            const __m256i b8 = _mm256_packus_epi16(w, w);
            const std::uint32_t bytes[2] = {
                static_cast<std::uint32_t>(_mm256_cvtsi256_si32(b8)),
                static_cast<std::uint32_t>(_mm_cvtsi128_si32(_mm256_extracti128_si256(b8, 1)))};
            for (int h = 0; h < 2 && 2 * p + h < R; ++h) {
                std::uint8_t* d = dst[2 * p + h] + o;
                if constexpr (NC == 4) {
                    std::memcpy(d, &bytes[h], 4);
                } else {
                    d[0] = static_cast<std::uint8_t>(bytes[h]);
                    d[1] = static_cast<std::uint8_t>(bytes[h] >> 8);
                    d[2] = static_cast<std::uint8_t>(bytes[h] >> 16);
                }
            }
        }
    }
}

template <int NC> RSCOVLM_AVX2_TARGET inline void resample_horizontal_rows_madd(const image& in, image& out,
                                                                                int y_offset, const axis_coeffs& c,
                                                                                const madd_coeffs& mc, std::size_t y0,
                                                                                std::size_t y1) {
    std::size_t yy = y0;
    for (; yy + 4 <= y1; yy += 4)
        resample_horizontal_madd_block<NC, 4>(in, out, y_offset, c, mc, yy);
    for (; yy < y1; ++yy)
        resample_horizontal_madd_block<NC, 1>(in, out, y_offset, c, mc, yy);
}
#endif // RSCOVLM_IMAGING_AVX2

inline void resample_horizontal(const image& in, image& out, int y_offset, const axis_coeffs& c, int threads,
                                bool simd = true) {
    const std::size_t rows = static_cast<std::size_t>(out.height);
    const bool use_avx2 = simd && resize_simd_available() && in.channels >= 1 && in.channels <= 4;
    (void)use_avx2;
#if RSCOVLM_IMAGING_AVX2
    // 3 and 4 channels: madd kernel (falls back to the scalar code for coefficients it cannot split,
    // which Pillow's filters never produce); 1 and 2 channels: mullo kernel.
    const bool wide = in.channels >= 3;
    const madd_coeffs mc = use_avx2 && wide ? make_madd_coeffs(c, out.width) : madd_coeffs{};
    const padded_coeffs pc = use_avx2 && !wide ? pad_coeffs(c, out.width, in.channels == 1 ? 8 : 4) : padded_coeffs{};
#endif
    // Chunks of at least 8 rows keep the thread overhead small for tiny images.
    parallel_for(
        rows, threads,
        [&](std::size_t a, std::size_t b) {
#if RSCOVLM_IMAGING_AVX2
            if (use_avx2 && mc.ok) {
                if (in.channels == 3)
                    resample_horizontal_rows_madd<3>(in, out, y_offset, c, mc, a, b);
                else
                    resample_horizontal_rows_madd<4>(in, out, y_offset, c, mc, a, b);
                return;
            }
            if (use_avx2 && !wide) {
                if (in.channels == 1)
                    resample_horizontal_rows_avx2<1>(in, out, y_offset, c, pc, a, b);
                else
                    resample_horizontal_rows_avx2<2>(in, out, y_offset, c, pc, a, b);
                return;
            }
#endif
            if (in.channels == 3)
                resample_horizontal_rows<3>(in, out, y_offset, c, a, b);
            else
                resample_horizontal_rows<0>(in, out, y_offset, c, a, b);
        },
        8);
}

inline void resample_vertical(const image& in, image& out, const axis_coeffs& c, int threads, bool simd = true) {
    const std::size_t ks = static_cast<std::size_t>(c.ksize);
    const std::size_t row_len = out.stride();
    const bool use_avx2 = simd && resize_simd_available();
    (void)use_avx2;
    parallel_for(
        static_cast<std::size_t>(out.height), threads,
        [&](std::size_t a, std::size_t b) {
#if RSCOVLM_IMAGING_AVX2
            if (use_avx2) {
                resample_vertical_rows_avx2(in, out, c, a, b);
                return;
            }
#endif
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
                    for (std::size_t i = 0; i < row_len; ++i)
                        accp[i] += src[i] * ky;
                }
                std::uint8_t* dst = out.row(static_cast<int>(yy));
                for (std::size_t i = 0; i < row_len; ++i)
                    dst[i] = clip8(accp[i]);
            }
        },
        8);
}

// Pillow ImagingResampleInner for one 8-bit image (channels resampled independently).
inline image resample(const image& src, int w, int h, filter f, int threads, bool simd = true) {
    const bool need_h = w != src.width;
    const bool need_v = h != src.height;
    if (!need_h && !need_v) return src;
    axis_coeffs ch = precompute_coeffs(src.width, w, f);
    axis_coeffs cv = precompute_coeffs(src.height, h, f);
    const int ybox_first = cv.bounds[0];
    const int ybox_last =
        cv.bounds[static_cast<std::size_t>(h) * 2 - 2] + cv.bounds[static_cast<std::size_t>(h) * 2 - 1];
    image tmp;
    const image* cur = &src;
    if (need_h) {
        for (int i = 0; i < h; ++i)
            cv.bounds[static_cast<std::size_t>(i) * 2] -= ybox_first;
        tmp = make_image(w, ybox_last - ybox_first, src.channels);
        resample_horizontal(src, tmp, ybox_first, ch, threads, simd);
        cur = &tmp;
    }
    if (need_v) {
        image out = make_image(w, h, src.channels);
        resample_vertical(*cur, out, cv, threads, simd);
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
                if (xi >= 0)
                    std::memcpy(o + static_cast<std::size_t>(x) * nc, in + static_cast<std::size_t>(xi) * nc, nc);
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

} // namespace detail

/// \brief Resizes to `w x h` exactly as Pillow 9.4 `Image.resize((w, h), f)` does for modes L, LA, RGB, RGBA.
///
/// 2- and 4-channel images are resampled premultiplied (Pillow converts LA/RGBA to La/RGBa and back for
/// every filter but NEAREST). A same-size resize is a copy. Throws `image_error` "bad_size" for a
/// non-positive target size (Pillow: "height and width must be > 0") and "empty_image" for an empty source;
/// a target over the `output_pixels` limit raises `rscovlm.limit.output_pixels` before allocating.
inline image resize(const image& src, int w, int h, filter f = filter::bicubic, const resize_options& opt = {}) {
    if (w <= 0 || h <= 0)
        RSCOVLM_THROW(image_error, "bad_size",
                      "resize: height and width must be > 0 (got " + std::to_string(w) + "x" + std::to_string(h) + ")");
    if (src.empty()) RSCOVLM_THROW(image_error, "empty_image", "resize: the source image has no pixels");
    limits::check("output_pixels", limits::mul(static_cast<std::uint64_t>(w), static_cast<std::uint64_t>(h)),
                  "resize to " + std::to_string(w) + "x" + std::to_string(h));
    if (src.data.size() != src.size_bytes())
        RSCOVLM_THROW(image_error, "bad_buffer",
                      "resize: data holds " + std::to_string(src.data.size()) + " bytes, expected " +
                          std::to_string(src.size_bytes()));
    if (w == src.width && h == src.height) return src;
    if (f == filter::nearest) return detail::resize_nearest(src, w, h);
    if (src.channels == 2 || src.channels == 4) {
        image pre = src;
        detail::premultiply(pre);
        image out = detail::resample(pre, w, h, f, opt.threads, opt.simd);
        detail::unpremultiply(out);
        return out;
    }
    return detail::resample(src, w, h, f, opt.threads, opt.simd);
}

} // namespace rscovlm::imaging

namespace rscovlm {

inline image image::resize(const image& src, int w, int h, filter f) {
    return imaging::resize(src, w, h, f);
}

} // namespace rscovlm
