#pragma once
/// \file
/// Lenient parser of model output for the Zoom-in Chain: splits a leading `<think>...</think>`,
/// finds `<tool_call>` blocks and extracts `image_zoom_in` bounding boxes.
///
/// It never throws on any input: what it cannot use is reported in `parsed_output::dropped` with a
/// reason, and every leniency it applied is noted on the call it produced.
///
/// Reference behaviour (RSCoVLM `rscovlm/eval/inferencer.py`):
/// - `extract_thinking_content`: regex `^\s*<think>(.*?)</think>` (DOTALL); the thought and the
///   remaining text are both `.strip()`ed; without a match the text is kept unchanged.
/// - an output is a tool call iff `'<tool_call>' in output` (maybe_visual_cot);
/// - `prepare_visual_cot_message` strips the tags with `lstrip('</tool_call>\n')` /
///   `rstrip('\n</tool_call>')` (character sets, not prefixes) and `json.loads` the rest, so any
///   extra text, a second call or a float that json accepts changes the outcome. We accept more
///   (whitespace, missing closing tag, extra text, floats, numeric strings, single quotes, truncated
///   braces, `bbox_2d`) and report each leniency instead of failing.

#include <array>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <rscovlm/detail/py/str.hpp>
#include <rscovlm/zoom/protocol.hpp>

namespace rscovlm::zoom {

/// One parsed `image_zoom_in` call.
struct tool_call {
    std::string name;               ///< tool name (always `tool_name` for accepted calls)
    nlohmann::json arguments;       ///< arguments object as parsed (null when recovered by scanning)
    std::array<double, 4> bbox{};   ///< x1, y1, x2, y2 exactly as emitted (model frame)
    std::string raw;                ///< text between the tags
    std::vector<std::string> notes; ///< leniencies applied (e.g. "missing_close_tag", "float_coordinates")
};

/// A `<tool_call>` block that could not be used.
struct dropped_call {
    std::string reason; ///< stable snake_case reason ("no_json_object", "bad_json", "unknown_tool", ...)
    std::string raw;    ///< text between the tags (truncated to 200 bytes)
};

/// Everything parse_output found in one model output.
struct parsed_output {
    bool has_think = false;            ///< a leading `<think>...</think>` was split off
    std::string think;                 ///< the stripped thought
    std::string text;                  ///< the output without the thought (reference `output`)
    bool has_tool_tag = false;         ///< `<tool_call>` occurs in `text` (the reference's trigger)
    std::vector<tool_call> calls;      ///< usable calls, in order
    std::vector<dropped_call> dropped; ///< unusable blocks, in order
    std::string answer_text;           ///< `text` with every tool-call block removed, stripped

    /// Number of dropped blocks per reason.
    std::map<std::string, std::size_t> dropped_counts() const {
        std::map<std::string, std::size_t> m;
        for (const auto& d : dropped)
            ++m[d.reason];
        return m;
    }
};

namespace detail {

/// Python `str.isspace()` of an ASCII byte (multi-byte spaces are handled by `detail::py::strip`).
inline bool is_py_space(unsigned char c) noexcept {
    return c < 0x80 && ::rscovlm::detail::py::space_at(std::string_view(reinterpret_cast<const char*>(&c), 1), 0) != 0;
}

using ::rscovlm::detail::py::strip;

inline std::string clip(std::string_view s, std::size_t n = 200) {
    return std::string(s.substr(0, n));
}

/// Finds the first JSON object in `s` (from the first '{'), matching braces outside strings.
/// On success returns [begin, end) and whether closers had to be appended (`repaired`).
struct object_span {
    bool found = false;
    std::size_t begin = 0;
    std::size_t end = 0;
    std::string closers; ///< appended when the object is truncated
    bool too_deep = false;
};

inline object_span find_object(std::string_view s) {
    object_span r;
    std::size_t b = s.find('{');
    if (b == std::string_view::npos) return r;
    r.found = true;
    r.begin = b;
    std::string stack;
    char quote = 0;
    bool escape = false;
    for (std::size_t i = b; i < s.size(); ++i) {
        char c = s[i];
        if (quote) {
            if (escape) {
                escape = false;
            } else if (c == '\\') {
                escape = true;
            } else if (c == quote) {
                quote = 0;
            }
            continue;
        }
        if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '{' || c == '[') {
            stack.push_back(c == '{' ? '}' : ']');
            if (stack.size() > 64) {
                r.too_deep = true;
                return r;
            }
        } else if (c == '}' || c == ']') {
            if (!stack.empty() && stack.back() == c) stack.pop_back();
            if (stack.empty()) {
                r.end = i + 1;
                return r;
            }
        }
    }
    r.end = s.size();
    std::string closers;
    if (quote) closers.push_back(quote);
    for (auto it = stack.rbegin(); it != stack.rend(); ++it)
        closers.push_back(*it);
    r.closers = closers;
    return r;
}

/// Python-style dict text to JSON: single-quoted strings become double-quoted.
inline std::string python_quotes_to_json(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    char quote = 0;
    bool escape = false;
    for (char c : s) {
        if (quote) {
            if (escape) {
                escape = false;
                out.push_back(c);
                continue;
            }
            if (c == '\\') {
                escape = true;
                out.push_back(c);
                continue;
            }
            if (c == quote) {
                quote = 0;
                out.push_back('"');
                continue;
            }
            if (quote == '\'' && c == '"') {
                out += "\\\"";
                continue;
            }
            out.push_back(c);
            continue;
        }
        if (c == '\'' || c == '"') {
            quote = c;
            out.push_back('"');
            continue;
        }
        out.push_back(c);
    }
    return out;
}

inline nlohmann::json parse_json_quiet(std::string_view s) {
    return nlohmann::json::parse(s.begin(), s.end(), nullptr, /*allow_exceptions=*/false);
}

/// Parses a number from a JSON number or a numeric string; false when it is neither or not finite.
inline bool number_of(const nlohmann::json& v, double& out, bool& from_string, bool& fractional) {
    if (v.is_number()) {
        out = v.get<double>();
        if (v.is_number_float() && out != std::floor(out)) fractional = true;
        return std::isfinite(out);
    }
    if (v.is_string()) {
        const std::string& s = v.get_ref<const std::string&>();
        std::string_view t = strip(s);
        if (t.empty() || t.size() > 64) return false;
        std::string tmp(t);
        char* end = nullptr;
        double d = std::strtod(tmp.c_str(), &end);
        if (end != tmp.c_str() + tmp.size() || !std::isfinite(d)) return false;
        from_string = true;
        if (d != std::floor(d)) fractional = true;
        out = d;
        return true;
    }
    return false;
}

/// Reads a bbox value: [x1, y1, x2, y2] (numbers or numeric strings), or that array nested once.
/// Returns an empty string on success, otherwise a drop reason.
inline std::string bbox_of(const nlohmann::json& v, std::array<double, 4>& box, std::vector<std::string>& notes) {
    const nlohmann::json* arr = &v;
    if (v.is_array() && v.size() == 1 && v[0].is_array()) {
        arr = &v[0];
        notes.push_back("nested_bbox");
    }
    if (!arr->is_array()) return "bbox_not_array";
    if (arr->size() != 4) return "bbox_length";
    bool from_string = false, fractional = false;
    for (std::size_t i = 0; i < 4; ++i)
        if (!number_of((*arr)[i], box[i], from_string, fractional)) return "bbox_not_numeric";
    if (from_string) notes.push_back("string_numbers");
    if (fractional) notes.push_back("float_coordinates");
    return {};
}

/// Last-resort scan: `bbox` (or `bbox_2d`) followed by '[' and four numbers.
inline bool scan_bbox(std::string_view s, std::array<double, 4>& box) {
    std::size_t k = s.find("bbox");
    if (k == std::string_view::npos) return false;
    std::size_t lb = s.find('[', k);
    if (lb == std::string_view::npos) return false;
    // Only punctuation/space/quotes between the key and '['.
    for (std::size_t i = k + 4; i < lb; ++i) {
        char c = s[i];
        if (!(c == '_' || c == '2' || c == 'd' || c == '"' || c == '\'' || c == ':' || c == '=' ||
              is_py_space(static_cast<unsigned char>(c))))
            return false;
    }
    std::size_t i = lb + 1;
    int n = 0;
    while (n < 4 && i < s.size()) {
        while (i < s.size() && (s[i] == '[' || s[i] == ',' || s[i] == '"' || s[i] == '\'' ||
                                is_py_space(static_cast<unsigned char>(s[i]))))
            ++i;
        std::size_t j = i;
        while (j < s.size() &&
               (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.' || s[j] == '-' || s[j] == '+' ||
                s[j] == 'e' || s[j] == 'E') &&
               j - i < 40)
            ++j;
        if (j == i) return false;
        std::string tmp(s.substr(i, j - i));
        char* end = nullptr;
        double d = std::strtod(tmp.c_str(), &end);
        if (end != tmp.c_str() + tmp.size() || !std::isfinite(d)) return false;
        box[static_cast<std::size_t>(n++)] = d;
        i = j;
    }
    if (n != 4) return false;
    while (i < s.size() && (s[i] == '"' || s[i] == '\'' || is_py_space(static_cast<unsigned char>(s[i]))))
        ++i;
    return i < s.size() && s[i] == ']';
}

/// Interprets one block body; appends to `out.calls` or `out.dropped`.
inline void parse_block(std::string_view body, bool closed, parsed_output& out) {
    tool_call call;
    call.raw = std::string(body);
    if (!closed) call.notes.push_back("missing_close_tag");
    auto drop = [&](const char* reason) { out.dropped.push_back({reason, clip(body)}); };

    object_span span = find_object(body);
    if (span.too_deep) return drop("too_deep");
    nlohmann::json obj;
    if (span.found) {
        std::string text(body.substr(span.begin, span.end - span.begin));
        if (!span.closers.empty()) {
            text += span.closers;
            call.notes.push_back("repaired_json");
        }
        if (!strip(body.substr(0, span.begin)).empty() || !strip(body.substr(span.end)).empty())
            call.notes.push_back("extra_text");
        obj = parse_json_quiet(text);
        if (obj.is_discarded()) {
            obj = parse_json_quiet(python_quotes_to_json(text));
            if (!obj.is_discarded()) call.notes.push_back("python_quotes");
        }
    }
    if (!span.found || obj.is_discarded() || !obj.is_object()) {
        // Fall back to scanning for "bbox": [..] when the tool is named in the block.
        if (body.find(tool_name) != std::string_view::npos && scan_bbox(body, call.bbox)) {
            call.name = std::string(tool_name);
            call.notes.push_back("scanned_bbox");
            for (double v : call.bbox)
                if (v != std::floor(v)) {
                    call.notes.push_back("float_coordinates");
                    break;
                }
            out.calls.push_back(std::move(call));
            return;
        }
        return drop(!span.found ? "no_json_object" : "bad_json");
    }

    // OpenAI-style {"function": {"name": ..., "arguments": ...}}.
    const nlohmann::json* o = &obj;
    if (!obj.contains("name") && obj.contains("function") && obj["function"].is_object()) {
        o = &obj["function"];
        call.notes.push_back("function_wrapper");
    }
    auto name_it = o->find("name");
    if (name_it != o->end() && name_it->is_string()) {
        call.name = name_it->get<std::string>();
    } else if (name_it == o->end()) {
        call.notes.push_back("missing_name");
        call.name = std::string(tool_name);
    } else {
        return drop("bad_name");
    }
    if (call.name != tool_name) return drop("unknown_tool");

    nlohmann::json args;
    if (o->contains("arguments")) {
        args = (*o)["arguments"];
    } else if (o->contains("parameters")) {
        args = (*o)["parameters"];
        call.notes.push_back("parameters_key");
    } else if (o->contains("bbox") || o->contains("bbox_2d")) {
        args = *o;
        call.notes.push_back("bbox_at_top_level");
    } else {
        return drop("missing_arguments");
    }
    if (args.is_string()) {
        nlohmann::json parsed = parse_json_quiet(args.get_ref<const std::string&>());
        if (parsed.is_discarded()) return drop("bad_arguments");
        args = std::move(parsed);
        call.notes.push_back("string_arguments");
    }
    if (!args.is_object()) return drop("bad_arguments");
    const nlohmann::json* bbox = nullptr;
    if (args.contains("bbox")) {
        bbox = &args["bbox"];
    } else if (args.contains("bbox_2d")) {
        bbox = &args["bbox_2d"];
        call.notes.push_back("bbox_2d_key");
    } else {
        return drop("missing_bbox");
    }
    std::string why = bbox_of(*bbox, call.bbox, call.notes);
    if (!why.empty()) {
        out.dropped.push_back({why, clip(body)});
        return;
    }
    call.arguments = std::move(args);
    out.calls.push_back(std::move(call));
}

} // namespace detail

/// Splits a leading `<think>...</think>` like RSCoVLM's extract_thinking_content.
/// Returns true and fills `think`/`rest` (both stripped) when found; otherwise `rest` = `text`.
inline bool split_think(std::string_view text, std::string& think, std::string& rest) {
    const std::size_t i = text.size() - ::rscovlm::detail::py::lstrip(text).size();
    constexpr std::string_view open = "<think>", close = "</think>";
    if (text.substr(i, open.size()) == open) {
        std::size_t c = text.find(close, i + open.size());
        if (c != std::string_view::npos) {
            think = std::string(detail::strip(text.substr(i + open.size(), c - i - open.size())));
            rest = std::string(detail::strip(text.substr(c + close.size())));
            return true;
        }
    }
    think.clear();
    rest = std::string(text);
    return false;
}

/// Parses one model output. Never throws on any input.
inline parsed_output parse_output(std::string_view output) {
    parsed_output out;
    out.has_think = split_think(output, out.think, out.text);
    std::string_view t = out.text;
    out.has_tool_tag = t.find(tool_call_open) != std::string_view::npos;

    std::string answer;
    std::size_t pos = 0;
    while (pos <= t.size()) {
        std::size_t open = t.find(tool_call_open, pos);
        if (open == std::string_view::npos) {
            answer.append(t.substr(pos));
            break;
        }
        answer.append(t.substr(pos, open - pos));
        std::size_t body_begin = open + tool_call_open.size();
        // A block ends at its closing tag or, failing that, at the next opening tag: the closing tag is
        // looked for only up to the next opening tag, so every byte is scanned a bounded number of times
        // (linear, however many tags are left unclosed). A closing tag cannot straddle an opening tag
        // (its only '<' is its first byte), so this finds exactly the closing tags that come first.
        std::size_t next_open = t.find(tool_call_open, body_begin);
        std::size_t block_limit = next_open == std::string_view::npos ? t.size() : next_open;
        std::size_t close = t.substr(0, block_limit).find(tool_call_close, body_begin);
        bool closed = close != std::string_view::npos;
        std::size_t body_end = closed ? close : block_limit;
        detail::parse_block(t.substr(body_begin, body_end - body_begin), closed, out);
        pos = closed ? close + tool_call_close.size() : body_end;
        if (pos >= t.size()) break;
    }
    // Stray closing tags left in the answer text are removed too.
    std::string cleaned;
    std::string_view a = answer;
    std::size_t p = 0;
    while (true) {
        std::size_t c = a.find(tool_call_close, p);
        if (c == std::string_view::npos) {
            cleaned.append(a.substr(p));
            break;
        }
        cleaned.append(a.substr(p, c - p));
        p = c + tool_call_close.size();
    }
    out.answer_text = std::string(detail::strip(cleaned));
    return out;
}

} // namespace rscovlm::zoom
