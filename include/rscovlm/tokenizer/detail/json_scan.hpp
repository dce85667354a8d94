#pragma once
/// \file json_scan.hpp
/// A small validating JSON scanner used to load tokenizer.json quickly: the large parts
/// (`model.vocab`, `model.merges`) are streamed straight into the tokenizer's tables, the small
/// parts are handed to nlohmann::json as raw text. Every syntax error is reported as
/// `rscovlm.tokenizer.bad_json` (or `truncated` at end of input) with line and column.

#include <rscovlm/detail/unicode.hpp>
#include <rscovlm/errors.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

namespace rscovlm::tokenizer::detail {

/// Cursor over a JSON document held in memory.
class json_scanner {
public:
    json_scanner(std::string_view text, std::string name)
        : m_begin(text.data()), m_p(text.data()), m_end(text.data() + text.size()), m_name(std::move(name)) {}

    const std::string& name() const noexcept { return m_name; }
    std::size_t offset() const noexcept { return static_cast<std::size_t>(m_p - m_begin); }
    const char* position() const noexcept { return m_p; }
    bool at_end() {
        skip_ws();
        return m_p == m_end;
    }

    void skip_ws() noexcept {
        while (m_p < m_end && (*m_p == ' ' || *m_p == '\n' || *m_p == '\r' || *m_p == '\t'))
            ++m_p;
    }

    /// Next non-space character without consuming it (throws `truncated` at end).
    char peek() {
        skip_ws();
        if (m_p == m_end) fail_eof("a value");
        return *m_p;
    }

    void expect(char c) {
        skip_ws();
        if (m_p == m_end) fail_eof(std::string("'") + c + "'");
        if (*m_p != c) fail(std::string("expected '") + c + "', found " + describe_here());
        ++m_p;
    }

    /// Consumes `c` if it is next; returns whether it was.
    bool consume(char c) {
        skip_ws();
        if (m_p < m_end && *m_p == c) {
            ++m_p;
            return true;
        }
        return false;
    }

    /// Parses a string into `out` (replacing its contents). Validates escapes and UTF-8.
    void parse_string(std::string& out) {
        out.clear();
        expect('"');
        for (;;) {
            const char* start = m_p;
            // fast path: plain ASCII run
            while (m_p < m_end) {
                unsigned char c = static_cast<unsigned char>(*m_p);
                if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
                ++m_p;
            }
            out.append(start, static_cast<std::size_t>(m_p - start));
            if (m_p == m_end) fail_eof("the end of a string");
            unsigned char c = static_cast<unsigned char>(*m_p);
            if (c == '"') {
                ++m_p;
                return;
            }
            if (c < 0x20) fail("control character in a string");
            if (c >= 0x80) {
                char32_t cp;
                std::size_t len = rscovlm::detail::unicode::decode_valid(reinterpret_cast<const unsigned char*>(m_p),
                                                                         static_cast<std::size_t>(m_end - m_p), 0, cp);
                if (len == 0) fail("invalid UTF-8 in a string");
                out.append(m_p, len);
                m_p += len;
                continue;
            }
            // escape
            ++m_p;
            if (m_p == m_end) fail_eof("an escape sequence");
            char e = *m_p++;
            switch (e) {
            case '"':
                out.push_back('"');
                break;
            case '\\':
                out.push_back('\\');
                break;
            case '/':
                out.push_back('/');
                break;
            case 'b':
                out.push_back('\b');
                break;
            case 'f':
                out.push_back('\f');
                break;
            case 'n':
                out.push_back('\n');
                break;
            case 'r':
                out.push_back('\r');
                break;
            case 't':
                out.push_back('\t');
                break;
            case 'u': {
                char32_t cp = hex4();
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (m_end - m_p < 6 || m_p[0] != '\\' || m_p[1] != 'u') fail("unpaired surrogate escape");
                    m_p += 2;
                    char32_t lo = hex4();
                    if (lo < 0xDC00 || lo > 0xDFFF) fail("unpaired surrogate escape");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    fail("unpaired surrogate escape");
                }
                rscovlm::detail::unicode::append_utf8(out, cp);
                break;
            }
            default:
                --m_p;
                fail("invalid escape sequence");
            }
        }
    }

    /// Parses an integer (JSON number without fraction or exponent) into `out`.
    long long parse_integer() {
        skip_ws();
        if (m_p == m_end) fail_eof("a number");
        const char* start = m_p;
        bool neg = false;
        if (*m_p == '-') {
            neg = true;
            ++m_p;
        }
        if (m_p == m_end) fail_eof("a number");
        if (*m_p < '0' || *m_p > '9') {
            m_p = start;
            fail("expected an integer, found " + describe_here());
        }
        unsigned long long v = 0;
        int digits = 0;
        while (m_p < m_end && *m_p >= '0' && *m_p <= '9') {
            v = v * 10 + static_cast<unsigned long long>(*m_p - '0');
            ++m_p;
            if (++digits > 18) {
                m_p = start;
                fail("integer out of range");
            }
        }
        if (m_p < m_end && (*m_p == '.' || *m_p == 'e' || *m_p == 'E')) {
            m_p = start;
            fail("expected an integer, found a fractional number");
        }
        return neg ? -static_cast<long long>(v) : static_cast<long long>(v);
    }

    /// Skips one value of any type (validating its syntax); returns its raw text.
    std::string_view skip_value(int depth = 0) {
        if (depth > 512) fail("nesting too deep");
        skip_ws();
        if (m_p == m_end) fail_eof("a value");
        const char* start = m_p;
        char c = *m_p;
        if (c == '{') {
            ++m_p;
            if (!consume('}')) {
                do {
                    skip_string();
                    expect(':');
                    skip_value(depth + 1);
                } while (consume(','));
                expect('}');
            }
        } else if (c == '[') {
            ++m_p;
            if (!consume(']')) {
                do {
                    skip_value(depth + 1);
                } while (consume(','));
                expect(']');
            }
        } else if (c == '"') {
            skip_string();
        } else if (c == 't') {
            literal("true");
        } else if (c == 'f') {
            literal("false");
        } else if (c == 'n') {
            literal("null");
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            number();
        } else {
            fail("unexpected " + describe_here());
        }
        return std::string_view(start, static_cast<std::size_t>(m_p - start));
    }

    /// Skips a string without keeping it.
    void skip_string() {
        skip_ws();
        if (m_p == m_end) fail_eof("a string");
        if (*m_p != '"') fail("expected a string, found " + describe_here());
        ++m_p;
        for (;;) {
            while (m_p < m_end) {
                unsigned char c = static_cast<unsigned char>(*m_p);
                if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
                ++m_p;
            }
            if (m_p == m_end) fail_eof("the end of a string");
            unsigned char c = static_cast<unsigned char>(*m_p);
            if (c == '"') {
                ++m_p;
                return;
            }
            if (c < 0x20) fail("control character in a string");
            if (c >= 0x80) {
                char32_t cp;
                std::size_t len = rscovlm::detail::unicode::decode_valid(reinterpret_cast<const unsigned char*>(m_p),
                                                                         static_cast<std::size_t>(m_end - m_p), 0, cp);
                if (len == 0) fail("invalid UTF-8 in a string");
                m_p += len;
                continue;
            }
            ++m_p;
            if (m_p == m_end) fail_eof("an escape sequence");
            char e = *m_p++;
            if (e == 'u') {
                hex4();
            } else if (!std::strchr("\"\\/bfnrt", e) || e == 0) {
                --m_p;
                fail("invalid escape sequence");
            }
        }
    }

    [[noreturn]] void fail(const std::string& what) const {
        RSCOVLM_THROW(tokenizer_error, "bad_json", m_name + ": " + what + " at " + where());
    }
    [[noreturn]] void fail_eof(const std::string& expected) const {
        RSCOVLM_THROW(tokenizer_error, "truncated",
                      m_name + ": unexpected end of input while reading " + expected + " at " + where() +
                          " (file truncated?)");
    }
    /// "line L, column C (byte O)" of the current position.
    std::string where() const {
        std::size_t line = 1, col = 1;
        for (const char* q = m_begin; q < m_p && q < m_end; ++q) {
            if (*q == '\n') {
                ++line;
                col = 1;
            } else {
                ++col;
            }
        }
        return "line " + std::to_string(line) + ", column " + std::to_string(col) + " (byte " +
               std::to_string(offset()) + ")";
    }

private:
    std::string describe_here() const {
        if (m_p >= m_end) return "end of input";
        unsigned char c = static_cast<unsigned char>(*m_p);
        if (c >= 0x20 && c < 0x7F) return std::string("'") + static_cast<char>(c) + "'";
        char buf[16];
        std::snprintf(buf, sizeof buf, "byte 0x%02X", c);
        return buf;
    }
    char32_t hex4() {
        if (m_end - m_p < 4) fail_eof("a \\u escape");
        char32_t v = 0;
        for (int k = 0; k < 4; ++k) {
            char h = *m_p;
            int d;
            if (h >= '0' && h <= '9')
                d = h - '0';
            else if (h >= 'a' && h <= 'f')
                d = h - 'a' + 10;
            else if (h >= 'A' && h <= 'F')
                d = h - 'A' + 10;
            else
                fail("invalid \\u escape");
            v = v * 16 + static_cast<char32_t>(d);
            ++m_p;
        }
        return v;
    }
    void literal(const char* word) {
        std::size_t n = std::strlen(word);
        if (static_cast<std::size_t>(m_end - m_p) < n) {
            if (std::memcmp(m_p, word, static_cast<std::size_t>(m_end - m_p)) == 0) fail_eof(word);
            fail("invalid literal");
        }
        if (std::memcmp(m_p, word, n) != 0) fail("invalid literal");
        m_p += n;
    }
    void number() {
        if (*m_p == '-') ++m_p;
        if (m_p == m_end) fail_eof("a number");
        if (*m_p == '0') {
            ++m_p;
        } else if (*m_p >= '1' && *m_p <= '9') {
            while (m_p < m_end && *m_p >= '0' && *m_p <= '9')
                ++m_p;
        } else {
            fail("invalid number");
        }
        if (m_p < m_end && *m_p == '.') {
            ++m_p;
            if (m_p == m_end) fail_eof("a number");
            if (*m_p < '0' || *m_p > '9') fail("invalid number");
            while (m_p < m_end && *m_p >= '0' && *m_p <= '9')
                ++m_p;
        }
        if (m_p < m_end && (*m_p == 'e' || *m_p == 'E')) {
            ++m_p;
            if (m_p < m_end && (*m_p == '+' || *m_p == '-')) ++m_p;
            if (m_p == m_end) fail_eof("a number");
            if (*m_p < '0' || *m_p > '9') fail("invalid number");
            while (m_p < m_end && *m_p >= '0' && *m_p <= '9')
                ++m_p;
        }
    }

    const char* m_begin;
    const char* m_p;
    const char* m_end;
    std::string m_name;
};

} // namespace rscovlm::tokenizer::detail
