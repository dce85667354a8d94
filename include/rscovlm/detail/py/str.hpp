#pragma once
/// \file detail/py/str.hpp
/// Python `str` methods on UTF-8 text, as the reference code calls them.
///
/// Whitespace, the one set every function here uses unless its name says otherwise, is Python's
/// `str.isspace()`: U+0009-U+000D (\t \n \v \f \r), U+001C-U+001F, U+0020, U+0085, U+00A0, U+1680,
/// U+2000-U+200A, U+2028, U+2029, U+202F, U+205F and U+3000. The `_ascii` variants mirror
/// `bytes.strip()` / `bytes.split()` (and C `isspace` in the "C" locale): only \t \n \v \f \r and
/// space. Character-set arguments (`strip(s, chars)`) are sets of single bytes, so they are exact
/// for ASCII sets, which is all the reference passes.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::detail::py {

/// Length in bytes of the Python whitespace character that starts at `s[i]` (0 when none).
inline std::size_t space_at(std::string_view s, std::size_t i) noexcept {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
    if (c < 0xC2) return 0;
    auto u = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
    if (c == 0xC2 && (u(1) == 0x85 || u(1) == 0xA0)) return 2;
    if (c == 0xE1 && u(1) == 0x9A && u(2) == 0x80) return 3;
    if (c == 0xE2 && u(1) == 0x80 && ((u(2) >= 0x80 && u(2) <= 0x8A) || u(2) == 0xA8 || u(2) == 0xA9 || u(2) == 0xAF))
        return 3;
    if (c == 0xE2 && u(1) == 0x81 && u(2) == 0x9F) return 3;
    if (c == 0xE3 && u(1) == 0x80 && u(2) == 0x80) return 3;
    return 0;
}

/// `bytes.isspace()` of one byte (C `isspace` in the "C" locale): \t \n \v \f \r and space.
constexpr bool is_ascii_space(char ch) noexcept {
    const unsigned char c = static_cast<unsigned char>(ch);
    return c == ' ' || (c >= 0x09 && c <= 0x0d);
}

/// Python `str.isspace()` of a whole string (false for "").
inline bool isspace(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t k = space_at(s, i);
        if (!k) return false;
        i += k;
    }
    return true;
}

/// Python `str.lstrip()`.
inline std::string_view lstrip(std::string_view s) noexcept {
    std::size_t b = 0;
    while (b < s.size()) {
        const std::size_t k = space_at(s, b);
        if (!k) break;
        b += k;
    }
    return s.substr(b);
}

/// Length in bytes of the Python whitespace character that ends at `s[e - 1]` (0 when none). No
/// whitespace sequence starts with a continuation byte, so a match here is also where a forward
/// scan would find it, whatever precedes it.
inline std::size_t space_before(std::string_view s, std::size_t e) noexcept {
    const unsigned char c = static_cast<unsigned char>(s[e - 1]);
    if (c < 0x80) return (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) ? 1 : 0;
    const std::string_view head = s.substr(0, e);
    if (e >= 2 && space_at(head, e - 2) == 2) return 2;
    if (e >= 3 && space_at(head, e - 3) == 3) return 3;
    return 0;
}

/// Python `str.rstrip()`.
inline std::string_view rstrip(std::string_view s) noexcept {
    std::size_t e = s.size();
    for (std::size_t k; e > 0 && (k = space_before(s, e)) != 0;)
        e -= k;
    return s.substr(0, e);
}

/// Python `str.strip()`.
inline std::string_view strip(std::string_view s) noexcept {
    return rstrip(lstrip(s));
}

/// Python `str.lstrip(chars)` for a set of ASCII characters.
inline std::string_view lstrip(std::string_view s, std::string_view chars) noexcept {
    std::size_t b = 0;
    while (b < s.size() && chars.find(s[b]) != std::string_view::npos)
        ++b;
    return s.substr(b);
}

/// Python `str.rstrip(chars)` for a set of ASCII characters.
inline std::string_view rstrip(std::string_view s, std::string_view chars) noexcept {
    std::size_t e = s.size();
    while (e > 0 && chars.find(s[e - 1]) != std::string_view::npos)
        --e;
    return s.substr(0, e);
}

/// Python `str.strip(chars)` for a set of ASCII characters.
inline std::string_view strip(std::string_view s, std::string_view chars) noexcept {
    return rstrip(lstrip(s, chars), chars);
}

/// Python `bytes.strip()`: ASCII whitespace only (\t \n \v \f \r and space), as C `isspace`.
inline std::string_view strip_ascii(std::string_view s) noexcept {
    std::size_t b = 0, e = s.size();
    while (b < e && is_ascii_space(s[b]))
        ++b;
    while (e > b && is_ascii_space(s[e - 1]))
        --e;
    return s.substr(b, e - b);
}

/// Python `str.lower()` restricted to ASCII letters (other bytes are kept as they are; Python would
/// also lower non-ASCII letters).
inline std::string lower_ascii(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

/// Python `str.upper()` restricted to ASCII letters.
inline std::string upper_ascii(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return out;
}

/// Python `str.split(sep)` into a reused vector (empty fields kept; `sep` must not be empty).
inline void split_into(std::string_view s, std::string_view sep, std::vector<std::string_view>& out) {
    out.clear();
    std::size_t start = 0;
    for (;;) {
        const std::size_t p = s.find(sep, start);
        if (p == std::string_view::npos) {
            out.push_back(s.substr(start));
            return;
        }
        out.push_back(s.substr(start, p - start));
        start = p + sep.size();
    }
}

/// Python `str.split(sep)` (empty fields kept; `sep` must not be empty).
inline std::vector<std::string_view> split(std::string_view s, std::string_view sep) {
    std::vector<std::string_view> out;
    split_into(s, sep, out);
    return out;
}

/// Python `str.split()`: runs of whitespace separate, no empty fields.
inline std::vector<std::string_view> split(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < s.size()) {
        for (std::size_t k; i < s.size() && (k = space_at(s, i)) != 0;)
            i += k;
        const std::size_t b = i;
        while (i < s.size() && space_at(s, i) == 0)
            ++i;
        if (i > b) out.push_back(s.substr(b, i - b));
    }
    return out;
}

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

/// Python `s.replace(old, new)` (every occurrence, left to right; an empty `from` leaves `s` as is,
/// where Python would insert `to` between characters).
inline std::string replace(std::string_view s, std::string_view from, std::string_view to) {
    if (from.empty()) return std::string(s);
    std::string o;
    std::size_t i = 0;
    for (;;) {
        const std::size_t j = s.find(from, i);
        if (j == std::string_view::npos) break;
        o.append(s.data() + i, j - i);
        o.append(to.data(), to.size());
        i = j + from.size();
    }
    o.append(s.data() + i, s.size() - i);
    return o;
}

} // namespace rscovlm::detail::py
