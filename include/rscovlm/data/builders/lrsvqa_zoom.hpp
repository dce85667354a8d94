#pragma once
/// \file data/builders/lrsvqa_zoom.hpp
/// LRS-VQA-Zoom conversations: one-step Zoom-in Chain samples (rscovlm/training/data/
/// visual_cot_dataset.py `get_messages`).

#include <rscovlm/data/builders/common.hpp>
#include <rscovlm/data/prompts.hpp>
#include <rscovlm/data/records.hpp>
#include <rscovlm/detail/py/int.hpp>
#include <rscovlm/detail/py/str.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/tokenizer/zoom_prompt.hpp>

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace rscovlm::data {

namespace detail {

/// The bbox the Zoom-in tool call carries (visual_cot_dataset.py `get_messages`): with a resized
/// size, `int(v * resized / image_ori)` per coordinate; without one, `int(v)` of the original box.
inline std::array<long long, 4> lrsvqa_call_box(const std::array<double, 4>& b, int width, int height,
                                                const std::optional<resolution::size>& resized) {
    std::array<long long, 4> out{};
    for (std::size_t k = 0; k < 4; ++k) {
        if (!std::isfinite(b[k]))
            RSCOVLM_THROW(data_error, "bad_record", "LRS-VQA-Zoom record: crop_hbox values must be finite");
        if (!resized) {
            out[k] = ::rscovlm::detail::py::int_trunc(b[k]);
        } else {
            const bool x = k % 2 == 0;
            out[k] = scale_int(b[k], x ? resized->width : resized->height, x ? width : height);
        }
    }
    return out;
}

} // namespace detail

/// LRS-VQA-Zoom sample (visual_cot_dataset.py `get_messages`), the one implementation behind the
/// data engine's `builder.lrsvqa_zoom` and `data::lrsvqa::build_zoom_conversation`. With exactly
/// one `crop_hbox` (and visual CoT enabled) a one-step Zoom-in conversation: tool system prompt,
/// question + zoom instruction, the tool call with the crop box scaled to the resized frame by
/// `int()`, the crop of the *original* image (Pillow `crop`, coordinates rounded half to even),
/// then the answer. Otherwise a plain question/answer. Multiple-choice text is built as the
/// reference builds it (`rstrip` of a character set, the choices, the instruction and the answer
/// cue). `resized` empty: the image items carry no resized size and the tool call keeps the
/// original coordinates (`int()`), as the reference does for a meta without `resized_width`. An
/// image item names its file only when `rec.image` is not empty.
inline conversation build_lrsvqa_zoom(const vqa_record& rec, const std::optional<resolution::size>& resized,
                                      bool disable_visual_cot) {
    std::string question;
    if (!rec.multiple_choice) {
        question = rec.question;
    } else {
        std::string choices(prompts::mcq_choice_intro);
        for (const auto& ch : rec.choices)
            choices += ch + "\n";
        question = std::string(::rscovlm::detail::py::rstrip(rec.question, prompts::mcq_rstrip_chars)) + choices +
                   std::string(prompts::mcq_instruction) + std::string(prompts::mcq_answer_cue);
    }
    auto image_item = [&](const std::optional<resolution::size>& rs) {
        nlohmann::ordered_json im;
        im["type"] = "image";
        if (!rec.image.empty()) im["image"] = "file://" + rec.image;
        if (rs) {
            im["resized_width"] = rs->width;
            im["resized_height"] = rs->height;
        }
        return im;
    };
    conversation c;
    c.images.push_back(image_ref{rec.image, rec.width, rec.height, resized ? resized->width : 0,
                                 resized ? resized->height : 0, std::nullopt, false});
    nlohmann::ordered_json content = nlohmann::ordered_json::array();
    content.push_back(image_item(resized));
    if (rec.crop_hbox.size() == 1 && !disable_visual_cot) {
        c.task = "zoom";
        if (resized && (rec.width <= 0 || rec.height <= 0))
            RSCOVLM_THROW(data_error, "bad_record",
                          "LRS-VQA-Zoom record: needs image_ori_width/height > 0 to scale crop_hbox");
        const auto& b = rec.crop_hbox[0];
        // Image.crop: box = map(int, map(round, box)) (Python round: half to even)
        std::array<int, 4> crop{};
        for (std::size_t k = 0; k < 4; ++k)
            crop[k] = static_cast<int>(std::clamp(std::nearbyint(b[k]), -1073741824.0, 1073741824.0));
        const std::array<long long, 4> call = detail::lrsvqa_call_box(b, rec.width, rec.height, resized);
        content.push_back(detail::text_item(question + std::string(prompts::zoom_user_suffix)));
        c.messages.push_back(detail::message("system", tokenizer::zoom_tool_system_prompt()));
        c.messages.push_back(detail::message("user", std::move(content)));
        c.messages.push_back(
            detail::message("assistant", tokenizer::zoom_tool_call(call[0], call[1], call[2], call[3])));
        nlohmann::ordered_json second = nlohmann::ordered_json::array();
        nlohmann::ordered_json im = image_item(std::nullopt);
        im["crop"] = {crop[0], crop[1], crop[2], crop[3]};
        second.push_back(im);
        second.push_back(detail::text_item(std::string(prompts::zoom_followup)));
        c.messages.push_back(detail::message("user", std::move(second)));
        c.messages.push_back(detail::message("assistant", rec.answer));
        c.images.push_back(image_ref{rec.image, crop[2] - crop[0], crop[3] - crop[1], 0, 0, crop, false});
    } else {
        c.task = "vqa";
        content.push_back(detail::text_item(question));
        c.messages.push_back(detail::message("user", std::move(content)));
        c.messages.push_back(detail::message("assistant", rec.answer));
    }
    return c;
}

/// LRS-VQA-Zoom sample as VisualCOTDataset builds it: the full image is smart-resized with the
/// budget (`add_resized_size_to_metainfo`; the reference applies no random resize here).
inline conversation build_lrsvqa_zoom(const vqa_record& rec, const build_options& opt, python_random& rng) {
    // the reference draws nothing here (its default strategy, the budget, draws nothing either)
    const resolution::size rs = detail::plan_size(rec.width, rec.height, opt, detail::default_sizing::budget, rng);
    return build_lrsvqa_zoom(rec, std::optional<resolution::size>(rs), opt.disable_visual_cot);
}

} // namespace rscovlm::data
