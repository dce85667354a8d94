#pragma once
/// \file
/// Python string semantics the reference parsers rely on: `str.splitlines()`, `str.strip()`,
/// `int(str)`, and `json.dumps` of labels (ensure_ascii). Used by the decoders and encoders.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::box_codec::text {

/// Length in bytes of the Python line boundary at `s[i]` (0 when there is none): \n, \r, \r\n,
/// \v, \f, \x1c, \x1d, \x1e, U+0085, U+2028, U+2029 (as `str.splitlines()` splits).
inline std::size_t line_break_at(std::string_view s, std::size_t i) noexcept {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\r') return (i + 1 < s.size() && s[i + 1] == '\n') ? 2 : 1;
    if (c == '\n' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e) return 1;
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x85) return 2;
    if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80) {
        const unsigned char c2 = static_cast<unsigned char>(s[i + 2]);
        if (c2 == 0xA8 || c2 == 0xA9) return 3;
    }
    return 0;
}

/// Python `str.splitlines()` (no trailing empty line; views into `s`).
inline std::vector<std::string_view> splitlines(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t start = 0, i = 0;
    while (i < s.size()) {
        const std::size_t b = line_break_at(s, i);
        if (b) {
            out.push_back(s.substr(start, i - start));
            i += b;
            start = i;
        } else {
            ++i;
        }
    }
    if (start < s.size()) out.push_back(s.substr(start));
    return out;
}

/// Length in bytes of a Python whitespace character at `s[i]` (0 when none): ASCII \t\n\v\f\r and
/// space, \x1c-\x1f, U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
inline std::size_t space_at(std::string_view s, std::size_t i) noexcept {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
    auto u = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
    if (c == 0xC2 && (u(1) == 0x85 || u(1) == 0xA0)) return 2;
    if (c == 0xE1 && u(1) == 0x9A && u(2) == 0x80) return 3;
    if (c == 0xE2 && u(1) == 0x80 && ((u(2) >= 0x80 && u(2) <= 0x8A) || u(2) == 0xA8 || u(2) == 0xA9 || u(2) == 0xAF))
        return 3;
    if (c == 0xE2 && u(1) == 0x81 && u(2) == 0x9F) return 3;
    if (c == 0xE3 && u(1) == 0x80 && u(2) == 0x80) return 3;
    return 0;
}

/// Python `str.strip()` (whitespace as `space_at`).
inline std::string_view strip(std::string_view s) noexcept {
    std::size_t b = 0;
    while (b < s.size()) {
        const std::size_t k = space_at(s, b);
        if (!k) break;
        b += k;
    }
    s = s.substr(b);
    // trailing: scan forward remembering where the last non-space ended
    std::size_t end = 0, i = 0;
    while (i < s.size()) {
        const std::size_t k = space_at(s, i);
        if (k) {
            i += k;
        } else {
            ++i;
            end = i;
        }
    }
    return s.substr(0, end);
}

/// Python `str.strip(chars)` for a set of ASCII characters.
inline std::string_view strip_chars(std::string_view s, std::string_view chars) noexcept {
    std::size_t b = 0, e = s.size();
    while (b < e && chars.find(s[b]) != std::string_view::npos) ++b;
    while (e > b && chars.find(s[e - 1]) != std::string_view::npos) --e;
    return s.substr(b, e - b);
}

/// Python `str.rstrip(chars)` for a set of ASCII characters.
inline std::string_view rstrip_chars(std::string_view s, std::string_view chars) noexcept {
    std::size_t e = s.size();
    while (e > 0 && chars.find(s[e - 1]) != std::string_view::npos) --e;
    return s.substr(0, e);
}

/// Python `int(s)` for ASCII decimal text: surrounding whitespace, an optional sign, digits with
/// single underscores between them. nullopt where Python raises ValueError. The value is returned
/// as a double (exact up to 2^53; larger values are rounded, where Python keeps a big int).
inline std::optional<double> py_int(std::string_view s) noexcept {
    s = strip(s);
    if (s.empty()) return std::nullopt;
    bool neg = false;
    std::size_t i = 0;
    if (s[0] == '+' || s[0] == '-') neg = s[0] == '-', i = 1;
    if (i >= s.size()) return std::nullopt;
    double v = 0;
    bool prev_digit = false;
    for (; i < s.size(); ++i) {
        const char c = s[i];
        if (c >= '0' && c <= '9') {
            v = v * 10 + (c - '0');
            prev_digit = true;
        } else if (c == '_' && prev_digit && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '9') {
            prev_digit = false;
        } else {
            return std::nullopt;
        }
    }
    return neg ? -v : v;
}

/// `json.dumps(str)` with Python's defaults (ensure_ascii=True): quotes, `\"`, `\\`, `\n`, `\r`,
/// `\t`, `\b`, `\f`, other controls and every non-ASCII code point as `\uXXXX` (surrogate pairs
/// above U+FFFF). Invalid UTF-8 bytes are written as U+FFFD.
inline std::string json_dumps_string(std::string_view s) {
    std::string o = "\"";
    auto hex4 = [&](unsigned v) {
        char b[8];
        std::snprintf(b, sizeof b, "\\u%04x", v & 0xFFFFu);
        o += b;
    };
    for (std::size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            switch (c) {
                case '"': o += "\\\""; break;
                case '\\': o += "\\\\"; break;
                case '\n': o += "\\n"; break;
                case '\r': o += "\\r"; break;
                case '\t': o += "\\t"; break;
                case '\b': o += "\\b"; break;
                case '\f': o += "\\f"; break;
                default:
                    if (c < 0x20 || c == 0x7f) {  // ESCAPE_ASCII: everything outside ' '..'~'
                        hex4(c);
                    } else {
                        o.push_back(static_cast<char>(c));
                    }
            }
            ++i;
            continue;
        }
        std::size_t len = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= s.size();
        for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 2;
        std::uint32_t cp = 0xFFFD;
        if (ok) {
            cp = len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
            for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3Fu);
            if ((len == 2 && cp < 0x80) || (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
                (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
                ok = false, cp = 0xFFFD;
        }
        i += ok ? len : 1;
        if (cp > 0xFFFF) {
            cp -= 0x10000;
            hex4(0xD800 + (cp >> 10));
            hex4(0xDC00 + (cp & 0x3FF));
        } else {
            hex4(cp);
        }
    }
    o += "\"";
    return o;
}

/// Python `str(int)` of an integer-valued double (no exponent, no fraction).
inline std::string int_str(std::int64_t v) { return std::to_string(v); }

}  // namespace rscovlm::box_codec::text
