#pragma once
/// \file eval/lrsvqa.hpp
/// LRS-VQA accuracy metrics: answer matching and the benchmark's score table.
///
/// References (RSCoVLM):
/// - `rscovlm/eval/metric/metric.py` compute_identical_acc / compute_contain_acc /
///   compute_startswith_acc: `x.lower().strip().strip(".")` on both sides.
/// - `rscovlm/eval/metric/large_image_bench.py` lrsvqa_scores: overall, per source (question_id
///   prefix FAIR/STAR/GLH), per task (category), and macro averages over tasks. The reference's
///   overall metric also counts WordNet synonyms (compute_wups_acc): `scores` with a judge calling
///   `wordnet::wups_match` (wordnet.hpp) reproduces it; `exact` is its exact-match part.
///
/// These names were first in `zoom::lrsvqa`; they stay reachable there (using-declarations at the end).

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <rscovlm/errors.hpp>
#include <rscovlm/eval/text_metrics.hpp>

namespace rscovlm::eval::lrsvqa {

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
    RSCOVLM_THROW(eval_error, "bad_option",
                  "match mode must be exact|contain|startswith, got '" + std::string(s) + "'");
}

/// The reference's normalisation `x.lower().strip().strip(".")` (ASCII lower-casing; Python lowers
/// every Unicode letter, which matters only for non-ASCII answers).
inline std::string normalize_answer(std::string_view s) {
    return eval::normalize_answer(s);
}

/// True when `prediction` matches `ground_truth` under `mode`.
inline bool is_correct(std::string_view prediction, std::string_view ground_truth,
                       match_mode mode = match_mode::exact) {
    const std::string p = normalize_answer(prediction), g = normalize_answer(ground_truth);
    switch (mode) {
    case match_mode::exact:
        return p == g;
    case match_mode::contain:
        return p.find(g) != std::string::npos;
    case match_mode::startswith:
        return g.compare(0, p.size(), p) == 0;
    }
    return false;
}

/// One scored item.
struct item {
    std::string question_id; ///< e.g. "FAIR_1": the source is the prefix
    std::string category;    ///< task, e.g. "object color"
    std::string ground_truth;
    std::string output; ///< the model's final answer
    /// The record produced no answer (its image could not be read, the model failed, ...): it is
    /// scored as wrong whatever `output` and `ground_truth` hold (two empty strings would match).
    bool failed = false;
};

/// True when `it` counts as correct: not failed, and its output matches its ground truth under `mode`.
inline bool is_correct(const item& it, match_mode mode = match_mode::exact) {
    return !it.failed && is_correct(it.output, it.ground_truth, mode);
}

/// The sources and tasks lrsvqa_scores reports, in its order.
inline const std::vector<std::string>& sources() {
    static const std::vector<std::string> v{"FAIR", "STAR", "GLH"};
    return v;
}
inline const std::vector<std::string>& tasks() {
    static const std::vector<std::string> v{"rural or urban",    "object shape", "object status",   "count",
                                            "object background", "object color", "object category", "reasoning"};
    return v;
}

/// Decides whether one item is correct (for `scores` with a matcher of its own, e.g. WordNet).
using item_judge = std::function<bool(const item&)>;

/// Accuracy of `items` (nullopt when empty, as the reference returns None) under `correct`.
inline std::optional<double> accuracy(const std::vector<const item*>& items, const item_judge& correct) {
    if (items.empty()) return std::nullopt;
    std::size_t ok = 0;
    for (const item* it : items)
        ok += correct(*it) ? 1 : 0;
    return static_cast<double>(ok) / static_cast<double>(items.size());
}

/// Accuracy of `items` (nullopt when empty, as the reference returns None); failed items count as wrong.
inline std::optional<double> accuracy(const std::vector<const item*>& items, match_mode mode) {
    return accuracy(items, [mode](const item& it) { return is_correct(it, mode); });
}

/// lrsvqa_scores as JSON, with the reference's keys ("overall acc", "Overall Acc (Source FAIR)",
/// "Overall Acc (Task count)", "Average Acc (Source FAIR)", "Average Acc"); an empty group is null.
/// Extra keys: "count" (number of items), "per_category" (every category found, with n and acc).
/// `correct` decides each item (the WordNet matching of compute_wups_acc, or answers judged
/// beforehand).
inline nlohmann::json scores(const std::vector<item>& items, const item_judge& correct) {
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
            auto a = accuracy(select(src, &t), correct);
            if (a) {
                sum += *a;
                ++n;
            }
        }
        // The reference divides by len(r) and fails on zero; null here.
        return n ? nlohmann::json(sum / n) : nlohmann::json(nullptr);
    };
    nlohmann::json r = nlohmann::json::object();
    r["overall acc"] = js(accuracy(select(nullptr, nullptr), correct));
    for (const auto& s : sources())
        r["Overall Acc (Source " + s + ")"] = js(accuracy(select(&s, nullptr), correct));
    for (const auto& t : tasks())
        r["Overall Acc (Task " + t + ")"] = js(accuracy(select(nullptr, &t), correct));
    for (const auto& s : sources())
        r["Average Acc (Source " + s + ")"] = mean_over_tasks(&s);
    r["Average Acc"] = mean_over_tasks(nullptr);
    r["count"] = items.size();
    std::map<std::string, std::pair<std::size_t, std::size_t>> cats;
    for (const auto& it : items) {
        auto& c = cats[it.category];
        ++c.first;
        c.second += correct(it) ? 1 : 0;
    }
    nlohmann::json pc = nlohmann::json::object();
    for (const auto& [k, v] : cats)
        pc[k] = {{"n", v.first}, {"acc", static_cast<double>(v.second) / static_cast<double>(v.first)}};
    r["per_category"] = pc;
    return r;
}

/// lrsvqa_scores under a matching rule of metric.py (failed items count as wrong).
inline nlohmann::json scores(const std::vector<item>& items, match_mode mode = match_mode::exact) {
    return scores(items, [mode](const item& it) { return is_correct(it, mode); });
}

} // namespace rscovlm::eval::lrsvqa

/// The metrics under their first names (`zoom::lrsvqa::scores`, ...).
namespace rscovlm::zoom::lrsvqa {
using ::rscovlm::eval::lrsvqa::accuracy;
using ::rscovlm::eval::lrsvqa::is_correct;
using ::rscovlm::eval::lrsvqa::item;
using ::rscovlm::eval::lrsvqa::match_mode;
using ::rscovlm::eval::lrsvqa::normalize_answer;
using ::rscovlm::eval::lrsvqa::parse_match_mode;
using ::rscovlm::eval::lrsvqa::scores;
using ::rscovlm::eval::lrsvqa::sources;
using ::rscovlm::eval::lrsvqa::tasks;
} // namespace rscovlm::zoom::lrsvqa
