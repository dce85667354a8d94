#pragma once
/// \file
/// The Qwen2.5-VL language model (`Qwen2_5_VLTextModel` + `lm_head`) with a KV cache.

#include <rscovlm/errors.hpp>
#include <rscovlm/torch/config.hpp>
#include <rscovlm/torch/ops.hpp>

#include <torch/types.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

namespace rscovlm::torch {

/// Weights of one decoder layer.
struct decoder_layer_weights {
    at::Tensor q_w, q_b, k_w, k_b, v_w, v_b, o_w, gate_w, up_w, down_w, input_norm, post_norm;
};

/// Per-layer keys and values in preallocated storage `[batch, kv_heads, capacity, head_dim]`, the
/// attention mask of every slot and the M-RoPE deltas of each row. A forward writes its new keys and
/// values into the next free slots (no concatenation, no copy of the cached ones) and attends to
/// views of the filled slots; when the storage is full it grows to `capacity_hint`, the slots needed,
/// or twice its size, whichever is largest (one copy per doubling). `generate` sets the hint to the
/// prompt plus `max_new_tokens`, so decoding never reallocates.
struct kv_cache {
    std::vector<at::Tensor> keys, values;
    /// `[batch, capacity]` int64, 1 = real token, 0 = padding or a free slot.
    at::Tensor mask;
    /// `[batch]` int64 (`rope_deltas`).
    at::Tensor rope_deltas;
    /// Slots to allocate when the storage first grows (0: what the first forward needs).
    std::int64_t capacity_hint = 0;
    /// Number of filled slots.
    std::int64_t length() const { return filled; }
    /// Number of allocated slots.
    std::int64_t capacity() const { return mask.defined() ? mask.size(1) : 0; }

    /// Makes room for `n` more slots of `batch` rows (the per-layer storage follows in `store`) and
    /// writes their mask; returns the mask of every filled slot plus the new ones, `[batch, length + n]`.
    at::Tensor open(const at::Tensor& new_mask) {
        const std::int64_t B = new_mask.size(0), n = new_mask.size(1), need = filled + n;
        if (mask.defined() && mask.size(0) != B)
            RSCOVLM_THROW(model_error, "cache_batch_mismatch",
                          "a forward of " + std::to_string(B) + " rows on a KV cache of " +
                              std::to_string(mask.size(0)) + " rows");
        if (capacity() < need) {
            const std::int64_t cap = std::max({need, capacity_hint, 2 * capacity()});
            at::Tensor m = at::zeros({B, cap}, new_mask.options());
            if (filled > 0) m.narrow(1, 0, filled).copy_(mask.narrow(1, 0, filled));
            mask = m;
        }
        mask.narrow(1, filled, n).copy_(new_mask);
        return mask.narrow(1, 0, need);
    }
    /// Writes layer `li`'s keys and values `[B, Hkv, n, D]` into slots `length() .. length() + n`;
    /// returns views of every filled slot plus these.
    std::pair<at::Tensor, at::Tensor> store(std::size_t li, const at::Tensor& k, const at::Tensor& v) {
        if (keys.size() <= li) {
            keys.resize(li + 1);
            values.resize(li + 1);
        }
        at::Tensor& K = keys[li];
        at::Tensor& V = values[li];
        const std::int64_t n = k.size(2), cap = capacity();
        if (!K.defined() || K.size(2) < cap) {
            at::Tensor nk = at::zeros({k.size(0), k.size(1), cap, k.size(3)}, k.options());
            at::Tensor nv = at::zeros({v.size(0), v.size(1), cap, v.size(3)}, v.options());
            if (K.defined() && filled > 0) {
                nk.narrow(2, 0, filled).copy_(K.narrow(2, 0, filled));
                nv.narrow(2, 0, filled).copy_(V.narrow(2, 0, filled));
            }
            K = nk;
            V = nv;
        }
        K.narrow(2, filled, n).copy_(k);
        V.narrow(2, filled, n).copy_(v);
        return {K.narrow(2, 0, filled + n), V.narrow(2, 0, filled + n)};
    }
    /// Marks the `n` slots written by the last forward as filled.
    void commit(std::int64_t n) { filled += n; }

    std::int64_t filled = 0;
};

/// Multimodal rotary tables: `cos`, `sin` of shape `[batch, tokens, head_dim]` after the mrope_section
/// interleave. Mirrors `Qwen2_5_VLRotaryEmbedding.forward` (float32) followed by the section selection of
/// `apply_multimodal_rotary_pos_emb` (`mrope_section * 2`, chunk i taken from axis i % 3).
inline std::pair<at::Tensor, at::Tensor> mrope_tables(const text_config& cfg, const at::Tensor& position_ids,
                                                      at::ScalarType dtype) {
    const std::int64_t hd = cfg.head_dim();
    at::Tensor inv_freq =
        1.0 / at::pow(cfg.rope_theta, at::arange(0, hd, 2, at::TensorOptions().dtype(at::kLong)).to(at::kFloat) /
                                          static_cast<double>(hd));
    inv_freq = inv_freq.to(position_ids.device());
    at::Tensor freqs = position_ids.to(at::kFloat).unsqueeze(-1) * inv_freq.view({1, 1, 1, -1}); // [3, B, L, hd/2]
    at::Tensor emb = at::cat({freqs, freqs}, -1);
    at::Tensor cos = emb.cos().to(dtype), sin = emb.sin().to(dtype);
    std::vector<at::Tensor> cs, ss;
    std::int64_t start = 0;
    for (int rep = 0; rep < 2; ++rep)
        for (int a = 0; a < 3; ++a) {
            const std::int64_t len = cfg.mrope_section[static_cast<std::size_t>(a)];
            const int axis = (rep * 3 + a) % 3;
            cs.push_back(cos[axis].narrow(-1, start, len));
            ss.push_back(sin[axis].narrow(-1, start, len));
            start += len;
        }
    return {at::cat(cs, -1), at::cat(ss, -1)};
}

/// A LoRA adapter on one module (PEFT's `LoraLayer`): `A` `[r, in]`, `B` `[out, r]` for a linear
/// layer (`y += B(A(dropout(x))) * scaling`); for the embedding `A` `[r, vocab]`, `B` `[hidden, r]`
/// (`y += embedding(ids, A^T) B^T * scaling`, no dropout). Undefined `A`: no adapter.
struct lora_adapter {
    at::Tensor A, B;
    double scaling = 1.0;
    double dropout = 0.0;
    bool active() const noexcept { return A.defined(); }
};

/// The adapters of one decoder layer.
struct layer_lora {
    lora_adapter q, k, v, o, gate, up, down;
};

/// Every LoRA adapter of the language model.
struct text_lora {
    std::vector<layer_lora> layers;
    lora_adapter embed, head;
    bool training = false; ///< dropout on (training) or off
    bool empty() const {
        if (embed.active() || head.active()) return false;
        for (const auto& l : layers)
            for (const auto* a : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down})
                if (a->active()) return false;
        return true;
    }
};

/// The decoder stack with its embedding and output head.
class text_model {
public:
    text_model() = default;
    text_model(text_config cfg, at::Tensor embed, std::vector<decoder_layer_weights> layers, at::Tensor norm,
               at::Tensor lm_head)
        : m_cfg(std::move(cfg)), m_embed(std::move(embed)), m_layers(std::move(layers)), m_norm(std::move(norm)),
          m_lm_head(std::move(lm_head)) {}

    const text_config& config() const noexcept { return m_cfg; }
    const at::Tensor& embed_tokens() const noexcept { return m_embed; }

    /// Token embeddings `[B, L, hidden]`.
    at::Tensor embed(const at::Tensor& input_ids) const {
        at::Tensor ids = input_ids.to(m_embed.device());
        at::Tensor e = at::embedding(m_embed, ids);
        if (m_lora.embed.active())
            e = e + at::matmul(at::embedding(m_lora.embed.A.t(), ids), m_lora.embed.B.t()) * m_lora.embed.scaling;
        return e;
    }

    /// Runs the decoder on `inputs_embeds` `[B, L, hidden]` at M-RoPE `position_ids` `[3, B, L]`, with
    /// `mask` `[B, L]` (1 = token, 0 = padding) for the new tokens. Appends keys/values to `cache`
    /// when given (attending to its previous slots). Returns logits `[B, L', vocab]` where L' = L, or 1
    /// (the last position) when `last_only`. `segments` `[B, L]` (optional, no cache): a token attends
    /// only to earlier tokens of the same segment id (packed rows: one segment per sample, the
    /// block-diagonal causal mask of the reference's varlen attention).
    at::Tensor forward(const at::Tensor& inputs_embeds, const at::Tensor& position_ids, const at::Tensor& mask,
                       kv_cache* cache, bool last_only = false, const at::Tensor& segments = {}) const {
        return head(hidden_states(inputs_embeds, position_ids, mask, cache, last_only, segments));
    }

    /// The decoder's final hidden states (after the last norm), before `lm_head`; see `forward`.
    at::Tensor hidden_states(const at::Tensor& inputs_embeds, const at::Tensor& position_ids, const at::Tensor& mask,
                             kv_cache* cache, bool last_only = false, const at::Tensor& segments = {}) const {
        const auto dev = m_embed.device();
        const auto dt = m_embed.scalar_type();
        const std::int64_t B = inputs_embeds.size(0), L = inputs_embeds.size(1);
        const std::int64_t past = cache ? cache->length() : 0;
        if (segments.defined() && cache)
            RSCOVLM_THROW(model_error, "segments_with_cache",
                          "packed segments are a training input: run them without a cache");
        at::Tensor new_mask = mask.defined() ? mask.to(dev, at::kLong)
                                             : at::ones({B, L}, at::TensorOptions().dtype(at::kLong).device(dev));
        const at::Tensor full_mask = cache ? cache->open(new_mask) : new_mask;
        // create_causal_mask: query slot past+i attends key slot j when j <= past+i and key j is not padding.
        at::Tensor qpos = at::arange(past, past + L, at::TensorOptions().dtype(at::kLong).device(dev)).view({L, 1});
        at::Tensor kpos = at::arange(0, past + L, at::TensorOptions().dtype(at::kLong).device(dev)).view({1, past + L});
        at::Tensor keep =
            kpos.le(qpos).unsqueeze(0).logical_and(full_mask.ne(0).unsqueeze(1)).unsqueeze(1); // [B,1,L,K]
        if (segments.defined()) {
            at::Tensor seg = segments.to(dev, at::kLong);
            keep = keep.logical_and(seg.unsqueeze(2).eq(seg.unsqueeze(1)).unsqueeze(1));
        }
        auto tables = mrope_tables(m_cfg, position_ids.to(dev), dt);
        at::Tensor cos = tables.first.unsqueeze(1), sin = tables.second.unsqueeze(1); // [B,1,L,hd]
        at::Tensor x = inputs_embeds.to(dev, dt);
        bool pruned = false;
        for (std::size_t li = 0; li < m_layers.size(); ++li) {
            if (m_layer_hook && !cache) {
                x = m_layer_hook(li, x, [this, li, cos, sin, keep](const at::Tensor& in) {
                    return layer(li, in, cos, sin, keep, nullptr);
                });
            } else {
                // Only the last position's output is wanted: the last layer still computes (and caches)
                // every position's keys and values, but its queries, attention output and MLP run for
                // that position alone, whose result is the same (1/layers of a prompt's work saved).
                pruned = last_only && L > 1 && li + 1 == m_layers.size();
                x = layer(li, x, cos, sin, keep, cache, pruned);
            }
        }
        if (cache) cache->commit(L);
        if (last_only && !pruned) x = x.narrow(1, L - 1, 1);
        return ops::rms_norm(x, m_norm, m_cfg.rms_norm_eps);
    }

    /// One decoder layer (`Qwen2_5_VLDecoderLayer`) on `x` `[B, L, hidden]` with the rotary tables and
    /// the attention mask `keep` `[B, 1, L, K]`; stores its keys and values in `cache` when given
    /// (attention then groups the query heads over the shared key/value heads instead of repeating
    /// them). `last_only`: keys and values of every position, the rest for the last position only
    /// (returns `[B, 1, hidden]`).
    at::Tensor layer(std::size_t li, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                     const at::Tensor& keep, kv_cache* cache, bool last_only = false) const {
        const auto& w = m_layers[li];
        const std::int64_t B = x.size(0), L = x.size(1);
        const std::int64_t Lq = last_only ? 1 : L;
        const std::int64_t hd = m_cfg.head_dim();
        const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
        at::Tensor h = ops::rms_norm(x, w.input_norm, m_cfg.rms_norm_eps);
        // Qwen2_5_VLAttention.forward
        const layer_lora* ll = li < m_lora.layers.size() ? &m_lora.layers[li] : nullptr;
        // The query side: every position, or the last one only.
        auto queried = [&](const at::Tensor& t, std::int64_t dim) {
            return last_only && t.defined() ? t.narrow(dim, L - 1, 1) : t;
        };
        at::Tensor q = lin(queried(h, 1), w.q_w, w.q_b, ll ? &ll->q : nullptr).view({B, Lq, -1, hd}).transpose(1, 2);
        at::Tensor k = lin(h, w.k_w, w.k_b, ll ? &ll->k : nullptr).view({B, L, -1, hd}).transpose(1, 2);
        at::Tensor v = lin(h, w.v_w, w.v_b, ll ? &ll->v : nullptr).view({B, L, -1, hd}).transpose(1, 2);
        q = q * queried(cos, 2) + ops::rotate_half(q) * queried(sin, 2);
        k = k * cos + ops::rotate_half(k) * sin;
        if (cache) std::tie(k, v) = cache->store(li, k, v);
        // With the cache (inference), the causal mask lets a long prompt run in query blocks (see
        // grouped_attention); training (no cache) keeps transformers' exact eager attention.
        at::Tensor a = (cache ? ops::grouped_attention(q, k, v, queried(keep, 2), scale, 256)
                              : ops::attention(q, k, v, queried(keep, 2), scale))
                           .reshape({B, Lq, -1});
        at::Tensor y = queried(x, 1) + lin(a, w.o_w, {}, ll ? &ll->o : nullptr);
        // Qwen2MLP: down(silu(gate(x)) * up(x))
        at::Tensor z = ops::rms_norm(y, w.post_norm, m_cfg.rms_norm_eps);
        return y + lin(at::silu(lin(z, w.gate_w, {}, ll ? &ll->gate : nullptr)) *
                           lin(z, w.up_w, {}, ll ? &ll->up : nullptr),
                       w.down_w, {}, ll ? &ll->down : nullptr);
    }

    /// The output head (`lm_head`; the embedding matrix itself when tied).
    const at::Tensor& lm_head() const noexcept { return m_lm_head; }
    /// Logits of hidden states through the head (and its LoRA adapter, if any).
    at::Tensor head(const at::Tensor& h) const { return lin(h, m_lm_head, {}, &m_lora.head); }

    /// LoRA adapters (PEFT semantics); empty: none.
    text_lora& lora() noexcept { return m_lora; }
    const text_lora& lora() const noexcept { return m_lora; }

    /// Decoder-layer weights (LoRA merging, tests).
    std::vector<decoder_layer_weights>& layers() noexcept { return m_layers; }

    /// `y = x W^T + b`, plus the adapter's `B(A(dropout(x))) * scaling` when it is active.
    at::Tensor lin(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const lora_adapter* a) const {
        at::Tensor y = ops::linear(x, w, b);
        if (a == nullptr || !a->active()) return y;
        at::Tensor in = m_lora.training && a->dropout > 0.0 ? at::dropout(x, a->dropout, true) : x;
        return y + ops::linear(ops::linear(in, a->A), a->B) * a->scaling;
    }

    /// Runs every decoder layer through `hook(index, x, run)` instead of `run(x)` when no cache is used
    /// (activation checkpointing during training); an empty hook restores the plain call.
    using layer_hook =
        std::function<at::Tensor(std::size_t, const at::Tensor&, const std::function<at::Tensor(const at::Tensor&)>&)>;
    void set_layer_hook(layer_hook hook) { m_layer_hook = std::move(hook); }

private:
    text_config m_cfg;
    at::Tensor m_embed;
    std::vector<decoder_layer_weights> m_layers;
    at::Tensor m_norm, m_lm_head;
    layer_hook m_layer_hook;
    text_lora m_lora;
};

} // namespace rscovlm::torch
