#pragma once
/// \file data/detail/pyformat.hpp
/// Python / numpy compatible number formatting used by the data writers.
///
/// `str(np.float32(x))` and `repr(float(x))` both print the shortest decimal string that reads
/// back to the same value, positional when 1e-4 <= |x| < 1e16 (always with a ".0" when integral),
/// scientific otherwise ("1e-05", "1.5e+16": at least two exponent digits).

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <system_error>

namespace rscovlm::data::detail {

/// Shortest round-trip text of `v` in Python's repr style (float: numpy float32 `str()`,
/// double: Python `repr(float)`).
template <class Float>
inline std::string python_float_repr(Float v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
    if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
    char buf[64];
    // Shortest round-trip digits in scientific form: "d.ddde[+-]XX".
    auto res = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
    std::string sci(buf, res.ptr);
    bool neg = false;
    std::size_t pos = 0;
    if (sci[0] == '-') {
        neg = true;
        pos = 1;
    }
    const std::size_t epos = sci.find('e');
    std::string mant = sci.substr(pos, epos - pos);
    const int exp10 = std::atoi(sci.c_str() + epos + 1);
    std::string digits;
    for (char c : mant)
        if (c != '.') digits.push_back(c);
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    std::string out = neg ? "-" : "";
    // CPython float_repr_style 'short' with mode 'r': positional iff -4 <= exp10 < 16.
    if (exp10 >= -4 && exp10 < 16) {
        const int n = static_cast<int>(digits.size());
        const int point = exp10 + 1;  // position of the decimal point in `digits`
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

/// numpy's float64 -> float32 conversion: values beyond the float range become +-inf (a plain
/// C++ cast would be undefined there).
inline float to_float32(double v) noexcept {
    if (v > 3.4028234663852886e38) return v < 3.4028235677973366e38 ? 3.4028234663852886e38f : HUGE_VALF;
    if (v < -3.4028234663852886e38) return v > -3.4028235677973366e38 ? -3.4028234663852886e38f : -HUGE_VALF;
    return static_cast<float>(v);
}

/// Python `float(text)`: optional surrounding whitespace, decimal or scientific notation,
/// "inf"/"nan". Returns false when the text is not a float.
inline bool parse_python_float(const std::string& text, double& out) {
    std::size_t b = 0, e = text.size();
    auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
    while (b < e && is_space(text[b])) ++b;
    while (e > b && is_space(text[e - 1])) --e;
    if (b == e) return false;
    const char* first = text.data() + b;
    const char* last = text.data() + e;
    if (*first == '+') ++first;  // from_chars rejects a leading '+'
    if (first == last) return false;
    auto res = std::from_chars(first, last, out);
    if (res.ec == std::errc::result_out_of_range) {
        // Python returns inf / 0 for out-of-range literals.
        out = std::strtod(std::string(first, last).c_str(), nullptr);
        return true;
    }
    return res.ec == std::errc() && res.ptr == last;
}

/// Python `int(text)` on a decimal literal with optional whitespace and sign.
inline bool parse_python_int(const std::string& text, long long& out) {
    std::size_t b = 0, e = text.size();
    auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
    while (b < e && is_space(text[b])) ++b;
    while (e > b && is_space(text[e - 1])) --e;
    if (b == e) return false;
    const char* first = text.data() + b;
    const char* last = text.data() + e;
    if (*first == '+') ++first;
    if (first == last) return false;
    auto res = std::from_chars(first, last, out);
    return res.ec == std::errc() && res.ptr == last;
}

}  // namespace rscovlm::data::detail
