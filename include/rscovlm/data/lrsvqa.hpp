#pragma once
/// \file data/lrsvqa.hpp
/// LRS-VQA-Zoom records (JSON objects of the dataset file) turned into Zoom-in Chain conversations:
/// the record adapter in front of `data::build_lrsvqa_zoom`.
///
/// Reference (RSCoVLM): `rscovlm/training/data/visual_cot_dataset.py` get_messages: the
/// LRS-VQA-Zoom conversation.
///
/// These names were first in `zoom::lrsvqa`; they stay reachable there (using-declarations at the end).

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <rscovlm/data/builders/lrsvqa_zoom.hpp>
#include <rscovlm/data/prompts.hpp>
#include <rscovlm/data/records.hpp>
#include <rscovlm/detail/py/str.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/geometry/types.hpp>
#include <rscovlm/resolution/smart_resize.hpp>
#include <rscovlm/zoom/source.hpp>

namespace rscovlm::data::lrsvqa {

/// Python `str.rstrip(chars)` (`detail::py::rstrip(s, chars)`).
inline std::string py_rstrip_chars(std::string_view s, std::string_view chars) {
    return std::string(::rscovlm::detail::py::rstrip(s, chars));
}

/// An LRS-VQA-Zoom record turned into a conversation.
struct zoom_conversation {
    nlohmann::json messages; ///< HF messages (those of `data::build_lrsvqa_zoom`)
    bool zoom = false;       ///< true: the five-message Zoom-in layout; false: plain QA
    std::string question;    ///< question text (multiple-choice text built as the reference)
    std::string answer;
    geometry::hbox crop_original;         ///< crop_hbox[0] in the original frame (zoom only)
    zoom::pixel_box crop_window;          ///< the window Pillow crops for it (`round()` half to even)
    std::array<long long, 4> bbox_call{}; ///< bbox written in the tool call (resized frame, `int()`)
};

/// Builds the conversation of one LRS-VQA-Zoom record (a JSON object of the dataset file) like
/// visual_cot_dataset.get_messages. A thin adapter: the record is validated and converted to a
/// `data::vqa_record`, and the conversation is made by `data::build_lrsvqa_zoom`, the data engine's
/// builder. `resized_width/height` are the size chosen for the full image (0 = not resized: the tool
/// call keeps original coordinates). `image` is used as given (no data_path join). Raises data_error
/// "bad_record" for records missing required fields.
inline zoom_conversation build_zoom_conversation(const nlohmann::json& meta, int resized_width = 0,
                                                 int resized_height = 0, bool disable_visual_cot = false) {
    auto fail = [&](const std::string& why) { RSCOVLM_THROW(data_error, "bad_record", "LRS-VQA-Zoom record: " + why); };
    if (!meta.is_object()) fail("not a JSON object");
    data::vqa_record rec;
    if (meta.contains("image") && meta["image"].is_string()) rec.image = meta["image"].get<std::string>();
    if (meta.contains("question") && meta.contains("answer")) {
        if (!meta["question"].is_string() || !meta["answer"].is_string()) fail("'question'/'answer' must be strings");
        rec.question = meta["question"].get<std::string>();
        rec.answer = meta["answer"].get<std::string>();
    } else if (meta.contains("Text") && meta.contains("Ground truth") && meta.contains("Answer choices")) {
        if (!meta["Text"].is_string() || !meta["Ground truth"].is_string() || !meta["Answer choices"].is_array())
            fail("'Text'/'Ground truth' must be strings and 'Answer choices' an array");
        rec.multiple_choice = true;
        rec.question = meta["Text"].get<std::string>();
        rec.answer = meta["Ground truth"].get<std::string>();
        for (const auto& ch : meta["Answer choices"]) {
            if (!ch.is_string()) fail("'Answer choices' items must be strings");
            rec.choices.push_back(ch.get<std::string>());
        }
    } else {
        fail("needs 'question' and 'answer', or 'Text', 'Ground truth' and 'Answer choices'");
    }
    if (!meta.contains("bbox_info") || !meta["bbox_info"].is_object() || !meta["bbox_info"].contains("crop_hbox") ||
        !meta["bbox_info"]["crop_hbox"].is_array())
        fail("needs 'bbox_info.crop_hbox' (an array of boxes)");
    const nlohmann::json& crops = meta["bbox_info"]["crop_hbox"];
    for (std::size_t j = 0; j < crops.size(); ++j) {
        const nlohmann::json& b = crops[j];
        // only the single box of a Zoom-in sample is read by the reference; others are just counted
        if (crops.size() == 1) {
            if (!b.is_array() || b.size() != 4) fail("crop_hbox[0] must hold 4 numbers");
            std::array<double, 4> v{};
            for (std::size_t i = 0; i < 4; ++i) {
                if (!b[i].is_number()) fail("crop_hbox[0] must hold 4 numbers");
                v[i] = b[i].get<double>();
            }
            rec.crop_hbox.push_back(v);
        } else {
            rec.crop_hbox.push_back({0, 0, 0, 0});
        }
    }
    const bool resized = resized_width > 0 && resized_height > 0;
    const bool zoom = rec.crop_hbox.size() == 1 && !disable_visual_cot;
    if (resized && zoom) {
        if (!meta.contains("image_ori_width") || !meta.contains("image_ori_height") ||
            !meta["image_ori_width"].is_number() || !meta["image_ori_height"].is_number())
            fail("needs numeric 'image_ori_width'/'image_ori_height' to scale crop_hbox");
        const double ow = meta["image_ori_width"].get<double>(), oh = meta["image_ori_height"].get<double>();
        if (!(ow > 0) || !(oh > 0) || ow > 2147483647.0 || oh > 2147483647.0)
            fail("image_ori_width/height must be > 0");
        rec.width = static_cast<int>(ow);
        rec.height = static_cast<int>(oh);
        if (rec.width <= 0 || rec.height <= 0 || rec.width != ow || rec.height != oh)
            fail("image_ori_width/height must be positive integers");
    }
    std::optional<resolution::size> rs;
    if (resized) rs = resolution::size{resized_height, resized_width};
    const data::conversation dc = data::build_lrsvqa_zoom(rec, rs, disable_visual_cot);

    zoom_conversation c;
    c.messages = nlohmann::json::parse(dc.messages.dump());
    c.zoom = dc.task == "zoom";
    c.question = rec.question;
    c.answer = rec.answer;
    if (c.zoom) {
        const auto& v = rec.crop_hbox[0];
        c.crop_original = geometry::hbox{v[0], v[1], v[2], v[3]};
        const auto& w = *dc.images.at(1).crop;
        c.crop_window = zoom::pixel_box{w[0], w[1], w[2], w[3]};
        c.bbox_call = data::detail::lrsvqa_call_box(v, rec.width, rec.height, rs);
        // the question as the model sees it (multiple-choice text included)
        const std::string t = c.messages[1]["content"][1]["text"].get<std::string>();
        c.question = t.substr(0, t.size() - data::prompts::zoom_user_suffix.size());
    } else {
        c.question = c.messages[0]["content"][1]["text"].get<std::string>();
    }
    return c;
}

} // namespace rscovlm::data::lrsvqa

/// The adapter under its first names (`zoom::lrsvqa::build_zoom_conversation`, ...).
namespace rscovlm::zoom::lrsvqa {
using ::rscovlm::data::lrsvqa::build_zoom_conversation;
using ::rscovlm::data::lrsvqa::py_rstrip_chars;
using ::rscovlm::data::lrsvqa::zoom_conversation;
} // namespace rscovlm::zoom::lrsvqa
