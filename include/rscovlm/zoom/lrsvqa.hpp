#pragma once
/// \file
/// LRS-VQA: the benchmark's accuracy metrics, and LRS-VQA-Zoom training records turned into
/// Zoom-in Chain conversations.
///
/// References (RSCoVLM):
/// - `rscovlm/eval/metric/metric.py` compute_identical_acc / compute_contain_acc /
///   compute_startswith_acc: `x.lower().strip().strip(".")` on both sides.
/// - `rscovlm/eval/metric/large_image_bench.py` lrsvqa_scores: overall, per source (question_id
///   prefix FAIR/STAR/GLH), per task (category), and macro averages over tasks. The reference's
///   overall metric also counts WordNet synonyms (compute_wups_acc); that needs NLTK's WordNet and is
///   not reproduced: `exact` is its exact-match part.
/// - `rscovlm/eval/data/large_image_bench.py` get_qa_message / prepare_lrsvqa: Zoom-in prompt for
///   every category but "count".
/// - `rscovlm/training/data/visual_cot_dataset.py` get_messages: the LRS-VQA-Zoom conversation.

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <rscovlm/data/builders.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/eval/text_metrics.hpp>
#include <rscovlm/geometry/types.hpp>
#include <rscovlm/zoom/protocol.hpp>
#include <rscovlm/zoom/region.hpp>
#include <rscovlm/zoom/tool_call.hpp>

namespace rscovlm::zoom::lrsvqa {

/// Answer-matching rule (metric.py).
enum class match_mode {
    exact,      ///< compute_identical_acc: pred == gt
    contain,    ///< compute_contain_acc: gt in pred
    startswith, ///< compute_startswith_acc: gt.startswith(pred) (sic: the prediction is the prefix)
};

/// Parses "exact" / "contain" / "startswith".
inline match_mode parse_match_mode(std::string_view s) {
    if (s == "exact") return match_mode::exact;
    if (s == "contain") return match_mode::contain;
    if (s == "startswith") return match_mode::startswith;
    RSCOVLM_THROW(eval_error, "bad_option", "match mode must be exact|contain|startswith, got '" + std::string(s) + "'");
}

/// The reference's normalisation `x.lower().strip().strip(".")` (ASCII lower-casing; Python lowers
/// every Unicode letter, which matters only for non-ASCII answers).
inline std::string normalize_answer(std::string_view s) { return eval::normalize_answer(s); }

/// True when `prediction` matches `ground_truth` under `mode`.
inline bool is_correct(std::string_view prediction, std::string_view ground_truth, match_mode mode = match_mode::exact) {
    const std::string p = normalize_answer(prediction), g = normalize_answer(ground_truth);
    switch (mode) {
    case match_mode::exact: return p == g;
    case match_mode::contain: return p.find(g) != std::string::npos;
    case match_mode::startswith: return g.compare(0, p.size(), p) == 0;
    }
    return false;
}

/// One scored item.
struct item {
    std::string question_id; ///< e.g. "FAIR_1": the source is the prefix
    std::string category;    ///< task, e.g. "object color"
    std::string ground_truth;
    std::string output;      ///< the model's final answer
};

/// The sources and tasks lrsvqa_scores reports, in its order.
inline const std::vector<std::string>& sources() {
    static const std::vector<std::string> v{"FAIR", "STAR", "GLH"};
    return v;
}
inline const std::vector<std::string>& tasks() {
    static const std::vector<std::string> v{"rural or urban", "object shape", "object status", "count",
                                            "object background", "object color", "object category", "reasoning"};
    return v;
}

/// Accuracy of `items` (nullopt when empty, as the reference returns None).
inline std::optional<double> accuracy(const std::vector<const item*>& items, match_mode mode) {
    if (items.empty()) return std::nullopt;
    std::size_t ok = 0;
    for (const item* it : items) ok += is_correct(it->output, it->ground_truth, mode) ? 1 : 0;
    return static_cast<double>(ok) / static_cast<double>(items.size());
}

/// lrsvqa_scores as JSON, with the reference's keys ("overall acc", "Overall Acc (Source FAIR)",
/// "Overall Acc (Task count)", "Average Acc (Source FAIR)", "Average Acc"); an empty group is null.
/// Extra keys: "count" (number of items), "per_category" (every category found, with n and acc).
inline nlohmann::json scores(const std::vector<item>& items, match_mode mode = match_mode::exact) {
    auto select = [&](const std::string* src, const std::string* task) {
        std::vector<const item*> v;
        for (const auto& it : items)
            if ((!src || it.question_id.compare(0, src->size(), *src) == 0) && (!task || it.category == *task))
                v.push_back(&it);
        return v;
    };
    auto js = [](std::optional<double> a) { return a ? nlohmann::json(*a) : nlohmann::json(nullptr); };
    auto mean_over_tasks = [&](const std::string* src) -> nlohmann::json {
        double sum = 0;
        int n = 0;
        for (const auto& t : tasks()) {
            auto a = accuracy(select(src, &t), mode);
            if (a) {
                sum += *a;
                ++n;
            }
        }
        // The reference divides by len(r) and fails on zero; null here.
        return n ? nlohmann::json(sum / n) : nlohmann::json(nullptr);
    };
    nlohmann::json r = nlohmann::json::object();
    r["overall acc"] = js(accuracy(select(nullptr, nullptr), mode));
    for (const auto& s : sources()) r["Overall Acc (Source " + s + ")"] = js(accuracy(select(&s, nullptr), mode));
    for (const auto& t : tasks()) r["Overall Acc (Task " + t + ")"] = js(accuracy(select(nullptr, &t), mode));
    for (const auto& s : sources()) r["Average Acc (Source " + s + ")"] = mean_over_tasks(&s);
    r["Average Acc"] = mean_over_tasks(nullptr);
    r["count"] = items.size();
    std::map<std::string, std::pair<std::size_t, std::size_t>> cats;
    for (const auto& it : items) {
        auto& c = cats[it.category];
        ++c.first;
        c.second += is_correct(it.output, it.ground_truth, mode) ? 1 : 0;
    }
    nlohmann::json pc = nlohmann::json::object();
    for (const auto& [k, v] : cats)
        pc[k] = {{"n", v.first}, {"acc", static_cast<double>(v.second) / static_cast<double>(v.first)}};
    r["per_category"] = pc;
    return r;
}

/// Whether the benchmark asks this category with the Zoom-in prompt (prepare_lrsvqa: all but "count").
inline bool uses_zoom(std::string_view category) { return category != "count"; }

/// Python `str.rstrip(chars)` (`detail::py::rstrip(s, chars)`).
inline std::string py_rstrip_chars(std::string_view s, std::string_view chars) {
    return std::string(::rscovlm::detail::py::rstrip(s, chars));
}

/// An LRS-VQA-Zoom record turned into a conversation.
struct zoom_conversation {
    nlohmann::json messages;            ///< HF messages (those of `data::build_lrsvqa_zoom`)
    bool zoom = false;                  ///< true: the five-message Zoom-in layout; false: plain QA
    std::string question;               ///< question text (multiple-choice text built as the reference)
    std::string answer;
    geometry::hbox crop_original;       ///< crop_hbox[0] in the original frame (zoom only)
    pixel_box crop_window;              ///< the window Pillow crops for it (`round()` half to even)
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
    auto fail = [&](const std::string& why) {
        RSCOVLM_THROW(data_error, "bad_record", "LRS-VQA-Zoom record: " + why);
    };
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
        if (!(ow > 0) || !(oh > 0) || ow > 2147483647.0 || oh > 2147483647.0) fail("image_ori_width/height must be > 0");
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
        c.crop_window = pixel_box{w[0], w[1], w[2], w[3]};
        c.bbox_call = data::detail::lrsvqa_call_box(v, rec.width, rec.height, rs);
        // the question as the model sees it (multiple-choice text included)
        const std::string t = c.messages[1]["content"][1]["text"].get<std::string>();
        c.question = t.substr(0, t.size() - data::prompts::zoom_user_suffix.size());
    } else {
        c.question = c.messages[0]["content"][1]["text"].get<std::string>();
    }
    return c;
}

} // namespace rscovlm::zoom::lrsvqa
