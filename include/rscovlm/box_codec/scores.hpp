#pragma once
/// \file
/// Box confidence from token log-probabilities: a VLM answer has no scores, but the model's
/// probability of the tokens that wrote a box ranks boxes, so detections get a ranked mAP beside the
/// score-free mAP_nc.
///
/// The rule (`score_boxes`):
/// - Token offsets come from the tokens' texts laid end to end (byte-level BPE tokens concatenate to
///   the answer). When they do not spell the answer (a server that returns decoded, not raw, pieces
///   that differ from it), every box gets the answer's score and the report says `aligned = false`.
/// - A box read in place (`object::span`) is scored from the tokens that overlap its span and hold at
///   least one letter or digit (a byte >= 0x80 counts, for non-ASCII class names): its coordinate
///   and label tokens, not the separators around them. When none qualifies, every overlapping token.
/// - `mean`: exp(mean log-probability), the geometric mean of the token probabilities, in (0, 1] and
///   not penalising long labels. `product`: exp(sum), the probability of the whole box text.
/// - A box without a span (JSON codecs, florence2) gets the answer's score: the same rule over every
///   token of the answer that holds a letter or digit.
/// Boxes are scored in place (`object::score`); nothing is dropped.

#include <rscovlm/box_codec/types.hpp>

#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::box_codec {

/// How token log-probabilities become a box score.
enum class score_rule {
    mean,   ///< exp(mean log-probability): geometric mean of the token probabilities
    product ///< exp(sum of log-probabilities): probability of the box's text
};

/// Parses "mean" / "product"; false for anything else.
inline bool parse_score_rule(std::string_view s, score_rule& out) noexcept {
    if (s == "mean") {
        out = score_rule::mean;
        return true;
    }
    if (s == "product") {
        out = score_rule::product;
        return true;
    }
    return false;
}

/// What `score_boxes` did.
struct score_report {
    bool aligned = true;         ///< the token texts spell the answer (offsets are exact)
    std::size_t from_span = 0;   ///< boxes scored from their own tokens
    std::size_t from_answer = 0; ///< boxes given the answer's score (no span, or no overlapping token)
    double answer_score = 0.0;   ///< the answer's score under the rule (NaN without tokens)
};

namespace detail {
inline bool has_alnum(std::string_view s) noexcept {
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u >= 0x80) return true;
    }
    return false;
}
inline double combine(double sum, std::size_t n, score_rule rule) {
    if (n == 0) return std::nan("");
    return std::exp(rule == score_rule::mean ? sum / static_cast<double>(n) : sum);
}
} // namespace detail

/// Scores `objects` (decoded from `answer`) from the answer's tokens: `Token` has `.text` (its bytes)
/// and `.logprob` (e.g. `zoom::token_logprob`). With no tokens nothing is scored and
/// `answer_score` is NaN.
template <class Token> score_report score_boxes(std::vector<object>& objects, std::string_view answer,
                                                const std::vector<Token>& tokens, score_rule rule = score_rule::mean) {
    score_report rep;
    std::vector<std::size_t> begin(tokens.size());
    std::string spelled;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        begin[i] = spelled.size();
        spelled += tokens[i].text;
    }
    // Tokens may run past the answer (a stop string cut after them): compare the common part.
    rep.aligned = spelled.size() >= answer.size() && spelled.compare(0, answer.size(), answer) == 0;
    double all_sum = 0.0;
    std::size_t all_n = 0;
    for (std::size_t i = 0; i < tokens.size(); ++i)
        if (begin[i] < answer.size() && detail::has_alnum(tokens[i].text)) {
            all_sum += tokens[i].logprob;
            ++all_n;
        }
    if (all_n == 0) // an answer of separators only: every token
        for (std::size_t i = 0; i < tokens.size(); ++i)
            if (begin[i] < answer.size() || answer.empty()) {
                all_sum += tokens[i].logprob;
                ++all_n;
            }
    rep.answer_score = detail::combine(all_sum, all_n, rule);
    if (tokens.empty()) return rep;
    for (auto& o : objects) {
        double sum = 0.0, any_sum = 0.0;
        std::size_t n = 0, any_n = 0;
        if (rep.aligned && o.span) {
            const std::size_t b = o.span->first, e = o.span->second;
            for (std::size_t i = 0; i < tokens.size(); ++i) {
                const std::size_t tb = begin[i], te = begin[i] + tokens[i].text.size();
                if (te <= b || tb >= e) continue;
                any_sum += tokens[i].logprob;
                ++any_n;
                if (detail::has_alnum(tokens[i].text)) {
                    sum += tokens[i].logprob;
                    ++n;
                }
            }
        }
        if (n > 0) {
            o.score = detail::combine(sum, n, rule);
            ++rep.from_span;
        } else if (any_n > 0) {
            o.score = detail::combine(any_sum, any_n, rule);
            ++rep.from_span;
        } else {
            o.score = rep.answer_score;
            ++rep.from_answer;
        }
    }
    return rep;
}

} // namespace rscovlm::box_codec
