#pragma once
/// \file
/// CPU thread setup for the LibTorch plugin: ATen's intra-op threads and the BLAS library's own.

#include <ATen/Parallel.h>

#include <algorithm>

#if defined(__GNUC__) && defined(__ELF__)
// OpenBLAS's thread control, when the BLAS LibTorch links is OpenBLAS (Debian's libtorch links the
// system libblas.so.3, OpenBLAS with its own pthreads); weak: null with any other BLAS.
extern "C" __attribute__((weak)) void openblas_set_num_threads(int);
extern "C" __attribute__((weak)) int openblas_get_num_threads(void);
#define RSCOVLM_TORCH_OPENBLAS_PROBE 1
#else
#define RSCOVLM_TORCH_OPENBLAS_PROBE 0
#endif

namespace rscovlm::torch {

/// What `set_compute_threads` set.
struct thread_setup {
    int aten = 1; ///< ATen intra-op (OpenMP) threads
    int blas = 0; ///< OpenBLAS threads (0: the BLAS is not OpenBLAS; it follows ATen's)
};

/// Uses `n` threads (n >= 1) for the model's arithmetic. With an OpenBLAS that runs its own pthreads
/// (Debian's LibTorch), the matrix products get the `n` threads and ATen's OpenMP pool gets 1: with both
/// at `n`, OpenMP's spinning workers take the cores OpenBLAS's threads need, and prefill and decoding run
/// 2-3x slower (2 cores: 95 against 192 prefill tokens/s, 4 against 11 decode tokens/s on a 505M model;
/// `plugins/torch/bench/compare_transformers.py`). With any other BLAS (MKL and oneDNN use ATen's OpenMP
/// threads) ATen gets the `n` threads.
inline thread_setup set_compute_threads(int n) {
    n = std::max(1, n);
    thread_setup s;
#if RSCOVLM_TORCH_OPENBLAS_PROBE
    if (openblas_set_num_threads != nullptr) {
        openblas_set_num_threads(n);
        at::set_num_threads(1);
        s.aten = 1;
        s.blas = openblas_get_num_threads != nullptr ? openblas_get_num_threads() : n;
        return s;
    }
#endif
    at::set_num_threads(n);
    s.aten = n;
    return s;
}

} // namespace rscovlm::torch
