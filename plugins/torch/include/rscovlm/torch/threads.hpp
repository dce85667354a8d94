#pragma once
/// \file
/// CPU thread setup for the LibTorch plugin: ATen's intra-op threads and the BLAS library's own.

#include <rscovlm/torch/row_gemm.hpp>

#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <mutex>

#if defined(__unix__) && !defined(__EMSCRIPTEN__)
#include <dlfcn.h>
#define RSCOVLM_TORCH_OPENBLAS_PROBE 1
#else
#define RSCOVLM_TORCH_OPENBLAS_PROBE 0
#endif

namespace rscovlm::torch {

/// What `set_compute_threads` set.
struct thread_setup {
    int aten = 1; ///< ATen intra-op (OpenMP) threads
    int blas = 0; ///< OpenBLAS threads (0: not split; the BLAS follows ATen's threads or its own default)
};

namespace detail {
using openblas_set_fn = void (*)(int);
using openblas_get_fn = int (*)();
/// OpenBLAS's thread control when the LibTorch in this process runs its matrix products on OpenBLAS
/// with its own threads (Debian's LibTorch links the system libblas.so.3): looked up among the loaded
/// libraries at run time; null with MKL (which uses ATen's OpenMP threads) or without OpenBLAS.
inline openblas_set_fn openblas_setter() {
#if RSCOVLM_TORCH_OPENBLAS_PROBE
    if (at::hasMKL()) return nullptr;
    return reinterpret_cast<openblas_set_fn>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
#else
    return nullptr;
#endif
}
inline std::mutex& thread_mutex() {
    static std::mutex m;
    return m;
}
} // namespace detail

/// Uses `n` threads (n >= 1) for the model's arithmetic. `blas_bound`: the model runs float32 on the CPU
/// through plain matrix products (no SDPA kernels); then, with an OpenBLAS that runs its own pthreads,
/// the matrix products get the `n` threads and ATen's OpenMP pool gets 1. With both at `n`, OpenMP's
/// spinning workers take the cores OpenBLAS's threads need and prefill and decoding run 2-3x slower
/// (2 cores, 505M model: 95 against 192 prefill tokens/s, 4 against 11 decode tokens/s;
/// `plugins/torch/bench/compare_transformers.py`). Otherwise (MKL, bfloat16 through oneDNN, SDPA
/// kernels: all on ATen's threads) ATen gets the `n` threads. OpenBLAS's pool is only resized when its
/// size changes (resizing it while another thread is inside a BLAS call is not safe).
inline thread_setup set_compute_threads(int n, bool blas_bound = true) {
    n = std::max(1, n);
    std::lock_guard<std::mutex> lock(detail::thread_mutex());
    static int blas_now = 0;
    thread_setup s;
    ops::set_row_gemm_threads(n); // the few-row products (decode steps) use all n on their own threads
    if (blas_bound) {
        if (auto set = detail::openblas_setter()) {
            if (blas_now != n) {
                set(n);
                blas_now = n;
            }
            at::set_num_threads(1);
            s.aten = 1;
            s.blas = n;
            return s;
        }
    }
    at::set_num_threads(n);
    s.aten = n;
    return s;
}

} // namespace rscovlm::torch
