#pragma once
/// \file data/detail/pyformat.hpp
/// Python / numpy number formatting and parsing under the data module's names (see
/// detail/py/format.hpp and detail/py/int.hpp).

#include <rscovlm/detail/py/format.hpp>
#include <rscovlm/detail/py/int.hpp>

#include <string>

namespace rscovlm::data::detail {

/// Shortest round-trip text in Python's repr style (`detail::py::float_repr`).
template <class Float> inline std::string python_float_repr(Float v) {
    return ::rscovlm::detail::py::float_repr(v);
}

using ::rscovlm::detail::py::to_float32;

/// Python `float(text)` (`detail::py::parse_float`); false when Python raises.
inline bool parse_python_float(const std::string& text, double& out) {
    const auto v = ::rscovlm::detail::py::parse_float(text);
    if (v) out = *v;
    return v.has_value();
}

/// Python `int(text)` (`detail::py::parse_int`); false when Python raises or the value does not
/// fit a long long.
inline bool parse_python_int(const std::string& text, long long& out) {
    const auto v = ::rscovlm::detail::py::parse_int(text);
    if (v) out = *v;
    return v.has_value();
}

} // namespace rscovlm::data::detail
