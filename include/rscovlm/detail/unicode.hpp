#pragma once
/// \file unicode.hpp
/// UTF-8 decoding with defined handling of invalid input, character properties used by the
/// tokenizer's pre-tokenizer, and NFC normalization (UAX #15), all driven by the tables that
/// `scripts/gen_unicode_tables.py` generates from the Unicode Character Database.

#include <rscovlm/detail/py/utf8.hpp>
#include <rscovlm/detail/unicode_tables.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::detail::unicode {

// The UTF-8 codec (decode_valid, invalid_length, append_utf8, is_valid_utf8, to_valid_utf8,
// complete_prefix, decode_unchecked) and replacement_char live in detail/py/utf8.hpp.
using py::utf8::append_utf8;
using py::utf8::complete_prefix;
using py::utf8::decode_unchecked;
using py::utf8::decode_valid;
using py::utf8::invalid_length;
using py::utf8::is_valid_utf8;
using py::utf8::replacement_char;
using py::utf8::to_valid_utf8;

/// Property flags of a code point (see unicode_tables::flag_*). Out-of-range values get 0.
inline std::uint8_t properties(char32_t cp) noexcept {
    if (cp >= 0x110000) return 0;
    namespace t = unicode_tables;
    return t::property_stage2[(static_cast<std::size_t>(t::property_stage1[cp >> t::block_shift]) << t::block_shift) +
                              (cp & 0xFF)];
}

/// Canonical combining class of a code point.
inline std::uint8_t combining_class(char32_t cp) noexcept {
    if (cp >= 0x110000) return 0;
    namespace t = unicode_tables;
    return t::ccc_stage2[(static_cast<std::size_t>(t::ccc_stage1[cp >> t::block_shift]) << t::block_shift) +
                         (cp & 0xFF)];
}

inline bool is_letter(char32_t cp) noexcept {
    return properties(cp) & unicode_tables::flag_letter;
}
inline bool is_number(char32_t cp) noexcept {
    return properties(cp) & unicode_tables::flag_number;
}
inline bool is_white_space(char32_t cp) noexcept {
    return properties(cp) & unicode_tables::flag_white_space;
}
/// Rust regex `\w` (Alphabetic, marks, decimal numbers, connector punctuation, join controls).
inline bool is_word(char32_t cp) noexcept {
    return properties(cp) & unicode_tables::flag_word;
}

namespace nfc_detail {
inline constexpr char32_t s_base = 0xAC00, l_base = 0x1100, v_base = 0x1161, t_base = 0x11A7;
inline constexpr char32_t l_count = 19, v_count = 21, t_count = 28, n_count = v_count * t_count,
                          s_count = l_count * n_count;

inline void decompose(char32_t cp, std::vector<char32_t>& out) {
    if (cp >= s_base && cp < s_base + s_count) { // Hangul syllable: algorithmic (UAX #15 / §3.12)
        char32_t s = cp - s_base;
        out.push_back(l_base + s / n_count);
        out.push_back(v_base + (s % n_count) / t_count);
        if (s % t_count) out.push_back(t_base + s % t_count);
        return;
    }
    namespace t = unicode_tables;
    const auto* b = std::begin(t::decompositions);
    const auto* e = std::end(t::decompositions);
    const auto* it = std::lower_bound(b, e, cp, [](const t::decomposition& d, char32_t c) { return d.cp < c; });
    if (it != e && it->cp == cp) {
        for (std::size_t k = 0; k < it->length; ++k)
            out.push_back(t::decomposition_data[it->offset + k]);
    } else {
        out.push_back(cp);
    }
}

inline char32_t compose(char32_t a, char32_t b) {
    if (a >= l_base && a < l_base + l_count && b >= v_base && b < v_base + v_count)
        return s_base + ((a - l_base) * v_count + (b - v_base)) * t_count;
    if (a >= s_base && a < s_base + s_count && (a - s_base) % t_count == 0 && b > t_base && b < t_base + t_count)
        return a + (b - t_base);
    namespace t = unicode_tables;
    std::uint64_t key = (static_cast<std::uint64_t>(a) << 21) | b;
    const auto* be = std::begin(t::compositions);
    const auto* en = std::end(t::compositions);
    const auto* it = std::lower_bound(be, en, key, [](const t::composition& c, std::uint64_t k) { return c.key < k; });
    if (it != en && it->key == key) return it->composite;
    return 0;
}

/// NFC of a run of code points, in place.
inline void nfc_codepoints(std::vector<char32_t>& cps) {
    // 1. full canonical decomposition
    std::vector<char32_t> d;
    d.reserve(cps.size() + 8);
    for (char32_t c : cps)
        decompose(c, d);
    // 2. canonical ordering: stable sort of each run of non-starters by combining class
    for (std::size_t i = 0; i < d.size();) {
        if (combining_class(d[i]) == 0) {
            ++i;
            continue;
        }
        std::size_t j = i;
        while (j < d.size() && combining_class(d[j]) != 0)
            ++j;
        std::stable_sort(d.begin() + static_cast<std::ptrdiff_t>(i), d.begin() + static_cast<std::ptrdiff_t>(j),
                         [](char32_t x, char32_t y) { return combining_class(x) < combining_class(y); });
        i = j;
    }
    // 3. canonical composition
    cps.clear();
    std::ptrdiff_t starter = -1; // index in cps of the last starter
    int last_ccc = -1;           // ccc of the last character appended after the starter
    for (char32_t c : d) {
        int ccc = combining_class(c);
        if (starter >= 0) {
            bool blocked = last_ccc != -1 && (last_ccc == 0 || last_ccc >= ccc);
            if (!blocked) {
                char32_t comp = compose(cps[static_cast<std::size_t>(starter)], c);
                if (comp) {
                    cps[static_cast<std::size_t>(starter)] = comp;
                    continue;
                }
            }
        }
        if (ccc == 0) {
            starter = static_cast<std::ptrdiff_t>(cps.size());
            last_ccc = -1;
        } else {
            last_ccc = ccc;
        }
        cps.push_back(c);
    }
}
} // namespace nfc_detail

/// True if the valid UTF-8 string `s` is certainly in NFC (every character has NFC_QC=Yes and
/// canonical combining class 0: the quick check of UAX #15 restricted to starters).
inline bool nfc_quick_yes(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    std::size_t n = s.size(), i = 0;
    constexpr std::uint8_t unsafe = unicode_tables::flag_nfc_unsafe | unicode_tables::flag_nonstarter;
    while (i < n) {
        if (p[i] < 0x80) {
            ++i;
            continue;
        }
        // U+0300 is the first character with ccc != 0 or NFC_QC != Yes.
        if (p[i] < 0xCC) {
            i += 2;
            continue;
        }
        char32_t cp;
        i += decode_unchecked(p, i, cp);
        if (properties(cp) & unsafe) return false;
    }
    return true;
}

/// NFC normalization of valid UTF-8 `s`, appended to `out`.
inline void nfc_append(std::string_view s, std::string& out) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    std::size_t n = s.size(), i = 0;
    constexpr std::uint8_t unsafe = unicode_tables::flag_nfc_unsafe | unicode_tables::flag_nonstarter;
    std::vector<char32_t> buf;
    // Characters are processed in segments that start at a "safe" starter (ccc 0 and NFC_QC Yes):
    // normalization never crosses such a boundary backwards, except that a following combining
    // character may compose with it, so the safe starter opens the segment.
    std::size_t seg_start = 0;
    bool seg_dirty = false;
    auto flush = [&](std::size_t end) {
        if (!seg_dirty) {
            out.append(s.data() + seg_start, end - seg_start);
        } else {
            buf.clear();
            std::size_t k = seg_start;
            while (k < end) {
                char32_t cp;
                k += decode_unchecked(p, k, cp);
                buf.push_back(cp);
            }
            nfc_detail::nfc_codepoints(buf);
            for (char32_t c : buf)
                append_utf8(out, c);
        }
    };
    while (i < n) {
        char32_t cp;
        std::size_t len = decode_unchecked(p, i, cp);
        std::uint8_t pr = cp < 0x300 ? 0 : properties(cp);
        if (!(pr & unsafe)) {
            // a safe starter: close the previous segment
            flush(i);
            seg_start = i;
            seg_dirty = false;
        } else {
            seg_dirty = true;
        }
        i += len;
    }
    flush(n);
}

/// NFC normalization of valid UTF-8 `s`.
inline std::string nfc(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    nfc_append(s, out);
    return out;
}

} // namespace rscovlm::detail::unicode
