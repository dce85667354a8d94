#pragma once
/// \file vhm_metrics.hpp
/// VHM benchmark metrics as RSCoVLM computes them (`rscovlm/eval/metric/vhm_bench.py`):
/// - `vhm_contain` (`eval_contain`): both sides `s.lower().strip().strip(".")`, then the
///   prediction is in the truth *or* the truth is in the prediction (so an empty side always
///   matches). The classification and RSVQA folders score this.
/// - `parse_count` (`parse_number`): the first run of digits in the text; failing that, the first
///   whitespace-separated word that is an English number word 0..99 ("zero" .. "nineteen", "twenty",
///   "twenty-one" .. "ninety-nine", as `convert_to_words_100` spells them); failing that, nothing
///   (the reference then raises in `int('')`).
/// - `count_errors` (`eval_counting_mae`): the parsed prediction `p` of `pred.lower().strip()
///   .strip(".")` and the integer truth `g` give `|p - g|` and `|(p - g) / g|` (the reference raises
///   for g = 0).
/// - the benchmark score of each list is `sum(items) / max(len(items), 1)`: the sum of integer
///   absolute errors is exact, the sum of the relative errors runs left to right (Python 3.11's
///   `sum`; Python 3.12 and later compensate the rounding, which can change the last bits).
/// Lower-casing is ASCII-only and only ASCII digits count as digits (Python's `\d` and `int()` also
/// take other Unicode decimal digits).

#include <rscovlm/detail/py/str.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/eval/text_metrics.hpp>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::eval::vhm {

/// `eval_contain`: bidirectional containment after `lower().strip().strip(".")`.
inline bool vhm_contain(std::string_view prediction, std::string_view truth) {
    const std::string p = normalize_answer(prediction), g = normalize_answer(truth);
    return g.find(p) != std::string::npos || p.find(g) != std::string::npos;
}

/// The spelling `convert_to_words_100(n)` gives 0 <= n < 100.
inline std::string number_word(int n) {
    static const char* const ones[] = {"zero",     "one",     "two",     "three",     "four",     "five",    "six",
                                       "seven",    "eight",   "nine",    "ten",       "eleven",   "twelve",  "thirteen",
                                       "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"};
    static const char* const tens[] = {"twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"};
    if (n < 20) return ones[n];
    std::string s = tens[n / 10 - 2];
    if (n % 10) s += std::string("-") + ones[n % 10];
    return s;
}

/// Integers above this are refused by `parse_count` (their differences must stay exact doubles).
inline constexpr std::int64_t max_count = (std::int64_t{1} << 53) - 1;

/// `parse_number`: the count a text states, or nullopt when it states none.
/// Throws eval_error "out_of_range" for a digit run above `max_count`.
inline std::optional<std::int64_t> parse_count(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size() && !(text[i] >= '0' && text[i] <= '9'))
        ++i;
    if (i < text.size()) {
        std::int64_t v = 0;
        for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
            v = v * 10 + (text[i] - '0');
            if (v > max_count)
                RSCOVLM_THROW(eval_error, "out_of_range", "count above 2^53 in '" + std::string(text) + "'");
        }
        return v;
    }
    for (std::string_view w : ::rscovlm::detail::py::split(text)) {
        const std::string lw = ::rscovlm::detail::py::lower_ascii(w);
        for (int n = 0; n < 100; ++n)
            if (lw == number_word(n)) return n;
    }
    return std::nullopt;
}

/// One counting answer's absolute and relative errors.
struct count_error {
    std::int64_t abs_error;
    double rel_error;
};

/// `eval_counting_mae(pred, gt)`: nullopt when the prediction states no count.
/// Throws eval_error "zero_truth" for a zero truth (the reference divides by it).
inline std::optional<count_error> count_errors(std::string_view prediction, std::int64_t truth) {
    const auto p = parse_count(normalize_answer(prediction));
    if (!p) return std::nullopt;
    if (truth == 0) RSCOVLM_THROW(eval_error, "zero_truth", "counting truth 0: the relative error divides by it");
    if (truth > max_count || truth < -max_count) RSCOVLM_THROW(eval_error, "out_of_range", "counting truth above 2^53");
    const std::int64_t d = *p - truth;
    return count_error{d < 0 ? -d : d, std::abs(static_cast<double>(d) / static_cast<double>(truth))};
}

/// Scores of a counting set: `sum(items) / max(len(items), 1)` for both error lists.
struct count_scores {
    double mae = 0, mape = 0;
    std::size_t total = 0;    ///< pairs scored
    std::size_t unparsed = 0; ///< predictions without a count (left out)
};

/// MAE and MAPE over (prediction, truth) pairs. Predictions without a count raise eval_error
/// "unparsed_count" (as the reference fails) unless `skip_unparsed`, which leaves them out and
/// counts them.
inline count_scores counting_scores(const std::vector<std::string>& predictions,
                                    const std::vector<std::int64_t>& truths, bool skip_unparsed = false) {
    if (predictions.size() != truths.size())
        RSCOVLM_THROW(eval_error, "bad_input", "predictions and truths differ in length");
    count_scores s;
    std::int64_t sum_abs = 0;
    double sum_rel = 0;
    for (std::size_t i = 0; i < predictions.size(); ++i) {
        const auto e = count_errors(predictions[i], truths[i]);
        if (!e) {
            if (!skip_unparsed)
                RSCOVLM_THROW(eval_error, "unparsed_count", "no count in prediction '" + predictions[i] + "'");
            ++s.unparsed;
            continue;
        }
        sum_abs += e->abs_error;
        if (sum_abs > max_count) RSCOVLM_THROW(eval_error, "out_of_range", "sum of counting errors above 2^53");
        sum_rel += e->rel_error;
        ++s.total;
    }
    const double n = static_cast<double>(s.total ? s.total : 1);
    s.mae = static_cast<double>(sum_abs) / n;
    s.mape = sum_rel / n;
    return s;
}

} // namespace rscovlm::eval::vhm
