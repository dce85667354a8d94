#pragma once
/// \file detail/py/format.hpp
/// Python number <-> text conversions:
/// - `float_repr(x)`: `repr(float)` / `str(float)` (double) and numpy `str(np.float32)` (float);
/// - `format_fixed(x, n)`: `'%.nf' % x` / `format(x, '.nf')`;
/// - `parse_float(s)`: `float(s)` of a str;
/// - `to_float32(x)`: numpy's float64 -> float32 conversion.

#include <rscovlm/detail/py/str.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace rscovlm::detail::py {

/// Shortest round-trip text of `v` in Python's repr style: positional when 1e-4 <= |v| < 1e16
/// (always with a ".0" when integral), scientific otherwise ("1e-05", "1.5e+16": at least two
/// exponent digits); "nan", "inf", "-inf", "-0.0". For `float` the digits are the shortest that
/// round-trip in float32, as numpy's `str(np.float32(x))`.
template <class Float> inline std::string float_repr(Float v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
    if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
    char buf[64];
    // Shortest round-trip digits in scientific form: "d.ddde[+-]XX".
    auto res = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
    const std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));
    const bool neg = sci[0] == '-';
    const std::size_t epos = sci.find('e');
    std::string digits;
    for (std::size_t i = neg ? 1 : 0; i < epos; ++i)
        if (sci[i] != '.') digits.push_back(sci[i]);
    int exp10 = 0; // the text is not NUL-terminated: read the exponent from the view
    (void)std::from_chars(sci.data() + epos + (sci[epos + 1] == '+' ? 2 : 1), sci.data() + sci.size(), exp10);
    while (digits.size() > 1 && digits.back() == '0')
        digits.pop_back();
    std::string out = neg ? "-" : "";
    // CPython float_repr_style 'short' with mode 'r': positional iff -4 <= exp10 < 16.
    if (exp10 >= -4 && exp10 < 16) {
        const int n = static_cast<int>(digits.size());
        const int point = exp10 + 1; // position of the decimal point in `digits`
        if (point <= 0) {
            out += "0.";
            out.append(static_cast<std::size_t>(-point), '0');
            out += digits;
        } else if (point >= n) {
            out += digits;
            out.append(static_cast<std::size_t>(point - n), '0');
            out += ".0";
        } else {
            out += digits.substr(0, static_cast<std::size_t>(point));
            out += '.';
            out += digits.substr(static_cast<std::size_t>(point));
        }
        return out;
    }
    out += digits.substr(0, 1);
    if (digits.size() > 1) {
        out += '.';
        out += digits.substr(1);
    }
    out += 'e';
    out += exp10 < 0 ? '-' : '+';
    const int a = std::abs(exp10);
    if (a < 10) out += '0';
    out += std::to_string(a);
    return out;
}

/// Python `'%.{precision}f' % v`: correctly rounded fixed notation of the exact binary value (as C
/// printf), but "nan" / "inf" / "-inf" without the sign C gives a negative NaN.
inline std::string format_fixed(double v, int precision) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
    char buf[400];
    std::snprintf(buf, sizeof buf, "%.*f", precision, v);
    return buf;
}

/// numpy's float64 -> float32 conversion: values beyond the float range become +-inf (a plain
/// C++ cast would be undefined there).
inline float to_float32(double v) noexcept {
    if (v > 3.4028234663852886e38) return v < 3.4028235677973366e38 ? 3.4028234663852886e38f : HUGE_VALF;
    if (v < -3.4028234663852886e38) return v > -3.4028235677973366e38 ? -3.4028234663852886e38f : -HUGE_VALF;
    return static_cast<float>(v);
}

/// Python `float(s)` of a str: surrounding whitespace (the `str.strip()` set), an optional sign,
/// decimal or scientific notation with single underscores between digits, "inf" / "infinity" /
/// "nan" in any case. Out-of-range literals give +-inf or 0 as in Python. nullopt where Python
/// raises ValueError (hex floats, "nan(...)", empty text, ...).
inline std::optional<double> parse_float(std::string_view tok) {
    double out = 0;
    // Fast path: plain decimal notation, parsed with from_chars (correctly rounded like Python).
    if (!tok.empty() && tok.size() < 64) {
        bool plain = true;
        for (char c : tok)
            if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == 'e' || c == 'E' || c == '+')) {
                plain = false;
                break;
            }
        if (plain) {
            const char* b = tok.data();
            const char* e = tok.data() + tok.size();
            if (*b == '+' && e - b > 1 && b[1] != '-' && b[1] != '+') ++b;
            const auto r = std::from_chars(b, e, out);
            if (r.ec == std::errc() && r.ptr == e) return out;
            if (r.ec == std::errc::result_out_of_range && r.ptr == e)
                return std::strtod(std::string(b, e).c_str(), nullptr); // overflow -> inf, underflow -> 0
            // fall through to the general path (it rejects what Python rejects)
        }
    }
    tok = strip(tok);
    if (tok.empty() || tok.size() > 400) return std::nullopt;
    std::string t(tok);
    for (char c : t)
        if (c == 'x' || c == 'X' || c == 'p' || c == 'P') return std::nullopt; // no hex floats in Python
    // Python allows single underscores between digits.
    if (t.find('_') != std::string::npos) {
        std::string u;
        auto digit = [](char c) { return c >= '0' && c <= '9'; };
        for (std::size_t i = 0; i < t.size(); ++i) {
            if (t[i] == '_') {
                if (i == 0 || i + 1 == t.size() || !digit(t[i - 1]) || !digit(t[i + 1])) return std::nullopt;
                continue;
            }
            u.push_back(t[i]);
        }
        t.swap(u);
    }
    const std::string low = lower_ascii(t);
    std::string_view l = low;
    if (!l.empty() && (l[0] == '+' || l[0] == '-')) l.remove_prefix(1);
    if (l == "nan" || l == "inf" || l == "infinity") {
        const bool neg = low[0] == '-';
        if (l == "nan") return neg ? -std::nan("") : std::nan("");
        return neg ? -HUGE_VAL : HUGE_VAL;
    }
    for (char c : l)
        if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == '+' || c == '-')) return std::nullopt;
    char* end = nullptr;
    out = std::strtod(t.c_str(), &end);
    if (end != t.c_str() + t.size() || end == t.c_str()) return std::nullopt;
    return out;
}

} // namespace rscovlm::detail::py
