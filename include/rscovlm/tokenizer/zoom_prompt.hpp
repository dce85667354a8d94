#pragma once
/// \file zoom_prompt.hpp
/// Text of the Zoom-in Chain tool protocol used by RSCoVLM: the tool-calling system prompt that
/// declares `image_zoom_in`, and the assistant's tool-call block.

#include <string>
#include <string_view>

namespace rscovlm::tokenizer {

/// The RSCoVLM Zoom-in tool system prompt, verbatim (`SYSTEM_PROMPT` of RSCoVLM's visual-CoT
/// dataset); it is the `content` of the first, `system`, message of a Zoom-in conversation.
inline constexpr std::string_view zoom_tool_system_prompt_text =
    "# Tools\n"
    "\n"
    "You may call one or more functions to assist with the user query.\n"
    "\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n"
    "<tools>\n"
    "{\"type\": \"function\", \"function\": {\"name\": \"image_zoom_in\", \"description\": \"Zoom in to the region "
    "of interest on the given image. Input the bounding box of the region of interest and return the zoomed-in image "
    "to help to focus and view more clearly.\", \"parameters\": {\"name\": \"bbox\", \"type\": \"list[int]\", "
    "\"description\": \"The bounding box of the region of interest as an array [x1, y1, x2, y2], where (x1, y1) and "
    "(x2, y2) indicate the positions' absolute coordinates of the left top and right down corners, respectively.\", "
    "\"required\": true}}}\n"
    "</tools>\n"
    "\n"
    "For each function call, return a json object with function name and arguments within <tool_call></tool_call> "
    "XML tags:\n"
    "<tool_call>\n"
    "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
    "</tool_call>";

/// The Zoom-in tool system prompt (see `zoom_tool_system_prompt_text`).
inline std::string zoom_tool_system_prompt() {
    return std::string(zoom_tool_system_prompt_text);
}

/// The assistant's tool-call block for a zoom into [x1, y1, x2, y2] (RSCoVLM `TOOL_CALL_TEMPLATE`):
/// `<tool_call>\n{"name": "image_zoom_in", "arguments": {"bbox": [x1, y1, x2, y2]}}\n</tool_call>`.
inline std::string zoom_tool_call(long long x1, long long y1, long long x2, long long y2) {
    return "<tool_call>\n{\"name\": \"image_zoom_in\", \"arguments\": {\"bbox\": [" + std::to_string(x1) + ", " +
           std::to_string(y1) + ", " + std::to_string(x2) + ", " + std::to_string(y2) + "]}}\n</tool_call>";
}

} // namespace rscovlm::tokenizer
