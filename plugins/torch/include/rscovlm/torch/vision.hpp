#pragma once
/// \file
/// The Qwen2.5-VL vision tower (`Qwen2_5_VisionTransformerPretrainedModel`).

#include <rscovlm/errors.hpp>
#include <rscovlm/torch/config.hpp>
#include <rscovlm/torch/ops.hpp>

#include <torch/types.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace rscovlm::torch {

/// Window layout of the vision tower for a list of `grid_thw`.
struct vision_windows {
    /// Merged-unit order used inside the tower (`window_index`): entry k is the original merged unit.
    std::vector<std::int64_t> window_index;
    /// Window boundaries in patches, duplicates removed (`torch.unique_consecutive(cu_window_seqlens)`).
    std::vector<std::int64_t> cu_window_seqlens;
    /// Per-frame boundaries in patches (`cu_seqlens`), used by the full-attention blocks.
    std::vector<std::int64_t> cu_seqlens;
};

/// Mirrors `Qwen2_5_VisionTransformerPretrainedModel.get_window_index` and the `cu_seqlens` of its
/// `forward`. Quirk reproduced: the padding is `window - dim % window`, a whole empty window when the
/// grid divides evenly; empty windows give repeated boundaries that `unique_consecutive` removes.
inline vision_windows get_window_index(const vision_config& cfg,
                                       const std::vector<std::array<std::int64_t, 3>>& grid_thw) {
    vision_windows w;
    const std::int64_t m = cfg.spatial_merge_size, unit = m * m;
    const std::int64_t win = cfg.window_size / m / cfg.patch_size; // vit_merger_window_size
    std::vector<std::int64_t> cu{0};
    std::int64_t offset = 0;
    w.cu_seqlens.push_back(0);
    for (const auto& g : grid_thw) {
        const std::int64_t gt = g[0], lh = g[1] / m, lw = g[2] / m;
        const std::int64_t pad_h = win - lh % win, pad_w = win - lw % win;
        const std::int64_t nwh = (lh + pad_h) / win, nww = (lw + pad_w) / win;
        for (std::int64_t t = 0; t < gt; ++t) {
            for (std::int64_t a = 0; a < nwh; ++a)
                for (std::int64_t b = 0; b < nww; ++b) {
                    std::int64_t count = 0;
                    for (std::int64_t r = 0; r < win; ++r)
                        for (std::int64_t c = 0; c < win; ++c) {
                            const std::int64_t h = a * win + r, x = b * win + c;
                            if (h < lh && x < lw) {
                                w.window_index.push_back(offset + t * lh * lw + h * lw + x);
                                ++count;
                            }
                        }
                    cu.push_back(cu.back() + count * unit);
                }
            // cu_seqlens = repeat_interleave(h * w, t).cumsum(): one segment per frame.
            w.cu_seqlens.push_back(w.cu_seqlens.back() + g[1] * g[2]);
        }
        offset += gt * lh * lw;
    }
    for (auto v : cu)
        if (w.cu_window_seqlens.empty() || w.cu_window_seqlens.back() != v) w.cu_window_seqlens.push_back(v);
    return w;
}

/// `(h, w)` rotary position of every patch. Mirrors `rot_pos_emb`'s `pos_ids`: patches are ordered by
/// merged unit (2x2 blocks) then inside the unit, repeated for every frame.
inline std::vector<std::array<std::int64_t, 2>>
vision_rot_pos_ids(const vision_config& cfg, const std::vector<std::array<std::int64_t, 3>>& grid_thw) {
    std::vector<std::array<std::int64_t, 2>> out;
    const std::int64_t m = cfg.spatial_merge_size;
    for (const auto& g : grid_thw)
        for (std::int64_t t = 0; t < g[0]; ++t)
            for (std::int64_t bh = 0; bh < g[1] / m; ++bh)
                for (std::int64_t bw = 0; bw < g[2] / m; ++bw)
                    for (std::int64_t ih = 0; ih < m; ++ih)
                        for (std::int64_t iw = 0; iw < m; ++iw)
                            out.push_back({bh * m + ih, bw * m + iw});
    return out;
}

/// Weights of one vision block.
struct vision_block_weights {
    at::Tensor norm1, norm2, qkv_w, qkv_b, proj_w, proj_b, gate_w, gate_b, up_w, up_b, down_w, down_b;
};

/// The vision tower: weights and forward.
class vision_tower {
public:
    vision_tower() = default;
    vision_tower(vision_config cfg, at::Tensor patch_w, std::vector<vision_block_weights> blocks, at::Tensor ln_q,
                 at::Tensor mlp0_w, at::Tensor mlp0_b, at::Tensor mlp2_w, at::Tensor mlp2_b)
        : m_cfg(std::move(cfg)), m_patch_w(std::move(patch_w)), m_blocks(std::move(blocks)), m_ln_q(std::move(ln_q)),
          m_mlp0_w(std::move(mlp0_w)), m_mlp0_b(std::move(mlp0_b)), m_mlp2_w(std::move(mlp2_w)),
          m_mlp2_b(std::move(mlp2_b)) {}

    const vision_config& config() const noexcept { return m_cfg; }

    /// Runs the tower on `pixel_values` `[patches, patch_dim]` (any float dtype; converted to the weight
    /// dtype) for images `grid_thw`. Returns `[patches / merge^2, out_hidden_size]` in original order.
    /// Mirrors `Qwen2_5_VisionTransformerPretrainedModel.forward`.
    at::Tensor forward(const at::Tensor& pixel_values, const std::vector<std::array<std::int64_t, 3>>& grid_thw) const {
        std::int64_t n = 0;
        for (const auto& g : grid_thw) {
            if (g[0] <= 0 || g[1] <= 0 || g[2] <= 0 || g[1] % m_cfg.spatial_merge_size != 0 ||
                g[2] % m_cfg.spatial_merge_size != 0)
                RSCOVLM_THROW(model_error, "bad_grid",
                              "grid_thw [" + std::to_string(g[0]) + "," + std::to_string(g[1]) + "," +
                                  std::to_string(g[2]) + "] is not a positive multiple of spatial_merge_size");
            n += g[0] * g[1] * g[2];
        }
        if (pixel_values.dim() != 2 || pixel_values.size(0) != n || pixel_values.size(1) != m_cfg.patch_dim())
            RSCOVLM_THROW(model_error, "bad_pixel_values",
                          "pixel_values must be [" + std::to_string(n) + ", " + std::to_string(m_cfg.patch_dim()) +
                              "]");
        const auto dev = m_patch_w.device();
        const auto dt = m_patch_w.scalar_type();
        const std::int64_t unit = static_cast<std::int64_t>(m_cfg.spatial_merge_size) * m_cfg.spatial_merge_size;
        // Qwen2_5_VisionPatchEmbed: Conv3d with stride == kernel over [C, T, p, p] is a matmul with the
        // flattened kernel. The stored weight keeps the checkpoint's [out, C, T, p, p] shape (it is the
        // parameter a trainer updates); the view is taken per call.
        at::Tensor x = ops::linear(pixel_values.to(dev, dt), m_patch_w.reshape({m_patch_w.size(0), -1}));
        // rot_pos_emb: inv_freq over dim = head_dim / 2 (Qwen2_5_VisionRotaryEmbedding(head_dim // 2)).
        const std::int64_t dim = m_cfg.head_dim() / 2;
        at::Tensor inv_freq = 1.0 / at::pow(10000.0, at::arange(0, dim, 2, at::TensorOptions().dtype(at::kFloat)) /
                                                         static_cast<double>(dim));
        const auto pos = vision_rot_pos_ids(m_cfg, grid_thw);
        std::vector<std::int64_t> flat;
        flat.reserve(pos.size() * 2);
        for (const auto& p : pos) {
            flat.push_back(p[0]);
            flat.push_back(p[1]);
        }
        at::Tensor pos_t = at::tensor(flat, at::TensorOptions().dtype(at::kLong)).view({n, 2});
        // rotary_pos_emb_full[pos_ids].flatten(1): freqs of h then freqs of w.
        at::Tensor rpe = (pos_t.to(at::kFloat).unsqueeze(-1) * inv_freq.view({1, 1, -1})).flatten(1); // [n, dim]
        const auto win = get_window_index(m_cfg, grid_thw);
        at::Tensor widx = at::tensor(win.window_index, at::TensorOptions().dtype(at::kLong));
        x = x.reshape({n / unit, unit, -1}).index_select(0, widx.to(dev)).reshape({n, -1});
        rpe = rpe.reshape({n / unit, unit, -1}).index_select(0, widx).reshape({n, -1});
        at::Tensor emb = at::cat({rpe, rpe}, -1);
        at::Tensor cos = emb.cos().to(dev), sin = emb.sin().to(dev);
        for (std::size_t i = 0; i < m_blocks.size(); ++i) {
            bool full = false;
            for (int b : m_cfg.fullatt_block_indexes)
                full = full || b == static_cast<int>(i);
            const auto& cu = full ? win.cu_seqlens : win.cu_window_seqlens;
            if (m_block_hook)
                // The closure owns what it needs: a checkpointing hook runs it again during backward.
                x = m_block_hook(i, x, [this, i, cu, cos, sin](const at::Tensor& in) {
                    return block(m_blocks[i], in, cu, cos, sin);
                });
            else
                x = block(m_blocks[i], x, cu, cos, sin);
        }
        // Qwen2_5_VLPatchMerger: ln_q, view(-1, hidden * unit), Linear, GELU (exact), Linear.
        at::Tensor y = ops::rms_norm(x, m_ln_q, 1e-6).view({-1, m_cfg.hidden_size * unit});
        y = ops::linear(at::gelu(ops::linear(y, m_mlp0_w, m_mlp0_b)), m_mlp2_w, m_mlp2_b);
        at::Tensor reverse = at::argsort(widx);
        return y.index_select(0, reverse.to(dev));
    }

    /// One `Qwen2_5_VLVisionBlock` over segments `cu` (block-diagonal attention). Public for tests.
    at::Tensor block(const vision_block_weights& w, const at::Tensor& x, const std::vector<std::int64_t>& cu,
                     const at::Tensor& cos, const at::Tensor& sin) const {
        at::Tensor h = x + attention(w, ops::rms_norm(x, w.norm1, 1e-6), cu, cos, sin);
        at::Tensor z = ops::rms_norm(h, w.norm2, 1e-6);
        // Qwen2_5_VLMLP(bias=True) with silu.
        z = ops::linear(at::silu(ops::linear(z, w.gate_w, w.gate_b)) * ops::linear(z, w.up_w, w.up_b), w.down_w,
                        w.down_b);
        return h + z;
    }

    /// Mirrors `Qwen2_5_VLVisionAttention.forward` (eager path: attention inside each `cu` segment, the
    /// reference's block-diagonal mask). Segments of one length are gathered into one batch
    /// `[segments, heads, length, head_dim]` and run in one attention call: an image's windows take as
    /// many calls as they have distinct sizes (whole windows, the right and bottom edges, the corner),
    /// with no padding, no mask and no per-window loop; each window's arithmetic is the same.
    at::Tensor attention(const vision_block_weights& w, const at::Tensor& x, const std::vector<std::int64_t>& cu,
                         const at::Tensor& cos, const at::Tensor& sin) const {
        const std::int64_t n = x.size(0), heads = m_cfg.num_heads;
        at::Tensor qkv = ops::linear(x, w.qkv_w, w.qkv_b).reshape({n, 3, heads, -1}).permute({1, 0, 2, 3});
        at::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
        // apply_rotary_pos_emb_vision: in float32, cos/sin unsqueezed over heads.
        const auto dt = q.scalar_type();
        at::Tensor c = cos.unsqueeze(-2).to(at::kFloat), s = sin.unsqueeze(-2).to(at::kFloat);
        at::Tensor qf = q.to(at::kFloat), kf = k.to(at::kFloat);
        q = (qf * c + ops::rotate_half(qf) * s).to(dt);
        k = (kf * c + ops::rotate_half(kf) * s).to(dt);
        const double scale = 1.0 / std::sqrt(static_cast<double>(m_cfg.head_dim()));
        std::map<std::int64_t, std::vector<std::int64_t>> starts; // segment length -> segment starts
        for (std::size_t i = 0; i + 1 < cu.size(); ++i)
            if (cu[i + 1] > cu[i]) starts[cu[i + 1] - cu[i]].push_back(cu[i]);
        at::Tensor o;
        if (starts.size() == 1 && starts.begin()->second.size() == 1 && starts.begin()->first == n) {
            // One segment (full attention over one image): no gather.
            o = ops::attention(q.transpose(0, 1).unsqueeze(0), k.transpose(0, 1).unsqueeze(0),
                               v.transpose(0, 1).unsqueeze(0), at::Tensor(), scale);
        } else {
            const auto lopt = at::TensorOptions().dtype(at::kLong);
            std::vector<at::Tensor> outs;
            std::vector<std::int64_t> order; // output row -> input row
            order.reserve(static_cast<std::size_t>(n));
            for (const auto& group : starts) {
                const std::int64_t len = group.first, g = static_cast<std::int64_t>(group.second.size());
                std::vector<std::int64_t> rows;
                rows.reserve(static_cast<std::size_t>(g * len));
                for (std::int64_t a : group.second)
                    for (std::int64_t r = 0; r < len; ++r)
                        rows.push_back(a + r);
                order.insert(order.end(), rows.begin(), rows.end());
                const at::Tensor idx = at::tensor(rows, lopt).to(x.device());
                // [rows, heads, D] -> [g, len, heads, D] -> [g, heads, len, D]
                auto gather = [&](const at::Tensor& t) {
                    return t.index_select(0, idx).view({g, len, heads, -1}).permute({0, 2, 1, 3});
                };
                outs.push_back(
                    ops::attention(gather(q), gather(k), gather(v), at::Tensor(), scale).reshape({g * len, -1}));
            }
            if (static_cast<std::int64_t>(order.size()) != n)
                RSCOVLM_THROW(model_error, "bad_grid", "vision segments do not cover every patch");
            const at::Tensor inverse = at::argsort(at::tensor(order, lopt)).to(x.device());
            o = at::cat(outs, 0).index_select(0, inverse);
        }
        return ops::linear(o.reshape({n, -1}), w.proj_w, w.proj_b);
    }

    /// Blocks (for tests).
    const std::vector<vision_block_weights>& blocks() const noexcept { return m_blocks; }

    /// Runs every block through `hook(index, x, run)` instead of `run(x)` (e.g. activation checkpointing
    /// during training); an empty hook restores the plain call.
    using block_hook =
        std::function<at::Tensor(std::size_t, const at::Tensor&, const std::function<at::Tensor(const at::Tensor&)>&)>;
    void set_block_hook(block_hook hook) { m_block_hook = std::move(hook); }

private:
    vision_config m_cfg;
    at::Tensor m_patch_w;
    std::vector<vision_block_weights> m_blocks;
    at::Tensor m_ln_q, m_mlp0_w, m_mlp0_b, m_mlp2_w, m_mlp2_b;
    block_hook m_block_hook;
};

} // namespace rscovlm::torch
