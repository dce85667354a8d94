#pragma once
/// \file
/// The Zoom-in Chain controller: asks a backend about the full image, and while the model calls
/// `image_zoom_in`, crops the requested region, re-encodes it under the same resolution budget and
/// shows it in a new user turn, until the model answers without a tool call.
///
/// Reference: RSCoVLM `rscovlm/eval/inferencer.py` (Qwen25VLInferencer.__call__,
/// maybe_visual_cot, prepare_visual_cot_message, extract_thinking_content) and
/// `rscovlm/training/data/visual_cot_dataset.py` (get_messages: the training-time layout).
/// Decisions the reference leaves open are options here:
/// - crop source: training crops the original image (`pil_full_image.crop(crop_hbox)`), the released
///   inference crops `image_inputs[0]`, which qwen-vl-utils has already resized (so its box mapping is
///   the identity). Default: original.
/// - the reference recurses while outputs contain `<tool_call>`; here `max_steps` bounds it (default 2).
/// - box repair (reorder, clamp, minimum size, aspect ratio): see box_policy; the reference has none.
/// - malformed calls: the reference (`except Exception`) shows the uncropped image again with the same
///   text; `malformed_policy::stop` ends the chain instead.
/// - several calls in one output: the reference's json.loads fails on them (fallback); here the first
///   valid call is used, or all of them (one image each) with `multi_call_policy::all`.

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <rscovlm/errors.hpp>
#include <rscovlm/geometry/types.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/resolution/smart_resize.hpp>
#include <rscovlm/resolution/strategy.hpp>
#include <rscovlm/zoom/backend.hpp>
#include <rscovlm/zoom/protocol.hpp>
#include <rscovlm/zoom/region.hpp>
#include <rscovlm/zoom/source.hpp>
#include <rscovlm/zoom/tool_call.hpp>
#include <rscovlm/zoom/trace.hpp>

namespace rscovlm::zoom {

/// Which image a zoom box crops.
enum class crop_source {
    original, ///< the original image (training-time behaviour; default)
    resized,  ///< the resized full view the model saw (released inference behaviour)
};

/// What to do with a `<tool_call>` that yields no usable box.
enum class malformed_policy {
    show_full_image, ///< the reference's fallback: show the uncropped view again
    stop,            ///< end the chain; the answer is the output's text outside tool calls
};

/// What to do when one output holds several usable calls.
enum class multi_call_policy {
    first, ///< use the first usable call
    all,   ///< crop every usable call; one image each in the next user turn
};

/// Every option of the controller.
struct controller_options {
    /// Maximum number of zoom (or fallback) turns; a tool call beyond it ends the chain with
    /// stop_reason "max_steps". The reference has no limit.
    int max_steps = 2;
    crop_source crop_from = crop_source::original;
    malformed_policy on_malformed = malformed_policy::show_full_image;
    multi_call_policy multi_call = multi_call_policy::first;
    box_policy boxes;
    /// Resolution budget for the full view and every crop (smart_resize arguments; the default is
    /// the Hugging Face processor's, `resolution::budget_hf_default`).
    int factor = 28;
    long min_pixels = static_cast<long>(resolution::budget_hf_default.min_pixels);
    long max_pixels = static_cast<long>(resolution::budget_hf_default.max_pixels);
    /// A `resolution` strategy that sizes the full view and every crop instead of the budget fields
    /// (e.g. made from a preset's `resolution` component); null uses the fields above.
    std::shared_ptr<resolution::strategy> sizing;
    /// Resampling filter (qwen-vl-utils resizes with PIL's default, bicubic).
    image::filter filter = image::filter::bicubic;
    /// Use the tool system prompt and the zoom suffix; false asks the plain question once
    /// (the reference's path for categories without Zoom-in, e.g. LRS-VQA "count").
    bool zoom_prompt = true;
    /// Keep `<think>...</think>` in the assistant turns of the history (the reference drops it).
    bool keep_think_in_history = false;
    /// Text of the user turn carrying the zoomed image.
    std::string zoom_text = std::string(zoom_turn_text);
    /// Options passed to every generation.
    generation_options generation;
};

/// Outcome of a chain run.
struct chain_result {
    std::string answer;     ///< final text (think removed); see `answered`
    bool answered = false;  ///< true when the chain ended with an output without tool call
    bool has_think = false; ///< the final output had a leading thought
    std::string think;
    nlohmann::json messages;   ///< the conversation including the final assistant turn (HF format)
    std::vector<image> images; ///< the images of `messages`, in order, as sent
    zoom::trace trace;
};

/// JSON of a chain result (ADL): `{"answer", "answered", "stop_reason", "think" (null without one),
/// "trace"}`, the form `rscovlm zoom run` prints.
inline void to_json(nlohmann::json& j, const chain_result& r) {
    j = nlohmann::json{{"answer", r.answer},
                       {"answered", r.answered},
                       {"stop_reason", r.trace.stop_reason},
                       {"think", r.has_think ? nlohmann::json(r.think) : nlohmann::json(nullptr)},
                       {"trace", to_json(r.trace)}};
}

namespace detail {
inline long visual_tokens(int w, int h, int factor) {
    return factor > 0 ? static_cast<long>(h / factor) * static_cast<long>(w / factor) : 0;
}
inline resolution::size budget(int h, int w, const controller_options& o) {
    if (o.sizing) {
        const resolution::plan p = o.sizing->plan_size(h, w);
        return resolution::size{p.resized_height, p.resized_width};
    }
    return resolution::smart_resize(h, w, o.factor, o.min_pixels, o.max_pixels);
}
} // namespace detail

/// Drives the Zoom-in Chain against any backend. Stateless between runs; `run` is const.
class controller {
public:
    explicit controller(controller_options options = {}) : m_opt(std::move(options)) {
        if (m_opt.max_steps < 0)
            RSCOVLM_THROW(zoom_error, "bad_option", "max_steps must be >= 0, got " + std::to_string(m_opt.max_steps));
        if (m_opt.factor <= 0)
            RSCOVLM_THROW(zoom_error, "bad_option", "factor must be > 0, got " + std::to_string(m_opt.factor));
    }

    const controller_options& options() const noexcept { return m_opt; }

    /// Runs the chain on `src` for `question`.
    chain_result run(image_source& src, std::string_view question, backend& model) const {
        const int W = src.width(), H = src.height();
        if (W <= 0 || H <= 0) RSCOVLM_THROW(zoom_error, "empty_image", "the image source has no pixels");
        const resolution::size rs = detail::budget(H, W, m_opt);
        const int rw = rs.width, rh = rs.height;

        chain_result res;
        res.trace.original_width = W;
        res.trace.original_height = H;
        res.trace.resized_width = rw;
        res.trace.resized_height = rh;
        res.trace.crop_from = m_opt.crop_from == crop_source::original ? "original" : "resized";
        res.trace.max_steps = m_opt.max_steps;

        image full = src.read_resized(pixel_box{0, 0, W, H}, rw, rh, m_opt.filter);
        res.messages = first_turn(question, m_opt.zoom_prompt);
        res.images.push_back(full);

        int turns = 0;
        for (int gen = 0;; ++gen) {
            step st;
            st.index = gen;
            st.prompt_images = static_cast<int>(res.images.size());
            for (const auto& im : res.images)
                st.prompt_visual_tokens += detail::visual_tokens(im.width, im.height, m_opt.factor);
            st.output = model.generate(res.messages, res.images, m_opt.generation);
            usage u = model.last_usage();
            st.prompt_tokens = u.prompt_tokens;
            st.completion_tokens = u.completion_tokens;
            parsed_output p = parse_output(st.output);
            st.has_think = p.has_think;
            st.think = p.think;
            st.dropped = p.dropped;

            if (!m_opt.zoom_prompt || !p.has_tool_tag) {
                st.kind = "answer";
                finish(res, st.output, p, true, "answered");
                res.trace.steps.push_back(std::move(st));
                break;
            }
            if (turns >= m_opt.max_steps) {
                st.kind = "max_steps";
                finish(res, st.output, p, false, "max_steps");
                res.trace.steps.push_back(std::move(st));
                break;
            }

            // Execute the usable calls.
            std::vector<image> shown;
            for (const auto& call : p.calls) {
                geometry::hbox raw{call.bbox[0], call.bbox[1], call.bbox[2], call.bbox[3]};
                fixed_box fb = apply_box_policy(raw, rw, rh, m_opt.boxes);
                if (!fb.ok()) {
                    st.rejected.push_back(fb.error);
                    continue;
                }
                zoom_record z;
                z.bbox_model = call.bbox;
                z.bbox_resized = fb.box;
                z.bbox_original = map_box(fb.box, rw, rh, W, H);
                z.adjustments = fb.adjustments;
                z.notes = call.notes;
                image crop_img;
                if (m_opt.crop_from == crop_source::original) {
                    z.crop = pillow_crop_box(z.bbox_original);
                    z.crop_frame = "original";
                } else {
                    z.crop = pillow_crop_box(fb.box);
                    z.crop_frame = "resized";
                }
                // Rounded boxes saturate at the int range; a window whose side does not fit an int is
                // over every pixel limit.
                if (static_cast<long long>(z.crop.x1) - z.crop.x0 > 0x7fffffffLL ||
                    static_cast<long long>(z.crop.y1) - z.crop.y0 > 0x7fffffffLL) {
                    st.rejected.push_back("crop_too_large");
                    continue;
                }
                if (z.crop.width() <= 0 || z.crop.height() <= 0 ||
                    std::max(z.crop.width(), z.crop.height()) > 200LL * std::min(z.crop.width(), z.crop.height())) {
                    st.rejected.push_back(z.crop.width() <= 0 || z.crop.height() <= 0 ? "empty_crop"
                                                                                      : "crop_aspect_ratio");
                    continue;
                }
                const resolution::size cs = detail::budget(z.crop.height(), z.crop.width(), m_opt);
                // A box may ask for any window (with clamping off it can lie far outside the image); the
                // sources refuse windows over the limits before allocating, and such a call is rejected
                // like the other unusable ones (the reference's `except Exception` falls back the same way).
                auto read_crop = [&] {
                    if (m_opt.crop_from == crop_source::original)
                        return src.read_resized(z.crop, cs.width, cs.height, m_opt.filter);
                    return image::resize(image::crop(full, z.crop.x0, z.crop.y0, z.crop.x1, z.crop.y1), cs.width,
                                         cs.height, m_opt.filter);
                };
#if RSCOVLM_HAS_EXCEPTIONS
                try {
                    crop_img = read_crop();
                } catch (const limit_error&) {
                    st.rejected.push_back("crop_too_large");
                    continue;
                }
#else
                crop_img = read_crop(); // without exceptions a limit goes to the error handler
#endif
                z.input_width = crop_img.width;
                z.input_height = crop_img.height;
                z.visual_tokens = detail::visual_tokens(crop_img.width, crop_img.height, m_opt.factor);
                st.zooms.push_back(std::move(z));
                shown.push_back(std::move(crop_img));
                if (m_opt.multi_call == multi_call_policy::first) break;
            }

            if (shown.empty()) {
                if (m_opt.on_malformed == malformed_policy::stop) {
                    st.kind = "malformed";
                    finish(res, st.output, p, false, "malformed");
                    res.trace.steps.push_back(std::move(st));
                    break;
                }
                // inferencer.prepare_visual_cot_message `except`: the uncropped image, same text.
                st.kind = "fallback";
                shown.push_back(full);
            } else {
                st.kind = "zoom";
            }

            res.messages.push_back({{"role", "assistant"}, {"content", history_text(st.output, p)}});
            nlohmann::json content = nlohmann::json::array();
            for (std::size_t i = 0; i < shown.size(); ++i)
                content.push_back({{"type", "image"}});
            content.push_back({{"type", "text"}, {"text", m_opt.zoom_text}});
            res.messages.push_back({{"role", "user"}, {"content", content}});
            for (auto& im : shown)
                res.images.push_back(std::move(im));
            res.trace.steps.push_back(std::move(st));
            ++turns;
        }
        return res;
    }

    /// `run` returning a result instead of throwing.
    rscovlm::result<chain_result> try_run(image_source& src, std::string_view question, backend& model) const {
        return try_call([&] { return run(src, question, model); });
    }

private:
    std::string history_text(const std::string& raw, const parsed_output& p) const {
        return m_opt.keep_think_in_history ? raw : p.text;
    }
    void finish(chain_result& res, const std::string& raw, const parsed_output& p, bool answered,
                const char* reason) const {
        res.answered = answered;
        res.answer = answered ? p.text : p.answer_text;
        res.has_think = p.has_think;
        res.think = p.think;
        res.trace.stop_reason = reason;
        res.messages.push_back({{"role", "assistant"}, {"content", history_text(raw, p)}});
    }

    controller_options m_opt;
};

/// Parses "original" / "resized"; raises zoom_error "bad_option" otherwise.
inline crop_source parse_crop_source(std::string_view s) {
    if (s == "original") return crop_source::original;
    if (s == "resized") return crop_source::resized;
    RSCOVLM_THROW(zoom_error, "bad_option", "crop_from must be 'original' or 'resized', got '" + std::string(s) + "'");
}
/// Parses "fallback" (show_full_image) / "stop".
inline malformed_policy parse_malformed_policy(std::string_view s) {
    if (s == "fallback" || s == "show_full_image") return malformed_policy::show_full_image;
    if (s == "stop") return malformed_policy::stop;
    RSCOVLM_THROW(zoom_error, "bad_option", "on_malformed must be 'fallback' or 'stop', got '" + std::string(s) + "'");
}
/// Parses "first" / "all".
inline multi_call_policy parse_multi_call_policy(std::string_view s) {
    if (s == "first") return multi_call_policy::first;
    if (s == "all") return multi_call_policy::all;
    RSCOVLM_THROW(zoom_error, "bad_option", "multi_call must be 'first' or 'all', got '" + std::string(s) + "'");
}

} // namespace rscovlm::zoom
