#pragma once
/// \file data/prompts.hpp
/// Texts of RSCoVLM's grounding, Zoom-in and chat conversations (the detection prompts live in
/// `box_codec/prompts.hpp`, the Zoom-in tool prompt in `tokenizer/zoom_prompt.hpp`).

#include <array>
#include <string_view>

namespace rscovlm::data::prompts {

// rscovlm/training/data/refgeo_dataset.py `select_hbb_json_prompt_template`
inline constexpr std::string_view ground_hbb_json_main =
    "Locate the {prompt}, output the bbox coordinates using JSON format";
inline constexpr std::array<std::string_view, 5> ground_hbb_json_proxy = {
    "Give me the bbox of {prompt} using JSON format",
    "Output the bbox of the {prompt} in the image using JSON format.",
    "From this image, provide the bbox for {prompt} using JSON format",
    "Please provide the bbox coordinate of the region this sentence describes: {prompt}",
    "Locate {prompt} in the given image and provide the bbox using JSON format",
};
// refgeo_dataset.py `select_obb_json_prompt_template` (also used for grounding polygons)
inline constexpr std::string_view ground_obb_json_main =
    "Locate the {prompt}, output the oriented bbox coordinates using JSON format";
inline constexpr std::array<std::string_view, 5> ground_obb_json_proxy = {
    "Give me the oriented bounding box of {prompt} using JSON format",
    "Output the oriented bounding box of the {prompt} in the image using JSON format.",
    "From this image, provide the oriented bounding box for {prompt} using JSON format",
    "Please provide the oriented bounding box coordinate of the region this sentence describes: {prompt}",
    "Locate {prompt} in the given image and provide the oriented bounding box using JSON format",
};
// refgeo_dataset.py `select_mask_prompt_template` and `get_seg_messages`
inline constexpr std::string_view ground_mask_main = "Locate the {prompt}, output the segmentation mask";
inline constexpr std::array<std::string_view, 6> ground_mask_proxy = {
    "Give me the segmentation mask of {prompt}",
    "Output the segmentation mask of the {prompt} in the image",
    "From this image, provide the segmentation mask for {prompt}",
    "Please provide the segmentation mask of the region this sentence describes: {prompt}",
    "Locate {prompt} in the given image and provide the segmentation mask",
    "Segment the {prompt} in the given image",
};
inline constexpr std::string_view ground_mask_system = "As an AI assistant, you specialize in segmentation, delivering "
                                                       "segmentation results as Row-wise RLE format. Each row "
                                                       "is represented as '<value>*<count>', and rows are separated by "
                                                       "';'. The last row ends with a semicolon. For example, "
                                                       "'0*1,1*2;0*3;' represents the mask.";

/// Plain grounding prompt (`"find the {prompt}"`).
inline constexpr std::string_view ground_plain_user = "find the {prompt}";

// rscovlm/training/data/visual_cot_dataset.py `get_messages`
inline constexpr std::string_view zoom_user_suffix = "\nZoom in to the region of interest and answer the question.";
inline constexpr std::string_view zoom_followup = "Here's the zoomed-in image. You can complete your task now.";
inline constexpr std::string_view mcq_choice_intro = " The choices are listed below: \n";
inline constexpr std::string_view mcq_instruction =
    "Select the best answer to the above multiple-choice question based on the image. Respond with only the letter "
    "(A, B, C, D, or E) of the correct option.";
inline constexpr std::string_view mcq_answer_cue = "\nThe best answer is:";
/// The characters `.rstrip()` removes from an MCQ `Text` (Python strips a *set* of characters).
inline constexpr std::string_view mcq_rstrip_chars = "\n Answer the question using a single word or phrase.";

/// Qwen2.5-VL's default system message, added by the chat template when a conversation has none.
inline constexpr std::string_view default_system = "You are a helpful assistant.";

} // namespace rscovlm::data::prompts
