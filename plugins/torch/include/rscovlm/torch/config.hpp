#pragma once
/// \file
/// Qwen2.5-VL checkpoint configuration (`config.json`, `generation_config.json`). Torch-free.
///
/// Mirrors transformers' `Qwen2_5_VLConfig` / `Qwen2_5_VLTextConfig` / `Qwen2_5_VLVisionConfig`
/// (configuration_qwen2_5_vl.py): defaults are those of Qwen2.5-VL-7B-Instruct. Text fields are read
/// from the top level (transformers 4.4x-4.5x) or from a nested `text_config` (newer saves).

#include <rscovlm/detail/py/file.hpp>
#include <rscovlm/errors.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace rscovlm::torch {

/// Vision tower hyper-parameters (`vision_config`).
struct vision_config {
    int depth = 32;
    int hidden_size = 1280;
    int intermediate_size = 3420;
    int num_heads = 16;
    int in_channels = 3;
    int out_hidden_size = 3584;
    int patch_size = 14;
    int spatial_merge_size = 2;
    int temporal_patch_size = 2;
    int window_size = 112;
    std::vector<int> fullatt_block_indexes{7, 15, 23, 31};
    std::string hidden_act = "silu";
    double tokens_per_second = 2.0;

    /// Width of one flattened patch: in_channels * temporal_patch_size * patch_size^2 (1176).
    int patch_dim() const noexcept { return in_channels * temporal_patch_size * patch_size * patch_size; }
    int head_dim() const noexcept { return hidden_size / num_heads; }
};

/// Language model hyper-parameters (Qwen2 decoder).
struct text_config {
    int vocab_size = 152064;
    int hidden_size = 3584;
    int intermediate_size = 18944;
    int num_hidden_layers = 28;
    int num_attention_heads = 28;
    int num_key_value_heads = 4;
    double rms_norm_eps = 1e-6;
    double rope_theta = 1000000.0;
    std::vector<int> mrope_section{16, 24, 24};
    int max_position_embeddings = 128000;
    std::string hidden_act = "silu";
    bool tie_word_embeddings = false;

    int head_dim() const noexcept { return hidden_size / num_attention_heads; }
};

/// The whole model configuration.
struct model_config {
    vision_config vision;
    text_config text;
    std::int64_t image_token_id = 151655;
    std::int64_t video_token_id = 151656;
    std::int64_t vision_start_token_id = 151652;
    std::int64_t vision_end_token_id = 151653;
    std::int64_t bos_token_id = 151643;
    std::vector<std::int64_t> eos_token_ids{151645};
    std::string torch_dtype = "bfloat16";

    /// Parses a `config.json` object; config_error "bad_model_config" on a mistyped or inconsistent field.
    static model_config from_json(const nlohmann::json& j, const std::string& origin = "config.json");
    /// Loads `<dir>/config.json`.
    static model_config load(const std::string& dir);
    /// Serialises in the transformers 4.5x layout (text fields at the top level, `vision_config` nested).
    nlohmann::json to_json() const;
    /// Raises config_error "bad_model_config" when the sizes are inconsistent.
    void validate(const std::string& origin = "config.json") const;
};

/// `generation_config.json` (defaults: greedy, `<|im_end|>` stop).
struct generation_config {
    std::vector<std::int64_t> eos_token_ids;
    std::int64_t pad_token_id = -1;
    bool do_sample = false;
    double temperature = 1.0;
    int top_k = 50;
    double top_p = 1.0;
    double repetition_penalty = 1.0;
    int max_new_tokens = -1; ///< -1: not set in the file

    static generation_config from_json(const nlohmann::json& j, const std::string& origin = "generation_config.json");
    /// Loads `<dir>/generation_config.json`; a default object (stop ids from the model config) when absent.
    static generation_config load(const std::string& dir, const model_config& model);
    nlohmann::json to_json() const;
};

namespace detail {

inline nlohmann::json read_json_file(const std::string& path, bool& found) {
    const auto text = ::rscovlm::detail::py::try_read_file(path);
    found = text.has_value();
    if (!found) return nullptr;
    nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        RSCOVLM_THROW(config_error, "bad_model_config", path + ": not a JSON object");
    return j;
}

template <class T> void read_field(const nlohmann::json& j, const char* key, T& out, const std::string& origin) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return;
    bool ok = false;
    if constexpr (std::is_same_v<T, bool>) {
        ok = it->is_boolean();
    } else if constexpr (std::is_integral_v<T>) {
        ok = it->is_number_integer();
    } else if constexpr (std::is_floating_point_v<T>) {
        ok = it->is_number();
    } else if constexpr (std::is_same_v<T, std::string>) {
        ok = it->is_string();
    } else {
        ok = it->is_array();
        if (ok)
            for (const auto& e : *it)
                ok = ok && e.is_number_integer();
    }
    if (!ok) RSCOVLM_THROW(config_error, "bad_model_config", origin + ": field '" + key + "' has the wrong type");
    out = it->get<T>();
}

/// `eos_token_id` may be an integer or a list of integers.
inline void read_ids(const nlohmann::json& j, const char* key, std::vector<std::int64_t>& out,
                     const std::string& origin) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return;
    if (it->is_number_integer()) {
        out = {it->get<std::int64_t>()};
    } else if (it->is_array()) {
        out.clear();
        for (const auto& e : *it) {
            if (!e.is_number_integer())
                RSCOVLM_THROW(config_error, "bad_model_config", origin + ": field '" + key + "' holds a non-integer");
            out.push_back(e.get<std::int64_t>());
        }
    } else {
        RSCOVLM_THROW(config_error, "bad_model_config", origin + ": field '" + key + "' is not an id or a list of ids");
    }
}

} // namespace detail

inline model_config model_config::from_json(const nlohmann::json& j, const std::string& origin) {
    using detail::read_field;
    model_config c;
    if (!j.is_object()) RSCOVLM_THROW(config_error, "bad_model_config", origin + ": not a JSON object");
    // Text fields: top level, overridden by a nested text_config when present.
    const nlohmann::json* sources[2] = {&j, nullptr};
    auto tc = j.find("text_config");
    if (tc != j.end() && tc->is_object()) sources[1] = &*tc;
    for (const nlohmann::json* s : sources) {
        if (s == nullptr) continue;
        const auto& t = *s;
        read_field(t, "vocab_size", c.text.vocab_size, origin);
        read_field(t, "hidden_size", c.text.hidden_size, origin);
        read_field(t, "intermediate_size", c.text.intermediate_size, origin);
        read_field(t, "num_hidden_layers", c.text.num_hidden_layers, origin);
        read_field(t, "num_attention_heads", c.text.num_attention_heads, origin);
        read_field(t, "num_key_value_heads", c.text.num_key_value_heads, origin);
        read_field(t, "rms_norm_eps", c.text.rms_norm_eps, origin);
        read_field(t, "rope_theta", c.text.rope_theta, origin);
        read_field(t, "max_position_embeddings", c.text.max_position_embeddings, origin);
        read_field(t, "hidden_act", c.text.hidden_act, origin);
        read_field(t, "tie_word_embeddings", c.text.tie_word_embeddings, origin);
        read_field(t, "torch_dtype", c.torch_dtype, origin);
        read_field(t, "dtype", c.torch_dtype, origin);
        auto rs = t.find("rope_scaling");
        if (rs != t.end() && rs->is_object()) read_field(*rs, "mrope_section", c.text.mrope_section, origin);
        read_field(t, "image_token_id", c.image_token_id, origin);
        read_field(t, "video_token_id", c.video_token_id, origin);
        read_field(t, "vision_start_token_id", c.vision_start_token_id, origin);
        read_field(t, "vision_end_token_id", c.vision_end_token_id, origin);
        read_field(t, "bos_token_id", c.bos_token_id, origin);
        detail::read_ids(t, "eos_token_id", c.eos_token_ids, origin);
    }
    auto vc = j.find("vision_config");
    if (vc != j.end()) {
        if (!vc->is_object())
            RSCOVLM_THROW(config_error, "bad_model_config", origin + ": vision_config is not an object");
        const auto& v = *vc;
        read_field(v, "depth", c.vision.depth, origin);
        read_field(v, "hidden_size", c.vision.hidden_size, origin);
        read_field(v, "intermediate_size", c.vision.intermediate_size, origin);
        read_field(v, "num_heads", c.vision.num_heads, origin);
        read_field(v, "in_chans", c.vision.in_channels, origin);
        read_field(v, "in_channels", c.vision.in_channels, origin);
        read_field(v, "out_hidden_size", c.vision.out_hidden_size, origin);
        read_field(v, "patch_size", c.vision.patch_size, origin);
        read_field(v, "spatial_merge_size", c.vision.spatial_merge_size, origin);
        read_field(v, "temporal_patch_size", c.vision.temporal_patch_size, origin);
        read_field(v, "window_size", c.vision.window_size, origin);
        read_field(v, "fullatt_block_indexes", c.vision.fullatt_block_indexes, origin);
        read_field(v, "hidden_act", c.vision.hidden_act, origin);
        read_field(v, "tokens_per_second", c.vision.tokens_per_second, origin);
    }
    c.validate(origin);
    return c;
}

inline void model_config::validate(const std::string& origin) const {
    auto bad = [&](const std::string& m) { RSCOVLM_THROW(config_error, "bad_model_config", origin + ": " + m); };
    const auto& t = text;
    if (t.vocab_size <= 0 || t.hidden_size <= 0 || t.intermediate_size <= 0 || t.num_hidden_layers <= 0 ||
        t.num_attention_heads <= 0 || t.num_key_value_heads <= 0)
        bad("text sizes must be positive");
    if (t.hidden_size % t.num_attention_heads != 0) bad("hidden_size is not a multiple of num_attention_heads");
    if (t.num_attention_heads % t.num_key_value_heads != 0)
        bad("num_attention_heads is not a multiple of num_key_value_heads");
    if (t.head_dim() % 2 != 0) bad("text head_dim must be even");
    if (t.mrope_section.size() != 3) bad("rope_scaling.mrope_section must have 3 entries");
    int sum = 0;
    for (int s : t.mrope_section) {
        if (s < 0) bad("rope_scaling.mrope_section entries must be >= 0");
        sum += s;
    }
    if (2 * sum != t.head_dim())
        bad("2 * sum(mrope_section) = " + std::to_string(2 * sum) + " differs from head_dim " +
            std::to_string(t.head_dim()));
    if (t.hidden_act != "silu") bad("text hidden_act '" + t.hidden_act + "' is not supported (silu)");
    const auto& v = vision;
    if (v.depth <= 0 || v.hidden_size <= 0 || v.num_heads <= 0 || v.intermediate_size <= 0 || v.patch_size <= 0 ||
        v.spatial_merge_size <= 0 || v.temporal_patch_size <= 0 || v.in_channels <= 0 || v.out_hidden_size <= 0)
        bad("vision sizes must be positive");
    if (v.hidden_size % v.num_heads != 0) bad("vision hidden_size is not a multiple of num_heads");
    if (v.head_dim() % 4 != 0) bad("vision head_dim must be a multiple of 4 (2-D rotary)");
    if (v.out_hidden_size != t.hidden_size) bad("vision out_hidden_size differs from the text hidden_size");
    if (v.window_size < v.patch_size * v.spatial_merge_size ||
        v.window_size % (v.patch_size * v.spatial_merge_size) != 0)
        bad("vision window_size must be a positive multiple of patch_size * spatial_merge_size");
    if (v.hidden_act != "silu") bad("vision hidden_act '" + v.hidden_act + "' is not supported (silu)");
    for (int b : v.fullatt_block_indexes)
        if (b < 0 || b >= v.depth) bad("fullatt_block_indexes holds " + std::to_string(b) + ", outside [0, depth)");
    for (auto id : {image_token_id, vision_start_token_id, vision_end_token_id})
        if (id < 0 || id >= t.vocab_size) bad("special token id " + std::to_string(id) + " outside the vocabulary");
}

inline model_config model_config::load(const std::string& dir) {
    const std::string path = (std::filesystem::path(dir) / "config.json").string();
    bool found = false;
    nlohmann::json j = detail::read_json_file(path, found);
    if (!found) RSCOVLM_THROW(config_error, "missing_model_config", "cannot read " + path);
    return from_json(j, path);
}

inline nlohmann::json model_config::to_json() const {
    nlohmann::json j;
    j["architectures"] = {"Qwen2_5_VLForConditionalGeneration"};
    j["model_type"] = "qwen2_5_vl";
    j["vocab_size"] = text.vocab_size;
    j["hidden_size"] = text.hidden_size;
    j["intermediate_size"] = text.intermediate_size;
    j["num_hidden_layers"] = text.num_hidden_layers;
    j["num_attention_heads"] = text.num_attention_heads;
    j["num_key_value_heads"] = text.num_key_value_heads;
    j["rms_norm_eps"] = text.rms_norm_eps;
    j["rope_theta"] = text.rope_theta;
    j["max_position_embeddings"] = text.max_position_embeddings;
    j["hidden_act"] = text.hidden_act;
    j["tie_word_embeddings"] = text.tie_word_embeddings;
    j["rope_scaling"] = {{"type", "mrope"}, {"rope_type", "default"}, {"mrope_section", text.mrope_section}};
    j["image_token_id"] = image_token_id;
    j["video_token_id"] = video_token_id;
    j["vision_start_token_id"] = vision_start_token_id;
    j["vision_end_token_id"] = vision_end_token_id;
    j["bos_token_id"] = bos_token_id;
    j["eos_token_id"] = eos_token_ids.size() == 1 ? nlohmann::json(eos_token_ids[0]) : nlohmann::json(eos_token_ids);
    j["torch_dtype"] = torch_dtype;
    j["use_sliding_window"] = false;
    j["vision_config"] = {{"depth", vision.depth},
                          {"hidden_size", vision.hidden_size},
                          {"intermediate_size", vision.intermediate_size},
                          {"num_heads", vision.num_heads},
                          {"in_chans", vision.in_channels},
                          {"out_hidden_size", vision.out_hidden_size},
                          {"patch_size", vision.patch_size},
                          {"spatial_merge_size", vision.spatial_merge_size},
                          {"spatial_patch_size", vision.patch_size},
                          {"temporal_patch_size", vision.temporal_patch_size},
                          {"window_size", vision.window_size},
                          {"fullatt_block_indexes", vision.fullatt_block_indexes},
                          {"hidden_act", vision.hidden_act},
                          {"tokens_per_second", vision.tokens_per_second}};
    return j;
}

inline generation_config generation_config::from_json(const nlohmann::json& j, const std::string& origin) {
    using detail::read_field;
    generation_config g;
    if (!j.is_object()) RSCOVLM_THROW(config_error, "bad_generation_config", origin + ": not a JSON object");
    detail::read_ids(j, "eos_token_id", g.eos_token_ids, origin);
    read_field(j, "pad_token_id", g.pad_token_id, origin);
    read_field(j, "do_sample", g.do_sample, origin);
    read_field(j, "temperature", g.temperature, origin);
    read_field(j, "top_k", g.top_k, origin);
    read_field(j, "top_p", g.top_p, origin);
    read_field(j, "repetition_penalty", g.repetition_penalty, origin);
    read_field(j, "max_new_tokens", g.max_new_tokens, origin);
    if (g.temperature < 0 || g.top_p <= 0 || g.top_p > 1 || g.top_k < 0 || g.repetition_penalty <= 0)
        RSCOVLM_THROW(config_error, "bad_generation_config", origin + ": sampling parameter out of range");
    return g;
}

inline generation_config generation_config::load(const std::string& dir, const model_config& model) {
    const std::string path = (std::filesystem::path(dir) / "generation_config.json").string();
    bool found = false;
    nlohmann::json j = detail::read_json_file(path, found);
    generation_config g = found ? from_json(j, path) : generation_config{};
    if (g.eos_token_ids.empty()) g.eos_token_ids = model.eos_token_ids;
    return g;
}

inline nlohmann::json generation_config::to_json() const {
    nlohmann::json j;
    j["eos_token_id"] = eos_token_ids;
    if (pad_token_id >= 0) j["pad_token_id"] = pad_token_id;
    j["do_sample"] = do_sample;
    j["temperature"] = temperature;
    j["top_k"] = top_k;
    j["top_p"] = top_p;
    j["repetition_penalty"] = repetition_penalty;
    if (max_new_tokens >= 0) j["max_new_tokens"] = max_new_tokens;
    return j;
}

} // namespace rscovlm::torch
