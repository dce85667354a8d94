#pragma once
/// \file
/// RSCoVLM's tolerant JSON reading of detection answers (rscovlm/eval/metric/dense_det.py
/// `parse_json_output`): strip the ```json fences, parse; on failure apply the reference's repair
/// steps in order and parse again line by line. Never throws.

#include <rscovlm/box_codec/text.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::box_codec {

namespace detail {

// Nesting depth of brackets outside strings; deep inputs are refused before nlohmann parses them
// (Python's json module fails on them too, with a RecursionError).
inline bool nesting_ok(std::string_view s, std::size_t max_depth = 256) {
    std::size_t depth = 0;
    bool in_str = false, esc = false;
    for (char c : s) {
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"')
            in_str = true;
        else if (c == '[' || c == '{') {
            if (++depth > max_depth) return false;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return true;
}

/// `json.loads` without exceptions: a discarded value on failure.
inline nlohmann::json loads(std::string_view s) {
    if (!nesting_ok(s)) return nlohmann::json(nlohmann::json::value_t::discarded);
    return nlohmann::json::parse(s.begin(), s.end(), nullptr, false);
}

inline bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
// Length of the `\s` character (Python `str.isspace()`) at s[i], 0 when none.
inline std::size_t space_len(std::string_view s, std::size_t i) {
    return ::rscovlm::detail::py::space_at(s, i);
}

// re.sub(r'(, *)+', ', ', s)
inline std::string collapse_commas(std::string_view s) {
    std::string o;
    o.reserve(s.size() + s.size() / 8);
    std::size_t i = 0;
    while (i < s.size()) {
        if (s[i] != ',') {
            o.push_back(s[i++]);
            continue;
        }
        while (i < s.size() && s[i] == ',') {
            ++i;
            while (i < s.size() && s[i] == ' ')
                ++i;
        }
        o += ", ";
    }
    return o;
}

// re.sub(r'(\d)\s+(\d)', r'\1, \2', s): non-overlapping, left to right (ASCII digits, `\s` as str.isspace).
inline std::string comma_between_numbers(std::string_view s) {
    std::string o;
    o.reserve(s.size());
    std::size_t i = 0;
    while (i < s.size()) {
        if (is_digit(s[i])) {
            std::size_t j = i + 1;
            for (std::size_t k; j < s.size() && (k = space_len(s, j)) != 0;)
                j += k;
            if (j > i + 1 && j < s.size() && is_digit(s[j])) {
                o.push_back(s[i]);
                o += ", ";
                o.push_back(s[j]);
                i = j + 1;
                continue;
            }
        }
        o.push_back(s[i++]);
    }
    return o;
}

// re.sub(r'("label":\s*)+', '"label": ', s)
inline std::string collapse_labels(std::string_view s) {
    const std::string_view key = "\"label\":";
    std::string o;
    o.reserve(s.size());
    std::size_t i = 0;
    while (i < s.size()) {
        if (s.compare(i, key.size(), key) != 0) {
            o.push_back(s[i++]);
            continue;
        }
        while (s.compare(i, key.size(), key) == 0) {
            i += key.size();
            for (std::size_t k; i < s.size() && (k = space_len(s, i)) != 0;)
                i += k;
        }
        o += "\"label\": ";
    }
    return o;
}

} // namespace detail

/// What `parse_detection_json` did.
struct json_parse_info {
    bool repaired = false;         ///< the first parse failed and the repair steps ran
    std::size_t dropped_lines = 0; ///< lines holding '{' that step 6 had to drop
    bool failed = false;           ///< even the repaired text did not parse (result is [])
};

/// Reads a JSON detection answer as the reference does:
/// `output.replace("```json\n", "").replace("\n```", "")`, then `json.loads`; on failure
///  1. `(` -> `[` and `)` -> `]`, 2. `re.sub(r'(, *)+', ', ')`, 3. `re.sub(r'(\d)\s+(\d)', r'\1, \2')`,
///  4. `re.sub(r'("label":\s*)+', '"label": ')`, 6. keep only the lines that parse alone after
///  `.strip().strip(',')`, rejoin as `'[\n' + '\n'.join(lines).rstrip(', ') + '\n]'` and parse again
/// (an empty list when that fails). Never throws.
inline nlohmann::json parse_detection_json(std::string_view answer, json_parse_info* info = nullptr) {
    json_parse_info local;
    json_parse_info& inf = info ? *info : local;
    std::string out(answer);
    out = ::rscovlm::detail::py::replace(out, "```json\n", "");
    out = ::rscovlm::detail::py::replace(out, "\n```", "");
    nlohmann::json j = detail::loads(out);
    if (!j.is_discarded()) return j;
    inf.repaired = true;
    for (char& c : out) {
        if (c == '(')
            c = '[';
        else if (c == ')')
            c = ']';
    }
    out = detail::collapse_commas(out);
    out = detail::comma_between_numbers(out);
    out = detail::collapse_labels(out);
    std::string kept;
    bool first = true;
    for (std::string_view line : text::splitlines(out)) {
        const std::string_view t = ::rscovlm::detail::py::strip(text::strip(line), ",");
        nlohmann::json lj = detail::loads(t);
        if (lj.is_discarded()) {
            if (line.find('{') != std::string_view::npos) ++inf.dropped_lines;
            continue;
        }
        if (!first) kept.push_back('\n');
        kept.append(line.data(), line.size());
        first = false;
    }
    std::string rebuilt = "[\n";
    rebuilt.append(::rscovlm::detail::py::rstrip(kept, ", "));
    rebuilt += "\n]";
    j = detail::loads(rebuilt);
    if (j.is_discarded()) {
        inf.failed = true;
        return nlohmann::json::array();
    }
    return j;
}

} // namespace rscovlm::box_codec
