#pragma once
/// \file caption_metrics.hpp
/// Captioning metrics exactly as pycocoevalcap (github.com/salaniz/pycocoevalcap, the same
/// scorers as tylin/coco-caption): BLEU-1..4 (`Bleu`), ROUGE-L (`Rouge`) and CIDEr-D (`Cider`).
///
/// Every scorer takes records in order (the reference iterates `gts.keys()`, insertion order), one
/// hypothesis and at least one reference each, already tokenized (space separated tokens):
/// - BLEU (`bleu/bleu_scorer.py`): tokens by `str.split()`; per n-gram order the clipped counts
///   against the per-n-gram maximum over the references; the effective reference length is the
///   "closest" one (ties to the shorter); `tiny` = 1e-15 is added to the matches and `small` = 1e-9
///   to the guesses; the cumulative geometric mean `bleu ** (1/(k+1))`; the brevity penalty
///   `exp(1 - 1/ratio)` when `ratio = (testlen + tiny) / (reflen + small) < 1`. The corpus score
///   sums the counts and lengths over all records (not a mean of per-image scores), as
///   `compute_score(option='closest')` reports it; per-image scores are returned too.
/// - ROUGE-L (`rouge/rouge.py`): tokens by `str.split(" ")` (a single space: doubled spaces give
///   empty tokens, "" is one empty token); the LCS length against each reference; precision and
///   recall maximised separately over references; F with beta = 1.2; the corpus score is
///   `np.mean` of the per-image scores.
/// - CIDEr-D (`cider/cider_scorer.py`, class `Cider`, n = 4, sigma = 6): tokens by `str.split()`;
///   document frequency of every 1..4-gram over the *references* (one count per image); idf
///   `log(N) - log(max(1, df))` with N the number of records; per n a tf-idf vector; the similarity
///   with each reference is `sum(min(h, r) * r) / (|h| |r|)` (the clipping; no division when a norm
///   is 0) times `e ** (-(delta ** 2) / (2 sigma ** 2))` where delta is the difference of the two
///   "lengths" -- which the reference counts as the number of *bigrams* (`if n == 1`), reproduced
///   as written; per image the mean over n, divided by the number of references, times 10; the
///   corpus score is `np.mean` of the per-image scores.
///
/// Floating point follows the reference's operation order: dictionary insertion order for every
/// accumulation, `np.mean` as numpy's pairwise summation (`numpy_mean`), `np.e ** x` as `pow`.
/// METEOR and SPICE run Java programs in the reference and are not provided.
///
/// `ptb_tokenize` restates what the reference's `PTBTokenizer` (Stanford CoreNLP 3.4.1
/// `edu.stanford.nlp.process.PTBTokenizer -preserveLines -lowerCase`, then dropping the tokens in
/// `PUNCTUATIONS`) does to captions; see its comment for the rules and where the Java program
/// differs.

#include <rscovlm/detail/py/str.hpp>
#include <rscovlm/errors.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rscovlm::eval::caption {

/// One image: a hypothesis and its references (tokenized text).
struct record {
    std::string id;
    std::string hypothesis;
    std::vector<std::string> references;
};

/// numpy's `pairwise_sum` (float64 `np.add.reduce` on a contiguous array): blocks under 8 are
/// summed in order, blocks up to 128 with 8 interleaved accumulators, longer ones split in two at
/// a multiple of 8 below the middle.
inline double numpy_pairwise_sum(const double* a, std::size_t n) {
    if (n < 8) {
        double res = 0.;
        for (std::size_t i = 0; i < n; ++i)
            res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        for (std::size_t j = 0; j < 8; ++j)
            r[j] = a[j];
        std::size_t i = 8;
        for (; i < n - (n % 8); i += 8)
            for (std::size_t j = 0; j < 8; ++j)
                r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; ++i)
            res += a[i];
        return res;
    }
    std::size_t n2 = n / 2;
    n2 -= n2 % 8;
    return numpy_pairwise_sum(a, n2) + numpy_pairwise_sum(a + n2, n - n2);
}

/// `np.sum` of a contiguous float64 vector: the reduction runs over blocks of numpy's buffer size
/// (8192 elements), each summed pairwise, the block sums added in order to 0.0.
inline double numpy_sum(const std::vector<double>& v) {
    const std::size_t block = 8192;
    double r = 0.0;
    for (std::size_t i = 0; i < v.size(); i += block)
        r += numpy_pairwise_sum(v.data() + i, std::min(block, v.size() - i));
    return r;
}

/// `np.mean(np.array(v))` for float64: `np.sum(v) / len(v)` (NaN for an empty vector, as numpy).
inline double numpy_mean(const std::vector<double>& v) {
    if (v.empty()) return std::nan("");
    return numpy_sum(v) / static_cast<double>(v.size());
}

namespace detail {

/// n-gram counts in insertion order (Python `defaultdict(int)` filled by `precook`): n-grams of
/// order 1 first, each order left to right. An n-gram's key is its tokens joined by one space
/// (unambiguous: `str.split()` tokens contain no whitespace).
struct ngram_counts {
    struct entry {
        std::string key;
        int order;
        double count;
    };
    std::vector<entry> items;
    std::unordered_map<std::string, std::size_t> index;

    void add(std::string key, int order) {
        auto it = index.find(key);
        if (it != index.end()) {
            items[it->second].count += 1;
            return;
        }
        index.emplace(key, items.size());
        items.push_back(entry{std::move(key), order, 1.0});
    }
    const entry* find(const std::string& key) const {
        auto it = index.find(key);
        return it == index.end() ? nullptr : &items[it->second];
    }
};

/// The reference `precook(s, n)`: `s.split()`, then every k-gram for k = 1..n.
inline ngram_counts precook(std::string_view s, int n, std::size_t* length = nullptr) {
    const auto words = ::rscovlm::detail::py::split(s);
    if (length) *length = words.size();
    ngram_counts c;
    for (int k = 1; k <= n; ++k) {
        const std::size_t kk = static_cast<std::size_t>(k);
        for (std::size_t i = 0; i + kk <= words.size(); ++i) {
            std::string key(words[i]);
            for (std::size_t j = 1; j < kk; ++j) {
                key += ' ';
                key += words[i + j];
            }
            c.add(std::move(key), k);
        }
    }
    return c;
}

inline void check_records(const std::vector<record>& records) {
    if (records.empty()) RSCOVLM_THROW(eval_error, "empty_input", "caption metrics need at least one record");
    for (const auto& r : records)
        if (r.references.empty())
            RSCOVLM_THROW(eval_error, "bad_input", "caption record '" + r.id + "' has no reference");
}

} // namespace detail

/// BLEU scores: the corpus score and one score per record, for orders 1..n.
struct bleu_result {
    std::vector<double> corpus;                 ///< [n]: Bleu_1..Bleu_n
    std::vector<std::vector<double>> per_image; ///< [n][records]
    std::size_t testlen = 0, reflen = 0;        ///< corpus lengths (reflen: sum of closest)
};

/// pycocoevalcap `Bleu(n).compute_score(gts, res)` (option "closest").
inline bleu_result bleu(const std::vector<record>& records, int n = 4) {
    detail::check_records(records);
    if (n < 1) RSCOVLM_THROW(eval_error, "bad_param", "BLEU order must be at least 1");
    const double small = 1e-9, tiny = 1e-15;
    const std::size_t nn = static_cast<std::size_t>(n);
    bleu_result out;
    out.per_image.assign(nn, {});
    std::vector<std::size_t> total_guess(nn, 0), total_correct(nn, 0);
    for (const auto& rec : records) {
        // cook_refs: reference lengths and the per-n-gram maximum count
        std::vector<std::size_t> reflens;
        std::unordered_map<std::string, double> maxcounts;
        for (const auto& ref : rec.references) {
            std::size_t rl = 0;
            const auto counts = detail::precook(ref, n, &rl);
            reflens.push_back(rl);
            for (const auto& e : counts.items) {
                auto& m = maxcounts[e.key];
                m = std::max(m, e.count);
            }
        }
        // cook_test
        std::size_t testlen = 0;
        const auto counts = detail::precook(rec.hypothesis, n, &testlen);
        // closest: min over (abs(l - testlen), l)
        std::size_t reflen = reflens[0];
        auto dist = [&](std::size_t l) { return l > testlen ? l - testlen : testlen - l; };
        for (std::size_t l : reflens)
            if (dist(l) < dist(reflen) || (dist(l) == dist(reflen) && l < reflen)) reflen = l;
        std::vector<std::size_t> guess(nn), correct(nn, 0);
        for (std::size_t k = 1; k <= nn; ++k)
            guess[k - 1] = testlen + 1 >= k ? testlen - k + 1 : 0;
        for (const auto& e : counts.items) {
            auto it = maxcounts.find(e.key);
            const double m = it == maxcounts.end() ? 0.0 : it->second;
            correct[static_cast<std::size_t>(e.order) - 1] += static_cast<std::size_t>(std::min(m, e.count));
        }
        out.testlen += testlen;
        out.reflen += reflen;
        for (std::size_t k = 0; k < nn; ++k) {
            total_guess[k] += guess[k];
            total_correct[k] += correct[k];
        }
        double b = 1.;
        for (std::size_t k = 0; k < nn; ++k) {
            b *= (static_cast<double>(correct[k]) + tiny) / (static_cast<double>(guess[k]) + small);
            out.per_image[k].push_back(std::pow(b, 1. / static_cast<double>(k + 1)));
        }
        const double ratio = (static_cast<double>(testlen) + tiny) / (static_cast<double>(reflen) + small);
        if (ratio < 1)
            for (std::size_t k = 0; k < nn; ++k)
                out.per_image[k].back() *= std::exp(1 - 1 / ratio);
    }
    double b = 1.;
    for (std::size_t k = 0; k < nn; ++k) {
        b *= (static_cast<double>(total_correct[k]) + tiny) / (static_cast<double>(total_guess[k]) + small);
        out.corpus.push_back(std::pow(b, 1. / static_cast<double>(k + 1)));
    }
    const double ratio = (static_cast<double>(out.testlen) + tiny) / (static_cast<double>(out.reflen) + small);
    if (ratio < 1)
        for (std::size_t k = 0; k < nn; ++k)
            out.corpus[k] *= std::exp(1 - 1 / ratio);
    return out;
}

/// The reference `my_lcs`: length of the longest common subsequence of two token lists.
inline std::size_t lcs_length(const std::vector<std::string_view>& a, const std::vector<std::string_view>& b) {
    const auto& s = a.size() < b.size() ? b : a; // the longer ("string")
    const auto& t = a.size() < b.size() ? a : b; // the shorter ("sub")
    std::vector<std::size_t> prev(t.size() + 1, 0), cur(t.size() + 1, 0);
    for (std::size_t i = 1; i <= s.size(); ++i) {
        for (std::size_t j = 1; j <= t.size(); ++j)
            cur[j] = s[i - 1] == t[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
        std::swap(prev, cur);
    }
    return prev[t.size()];
}

/// ROUGE-L of one hypothesis against its references (`Rouge.calc_score`).
inline double rouge_l_single(std::string_view hypothesis, const std::vector<std::string>& references) {
    const double beta = 1.2;
    const auto tc = ::rscovlm::detail::py::split(hypothesis, " ");
    double prec_max = 0, rec_max = 0;
    bool first = true;
    for (const auto& ref : references) {
        const auto tr = ::rscovlm::detail::py::split(ref, " ");
        const double lcs = static_cast<double>(lcs_length(tr, tc));
        const double p = lcs / static_cast<double>(tc.size()), r = lcs / static_cast<double>(tr.size());
        prec_max = first ? p : std::max(prec_max, p);
        rec_max = first ? r : std::max(rec_max, r);
        first = false;
    }
    if (prec_max != 0 && rec_max != 0)
        return ((1 + beta * beta) * prec_max * rec_max) / (rec_max + beta * beta * prec_max);
    return 0.0;
}

/// ROUGE-L: corpus score (`np.mean`) and per-image scores.
struct rouge_result {
    double corpus = 0;
    std::vector<double> per_image;
};

/// pycocoevalcap `Rouge().compute_score(gts, res)`.
inline rouge_result rouge_l(const std::vector<record>& records) {
    detail::check_records(records);
    rouge_result out;
    for (const auto& r : records)
        out.per_image.push_back(rouge_l_single(r.hypothesis, r.references));
    out.corpus = numpy_mean(out.per_image);
    return out;
}

/// CIDEr-D: corpus score (`np.mean`) and per-image scores.
struct cider_result {
    double corpus = 0;
    std::vector<double> per_image;
};

/// pycocoevalcap `Cider(n, sigma).compute_score(gts, res)`.
inline cider_result cider(const std::vector<record>& records, int n = 4, double sigma = 6.0) {
    detail::check_records(records);
    if (n < 1) RSCOVLM_THROW(eval_error, "bad_param", "CIDEr order must be at least 1");
    const std::size_t nn = static_cast<std::size_t>(n);
    std::vector<detail::ngram_counts> tests;
    std::vector<std::vector<detail::ngram_counts>> refs;
    for (const auto& r : records) {
        tests.push_back(detail::precook(r.hypothesis, n));
        std::vector<detail::ngram_counts> rr;
        for (const auto& ref : r.references)
            rr.push_back(detail::precook(ref, n));
        refs.push_back(std::move(rr));
    }
    // compute_doc_freq: one count per image for every n-gram of any of its references
    std::unordered_map<std::string, double> df;
    for (const auto& rr : refs) {
        std::unordered_map<std::string, bool> seen;
        for (const auto& c : rr)
            for (const auto& e : c.items)
                if (seen.emplace(e.key, true).second) df[e.key] += 1;
    }
    const double ref_len = std::log(static_cast<double>(records.size()));

    struct vec_t {
        std::vector<std::vector<std::pair<const std::string*, double>>> v; // per order, insertion order
        std::vector<std::unordered_map<std::string_view, double>> lookup;
        std::vector<double> norm;
        std::size_t length = 0;
    };
    auto counts2vec = [&](const detail::ngram_counts& c) {
        vec_t out;
        out.v.assign(nn, {});
        out.lookup.assign(nn, {});
        out.norm.assign(nn, 0.0);
        for (const auto& e : c.items) {
            auto it = df.find(e.key);
            const double d = std::log(std::max(1.0, it == df.end() ? 0.0 : it->second));
            const std::size_t o = static_cast<std::size_t>(e.order) - 1;
            const double w = e.count * (ref_len - d);
            out.v[o].emplace_back(&e.key, w);
            out.lookup[o][e.key] = w;
            out.norm[o] += w * w;
            if (o == 1) out.length += static_cast<std::size_t>(e.count); // the reference's `if n == 1`
        }
        for (auto& x : out.norm)
            x = std::sqrt(x);
        return out;
    };
    const double e_const = 2.718281828459045; // np.e
    cider_result out;
    for (std::size_t i = 0; i < records.size(); ++i) {
        const vec_t h = counts2vec(tests[i]);
        std::vector<double> score(nn, 0.0);
        for (const auto& rc : refs[i]) {
            const vec_t r = counts2vec(rc);
            const double delta = static_cast<double>(h.length) - static_cast<double>(r.length);
            for (std::size_t o = 0; o < nn; ++o) {
                double val = 0.0;
                for (const auto& [key, wh] : h.v[o]) {
                    auto it = r.lookup[o].find(*key);
                    const double wr = it == r.lookup[o].end() ? 0.0 : it->second;
                    val += std::min(wh, wr) * wr;
                }
                if (h.norm[o] != 0 && r.norm[o] != 0) val /= (h.norm[o] * r.norm[o]);
                val *= std::pow(e_const, -(delta * delta) / (2 * (sigma * sigma)));
                score[o] += val;
            }
        }
        double avg = numpy_mean(score);
        avg /= static_cast<double>(refs[i].size());
        avg *= 10.0;
        out.per_image.push_back(avg);
    }
    out.corpus = numpy_mean(out.per_image);
    return out;
}

/// The reference's tokenization of one caption, restated: `PTBTokenizer` of Stanford CoreNLP 3.4.1
/// run as `-preserveLines -lowerCase`, then the tokens in `PUNCTUATIONS` ('' ' `` ` -LRB- -RRB-
/// -LCB- -RCB- . ? ! , : - -- ... ;) dropped and the rest joined by one space. Rules, in order:
/// 1. line breaks become spaces; ASCII letters are lower-cased; the text is cut at whitespace
///    (Python `str.isspace()` characters) into chunks;
/// 2. inside a chunk these always stand alone: `,` `;` `:` (not between two digits: "1,000" and
///    "10:30" stay), `!` `?`, `"`, brackets, `...` and `--`; `$` before a digit and a final `%`
///    are split off;
/// 3. from each remaining piece a leading `'` or `` ` `` (an opening quote) and a trailing `'`
///    (a closing quote: "dogs'" -> dogs ') are split off; a trailing `.` is split off unless the
///    piece is an acronym of single letters and periods ("u.s.", "e.g.");
/// 4. clitics are split off the end: n't ("don't" -> do n't, "can't" -> ca n't), 's 'm 'd 're 've
///    'll;
/// 5. brackets become -lrb- -rrb- -lsb- -rsb- -lcb- -rcb- (the command line lower-cases them, so the
///    upper-case entries of `PUNCTUATIONS` never match them), quotes become `` and '' (dropped),
///    `/` and `*` are escaped as \/ and \*;
/// 6. the tokens in `PUNCTUATIONS` are dropped; `-` and `--` alone are dropped, hyphenated words
///    ("two-story") stay whole.
/// Where the Java program differs: it converts British to American spelling (`americanize`:
/// "grey" -> "gray", "colour" -> "color"), which is not restated; it lower-cases non-ASCII letters
/// too; it keeps the periods of its list of abbreviations ("mr.", "st.", "inc.") and of URLs and
/// e-mail addresses, splits "cannot"/"gonna"-style words, normalises Unicode quotes, dashes and
/// fractions and `&amp;`; and it decides opening/closing quotes from context. Captions without
/// such words tokenize the same; to score exactly as a given pipeline, pass text that is already
/// tokenized and choose no tokenizer.
inline std::string ptb_tokenize(std::string_view caption) {
    namespace py = ::rscovlm::detail::py;
    static const char* const punctuations[] = {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".",
                                               "?",  "!", ",",  ":", "-",     "--",    "...",   ";"};
    auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    auto is_alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    auto bracket = [](char c) -> const char* {
        switch (c) {
        case '(':
            return "-lrb-";
        case ')':
            return "-rrb-";
        case '[':
            return "-lsb-";
        case ']':
            return "-rsb-";
        case '{':
            return "-lcb-";
        case '}':
            return "-rcb-";
        default:
            return nullptr;
        }
    };
    auto acronym = [&](std::string_view w) {
        if (w.size() < 2 || w.size() % 2) return false;
        for (std::size_t i = 0; i < w.size(); i += 2)
            if (!is_alpha(w[i]) || w[i + 1] != '.') return false;
        return true;
    };
    auto ends_with = [](std::string_view w, std::string_view e) {
        return w.size() >= e.size() && w.substr(w.size() - e.size()) == e;
    };
    std::vector<std::string> tokens;
    auto emit_word = [&](std::string_view w) {
        std::vector<std::string> tail;
        while (!w.empty() && (w.front() == '\'' || w.front() == '`')) {
            // a clitic standing alone ("'s") is a token of its own, not an opening quote
            if (w == "'s" || w == "'m" || w == "'d" || w == "'re" || w == "'ve" || w == "'ll") break;
            tokens.emplace_back("`");
            w.remove_prefix(1);
        }
        for (;;) {
            if (w.size() > 1 && w.back() == '\'' && !ends_with(w, "n'")) {
                tail.emplace_back("'");
                w.remove_suffix(1);
            } else if (!w.empty() && w.back() == '.' && !acronym(w)) {
                tail.emplace_back(".");
                w.remove_suffix(1);
            } else {
                break;
            }
        }
        std::string clitic;
        if (w.size() > 3 && ends_with(w, "n't")) {
            clitic = "n't";
        } else {
            for (std::string_view c : {"'s", "'m", "'d", "'re", "'ve", "'ll"})
                if (w.size() > c.size() && ends_with(w, c)) clitic = std::string(c);
        }
        if (!clitic.empty()) {
            tail.push_back(clitic);
            w.remove_suffix(clitic.size());
        }
        if (!w.empty()) {
            std::string t;
            for (char c : w) {
                if (c == '/' || c == '*') t += '\\';
                t += c;
            }
            tokens.push_back(std::move(t));
        }
        for (auto it = tail.rbegin(); it != tail.rend(); ++it)
            tokens.push_back(*it);
    };
    std::string text = py::lower_ascii(caption);
    for (auto& c : text)
        if (c == '\n') c = ' ';
    for (std::string_view chunk : py::split(text)) {
        std::size_t start = 0;
        bool after_open = true; // at the chunk start or after an opening bracket
        for (std::size_t i = 0; i < chunk.size();) {
            const char c = chunk[i];
            std::size_t len = 0;
            std::string tok;
            const bool prev_digit = i > 0 && is_digit(chunk[i - 1]);
            const bool next_digit = i + 1 < chunk.size() && is_digit(chunk[i + 1]);
            if (chunk.compare(i, 3, "...") == 0) {
                len = 3, tok = "...";
            } else if (chunk.compare(i, 2, "--") == 0) {
                len = 2, tok = "--";
            } else if ((c == ',' || c == ':') && !(prev_digit && next_digit)) {
                len = 1, tok = std::string(1, c);
            } else if (c == ';' || c == '!' || c == '?') {
                len = 1, tok = std::string(1, c);
            } else if (c == '"') {
                len = 1, tok = (after_open && i == start) ? "``" : "''";
            } else if (const char* b = bracket(c)) {
                len = 1, tok = b;
            } else if (c == '$' && i == start && next_digit) {
                len = 1, tok = "$";
            } else if (c == '%' && i > start && i + 1 == chunk.size()) {
                len = 1, tok = "%";
            }
            if (!len) {
                ++i;
                continue;
            }
            if (i > start) emit_word(chunk.substr(start, i - start));
            tokens.push_back(tok);
            after_open = c == '(' || c == '[' || c == '{';
            i += len;
            start = i;
        }
        if (start < chunk.size()) emit_word(chunk.substr(start));
    }
    std::string out;
    for (const auto& t : tokens) {
        bool drop = false;
        for (const char* p : punctuations)
            drop = drop || t == p;
        if (drop) continue;
        if (!out.empty()) out += ' ';
        out += t;
    }
    return out;
}

} // namespace rscovlm::eval::caption
