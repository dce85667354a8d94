#pragma once
/// \file config.hpp
/// Compile-time configuration of rscovlm.
///
/// - `RSCOVLM_NO_EXCEPTIONS`: defined (or detected when the compiler has exceptions off) to build
///   without exceptions. Throwing entry points then report the error through the handler set with
///   `rscovlm::set_error_handler` and abort; `try_` entry points keep working for errors detected
///   before anything is thrown.
/// - `RSCOVLM_NO_SIMD`: compile only the portable scalar code of the image resampler (by default GCC and
///   Clang builds for x86 also compile AVX2 kernels, used when the CPU has AVX2; the output is identical).

#if !defined(RSCOVLM_NO_EXCEPTIONS)
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define RSCOVLM_HAS_EXCEPTIONS 1
#else
#define RSCOVLM_NO_EXCEPTIONS 1
#define RSCOVLM_HAS_EXCEPTIONS 0
#endif
#else
#define RSCOVLM_HAS_EXCEPTIONS 0
#endif

#if !RSCOVLM_HAS_EXCEPTIONS && !defined(JSON_NOEXCEPTION)
#define JSON_NOEXCEPTION 1
#endif
