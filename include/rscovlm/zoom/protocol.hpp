#pragma once
/// \file
/// The Zoom-in Chain protocol of RSCoVLM: the tool-calling system prompt, the user suffix that
/// asks for a zoom, the tool-call text the model emits and the follow-up user turn.
///
/// Mirrors RSCoVLM `rscovlm/training/data/visual_cot_dataset.py` (SYSTEM_PROMPT,
/// TOOL_CALL_TEMPLATE, get_messages) and `rscovlm/eval/data/large_image_bench.py`
/// (get_qa_message), and `rscovlm/eval/inferencer.py` (prepare_visual_cot_message).

#include <cmath>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <rscovlm/tokenizer/zoom_prompt.hpp>

namespace rscovlm::zoom {

/// Name of the single tool of the Zoom-in Chain.
inline constexpr std::string_view tool_name = "image_zoom_in";

/// The tool-calling system prompt, byte for byte (RSCoVLM visual_cot_dataset.SYSTEM_PROMPT), as the
/// tokenizer module exposes it for chat templates.
inline constexpr std::string_view system_prompt = tokenizer::zoom_tool_system_prompt_text;

/// Appended to the question of the first user turn (get_qa_message / get_messages).
inline constexpr std::string_view user_suffix = "\nZoom in to the region of interest and answer the question.";

/// Text of the user turn that carries the zoomed-in image (inferencer.prepare_visual_cot_message and
/// visual_cot_dataset.get_messages).
inline constexpr std::string_view zoom_turn_text = "Here's the zoomed-in image. You can complete your task now.";

/// Opening and closing tags of a tool call.
inline constexpr std::string_view tool_call_open = "<tool_call>";
inline constexpr std::string_view tool_call_close = "</tool_call>";

namespace detail {
/// Python `int(v)` of a coordinate (truncation toward zero; non-finite values give 0).
inline long long int_coord(double v) {
    if (!std::isfinite(v)) return 0;
    if (v >= 9.2e18) return 9200000000000000000LL;
    if (v <= -9.2e18) return -9200000000000000000LL;
    return static_cast<long long>(v);
}
} // namespace detail

/// The assistant text of one zoom call, as RSCoVLM's TOOL_CALL_TEMPLATE writes it:
/// `<tool_call>\n{"name": "image_zoom_in", "arguments": {"bbox": [x1, y1, x2, y2]}}\n</tool_call>`.
/// Coordinates go through `int()` like the reference (truncation toward zero).
inline std::string format_tool_call(double x1, double y1, double x2, double y2) {
    return tokenizer::zoom_tool_call(detail::int_coord(x1), detail::int_coord(y1), detail::int_coord(x2),
                                     detail::int_coord(y2));
}

/// HF-format user message `[{"type":"image"}, {"type":"text","text": text}]`.
inline nlohmann::json image_text_message(std::string_view role, std::string_view text) {
    return nlohmann::json{
        {"role", std::string(role)},
        {"content", nlohmann::json::array({nlohmann::json{{"type", "image"}},
                                           nlohmann::json{{"type", "text"}, {"text", std::string(text)}}})}};
}

/// The opening of a Zoom-in Chain conversation: the tool system prompt and the user turn holding the
/// image and `question + user_suffix` (large_image_bench.get_qa_message with visual_cot=True).
/// With `zoom == false` it is the plain single-turn question (visual_cot=False).
inline nlohmann::json first_turn(std::string_view question, bool zoom = true) {
    nlohmann::json msgs = nlohmann::json::array();
    if (zoom) {
        msgs.push_back({{"role", "system"}, {"content", std::string(system_prompt)}});
        msgs.push_back(image_text_message("user", std::string(question) + std::string(user_suffix)));
    } else {
        msgs.push_back(image_text_message("user", question));
    }
    return msgs;
}

} // namespace rscovlm::zoom
