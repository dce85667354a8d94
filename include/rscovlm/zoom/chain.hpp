#pragma once
/// \file
/// The `zoom` registry kind's interface and components: strategies that answer a question about an
/// image through a backend.

#include <memory>
#include <string>
#include <string_view>

#include <rscovlm/errors.hpp>
#include <rscovlm/registry.hpp>
#include <rscovlm/zoom/controller.hpp>

namespace rscovlm::zoom {

/// Interface of the `zoom` kind: answer `question` about `src` using `model`.
class chain {
public:
    virtual ~chain() = default;
    /// Runs the strategy; the result carries the answer, the conversation and the trace.
    virtual chain_result run(image_source& src, std::string_view question, backend& model) const = 0;
    /// The controller options in effect.
    virtual const controller_options& options() const = 0;
};

namespace detail {
/// Reads every controller option from component parameters (names as in the JSON presets).
inline controller_options options_from_params(registry::params& p, controller_options o) {
    o.max_steps = p.get<int>("max_steps", o.max_steps);
    p.check(o.max_steps >= 0, "max_steps", "must be >= 0");
    if (p.has("crop_from")) o.crop_from = parse_crop_source(p.get<std::string>("crop_from", "original"));
    if (p.has("on_malformed")) o.on_malformed = parse_malformed_policy(p.get<std::string>("on_malformed", "fallback"));
    if (p.has("multi_call")) o.multi_call = parse_multi_call_policy(p.get<std::string>("multi_call", "first"));
    o.boxes.reorder_inverted = p.get<bool>("reorder_inverted", o.boxes.reorder_inverted);
    o.boxes.clamp = p.get<bool>("clamp", o.boxes.clamp);
    o.boxes.min_size = p.get<double>("min_box_size", o.boxes.min_size);
    p.check(o.boxes.min_size >= 0, "min_box_size", "must be >= 0");
    o.boxes.max_aspect_ratio = p.get<double>("max_aspect_ratio", o.boxes.max_aspect_ratio);
    p.check(o.boxes.max_aspect_ratio == 0 || o.boxes.max_aspect_ratio >= 1, "max_aspect_ratio", "must be 0 or >= 1");
    o.factor = p.get<int>("factor", o.factor);
    p.check(o.factor > 0, "factor", "must be > 0");
    o.min_pixels = p.get<long>("min_pixels", o.min_pixels);
    o.max_pixels = p.get<long>("max_pixels", o.max_pixels);
    p.check(o.min_pixels > 0 && o.max_pixels >= o.min_pixels, "max_pixels", "need 0 < min_pixels <= max_pixels");
    if (p.has("filter")) o.filter = imaging::parse_filter(p.get<std::string>("filter", "bicubic"));
    o.keep_think_in_history = p.get<bool>("keep_think_in_history", o.keep_think_in_history);
    o.zoom_text = p.get<std::string>("zoom_text", o.zoom_text);
    o.generation.max_new_tokens = p.get<int>("max_new_tokens", o.generation.max_new_tokens);
    p.check(o.generation.max_new_tokens > 0, "max_new_tokens", "must be > 0");
    o.generation.temperature = p.get<double>("temperature", o.generation.temperature);
    o.generation.top_p = p.get<double>("top_p", o.generation.top_p);
    o.generation.top_k = p.get<int>("top_k", o.generation.top_k);
    if (p.has("seed")) o.generation.seed = p.get<std::uint64_t>("seed", 0);
    return o;
}
} // namespace detail

/// The RSCoVLM Zoom-in Chain (tool system prompt, `image_zoom_in` calls, crops shown in new turns).
class tool_call_chain : public chain {
public:
    static constexpr std::string_view key = "zoom.tool_call";
    static constexpr std::string_view summary =
        "RSCoVLM Zoom-in Chain: image_zoom_in tool calls, crops of the original re-encoded under the budget";

    explicit tool_call_chain(controller_options o = {}) : m_ctl(std::move(o)) {}
    static tool_call_chain from_params(registry::params& p) {
        controller_options o = detail::options_from_params(p, controller_options{});
        o.zoom_prompt = true;
        return tool_call_chain(std::move(o));
    }
    chain_result run(image_source& src, std::string_view question, backend& model) const override {
        return m_ctl.run(src, question, model);
    }
    const controller_options& options() const override { return m_ctl.options(); }

private:
    controller m_ctl;
};

/// One plain question about the resized full image, no tool (RSCoVLM's path without visual CoT).
class single_turn_chain : public chain {
public:
    static constexpr std::string_view key = "zoom.none";
    static constexpr std::string_view summary = "single turn: the question about the resized full image, no zoom tool";

    explicit single_turn_chain(controller_options o = {}) : m_ctl(with_no_zoom(std::move(o))) {}
    static single_turn_chain from_params(registry::params& p) {
        return single_turn_chain(detail::options_from_params(p, controller_options{}));
    }
    chain_result run(image_source& src, std::string_view question, backend& model) const override {
        return m_ctl.run(src, question, model);
    }
    const controller_options& options() const override { return m_ctl.options(); }

private:
    static controller_options with_no_zoom(controller_options o) {
        o.zoom_prompt = false;
        return o;
    }
    controller m_ctl;
};

} // namespace rscovlm::zoom
