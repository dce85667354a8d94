#pragma once
/// \file detail/py/math.hpp
/// Python float arithmetic that differs from C++: `a % b` and `round(x)`.

#include <cmath>

namespace rscovlm::detail::py {

/// Python `a % b` for floats: the result has the sign of the divisor (`-1.0 % 3.0 == 2.0`,
/// `1.0 % -3.0 == -2.0`; a zero result is signed like `b`).
inline double mod(double a, double b) noexcept {
    double m = std::fmod(a, b);
    if (m != 0.0) {
        if ((b < 0) != (m < 0)) m += b;
    } else {
        m = std::copysign(0.0, b);
    }
    return m;
}

/// Python `round(x)` of a float, as a double: to nearest, ties to even (`round(2.5) == 2`). Uses
/// the current rounding mode, which must be the default (to nearest).
inline double round_half_even(double x) noexcept {
    return std::nearbyint(x);
}

} // namespace rscovlm::detail::py
