#pragma once
/// \file
/// RSCoVLM's detection prompts, verbatim from rscovlm/training/data/dense_det_dataset.py
/// (`get_hbb_messages`, `get_obb_messages`, `get_polygon_messages`, `select_*_json_prompt_template`)
/// and rscovlm/eval/data/dense_det.py (`prepare_dense_det_messages`).

#include <rscovlm/detail/py/str.hpp>

#include <array>
#include <string>
#include <string_view>

namespace rscovlm::box_codec::prompts {

/// System prompt of plain-text horizontal boxes.
inline constexpr std::string_view hbb_plain_system =
    "As an AI assistant, you specialize in accurate image object detection, delivering coordinates in plain text "
    "format 'x1,y1,x2,y2 object'.";
/// System prompt of plain-text oriented boxes.
inline constexpr std::string_view obb_plain_system =
    "As an AI assistant, you specialize in accurate oriented object detection, delivering coordinates in plain text "
    "format 'x,y,w,h,a object'.";
/// System prompt of plain-text quadrilaterals.
inline constexpr std::string_view quad_plain_system =
    "As an AI assistant, you specialize in accurate oriented object detection, delivering coordinates of the polygon "
    "vertices in plain text format 'x1,y1,x2,y2,x3,y3,x4,y4 object'.";
/// System prompt of JSON oriented boxes.
inline constexpr std::string_view obb_json_system =
    "You are an AI assistant specializing in oriented object detection. Represent objects with: center (x,y), width "
    "(w), height (h), and rotation angle.";
/// System prompt of JSON quadrilaterals (the reference's spelling "corrdinates" kept).
inline constexpr std::string_view quad_json_system =
    "You are an AI assistant specializing in oriented object detection. Represent objects with quadrant bbox: the "
    "corrdinates of each vertices of the oriented bounding boxes in clock-wise order.";

/// User prompt of the plain formats in training (no final period).
inline constexpr std::string_view plain_user = "find the {categories}";
/// User prompt of the plain formats at evaluation (`prepare_dense_det_messages`: with a period).
inline constexpr std::string_view plain_user_eval = "find the {categories}.";
/// Main user prompt of JSON horizontal boxes (`MAIN_HBB_TEMPLATE`).
inline constexpr std::string_view hbb_json_user =
    "Locate every item from the category list in the image and output the coordinates in JSON format. The category "
    "set includes {categories}.";
/// Main user prompt of JSON oriented boxes and quadrilaterals (`MAIN_OBB_TEMPLATE`).
inline constexpr std::string_view obb_json_user =
    "Locate every item from the category list in the image and output the oriented bbox coordinates in JSON format. "
    "The category set includes {categories}.";

/// `PROXY_HBB_TEMPLATE` (the reference's missing comma joins its first two strings; kept).
inline constexpr std::array<std::string_view, 5> hbb_json_proxy = {
    "Please output bbox coordinates and names of {categories} in JSON format.Give me the bboxes and names of "
    "{categories} using JSON format",
    "Output the category names and bboxes of the {categories} in the image using JSON format.",
    "From this image, provide the bboxes and categories for {categories} using JSON format",
    "Please provide the bbox coordinates of the following objects: {categories}.",
    "Locate {categories} in the given image and provide the bboxes using JSON format",
};
/// `PROXY_OBB_TEMPLATE`.
inline constexpr std::array<std::string_view, 5> obb_json_proxy = {
    "Give me the oriented bboxes and names of {categories} using JSON format",
    "Output the category names and oriented bboxes of the {categories} in the image using JSON format.",
    "From this image, provide the oriented bboxes and categories for {categories} using JSON format",
    "Please provide the oriented bbox coordinates of the following objects: {categories}",
    "Locate {categories} in the given image and provide the oriented bboxes using JSON format",
};

/// The reference's prompt variations: `template.replace("bbox", "bounding box")` and (oriented
/// templates) `template.replace("oriented", "rotated")`.
inline std::string vary(std::string_view tmpl, bool bounding_box, bool rotated) {
    std::string s(tmpl);
    if (bounding_box) s = ::rscovlm::detail::py::replace(s, "bbox", "bounding box");
    if (rotated) s = ::rscovlm::detail::py::replace(s, "oriented", "rotated");
    return s;
}

/// The open-ended phrase that replaces `(the )?{categories}` with synonyms (`set_open_end_prompt_settings`).
inline constexpr std::string_view open_end_phrase = "all the visible remote sensing objects";

} // namespace rscovlm::box_codec::prompts
