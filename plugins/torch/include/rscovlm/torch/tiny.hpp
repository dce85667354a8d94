#pragma once
/// \file
/// A tiny random Qwen2.5-VL: its configuration and a checkpoint writer (torch-free). Used by the tests,
/// the benchmark and `rscovlm tiny-model`, so the whole pipeline runs without downloading weights.

#include <rscovlm/io/safetensors.hpp>
#include <rscovlm/torch/config.hpp>
#include <rscovlm/torch/weight_names.hpp>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace rscovlm::torch {

/// A small but structurally complete configuration: 2 vision blocks (block 1 full attention, block 0
/// windowed with 2x2 merged units per window), 2 decoder layers with grouped-query attention (4 heads,
/// 2 KV heads, head_dim 16, mrope_section [2, 3, 3]). Special token ids are given by the caller (they
/// must be < vocab_size; the video token is the id after the image token).
inline model_config tiny_config(int vocab_size = 512, std::int64_t image_token_id = 500,
                                std::int64_t vision_start_token_id = 498, std::int64_t vision_end_token_id = 499,
                                std::vector<std::int64_t> eos_token_ids = {2}) {
    model_config c;
    c.vision.depth = 2;
    c.vision.hidden_size = 32;
    c.vision.intermediate_size = 48;
    c.vision.num_heads = 2;
    c.vision.out_hidden_size = 64;
    c.vision.window_size = 56;
    c.vision.fullatt_block_indexes = {1};
    c.text.vocab_size = vocab_size;
    c.text.hidden_size = 64;
    c.text.intermediate_size = 96;
    c.text.num_hidden_layers = 2;
    c.text.num_attention_heads = 4;
    c.text.num_key_value_heads = 2;
    c.text.mrope_section = {2, 3, 3};
    c.text.max_position_embeddings = 4096;
    c.text.tie_word_embeddings = false;
    c.image_token_id = image_token_id;
    c.video_token_id = image_token_id + 1 < vocab_size ? image_token_id + 1 : image_token_id - 3;
    c.vision_start_token_id = vision_start_token_id;
    c.vision_end_token_id = vision_end_token_id;
    c.bos_token_id = eos_token_ids.empty() ? 0 : eos_token_ids.front();
    c.eos_token_ids = std::move(eos_token_ids);
    c.torch_dtype = "float32";
    c.validate("tiny_config");
    return c;
}

/// Options of `write_random_checkpoint`.
struct random_checkpoint_options {
    std::uint64_t seed = 0;
    name_layout layout = name_layout::flat;
    /// 0: one `model.safetensors`; otherwise shards of at most this many bytes + the index json.
    std::uint64_t max_shard_bytes = 0;
    /// Weights stored as bfloat16 instead of float32.
    bool bf16 = false;
    /// Standard deviation of the random weights (norm weights are 1 + N(0, std/4)).
    double std = 0.1;
    /// Written to generation_config.json.
    generation_config generation{};
};

namespace detail {
/// Deterministic normal samples (splitmix64 + Box-Muller), identical on every platform.
class normal_source {
public:
    explicit normal_source(std::uint64_t seed) : m_state(seed) {}
    double next() {
        if (m_has) {
            m_has = false;
            return m_spare;
        }
        double u1 = (static_cast<double>(bits() >> 11) + 1.0) * (1.0 / 9007199254740993.0);
        double u2 = static_cast<double>(bits() >> 11) * (1.0 / 9007199254740992.0);
        double r = std::sqrt(-2.0 * std::log(u1));
        m_spare = r * std::sin(6.283185307179586 * u2);
        m_has = true;
        return r * std::cos(6.283185307179586 * u2);
    }

private:
    std::uint64_t bits() {
        std::uint64_t z = (m_state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    std::uint64_t m_state;
    double m_spare = 0.0;
    bool m_has = false;
};
} // namespace detail

/// Writes `config.json`, `generation_config.json` and random weights for `cfg` into `dir` (created if
/// needed). Returns the stored tensor names.
inline std::vector<std::string> write_random_checkpoint(const std::string& dir, const model_config& cfg,
                                                        const random_checkpoint_options& o = {}) {
    namespace fs = std::filesystem;
    namespace st = io::safetensors;
    std::error_code ec;
    fs::create_directories(dir, ec);
    {
        std::ofstream out((fs::path(dir) / "config.json").string());
        if (!out) RSCOVLM_THROW(io_error, "write_failed", "cannot write config.json in " + dir);
        out << cfg.to_json().dump(2) << "\n";
    }
    {
        generation_config g = o.generation;
        if (g.eos_token_ids.empty()) g.eos_token_ids = cfg.eos_token_ids;
        std::ofstream out((fs::path(dir) / "generation_config.json").string());
        if (!out) RSCOVLM_THROW(io_error, "write_failed", "cannot write generation_config.json in " + dir);
        out << g.to_json().dump(2) << "\n";
    }
    detail::normal_source rng(o.seed);
    std::vector<std::vector<float>> f32;
    std::vector<std::vector<std::uint16_t>> b16;
    std::vector<st::tensor_view> views;
    std::vector<std::string> names;
    const auto specs = expected_weights(cfg);
    f32.reserve(specs.size());
    b16.reserve(specs.size());
    for (const auto& w : specs) {
        if (w.optional) continue;
        std::size_t n = 1;
        for (auto d : w.shape)
            n *= static_cast<std::size_t>(d);
        const bool is_norm = w.name.find("norm") != std::string::npos || w.name.find("ln_q") != std::string::npos;
        std::vector<float> v(n);
        for (auto& x : v)
            x = static_cast<float>(is_norm ? 1.0 + rng.next() * o.std / 4 : rng.next() * o.std);
        const std::string stored = layout_name(w.name, o.layout);
        names.push_back(stored);
        if (o.bf16) {
            std::vector<std::uint16_t> b(n);
            for (std::size_t i = 0; i < n; ++i)
                b[i] = st::f32_to_bf16(v[i]);
            b16.push_back(std::move(b));
            views.push_back(st::make_view(stored, st::dtype::bf16, w.shape, b16.back()));
        } else {
            f32.push_back(std::move(v));
            views.push_back(st::make_view(stored, st::dtype::f32, w.shape, f32.back()));
        }
    }
    const std::map<std::string, std::string> meta{{"format", "pt"}};
    if (o.max_shard_bytes == 0)
        st::write((fs::path(dir) / "model.safetensors").string(), views, meta);
    else
        st::write_sharded(dir, views, o.max_shard_bytes, meta);
    return names;
}

} // namespace rscovlm::torch
