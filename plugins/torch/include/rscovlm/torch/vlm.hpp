#pragma once
/// \file
/// The text + image front end of the model: `Qwen2_5_VLProcessor` (chat template, image preprocessing,
/// `<|image_pad|>` expansion, tokenization) around `qwen2_5_vl`, and the Zoom-in Chain backend built on it.

#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/processor/processor.hpp>
#include <rscovlm/registry.hpp>
#include <rscovlm/resolution/strategy.hpp>
#include <rscovlm/tokenizer/bpe.hpp>
#include <rscovlm/torch/config.hpp>
#include <rscovlm/torch/generate.hpp>
#include <rscovlm/torch/model.hpp>
#include <rscovlm/zoom/backend.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace rscovlm::torch {

/// Options of `vlm::load`.
struct vlm_options {
    load_options load;
    /// tokenizer.json or a directory holding it; empty: the model directory.
    std::string tokenizer;
    /// Pixel budget of images that are not already resized (the Hugging Face processor's defaults).
    resolution::budget budget = resolution::budget_hf_default;
};

/// A prompt ready for the model plus what the image preprocessing did.
struct prepared_prompt {
    sequence_input input;
    std::string text;                     ///< the rendered prompt (pads expanded)
    std::vector<resolution::plan> images; ///< per image: the resolution plan (sizes, grid, tokens)
};

/// Output of `vlm::generate`.
struct vlm_output {
    std::string text;
    std::vector<std::int64_t> tokens;
    std::string finish_reason;
    std::int64_t prompt_tokens = 0;
    double prefill_seconds = 0.0;
    double decode_seconds = 0.0;
};

/// Tokenizer + chat template + model.
class vlm {
public:
    /// Loads the model of `model_dir` and its tokenizer.
    static vlm load(const std::string& model_dir, const vlm_options& o = {}) {
        vlm v;
        v.m_options = o;
        v.m_model = std::make_shared<qwen2_5_vl>(qwen2_5_vl::load(model_dir, o.load));
        v.m_generation = generation_config::load(model_dir, v.m_model->config());
        v.m_tokenizer = std::make_shared<tokenizer::bpe_tokenizer>(
            tokenizer::bpe_tokenizer::from_file(o.tokenizer.empty() ? model_dir : o.tokenizer));
        const auto& c = v.m_model->config();
        auto pad = v.m_tokenizer->token_to_id("<|image_pad|>");
        if (!pad || *pad != c.image_token_id)
            RSCOVLM_THROW(model_error, "tokenizer_mismatch",
                          "the tokenizer's <|image_pad|> id " + (pad ? std::to_string(*pad) : std::string("(absent)")) +
                              " differs from the model's image_token_id " + std::to_string(c.image_token_id));
        if (v.m_tokenizer->vocab_size() > static_cast<std::size_t>(c.text.vocab_size))
            RSCOVLM_THROW(model_error, "tokenizer_mismatch",
                          "the tokenizer has " + std::to_string(v.m_tokenizer->vocab_size()) +
                              " ids, more than the model's " + std::to_string(c.text.vocab_size));
        return v;
    }

    const qwen2_5_vl& model() const { return *m_model; }
    const tokenizer::bpe_tokenizer& tok() const { return *m_tokenizer; }
    const generation_config& generation() const noexcept { return m_generation; }

    /// The processor of this model (generation mode, the model's vision constants, the image budget of
    /// `vlm_options`). Holds a reference to the tokenizer.
    processor::qwen2_5_vl_processor processor() const {
        const auto& vc = m_model->config().vision;
        processor::options po;
        po.mode = processor::mode::generation;
        po.vision.patch_size = vc.patch_size;
        po.vision.merge_size = vc.spatial_merge_size;
        po.vision.temporal_patch_size = vc.temporal_patch_size;
        po.budget = m_options.budget;
        po.threads = 0;
        return processor::qwen2_5_vl_processor(*m_tokenizer, po);
    }

    /// Renders `messages` (HF format, `{"type":"image"}` items matched in order to `images`) with the
    /// generation prompt, preprocesses the images (`resized`: keep their size, they are already final),
    /// expands the pads and tokenizes: `processor::qwen2_5_vl_processor` in generation mode
    /// (`Qwen2_5_VLProcessor.__call__` after `apply_chat_template`).
    prepared_prompt prepare(const nlohmann::json& messages, const std::vector<image>& images, bool resized) const {
        processor::encoding e = processor().encode(messages, images, resized);
        prepared_prompt p;
        p.input.input_ids.assign(e.input_ids.begin(), e.input_ids.end());
        p.input.pixel_values = std::move(e.pixel_values);
        for (const auto& g : e.image_grid_thw)
            p.input.grid_thw.push_back({g[0], g[1], g[2]});
        p.text = std::move(e.text);
        p.images = std::move(e.plans);
        return p;
    }

    /// Generates the assistant answer to `messages`. `on_text` (optional) receives decoded text pieces
    /// as they are produced. Generation stops at a stop id, `max_new_tokens`, or a stop string (cut).
    vlm_output generate(const nlohmann::json& messages, const std::vector<image>& images, const sampling_options& o,
                        bool images_resized = false, const std::vector<std::string>& stop_strings = {},
                        const std::function<void(const std::string&)>& on_text = {}) const {
        return generate(prepare(messages, images, images_resized).input, o, stop_strings, on_text);
    }

    /// Generates from an already prepared prompt (see `prepare`).
    vlm_output generate(const sequence_input& input, const sampling_options& o,
                        const std::vector<std::string>& stop_strings = {},
                        const std::function<void(const std::string&)>& on_text = {}) const {
        std::vector<std::int32_t> ids;
        std::string shown;
        const std::set<std::int64_t> stops(o.stop_ids.begin(), o.stop_ids.end());
        auto cb = [&](std::size_t, std::int64_t t) {
            if (!stops.count(t)) ids.push_back(static_cast<std::int32_t>(t));
            if (!on_text && stop_strings.empty()) return true;
            std::string text = m_tokenizer->decode(ids, true);
            bool stop = false;
            for (const auto& s : stop_strings)
                if (!s.empty() && text.find(s) != std::string::npos) stop = true;
            // Only complete UTF-8 is shown: hold back a trailing replacement of a partial character.
            if (on_text && text.size() > shown.size() && text.compare(0, shown.size(), shown) == 0 &&
                text.find("\xEF\xBF\xBD", shown.size()) == std::string::npos) {
                on_text(text.substr(shown.size()));
                shown = text;
            }
            return !stop;
        };
        generation_output g = torch::generate(*m_model, {input}, o, cb);
        vlm_output out;
        out.tokens = g.tokens[0];
        out.finish_reason = g.finish_reasons[0] == "callback" ? "stop" : g.finish_reasons[0];
        out.prompt_tokens = g.prompt_tokens[0];
        out.prefill_seconds = g.prefill_seconds;
        out.decode_seconds = g.decode_seconds;
        std::vector<std::int32_t> kept;
        for (auto t : out.tokens)
            if (!stops.count(t)) kept.push_back(static_cast<std::int32_t>(t));
        out.text = m_tokenizer->decode(kept, true);
        for (const auto& s : stop_strings) {
            auto pos = s.empty() ? std::string::npos : out.text.find(s);
            if (pos != std::string::npos) out.text.erase(pos);
        }
        if (on_text && out.text.size() > shown.size() && out.text.compare(0, shown.size(), shown) == 0)
            on_text(out.text.substr(shown.size()));
        return out;
    }

    /// Sampling options from the generation config with `max_new_tokens`.
    sampling_options default_sampling(int max_new_tokens) const {
        sampling_options s = sampling_options::from(m_generation);
        s.max_new_tokens = max_new_tokens;
        return s;
    }

private:
    vlm_options m_options;
    std::shared_ptr<qwen2_5_vl> m_model;
    std::shared_ptr<tokenizer::bpe_tokenizer> m_tokenizer;
    generation_config m_generation;
};

/// The Zoom-in Chain backend running the LibTorch model (registry key "backend.torch.qwen2_5_vl").
class qwen2_5_vl_backend : public zoom::backend {
public:
    static constexpr std::string_view key = "backend.torch.qwen2_5_vl";
    static constexpr std::string_view summary = "Qwen2.5-VL / RSCoVLM checkpoint run with LibTorch (CPU or CUDA)";
    static constexpr std::string_view backend = "torch";

    explicit qwen2_5_vl_backend(vlm model) : m_vlm(std::move(model)) {}

    /// Parameters: "model" (directory, required), "device" ("cpu"), "dtype" ("auto"), "tokenizer" ("").
    static qwen2_5_vl_backend from_params(registry::params& p) {
        vlm_options o;
        const std::string dir = p.require<std::string>("model");
        o.load.device = p.get<std::string>("device", "cpu");
        o.load.dtype = p.get<std::string>("dtype", "auto");
        o.tokenizer = p.get<std::string>("tokenizer", "");
        return qwen2_5_vl_backend(vlm::load(dir, o));
    }

    zoom::usage last_usage() const override { return m_usage; }

    /// Greedy when `temperature` is 0, otherwise sampling with temperature / top-p / top-k; stop ids from
    /// the generation config; stop strings cut the answer. Images are used at their given size.
    std::string generate(const nlohmann::json& messages, const std::vector<image>& images,
                         const zoom::generation_options& options) override {
        sampling_options s = m_vlm.default_sampling(options.max_new_tokens);
        s.do_sample = options.temperature > 0.0;
        s.temperature = options.temperature > 0.0 ? options.temperature : 1.0;
        s.top_p = options.top_p;
        s.top_k = options.top_k;
        s.seed = options.seed.value_or(0);
        vlm_output out = m_vlm.generate(messages, images, s, true, options.stop);
        m_usage.prompt_tokens = static_cast<long>(out.prompt_tokens);
        m_usage.completion_tokens = static_cast<long>(out.tokens.size());
        return out.text;
    }

    const vlm& model() const noexcept { return m_vlm; }

private:
    vlm m_vlm;
    zoom::usage m_usage;
};

} // namespace rscovlm::torch
