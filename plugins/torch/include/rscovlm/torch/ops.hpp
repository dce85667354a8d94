#pragma once
/// \file
/// Tensor building blocks written with plain ATen calls that exist in LibTorch 1.13 and 2.x alike, and
/// attention through `at::scaled_dot_product_attention` where the LibTorch has it (2.1 or later).

#include <rscovlm/torch/row_gemm.hpp>

#include <torch/types.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

/// 1 when this LibTorch has `at::scaled_dot_product_attention` with a `scale` argument (2.1 or later).
#ifndef RSCOVLM_TORCH_HAS_SDPA
#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1))
#define RSCOVLM_TORCH_HAS_SDPA 1
#else
#define RSCOVLM_TORCH_HAS_SDPA 0
#endif
#endif

namespace rscovlm::torch::ops {

namespace detail {
inline std::atomic<int>& sdpa_switch() {
    // -1: not decided yet (the environment decides on first use).
    static std::atomic<int> on{-1};
    return on;
}
} // namespace detail

/// Whether attention runs through `at::scaled_dot_product_attention` (LibTorch 2.1+, fused kernels on
/// CUDA, the flash/memory-efficient CPU kernels) instead of the exact eager path (matmul, float32
/// softmax, matmul: transformers' `eager_attention_forward`, bit for bit the reference's arithmetic).
/// Default: on where available, unless the environment sets `RSCOVLM_ATTENTION=eager`. Both give the
/// same masking (a float mask with the dtype's lowest value, as transformers builds for SDPA, so a fully
/// masked padded row stays finite); results differ by rounding only.
inline bool sdpa_enabled() {
#if RSCOVLM_TORCH_HAS_SDPA
    int v = detail::sdpa_switch().load();
    if (v < 0) {
        const char* e = std::getenv("RSCOVLM_ATTENTION");
        v = (e && std::strcmp(e, "eager") == 0) ? 0 : 1;
        detail::sdpa_switch().store(v);
    }
    return v == 1;
#else
    return false;
#endif
}

/// Turns SDPA attention on or off for the process (no effect where LibTorch lacks it).
inline void set_sdpa(bool on) {
    detail::sdpa_switch().store(on ? 1 : 0);
}

/// RMSNorm. Mirrors `Qwen2RMSNorm.forward`: float32 variance, `x * rsqrt(var + eps)`, cast back to the
/// input dtype, then multiply by the weight.
inline at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
    const auto in_dtype = x.scalar_type();
    at::Tensor h = x.to(at::kFloat);
    at::Tensor var = h.pow(2).mean(-1, /*keepdim=*/true);
    h = h * at::rsqrt(var + eps);
    return weight * h.to(in_dtype);
}

/// `y = x W^T + b` (b may be undefined). Up to `row_gemm_max_rows` float32 rows on the CPU (a decode
/// step) without autograd go through `row_gemm`, which streams the weight once instead of packing it as
/// LibTorch's `linear` (OpenBLAS) does; decoding is bound by that stream. Its sums are the same products
/// in another order (rounding-level differences from `linear`), and a row's result does not depend on
/// the other rows.
inline at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b = {}) {
    if (x.dim() >= 1 && x.numel() > 0 && x.is_cpu() && x.scalar_type() == at::kFloat && w.dim() == 2 &&
        x.size(-1) == w.size(1) && x.numel() / x.size(-1) <= row_gemm_max_rows &&
        (!b.defined() || (b.dim() == 1 && b.size(0) == w.size(0) && b.scalar_type() == at::kFloat && b.is_cpu())) &&
        !(at::GradMode::is_enabled() &&
          (x.requires_grad() || w.requires_grad() || (b.defined() && b.requires_grad())))) {
        const at::Tensor rows = x.reshape({-1, x.size(-1)}).contiguous();
        if (row_gemm_applies(rows, w)) {
            at::Tensor y = row_gemm(rows, w);
            if (b.defined()) y.add_(b);
            std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
            shape.back() = w.size(0);
            return y.view(shape);
        }
    }
    return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
}

/// Mirrors `rotate_half`: cat(-x2, x1) over the last dimension.
inline at::Tensor rotate_half(const at::Tensor& x) {
    const int64_t half = x.size(-1) / 2;
    return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

/// Mirrors `repeat_kv`: `[B, Hkv, T, D]` -> `[B, Hkv * n_rep, T, D]`.
inline at::Tensor repeat_kv(const at::Tensor& x, int64_t n_rep) {
    if (n_rep == 1) return x;
    const auto b = x.size(0), h = x.size(1), t = x.size(2), d = x.size(3);
    return x.unsqueeze(2).expand({b, h, n_rep, t, d}).reshape({b, h * n_rep, t, d});
}

/// The value masked attention scores get: the dtype's lowest (transformers' `torch.finfo(dtype).min`).
inline double mask_value(at::ScalarType t) {
    return t == at::kBFloat16 ? -3.3895313892515355e38
           : t == at::kHalf   ? -65504.0
           : t == at::kDouble ? std::numeric_limits<double>::lowest()
                              : static_cast<double>(std::numeric_limits<float>::lowest());
}

#if RSCOVLM_TORCH_HAS_SDPA
/// `at::scaled_dot_product_attention` with `keep` (bool, true = attend, broadcastable to the scores)
/// turned into transformers' float mask. Returns `[B, H, Lq, D]`. Defined where available.
inline at::Tensor sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& keep,
                       double scale) {
    c10::optional<at::Tensor> mask;
    if (keep.defined()) {
        // A row that may attend to nothing (a left-padded query) attends to everything instead, as
        // transformers' `_unmask_unattended` does for SDPA: fused kernels may return NaN for a fully masked
        // row (and a float16 mask can overflow to -inf), and a NaN in a padded slot's keys or values
        // would reach every real row (0 * NaN). Those rows' outputs are never used.
        const at::Tensor k2 = keep.logical_or(keep.logical_not().all(-1, /*keepdim=*/true));
        mask = at::zeros(k2.sizes(), q.options()).masked_fill(k2.logical_not(), mask_value(q.scalar_type()));
    }
    return at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, scale);
}
#endif

/// Mirrors `eager_attention_forward` (no dropout): scores = q k^T * scale, masked positions set to the
/// dtype's lowest value (transformers' `torch.finfo(dtype).min` masks), softmax in float32 cast back to
/// the query dtype, times v. q `[B, H, Lq, D]`, k/v `[B, Hkv, Lk, D]`, `keep` bool `[B|1, 1, Lq, Lk]`
/// (true = attend) or undefined. Returns `[B, Lq, H, D]`.
inline at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& keep,
                            double scale) {
    const int64_t n_rep = q.size(1) / k.size(1);
    at::Tensor ks = repeat_kv(k, n_rep);
    at::Tensor vs = repeat_kv(v, n_rep);
#if RSCOVLM_TORCH_HAS_SDPA
    if (sdpa_enabled()) return sdpa(q, ks, vs, keep, scale).transpose(1, 2).contiguous();
#endif
    at::Tensor scores = at::matmul(q, ks.transpose(2, 3)) * scale;
    if (keep.defined()) {
        const double lowest = mask_value(scores.scalar_type());
        scores = scores.masked_fill(keep.logical_not(), lowest);
    }
    at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
    return at::matmul(probs, vs).transpose(1, 2).contiguous();
}

/// `attention` for grouped-query heads without repeating keys and values: the `n_rep` query heads of
/// each key/value head are stacked into one matrix (`[B, Hkv, n_rep * Lq, D]`), so keys and values are
/// read in place (views of the KV cache, no `repeat_kv` copy). Same masking and float32 softmax; the
/// scores are scaled and masked in place (inference only: no autograd through this path).
///
/// `causal_block` > 0 declares the mask causal (query i, the i-th of the last `Lq` key slots, attends
/// no key after its own slot) and runs the queries in blocks of that many rows, each against the keys
/// up to its last row only: the masked upper triangle of a long prefill is never computed (half the
/// attention work and memory traffic at the longest prompts) and the scores of one block stay small.
/// Masked keys weigh exactly 0 after the softmax, so a block's rows are the same weighted sums.
inline at::Tensor grouped_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    const at::Tensor& keep, double scale, int64_t causal_block = 0) {
    const int64_t B = q.size(0), H = q.size(1), Lq = q.size(2), D = q.size(3), Hkv = k.size(1), K = k.size(2);
    if (causal_block > 0 && Lq > causal_block) {
        const int64_t past = K - Lq;
        std::vector<at::Tensor> outs;
        for (int64_t s = 0; s < Lq; s += causal_block) {
            const int64_t n = std::min(causal_block, Lq - s), kend = past + s + n;
            outs.push_back(grouped_attention(q.narrow(2, s, n), k.narrow(2, 0, kend), v.narrow(2, 0, kend),
                                             keep.defined() ? keep.narrow(2, s, n).narrow(3, 0, kend) : keep, scale));
        }
        return at::cat(outs, 1);
    }
    const int64_t n_rep = H / Hkv;
    if (n_rep == 1) return attention(q, k, v, keep, scale);
    at::Tensor qg = q.contiguous().view({B, Hkv, n_rep * Lq, D});
#if RSCOVLM_TORCH_HAS_SDPA
    if (sdpa_enabled()) {
        // The stacked query rows of one key/value head share that head's mask rows.
        at::Tensor kg;
        if (keep.defined())
            kg = keep.unsqueeze(2).expand({keep.size(0), 1, n_rep, Lq, K}).reshape({keep.size(0), 1, n_rep * Lq, K});
        return sdpa(qg, k, v, kg, scale).reshape({B, H, Lq, D}).transpose(1, 2).contiguous();
    }
#endif
    at::Tensor scores = at::matmul(qg, k.transpose(2, 3)); // [B, Hkv, n_rep * Lq, K]
    scores.mul_(scale);
    if (keep.defined()) {
        const double lowest = mask_value(scores.scalar_type());
        scores.view({B, Hkv, n_rep, Lq, K}).masked_fill_(keep.logical_not().unsqueeze(2), lowest);
    }
    at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
    return at::matmul(probs, v).view({B, H, Lq, D}).transpose(1, 2).contiguous();
}

} // namespace rscovlm::torch::ops
