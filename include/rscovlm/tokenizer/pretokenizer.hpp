#pragma once
/// \file pretokenizer.hpp
/// The Qwen2 pre-tokenizer split, implemented natively (std::regex cannot express it).
///
/// Mirrors the `Split` pre-tokenizer of Hugging Face `tokenizers` with behaviour `Isolated` and
/// the pattern
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// as Oniguruma runs it: leftmost alternative wins, quantifiers are greedy with backtracking,
/// `\s` is Unicode White_Space (U+0085 included, U+FEFF and U+180E excluded), `\p{L}`/`\p{N}`
/// are the general categories, and `(?i)` uses simple case folding (so `'ſ` matches `'s`).
/// Every character is covered by some alternative, so the matches tile the input.

#include <rscovlm/detail/unicode.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rscovlm::tokenizer {

/// The split regex of the Qwen2 family, as written in tokenizer.json.
inline constexpr std::string_view qwen2_split_pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";

namespace detail {

inline constexpr std::uint8_t cls_letter = 1, cls_number = 2, cls_space = 4, cls_crlf = 8;

/// Class bits of the ASCII characters.
struct ascii_classes {
    std::uint8_t v[128];
    constexpr ascii_classes() : v{} {
        for (int c = 0; c < 128; ++c) {
            std::uint8_t k = 0;
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
                k = cls_letter;
            else if (c >= '0' && c <= '9')
                k = cls_number;
            else if ((c >= 0x09 && c <= 0x0D) || c == ' ')
                k = cls_space;
            if (c == '\r' || c == '\n') k |= cls_crlf;
            v[c] = k;
        }
    }
};
inline constexpr ascii_classes ascii_class_table{};

/// Reads the character at byte `i` of valid UTF-8; returns its byte length, sets class bits.
inline std::size_t char_at(const unsigned char* s, std::size_t i, char32_t& cp, std::uint8_t& cls) noexcept {
    if (s[i] < 0x80) {
        cp = s[i];
        cls = ascii_class_table.v[s[i]];
        return 1;
    }
    std::size_t len = rscovlm::detail::unicode::decode_unchecked(s, i, cp);
    std::uint8_t p = rscovlm::detail::unicode::properties(cp);
    namespace t = rscovlm::detail::unicode_tables;
    cls = static_cast<std::uint8_t>(((p & t::flag_letter) ? cls_letter : 0) | ((p & t::flag_number) ? cls_number : 0) |
                                    ((p & t::flag_white_space) ? cls_space : 0));
    return len;
}

/// Simple case fold of the letters used by the contraction alternative; 0 for anything else.
inline char fold_contraction_letter(char32_t cp) noexcept {
    if (cp == 0x017F) return 's'; // LATIN SMALL LETTER LONG S folds to 's'
    if (cp >= 'A' && cp <= 'Z') cp += 32;
    switch (cp) {
    case 's':
    case 't':
    case 'r':
    case 'e':
    case 'v':
    case 'm':
    case 'l':
    case 'd':
        return static_cast<char>(cp);
    default:
        return 0;
    }
}

/// End (exclusive byte offset) of the regex match that starts at byte `i` of `s[0, n)`.
inline std::size_t qwen2_match_end(const unsigned char* s, std::size_t n, std::size_t i) noexcept {
    char32_t c0;
    std::uint8_t k0;
    std::size_t l0 = char_at(s, i, c0, k0);
    std::size_t i1 = i + l0;
    char32_t c1 = 0;
    std::uint8_t k1 = 0;
    std::size_t l1 = 0;
    if (i1 < n) l1 = char_at(s, i1, c1, k1);

    // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
    if (c0 == '\'' && l1) {
        char f1 = fold_contraction_letter(c1);
        if (f1 == 's' || f1 == 't' || f1 == 'm' || f1 == 'd') return i1 + l1;
        if ((f1 == 'r' || f1 == 'v' || f1 == 'l') && i1 + l1 < n) {
            char32_t c2;
            std::uint8_t k2;
            std::size_t l2 = char_at(s, i1 + l1, c2, k2);
            char f2 = fold_contraction_letter(c2);
            if ((f1 == 'l' && f2 == 'l') || (f1 != 'l' && f2 == 'e')) return i1 + l1 + l2;
        }
    }
    auto letters_from = [&](std::size_t j) {
        while (j < n) {
            char32_t c;
            std::uint8_t k;
            std::size_t l = char_at(s, j, c, k);
            if (!(k & cls_letter)) break;
            j += l;
        }
        return j;
    };
    // 2. [^\r\n\p{L}\p{N}]?\p{L}+
    if (k0 & cls_letter) return letters_from(i1);
    if (!(k0 & (cls_letter | cls_number | cls_crlf)) && l1 && (k1 & cls_letter)) return letters_from(i1 + l1);
    // 3. \p{N}
    if (k0 & cls_number) return i1;
    // 4. ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    constexpr std::uint8_t not_punct = cls_space | cls_letter | cls_number;
    bool p0 = !(k0 & not_punct);
    if (p0 || (c0 == ' ' && l1 && !(k1 & not_punct))) {
        std::size_t j = p0 ? i1 : i1 + l1;
        while (j < n) {
            char32_t c;
            std::uint8_t k;
            std::size_t l = char_at(s, j, c, k);
            if (k & not_punct) break;
            j += l;
        }
        while (j < n && (s[j] == '\r' || s[j] == '\n'))
            ++j;
        return j;
    }
    // c0 is white space here. Scan the whole run.
    std::size_t j = i, last_crlf_end = 0, last_start = i, count = 0;
    bool has_crlf = false;
    while (j < n) {
        char32_t c;
        std::uint8_t k;
        std::size_t l = char_at(s, j, c, k);
        if (!(k & cls_space)) break;
        if (k & cls_crlf) {
            has_crlf = true;
            last_crlf_end = j + l;
        }
        last_start = j;
        j += l;
        ++count;
    }
    // 5. \s*[\r\n]+ : greedy \s* backtracks to the last CR/LF of the run
    if (has_crlf) return last_crlf_end;
    // 6. \s+(?!\S) : the whole run at the end of input, else the run minus its last character
    if (j == n) return j;
    if (count >= 2) return last_start;
    // 7. \s+
    return j;
}

} // namespace detail

/// Calls `emit(std::string_view piece)` for each pre-token of the valid UTF-8 `text`, in order.
template <class F> void qwen2_pretokenize(std::string_view text, F&& emit) {
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    std::size_t n = text.size(), i = 0;
    while (i < n) {
        std::size_t e = detail::qwen2_match_end(s, n, i);
        emit(text.substr(i, e - i));
        i = e;
    }
}

} // namespace rscovlm::tokenizer
