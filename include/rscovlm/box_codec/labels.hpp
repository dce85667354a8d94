#pragma once
/// \file
/// Category text rules of RSCoVLM (display names, the sorted category string, category ranks) and
/// label matching for decoders: exact match on display names, else a fuzzy match with a scorer
/// equivalent in spirit to rapidfuzz `fuzz.WRatio` (what the reference's `process.extractOne`
/// uses by default).
///
/// The scorer (`wratio`), on Unicode code points, scores 0..100:
///  - `ratio(a, b)` = 100 * (1 - indel(a, b) / (|a| + |b|)), indel = |a| + |b| - 2 * LCS(a, b);
///  - `token_sort_ratio` = ratio of the whitespace tokens sorted and re-joined;
///  - `token_set_ratio` = rapidfuzz's intersection/difference construction (100 when one token
///    set contains the other);
///  - `partial_ratio(short, long)` = best `ratio` of `short` against every window of `long` of
///    |short| code points (and the shorter windows at both ends);
///  - `wratio`: 0 if either side is empty; with r = max(|a|,|b|) / min(|a|,|b|): if r < 1.5 the
///    max of `ratio` and 0.95 * max(token_sort, token_set); else with s = 0.9 (r <= 8) or 0.6,
///    the max of `ratio`, s * `partial_ratio` and 0.95 * s * `partial_token_ratio`.
/// The best class wins; ties go to the first class in the given order (as `extractOne`).
/// Differences to rapidfuzz: lowercasing is ASCII-only, whitespace splitting is ASCII-only, and
/// `partial_ratio` uses the plain window search (not rapidfuzz's block-based shortcut); scores can
/// differ slightly on long strings but the ranking is the same on class-name-sized inputs.

#include <rscovlm/detail/py/str.hpp>
#include <rscovlm/detail/py/utf8.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::box_codec {

/// ASCII lowercase copy (Python's `str.lower()` on ASCII text; `detail::py::lower_ascii`).
inline std::string ascii_lower(std::string_view s) {
    return ::rscovlm::detail::py::lower_ascii(s);
}

/// RSCoVLM's display form of a class name: `name.replace("-", " ").lower()`.
inline std::string display_name(std::string_view raw) {
    std::string o = ascii_lower(raw);
    std::replace(o.begin(), o.end(), '-', ' ');
    return o;
}

/// Class names sorted as the reference sorts them: by `s.replace("-", " ").lower()`
/// (RSCoVLM `preprocess_coco_format_metadata`), or by `s.replace("-", " ")` when `lowercase_key`
/// is false (LMMRotate `main_convert_data_to_florence2fmt`). Python's sort is stable.
inline std::vector<std::string> sorted_classes(const std::vector<std::string>& raw, bool lowercase_key = true) {
    std::vector<std::string> v = raw;
    std::stable_sort(v.begin(), v.end(), [&](const std::string& a, const std::string& b) {
        std::string ka(a), kb(b);
        std::replace(ka.begin(), ka.end(), '-', ' ');
        std::replace(kb.begin(), kb.end(), '-', ' ');
        if (lowercase_key) {
            ka = ascii_lower(ka);
            kb = ascii_lower(kb);
        }
        return ka < kb;
    });
    return v;
}

/// The `{categories}` text of the prompts: sorted display names joined by ", ".
inline std::string categories_string(const std::vector<std::string>& raw) {
    std::string out;
    for (const auto& c : sorted_classes(raw)) {
        if (!out.empty()) out += ", ";
        out += display_name(c);
    }
    return out;
}

/// Category rank of `label` (raw or display form): its index among `sorted_classes(raw)`
/// (`cat_names.index(name)`); nullopt when it is not a class.
inline std::optional<std::size_t> category_rank(const std::vector<std::string>& raw, std::string_view label,
                                                bool lowercase_key = true) {
    const auto sorted = sorted_classes(raw, lowercase_key);
    for (std::size_t i = 0; i < sorted.size(); ++i)
        if (sorted[i] == label) return i;
    const std::string d = display_name(label);
    for (std::size_t i = 0; i < sorted.size(); ++i)
        if (display_name(sorted[i]) == d) return i;
    return std::nullopt;
}

/// Makes `s` valid UTF-8 as `bytes.decode("utf-8", "replace")` does (one U+FFFD per maximal
/// ill-formed subsequence; `detail::py::decode_replace`).
inline std::string sanitize_utf8(std::string_view s) {
    return ::rscovlm::detail::py::decode_replace(s);
}

namespace detail {

using u32string = std::vector<std::uint32_t>;

// UTF-8 to code points; ill-formed bytes become U+FFFD (as `sanitize_utf8`).
inline u32string to_u32(std::string_view s) {
    u32string o;
    o.reserve(s.size());
    for (std::size_t i = 0; i < s.size();)
        o.push_back(static_cast<std::uint32_t>(::rscovlm::detail::py::next_code_point(s, i)));
    return o;
}

inline std::size_t lcs(const u32string& a, const u32string& b) {
    if (a.empty() || b.empty()) return 0;
    std::vector<std::size_t> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j)
            cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

inline double ratio(const u32string& a, const u32string& b) {
    const std::size_t total = a.size() + b.size();
    if (total == 0) return 100.0;
    const std::size_t dist = total - 2 * lcs(a, b);
    return 100.0 * (1.0 - static_cast<double>(dist) / static_cast<double>(total));
}

inline std::vector<u32string> split_ws(const u32string& s) {
    std::vector<u32string> out;
    u32string cur;
    for (auto c : s) {
        if (c < 0x80 && ::rscovlm::detail::py::is_ascii_space(static_cast<char>(c))) {
            if (!cur.empty()) out.push_back(cur), cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
}

inline u32string join(const std::vector<u32string>& v) {
    u32string o;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) o.push_back(' ');
        o.insert(o.end(), v[i].begin(), v[i].end());
    }
    return o;
}

inline double partial_ratio(const u32string& s1, const u32string& s2) {
    const u32string& shorter = s1.size() <= s2.size() ? s1 : s2;
    const u32string& longer = s1.size() <= s2.size() ? s2 : s1;
    if (shorter.empty()) return longer.empty() ? 100.0 : 0.0;
    const std::size_t n = shorter.size(), m = longer.size();
    double best = 0;
    for (std::size_t k = 1; k < n && best < 100; ++k) { // windows sticking out at the start and the end
        best =
            std::max(best, ratio(shorter, u32string(longer.begin(), longer.begin() + static_cast<std::ptrdiff_t>(k))));
        best = std::max(best, ratio(shorter, u32string(longer.end() - static_cast<std::ptrdiff_t>(k), longer.end())));
    }
    for (std::size_t i = 0; i + n <= m && best < 100; ++i)
        best = std::max(best, ratio(shorter, u32string(longer.begin() + static_cast<std::ptrdiff_t>(i),
                                                       longer.begin() + static_cast<std::ptrdiff_t>(i + n))));
    return best;
}

inline double token_sort_ratio(const u32string& a, const u32string& b) {
    auto ta = split_ws(a), tb = split_ws(b);
    std::sort(ta.begin(), ta.end());
    std::sort(tb.begin(), tb.end());
    return ratio(join(ta), join(tb));
}

inline double norm_sim(std::size_t dist, std::size_t lensum) {
    return lensum == 0 ? 100.0 : 100.0 * (1.0 - static_cast<double>(dist) / static_cast<double>(lensum));
}

inline double token_set_ratio(const u32string& a, const u32string& b) {
    const auto va = split_ws(a), vb = split_ws(b);
    const std::set<u32string> sa(va.begin(), va.end()), sb(vb.begin(), vb.end());
    if (sa.empty() || sb.empty()) return 0;
    std::vector<u32string> inter, dab, dba;
    std::set_intersection(sa.begin(), sa.end(), sb.begin(), sb.end(), std::back_inserter(inter));
    std::set_difference(sa.begin(), sa.end(), sb.begin(), sb.end(), std::back_inserter(dab));
    std::set_difference(sb.begin(), sb.end(), sa.begin(), sa.end(), std::back_inserter(dba));
    if (!inter.empty() && (dab.empty() || dba.empty())) return 100;
    const u32string jab = join(dab), jba = join(dba);
    const std::size_t ab_len = jab.size(), ba_len = jba.size(), sect_len = join(inter).size();
    const std::size_t sep = sect_len != 0 ? 1 : 0;
    const std::size_t sect_ab_len = sect_len + sep + ab_len, sect_ba_len = sect_len + sep + ba_len;
    const std::size_t dist = ab_len + ba_len - 2 * lcs(jab, jba);
    double result = norm_sim(dist, sect_ab_len + sect_ba_len);
    if (sect_len == 0) return result;
    result = std::max(result, norm_sim(sep + ab_len, sect_len + sect_ab_len));
    result = std::max(result, norm_sim(sep + ba_len, sect_len + sect_ba_len));
    return result;
}

inline double partial_token_ratio(const u32string& a, const u32string& b) {
    const auto va = split_ws(a), vb = split_ws(b);
    const std::set<u32string> sa(va.begin(), va.end()), sb(vb.begin(), vb.end());
    if (sa.empty() || sb.empty()) return 0;
    std::vector<u32string> inter, dab, dba;
    std::set_intersection(sa.begin(), sa.end(), sb.begin(), sb.end(), std::back_inserter(inter));
    if (!inter.empty()) return 100;
    std::set_difference(sa.begin(), sa.end(), sb.begin(), sb.end(), std::back_inserter(dab));
    std::set_difference(sb.begin(), sb.end(), sa.begin(), sa.end(), std::back_inserter(dba));
    const std::vector<u32string> ja(sa.begin(), sa.end()), jb(sb.begin(), sb.end());
    return std::max(partial_ratio(join(ja), join(jb)), partial_ratio(join(dab), join(dba)));
}

} // namespace detail

/// The WRatio-like similarity of two strings, 0..100 (see the file comment).
inline double wratio(std::string_view a8, std::string_view b8) {
    const auto a = detail::to_u32(a8), b = detail::to_u32(b8);
    if (a.empty() || b.empty()) return 0;
    const double la = static_cast<double>(a.size()), lb = static_cast<double>(b.size());
    const double len_ratio = la > lb ? la / lb : lb / la;
    double end_ratio = detail::ratio(a, b);
    constexpr double unbase = 0.95;
    if (len_ratio < 1.5)
        return std::max(end_ratio, std::max(detail::token_sort_ratio(a, b), detail::token_set_ratio(a, b)) * unbase);
    const double partial_scale = len_ratio <= 8.0 ? 0.9 : 0.6;
    end_ratio = std::max(end_ratio, detail::partial_ratio(a, b) * partial_scale);
    return std::max(end_ratio, detail::partial_token_ratio(a, b) * unbase * partial_scale);
}

/// Result of matching one label.
struct label_match {
    int id = -1;        ///< index into the class list given to the matcher (-1: none)
    std::string name;   ///< the matched display name (or the label itself without classes)
    double score = 0;   ///< 100 for an exact match
    bool fuzzy = false; ///< matched by the fuzzy scorer
};

/// Matches decoded labels to a class list: `label.strip().lower()` exact on display names (the
/// reference's `cls_map`), else (when enabled) the best `wratio` above a cutoff.
class label_matcher {
public:
    label_matcher() = default;
    /// `classes`: raw class names in dataset order (ids are their indices).
    label_matcher(const std::vector<std::string>& classes, bool fuzzy = true, double cutoff = 0.0)
        : m_fuzzy(fuzzy), m_cutoff(cutoff) {
        for (const auto& c : classes)
            m_names.push_back(display_name(c));
    }
    /// True when a class list was given.
    bool has_classes() const noexcept { return !m_names.empty(); }
    /// Matches one (already stripped and lowercased) label. Without classes the label is returned
    /// as is with id -1 (never fails unless empty).
    std::optional<label_match> match(std::string_view label) const {
        if (m_names.empty()) {
            if (label.empty()) return std::nullopt;
            return label_match{-1, sanitize_utf8(label), 100, false};
        }
        for (std::size_t i = 0; i < m_names.size(); ++i)
            if (m_names[i] == label) return label_match{static_cast<int>(i), m_names[i], 100, false};
        if (!m_fuzzy || label.empty()) return std::nullopt;
        if (label.size() > 4096) label = label.substr(0, 4096); // bound the quadratic scorer
        double best = -1;
        std::size_t best_i = 0;
        for (std::size_t i = 0; i < m_names.size(); ++i) {
            const double s = wratio(label, m_names[i]);
            if (s > best) best = s, best_i = i;
        }
        if (best <= 0 || best < m_cutoff) return std::nullopt;
        return label_match{static_cast<int>(best_i), m_names[best_i], best, true};
    }

private:
    std::vector<std::string> m_names;
    bool m_fuzzy = true;
    double m_cutoff = 0.0;
};

} // namespace rscovlm::box_codec
