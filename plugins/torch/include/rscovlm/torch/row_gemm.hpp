#pragma once
/// \file
/// `y = x W^T` for a few float32 rows on the CPU: the product of a decode step (one row per sequence of
/// the batch). OpenBLAS treats it as a general matrix product and packs the weight into its panel
/// layout first, so every step reads the weight, writes the packed copy and reads it again: measured on
/// 2 cores (AMD EPYC, OpenBLAS 0.3.21), packing took more time than the arithmetic, and 8 rows streamed
/// the weight at 10-16 GB/s. Here each weight row is read once and dotted with every input row while it
/// is in cache, and the weight's rows are split between threads.
///
/// Each output element is `dot(x[m], W[n])` summed the same way whatever the number of rows and
/// wherever the element falls in the tiling (8-wide fused multiply-adds over the multiple-of-8 prefix of
/// K, a fixed horizontal sum, then the rest in order), so a row gives bit for bit the same result alone
/// as in a batch: a greedy row decodes the same ids batched or alone.

#include <ATen/Parallel.h>
#include <torch/types.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define RSCOVLM_ROW_GEMM_X86 1
#else
#define RSCOVLM_ROW_GEMM_X86 0
#endif

namespace rscovlm::torch::ops {

namespace detail {

/// A fixed set of threads for `row_gemm`: `run(parts, f)` calls f(0) on the caller and f(1..parts-1) on
/// the workers (which sleep on a condition variable in between, so they never spin against the BLAS's
/// own threads), and returns when all are done. Calls from several threads take turns. Like OpenMP's
/// and OpenBLAS's pools, it does not survive `fork` without `exec` once it has started its workers.
class row_gemm_pool {
public:
    static row_gemm_pool& instance() {
        static row_gemm_pool p;
        return p;
    }
    row_gemm_pool(const row_gemm_pool&) = delete;
    row_gemm_pool& operator=(const row_gemm_pool&) = delete;
    ~row_gemm_pool() {
        {
            std::lock_guard<std::mutex> lk(m_mutex);
            m_stop = true;
        }
        m_wake.notify_all();
        for (auto& t : m_workers)
            t.join();
    }

    /// Threads `run` may use (the caller included), at least 1.
    int threads() const noexcept { return m_threads.load(); }
    void set_threads(int n) noexcept { m_threads.store(std::max(1, std::min(n, 64))); }

    /// Runs f(0..parts-1) (parts at most 64), each once; rethrows what f(0) throws once all are done.
    void run(int parts, const std::function<void(int)>& f) {
        parts = std::max(1, std::min(parts, 64));
        if (parts == 1) {
            f(0);
            return;
        }
        std::unique_lock<std::mutex> call(m_call); // one product at a time
        {
            std::lock_guard<std::mutex> lk(m_mutex);
            while (static_cast<int>(m_workers.size()) < parts - 1) {
                const int index = static_cast<int>(m_workers.size()) + 1;
                m_workers.emplace_back([this, index] { work(index); });
            }
            m_job = &f;
            m_parts = parts;
            m_pending = parts - 1;
            ++m_generation;
        }
        m_wake.notify_all();
        std::exception_ptr error;
        try {
            f(0);
        } catch (...) {
            error = std::current_exception();
        }
        std::unique_lock<std::mutex> lk(m_mutex);
        m_done.wait(lk, [&] { return m_pending == 0; });
        m_job = nullptr;
        lk.unlock();
        if (error) std::rethrow_exception(error);
    }

private:
    row_gemm_pool() {
        const int hw = static_cast<int>(std::thread::hardware_concurrency());
        set_threads(std::min(at::get_num_threads(), hw > 0 ? hw : 1));
    }

    void work(int index) {
        std::uint64_t seen = 0;
        for (;;) {
            const std::function<void(int)>* job = nullptr;
            {
                std::unique_lock<std::mutex> lk(m_mutex);
                m_wake.wait(lk, [&] { return m_stop || m_generation != seen; });
                if (m_stop) return;
                seen = m_generation;
                if (index >= m_parts) continue;
                job = m_job;
            }
            (*job)(index);
            std::lock_guard<std::mutex> lk(m_mutex);
            if (--m_pending == 0) m_done.notify_one();
        }
    }

    std::atomic<int> m_threads{1};
    std::mutex m_call, m_mutex;
    std::condition_variable m_wake, m_done;
    std::vector<std::thread> m_workers;
    const std::function<void(int)>* m_job = nullptr;
    int m_parts = 0;
    int m_pending = 0;
    std::uint64_t m_generation = 0;
    bool m_stop = false;
};

#if RSCOVLM_ROW_GEMM_X86
__attribute__((target("avx2,fma"))) inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// The rest of the dot products `r[j] += x[k] * w[j][k]` for k in [K8, K), in order.
template <int J>
inline void dot_tail(const float* x, const float* const* w, std::int64_t K8, std::int64_t K, float* r) {
    for (int j = 0; j < J; ++j)
        for (std::int64_t k = K8; k < K; ++k)
            r[j] = std::fma(x[k], w[j][k], r[j]);
}

/// Rows [n0, n1) of `y` [M, N] = x [M, K] W^T, W [N, K] row-major. Tiles of eight weight rows: against
/// pairs of input rows four weight rows at a time (eight 8-wide accumulators), and against a single
/// input row (M odd, or 1) all eight at once, so one-row decoding keeps eight weight streams in flight.
/// (Walking K in L1-sized blocks, the accumulators kept in memory between blocks, measured slower.)
__attribute__((target("avx2,fma"))) inline void row_gemm_avx2(const float* x, std::int64_t M, std::int64_t K,
                                                              const float* w, std::int64_t n0, std::int64_t n1,
                                                              float* y, std::int64_t N) {
    const std::int64_t K8 = K / 8 * 8;
    for (std::int64_t n = n0; n < n1; n += 8) {
        const int rows = static_cast<int>(std::min<std::int64_t>(8, n1 - n));
        const float* wr[8];
        for (int j = 0; j < 8; ++j)
            wr[j] = w + (n + std::min(j, rows - 1)) * K; // a short tile repeats its last row (discarded)
        std::int64_t m = 0;
        for (; m + 1 < M; m += 2) {
            const float* xa = x + m * K;
            const float* xb = xa + K;
            for (int h = 0; h < rows; h += 4) {
                const float* const* v = wr + h;
                __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
                for (std::int64_t k = 0; k < K8; k += 8) {
                    const __m256 v0 = _mm256_loadu_ps(v[0] + k), v1 = _mm256_loadu_ps(v[1] + k);
                    const __m256 v2 = _mm256_loadu_ps(v[2] + k), v3 = _mm256_loadu_ps(v[3] + k);
                    const __m256 p = _mm256_loadu_ps(xa + k), q = _mm256_loadu_ps(xb + k);
                    a0 = _mm256_fmadd_ps(p, v0, a0);
                    a1 = _mm256_fmadd_ps(p, v1, a1);
                    a2 = _mm256_fmadd_ps(p, v2, a2);
                    a3 = _mm256_fmadd_ps(p, v3, a3);
                    b0 = _mm256_fmadd_ps(q, v0, b0);
                    b1 = _mm256_fmadd_ps(q, v1, b1);
                    b2 = _mm256_fmadd_ps(q, v2, b2);
                    b3 = _mm256_fmadd_ps(q, v3, b3);
                }
                float ra[4] = {hsum8(a0), hsum8(a1), hsum8(a2), hsum8(a3)};
                float rb[4] = {hsum8(b0), hsum8(b1), hsum8(b2), hsum8(b3)};
                dot_tail<4>(xa, v, K8, K, ra);
                dot_tail<4>(xb, v, K8, K, rb);
                for (int j = 0; j < 4 && h + j < rows; ++j) {
                    y[m * N + n + h + j] = ra[j];
                    y[(m + 1) * N + n + h + j] = rb[j];
                }
            }
        }
        if (m < M) {
            const float* xa = x + m * K;
            __m256 a[8];
            for (auto& v : a)
                v = _mm256_setzero_ps();
            for (std::int64_t k = 0; k < K8; k += 8) {
                const __m256 p = _mm256_loadu_ps(xa + k);
                a[0] = _mm256_fmadd_ps(p, _mm256_loadu_ps(wr[0] + k), a[0]);
                a[1] = _mm256_fmadd_ps(p, _mm256_loadu_ps(wr[1] + k), a[1]);
                a[2] = _mm256_fmadd_ps(p, _mm256_loadu_ps(wr[2] + k), a[2]);
                a[3] = _mm256_fmadd_ps(p, _mm256_loadu_ps(wr[3] + k), a[3]);
                a[4] = _mm256_fmadd_ps(p, _mm256_loadu_ps(wr[4] + k), a[4]);
                a[5] = _mm256_fmadd_ps(p, _mm256_loadu_ps(wr[5] + k), a[5]);
                a[6] = _mm256_fmadd_ps(p, _mm256_loadu_ps(wr[6] + k), a[6]);
                a[7] = _mm256_fmadd_ps(p, _mm256_loadu_ps(wr[7] + k), a[7]);
            }
            float ra[8];
            for (int j = 0; j < 8; ++j)
                ra[j] = hsum8(a[j]);
            dot_tail<8>(xa, wr, K8, K, ra);
            for (int j = 0; j < rows; ++j)
                y[m * N + n + j] = ra[j];
        }
    }
}

inline bool cpu_has_avx2_fma() {
    static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return has;
}
#endif

} // namespace detail

/// Threads `row_gemm` uses (default: ATen's thread count at first use); `set_compute_threads` sets it
/// to the BLAS's share.
inline void set_row_gemm_threads(int n) {
    detail::row_gemm_pool::instance().set_threads(n);
}

/// Most input rows `row_gemm` takes; more rows are a matrix product the BLAS does well.
constexpr std::int64_t row_gemm_max_rows = 16;

/// Whether `row_gemm` runs `x W^T` on this machine: float32 CPU tensors, x [M, K] contiguous with
/// 1 <= M <= `row_gemm_max_rows`, W [N, K] contiguous, and a CPU with AVX2 and FMA.
inline bool row_gemm_applies(const at::Tensor& x, const at::Tensor& w) {
#if RSCOVLM_ROW_GEMM_X86
    return detail::cpu_has_avx2_fma() && x.dim() == 2 && w.dim() == 2 && x.is_cpu() && w.is_cpu() &&
           x.scalar_type() == at::kFloat && w.scalar_type() == at::kFloat && x.size(0) >= 1 &&
           x.size(0) <= row_gemm_max_rows && x.size(1) == w.size(1) && x.size(1) > 0 && w.size(0) > 0 &&
           x.is_contiguous() && w.is_contiguous();
#else
    (void)x;
    (void)w;
    return false;
#endif
}

/// `x W^T` [M, N] (see the file comment); requires `row_gemm_applies(x, w)`.
inline at::Tensor row_gemm(const at::Tensor& x, const at::Tensor& w) {
    const std::int64_t M = x.size(0), K = x.size(1), N = w.size(0);
    at::Tensor y = at::empty({M, N}, x.options());
#if RSCOVLM_ROW_GEMM_X86
    const float* xp = x.data_ptr<float>();
    const float* wp = w.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    // Parts of at least 64 weight rows (and 256 KiB of weight), in multiples of 8 rows.
    auto& pool = detail::row_gemm_pool::instance();
    const std::int64_t by_size = std::max<std::int64_t>(1, std::min(N / 64, N * K / 65536));
    const int parts = static_cast<int>(std::min<std::int64_t>(pool.threads(), by_size));
    const std::int64_t per = (N + parts - 1) / parts;
    const std::int64_t chunk = (per + 7) / 8 * 8;
    pool.run(parts, [&](int p) {
        const std::int64_t n0 = std::min(N, static_cast<std::int64_t>(p) * chunk);
        const std::int64_t n1 = std::min(N, n0 + chunk);
        if (n0 < n1) detail::row_gemm_avx2(xp, M, K, wp, n0, n1, yp, N);
    });
#endif
    return y;
}

} // namespace rscovlm::torch::ops
