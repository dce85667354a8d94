#pragma once
/// \file text_metrics.hpp
/// RSCoVLM's non-detection metrics as reusable functions (rscovlm/eval/metric/metric.py):
/// - VQA answers compared after `s.lower().strip().strip(".")` (`normalize_answer`): exact match
///   (`compute_identical_acc`), containment `gt in pred` (`compute_contain_acc`) and the
///   reference's `gt.startswith(pred)` (`compute_startswith_acc`). Lower-casing is ASCII-only.
/// - Grounding accuracy at IoU 0.5 on horizontal boxes (`iou(...) > 0.5`, strict), with the
///   reference's pixel-inclusive intersection quirk as an option: its `iou` clips x2/y2 by 1,
///   intersects only when `x1 < x2 - 1` strictly, adds 1 to the intersection sides but not to the
///   union's box areas. A zero union gives IoU 0 (the reference divides by zero).
/// - Multiple-choice letter extraction from a free-form answer.

#include <rscovlm/detail/py/str.hpp>
#include <rscovlm/eval/polygon_iou.hpp>
#include <rscovlm/geometry/types.hpp>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::eval {

/// Python `s.lower().strip().strip(".")` (ASCII lower-casing; `str.strip()` whitespace).
inline std::string normalize_answer(std::string_view s) {
    return std::string(
        ::rscovlm::detail::py::strip(::rscovlm::detail::py::strip(::rscovlm::detail::py::lower_ascii(s)), "."));
}

/// Exact match after normalisation.
inline bool vqa_exact(std::string_view prediction, std::string_view truth) {
    return normalize_answer(prediction) == normalize_answer(truth);
}
/// Contain-accuracy: the normalised truth occurs in the normalised prediction.
inline bool vqa_contain(std::string_view prediction, std::string_view truth) {
    return normalize_answer(prediction).find(normalize_answer(truth)) != std::string::npos;
}
/// The reference's startswith-accuracy: the normalised *truth* starts with the prediction.
inline bool vqa_startswith(std::string_view prediction, std::string_view truth) {
    const std::string p = normalize_answer(prediction), g = normalize_answer(truth);
    return g.compare(0, p.size(), p) == 0 && g.size() >= p.size();
}

/// Fraction of (prediction, truth) pairs accepted by `accept`; nullopt for an empty set.
template <class F> inline std::optional<double> accuracy(const std::vector<std::string>& predictions,
                                                         const std::vector<std::string>& truths, F&& accept) {
    const std::size_t n = std::min(predictions.size(), truths.size());
    if (n == 0) return std::nullopt;
    std::size_t ok = 0;
    for (std::size_t i = 0; i < n; ++i)
        ok += accept(predictions[i], truths[i]) ? 1 : 0;
    return static_cast<double>(ok) / static_cast<double>(n);
}

/// IoU of horizontal boxes: `pixel_inclusive` reproduces the reference `iou()` quirk.
inline double hbox_iou(const geometry::hbox& a, const geometry::hbox& b, bool pixel_inclusive = false) {
    if (pixel_inclusive) {
        const double ix1 = std::max(a.x1, b.x1), iy1 = std::max(a.y1, b.y1);
        const double ix2 = std::min(a.x2 - 1, b.x2 - 1), iy2 = std::min(a.y2 - 1, b.y2 - 1);
        double inter = 0.0;
        if (ix1 < ix2 && iy1 < iy2) inter = (ix2 - ix1 + 1) * (iy2 - iy1 + 1);
        const double uni = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
        if (uni == 0.0 || std::isnan(uni)) return 0.0;
        return inter / uni;
    }
    const double iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
    const double ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
    const double inter = (iw > 0 && ih > 0) ? iw * ih : 0.0;
    const double uni = geometry::area(a) + geometry::area(b) - inter;
    return uni > 0 ? inter / uni : 0.0;
}

/// The reference `resize_bbox`: a box in the resized frame back to the original image.
inline geometry::hbox resize_box_to_original(const geometry::hbox& b, double original_w, double original_h,
                                             double resized_w, double resized_h) {
    return geometry::hbox{b.x1 / resized_w * original_w, b.y1 / resized_h * original_h, b.x2 / resized_w * original_w,
                          b.y2 / resized_h * original_h};
}

/// Grounding accuracy: fraction of pairs with IoU strictly above `threshold` (default 0.5).
/// A missing prediction (nullopt) counts as wrong.
inline double grounding_accuracy(const std::vector<std::optional<geometry::hbox>>& predictions,
                                 const std::vector<geometry::hbox>& truths, double threshold = 0.5,
                                 bool pixel_inclusive = false) {
    const std::size_t n = std::min(predictions.size(), truths.size());
    if (n == 0) return 0.0;
    std::size_t ok = 0;
    for (std::size_t i = 0; i < n; ++i)
        if (predictions[i] && hbox_iou(*predictions[i], truths[i], pixel_inclusive) > threshold) ++ok;
    return static_cast<double>(ok) / static_cast<double>(n);
}

/// Grounding accuracy for oriented boxes (exact quad IoU, strictly above `threshold`).
inline double grounding_accuracy_quads(const std::vector<std::optional<geometry::quad>>& predictions,
                                       const std::vector<geometry::quad>& truths, double threshold = 0.5) {
    const std::size_t n = std::min(predictions.size(), truths.size());
    if (n == 0) return 0.0;
    std::size_t ok = 0;
    for (std::size_t i = 0; i < n; ++i)
        if (predictions[i] && quad_iou(*predictions[i], truths[i]) > threshold) ++ok;
    return static_cast<double>(ok) / static_cast<double>(n);
}

/// Extracts the chosen option letter from a multiple-choice answer. Rules, in order:
/// 1. the trimmed answer is a letter, optionally wrapped as "(B)", "B.", "B)", "B:" ... ;
/// 2. a cue "answer is X", "answer: X", "option X", "choice X" (case-insensitive cue, letter
///    possibly in parentheses);
/// 3. the first letter standing alone (not part of a word) such as "(C) pond" or "C. pond".
/// Only letters in `choices` count (upper case; lower-case answers are accepted for rules 1-2).
inline std::optional<char> extract_choice(std::string_view answer, std::string_view choices = "ABCDE") {
    auto allowed = [&](char c) { return choices.find(c) != std::string_view::npos; };
    auto up = [](char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; };
    auto is_alpha = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; };
    std::string_view s = answer;
    s = ::rscovlm::detail::py::strip_ascii(s);
    // rule 1
    {
        std::string_view t = s;
        while (!t.empty() && (t.front() == '(' || t.front() == '['))
            t.remove_prefix(1);
        while (!t.empty() &&
               (t.back() == ')' || t.back() == ']' || t.back() == '.' || t.back() == ':' || t.back() == ','))
            t.remove_suffix(1);
        if (t.size() == 1 && allowed(up(t[0]))) return up(t[0]);
    }
    // rule 2
    const std::string low = ::rscovlm::detail::py::lower_ascii(s);
    for (const char* cue : {"answer is", "answer:", "option", "choice"}) {
        std::size_t pos = 0;
        while ((pos = low.find(cue, pos)) != std::string::npos) {
            std::size_t i = pos + std::string_view(cue).size();
            while (i < s.size() && (s[i] == ' ' || s[i] == '(' || s[i] == '[' || s[i] == ':'))
                ++i;
            if (i < s.size() && allowed(up(s[i])) && (i + 1 >= s.size() || !is_alpha(s[i + 1]))) return up(s[i]);
            pos += 1;
        }
    }
    // rule 3
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (!allowed(s[i])) continue;
        const bool left_ok = i == 0 || !is_alpha(s[i - 1]);
        const bool right_ok = i + 1 >= s.size() || !is_alpha(s[i + 1]);
        // a lone capital "A" used as an article ("A car ...") is not an option
        const bool article = s[i] == 'A' && i + 1 < s.size() && s[i + 1] == ' ' && i + 2 < s.size() &&
                             std::islower(static_cast<unsigned char>(s[i + 2]));
        if (left_ok && right_ok && !article) return s[i];
    }
    return std::nullopt;
}

} // namespace rscovlm::eval
