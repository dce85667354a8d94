#pragma once
/// \file
/// Expected tensors of a Qwen2.5-VL checkpoint, the two transformers name layouts, and a memory
/// estimate. Torch-free.
///
/// Layouts (transformers `Qwen2_5_VLForConditionalGeneration`):
/// - `flat`   (as saved by transformers <= 4.51 and the released RSCoVLM checkpoints):
///   `visual.*`, `model.embed_tokens.*`, `model.layers.*`, `model.norm.*`, `lm_head.*`;
/// - `nested` (transformers >= 4.52, `_checkpoint_conversion_mapping`):
///   `model.visual.*`, `model.language_model.*`, `lm_head.*`.
/// Canonical names used inside rscovlm are the `flat` ones.

#include <rscovlm/torch/config.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::torch {

/// Tensor naming scheme of a checkpoint.
enum class name_layout { flat, nested };

/// Name and shape of one expected weight (canonical `flat` name).
struct weight_spec {
    std::string name;
    std::vector<std::int64_t> shape;
    bool optional = false; ///< lm_head.weight with tied embeddings
};

/// All weights of `Qwen2_5_VLForConditionalGeneration` for `cfg`, in module order.
inline std::vector<weight_spec> expected_weights(const model_config& cfg) {
    std::vector<weight_spec> w;
    const auto& v = cfg.vision;
    const auto& t = cfg.text;
    const std::int64_t vh = v.hidden_size, vi = v.intermediate_size;
    // Qwen2_5_VisionPatchEmbed: Conv3d(in, hidden, kernel=[T, p, p], bias=False)
    w.push_back(
        {"visual.patch_embed.proj.weight", {vh, v.in_channels, v.temporal_patch_size, v.patch_size, v.patch_size}});
    for (int i = 0; i < v.depth; ++i) {
        const std::string p = "visual.blocks." + std::to_string(i) + ".";
        w.push_back({p + "norm1.weight", {vh}});
        w.push_back({p + "norm2.weight", {vh}});
        w.push_back({p + "attn.qkv.weight", {3 * vh, vh}});
        w.push_back({p + "attn.qkv.bias", {3 * vh}});
        w.push_back({p + "attn.proj.weight", {vh, vh}});
        w.push_back({p + "attn.proj.bias", {vh}});
        // Qwen2_5_VLMLP(bias=True)
        w.push_back({p + "mlp.gate_proj.weight", {vi, vh}});
        w.push_back({p + "mlp.gate_proj.bias", {vi}});
        w.push_back({p + "mlp.up_proj.weight", {vi, vh}});
        w.push_back({p + "mlp.up_proj.bias", {vi}});
        w.push_back({p + "mlp.down_proj.weight", {vh, vi}});
        w.push_back({p + "mlp.down_proj.bias", {vh}});
    }
    // Qwen2_5_VLPatchMerger: ln_q RMSNorm(context_dim), mlp = Linear(4c, 4c), GELU, Linear(4c, out)
    const std::int64_t merged = vh * v.spatial_merge_size * v.spatial_merge_size;
    w.push_back({"visual.merger.ln_q.weight", {vh}});
    w.push_back({"visual.merger.mlp.0.weight", {merged, merged}});
    w.push_back({"visual.merger.mlp.0.bias", {merged}});
    w.push_back({"visual.merger.mlp.2.weight", {v.out_hidden_size, merged}});
    w.push_back({"visual.merger.mlp.2.bias", {v.out_hidden_size}});

    const std::int64_t h = t.hidden_size, inter = t.intermediate_size, hd = t.head_dim();
    const std::int64_t q = t.num_attention_heads * hd, kv = t.num_key_value_heads * hd;
    w.push_back({"model.embed_tokens.weight", {t.vocab_size, h}});
    for (int i = 0; i < t.num_hidden_layers; ++i) {
        const std::string p = "model.layers." + std::to_string(i) + ".";
        w.push_back({p + "self_attn.q_proj.weight", {q, h}});
        w.push_back({p + "self_attn.q_proj.bias", {q}});
        w.push_back({p + "self_attn.k_proj.weight", {kv, h}});
        w.push_back({p + "self_attn.k_proj.bias", {kv}});
        w.push_back({p + "self_attn.v_proj.weight", {kv, h}});
        w.push_back({p + "self_attn.v_proj.bias", {kv}});
        w.push_back({p + "self_attn.o_proj.weight", {h, q}});
        w.push_back({p + "mlp.gate_proj.weight", {inter, h}});
        w.push_back({p + "mlp.up_proj.weight", {inter, h}});
        w.push_back({p + "mlp.down_proj.weight", {h, inter}});
        w.push_back({p + "input_layernorm.weight", {h}});
        w.push_back({p + "post_attention_layernorm.weight", {h}});
    }
    w.push_back({"model.norm.weight", {h}});
    w.push_back({"lm_head.weight", {t.vocab_size, h}, t.tie_word_embeddings});
    return w;
}

/// Name of canonical weight `canonical` in `layout`.
inline std::string layout_name(std::string_view canonical, name_layout layout) {
    std::string c(canonical);
    if (layout == name_layout::flat) return c;
    if (c.rfind("visual.", 0) == 0) return "model." + c;
    if (c.rfind("model.", 0) == 0) return "model.language_model." + c.substr(6);
    return c;
}

/// Canonical name of `stored` (a name of either layout).
inline std::string canonical_name(std::string_view stored) {
    std::string s(stored);
    if (s.rfind("model.visual.", 0) == 0) return s.substr(6);
    if (s.rfind("model.language_model.", 0) == 0) return "model." + s.substr(21);
    return s;
}

/// Layout of a checkpoint from its tensor names: `nested` when any name starts with `model.visual.` or
/// `model.language_model.`, else `flat`.
inline name_layout detect_layout(const std::vector<std::string>& names) {
    for (const auto& n : names)
        if (n.rfind("model.visual.", 0) == 0 || n.rfind("model.language_model.", 0) == 0) return name_layout::nested;
    return name_layout::flat;
}

/// Memory needed to run a model, in bytes.
struct memory_estimate {
    std::uint64_t parameters = 0;         ///< number of parameters (tied lm_head counted once)
    std::uint64_t weight_bytes = 0;       ///< parameters * element size
    std::uint64_t kv_bytes_per_token = 0; ///< KV cache bytes per token and sequence
    std::uint64_t total_bytes = 0;        ///< weights + KV cache of `context_tokens * batch`
};

/// Estimates weights + KV cache for `context_tokens` tokens per sequence and `batch` sequences at
/// `element_size` bytes per value (4 float32, 2 bfloat16/float16).
inline memory_estimate estimate_memory(const model_config& cfg, std::size_t element_size,
                                       std::uint64_t context_tokens = 4096, std::uint64_t batch = 1) {
    memory_estimate m;
    for (const auto& w : expected_weights(cfg)) {
        if (w.optional) continue;
        std::uint64_t n = 1;
        for (auto d : w.shape)
            n *= static_cast<std::uint64_t>(d);
        m.parameters += n;
    }
    m.weight_bytes = m.parameters * element_size;
    m.kv_bytes_per_token = 2ULL * static_cast<std::uint64_t>(cfg.text.num_hidden_layers) *
                           static_cast<std::uint64_t>(cfg.text.num_key_value_heads) *
                           static_cast<std::uint64_t>(cfg.text.head_dim()) * element_size;
    m.total_bytes = m.weight_bytes + m.kv_bytes_per_token * context_tokens * batch;
    return m;
}

} // namespace rscovlm::torch
