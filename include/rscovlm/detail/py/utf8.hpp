#pragma once
/// \file detail/py/utf8.hpp
/// UTF-8 decoding as Python's `bytes.decode("utf-8", errors="replace")` (and Rust's
/// `String::from_utf8_lossy`, the WHATWG decoder): well-formed means shortest form, no surrogates,
/// at most U+10FFFF; every maximal ill-formed subsequence (Unicode 3.9, "U+FFFD substitution of
/// maximal subparts") becomes one U+FFFD.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rscovlm::detail::py {

/// The codec proper, in its own namespace so that detail::unicode can pull it in whole.
namespace utf8 {

/// The replacement character U+FFFD.
inline constexpr char32_t replacement_char = 0xFFFD;

/// Length of the UTF-8 sequence starting at `s[i]` if it is a valid, complete, shortest-form
/// scalar value (no surrogates, <= U+10FFFF); 0 otherwise. Writes the code point to `cp`.
inline std::size_t decode_valid(const unsigned char* s, std::size_t n, std::size_t i, char32_t& cp) noexcept {
    unsigned char b0 = s[i];
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    }
    if (b0 < 0xC2) return 0;
    if (b0 < 0xE0) {
        if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) return 0;
        cp = (static_cast<char32_t>(b0 & 0x1F) << 6) | (s[i + 1] & 0x3F);
        return 2;
    }
    if (b0 < 0xF0) {
        if (i + 2 >= n) return 0;
        unsigned char b1 = s[i + 1], b2 = s[i + 2];
        if ((b1 & 0xC0) != 0x80 || (b2 & 0xC0) != 0x80) return 0;
        if (b0 == 0xE0 && b1 < 0xA0) return 0;  // overlong
        if (b0 == 0xED && b1 >= 0xA0) return 0; // surrogate
        cp = (static_cast<char32_t>(b0 & 0x0F) << 12) | (static_cast<char32_t>(b1 & 0x3F) << 6) | (b2 & 0x3F);
        return 3;
    }
    if (b0 < 0xF5) {
        if (i + 3 >= n) return 0;
        unsigned char b1 = s[i + 1], b2 = s[i + 2], b3 = s[i + 3];
        if ((b1 & 0xC0) != 0x80 || (b2 & 0xC0) != 0x80 || (b3 & 0xC0) != 0x80) return 0;
        if (b0 == 0xF0 && b1 < 0x90) return 0;  // overlong
        if (b0 == 0xF4 && b1 >= 0x90) return 0; // > U+10FFFF
        cp = (static_cast<char32_t>(b0 & 0x07) << 18) | (static_cast<char32_t>(b1 & 0x3F) << 12) |
             (static_cast<char32_t>(b2 & 0x3F) << 6) | (b3 & 0x3F);
        return 4;
    }
    return 0;
}

/// Length of the maximal subpart of an ill-formed sequence starting at `s[i]` (Unicode §3.9,
/// "U+FFFD substitution of maximal subparts", the policy of Rust's `String::from_utf8_lossy`,
/// Python's `errors="replace"` and the WHATWG decoder). Always >= 1.
inline std::size_t invalid_length(const unsigned char* s, std::size_t n, std::size_t i) noexcept {
    unsigned char b0 = s[i];
    std::size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 1;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        return 1;
    }
    std::size_t len = 1;
    for (std::size_t k = 0; k < need; ++k) {
        if (i + len >= n) return len;
        unsigned char b = s[i + len];
        if (k == 0 ? (b < lo || b > hi) : ((b & 0xC0) != 0x80)) return len;
        ++len;
    }
    return len; // unreachable for a valid sequence; callers only ask after decode_valid failed
}

/// Appends the UTF-8 encoding of `cp` to `out`.
inline void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

/// True if `s` is well-formed UTF-8.
inline bool is_valid_utf8(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    std::size_t n = s.size(), i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            ++i;
            continue;
        }
        char32_t cp;
        std::size_t len = decode_valid(p, n, i, cp);
        if (len == 0) return false;
        i += len;
    }
    return true;
}

/// `s` with every maximal ill-formed subsequence replaced by U+FFFD (as Rust's
/// `String::from_utf8_lossy`). Valid input is returned unchanged.
inline std::string to_valid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    std::size_t n = s.size(), i = 0;
    std::string out;
    out.reserve(n + 8);
    while (i < n) {
        if (p[i] < 0x80) {
            out.push_back(static_cast<char>(p[i]));
            ++i;
            continue;
        }
        char32_t cp;
        std::size_t len = decode_valid(p, n, i, cp);
        if (len) {
            out.append(s.data() + i, len);
            i += len;
        } else {
            append_utf8(out, replacement_char);
            i += invalid_length(p, n, i);
        }
    }
    return out;
}

/// Where `s` stops being final: the start of a trailing multibyte sequence that is valid so far but
/// incomplete (so later bytes may still complete it), or `s.size()`. `to_valid_utf8` of `s[0, cut)`
/// is then a prefix of `to_valid_utf8` of `s` followed by anything: the decoder is at a character
/// boundary there (a lead byte ends any sequence before it).
inline std::size_t complete_prefix(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    for (std::size_t back = 1; back <= 3 && back <= n; ++back) {
        const std::size_t i = n - back;
        const unsigned char b = p[i];
        if ((b & 0xC0) == 0x80) continue;   // a continuation byte: its lead (if any) is further back
        if (b < 0xC2 || b > 0xF4) return n; // ASCII, or a byte that never starts a sequence
        const std::size_t need = b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
        if (back >= need) return n;                     // complete (or already ill-formed)
        return invalid_length(p, n, i) == back ? i : n; // a valid prefix that reaches the end: wait
    }
    return n;
}

/// Decodes valid UTF-8 at `s[i]` (the caller guarantees validity); returns the length.
inline std::size_t decode_unchecked(const unsigned char* s, std::size_t i, char32_t& cp) noexcept {
    unsigned char b0 = s[i];
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    }
    if (b0 < 0xE0) {
        cp = (static_cast<char32_t>(b0 & 0x1F) << 6) | (s[i + 1] & 0x3F);
        return 2;
    }
    if (b0 < 0xF0) {
        cp = (static_cast<char32_t>(b0 & 0x0F) << 12) | (static_cast<char32_t>(s[i + 1] & 0x3F) << 6) |
             (s[i + 2] & 0x3F);
        return 3;
    }
    cp = (static_cast<char32_t>(b0 & 0x07) << 18) | (static_cast<char32_t>(s[i + 1] & 0x3F) << 12) |
         (static_cast<char32_t>(s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
    return 4;
}

} // namespace utf8

using utf8::append_utf8;
using utf8::complete_prefix;
using utf8::decode_valid;
using utf8::invalid_length;
using utf8::is_valid_utf8;
using utf8::replacement_char;

/// Python `bytes.decode("utf-8", "replace")`: `s` with every maximal ill-formed subsequence
/// replaced by U+FFFD; valid input is returned unchanged.
inline std::string decode_replace(std::string_view s) {
    return utf8::to_valid_utf8(s);
}

/// Decodes the code point at `s[i]` and advances `i` past it; an ill-formed subsequence decodes as
/// one U+FFFD (as `decode_replace`).
inline char32_t next_code_point(std::string_view s, std::size_t& i) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    char32_t cp = 0;
    if (const std::size_t len = utf8::decode_valid(p, s.size(), i, cp)) {
        i += len;
        return cp;
    }
    i += utf8::invalid_length(p, s.size(), i);
    return replacement_char;
}

} // namespace rscovlm::detail::py
