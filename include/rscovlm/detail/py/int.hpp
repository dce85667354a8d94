#pragma once
/// \file detail/py/int.hpp
/// Python `int()`, in its two distinct meanings:
/// - `int_trunc(x)`: `int(x)` of a float, truncation toward zero;
/// - `parse_int(s)`: `int(s)` of a string, decimal integer parsing.

#include <rscovlm/detail/py/str.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

namespace rscovlm::detail::py {

/// Python `int(x)` for a float: truncation toward zero (`int(-2.7) == -2`). Saturates at the int64
/// range and gives 0 for NaN, where Python returns a big int or raises.
inline std::int64_t int_trunc(double x) noexcept {
    if (std::isnan(x)) return 0;
    if (x >= 9.2233720368547758e18) return std::numeric_limits<std::int64_t>::max();
    if (x <= -9.2233720368547758e18) return std::numeric_limits<std::int64_t>::min();
    return static_cast<std::int64_t>(std::trunc(x));
}

namespace int_detail {

/// Validates `int(s)` syntax (base 10) and folds the digits with `acc(digit)`, which returns false
/// to stop on overflow. Returns false where Python raises ValueError.
template <class Acc> inline bool scan_int(std::string_view s, bool& negative, Acc&& acc) {
    s = strip(s);
    negative = false;
    if (s.empty()) return false;
    std::size_t i = 0;
    if (s[0] == '+' || s[0] == '-') negative = s[0] == '-', i = 1;
    if (i >= s.size()) return false;
    bool prev_digit = false;
    for (; i < s.size(); ++i) {
        const char c = s[i];
        if (c >= '0' && c <= '9') {
            if (!acc(c - '0')) return false;
            prev_digit = true;
        } else if (c == '_' && prev_digit && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '9') {
            prev_digit = false;
        } else {
            return false;
        }
    }
    return true;
}

} // namespace int_detail

/// Python `int(s)` for a str in base 10: surrounding whitespace (the `str.strip()` set), an optional
/// sign, ASCII digits with single underscores between them ("1_000"). nullopt where Python raises
/// ValueError, and where the value does not fit in a long long (Python would return a big int).
inline std::optional<long long> parse_int(std::string_view s) noexcept {
    unsigned long long mag = 0;
    constexpr unsigned long long limit = static_cast<unsigned long long>(std::numeric_limits<long long>::max()) + 1;
    bool neg = false;
    const bool ok = int_detail::scan_int(s, neg, [&](int d) {
        if (mag > (limit - static_cast<unsigned>(d)) / 10) return false;
        mag = mag * 10 + static_cast<unsigned>(d);
        return true;
    });
    if (!ok || (!neg && mag == limit)) return std::nullopt;
    return neg ? static_cast<long long>(0 - mag) : static_cast<long long>(mag);
}

/// `float(int(s))`: `parse_int`'s syntax, with no range limit; the value is exact up to 2^53 and
/// rounded beyond (digit by digit, as `v * 10 + d` in double arithmetic).
inline std::optional<double> parse_int_as_double(std::string_view s) noexcept {
    double v = 0;
    bool neg = false;
    if (!int_detail::scan_int(s, neg, [&](int d) {
            v = v * 10 + d;
            return true;
        }))
        return std::nullopt;
    return neg ? -v : v;
}

} // namespace rscovlm::detail::py
