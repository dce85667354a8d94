#pragma once
/// \file
/// Python string semantics the reference parsers rely on, under their box_codec names: the
/// functions themselves are in detail/py (`str.splitlines()`, `str.strip()`, `int(str)`,
/// `json.dumps` of labels).

#include <rscovlm/detail/py/int.hpp>
#include <rscovlm/detail/py/json.hpp>
#include <rscovlm/detail/py/str.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rscovlm::box_codec::text {

using ::rscovlm::detail::py::json_dumps_string;
using ::rscovlm::detail::py::line_break_at;
using ::rscovlm::detail::py::space_at;
using ::rscovlm::detail::py::splitlines;
using ::rscovlm::detail::py::strip;

/// Python `str.strip(chars)` (`detail::py::strip(s, chars)`).
inline std::string_view strip_chars(std::string_view s, std::string_view chars) noexcept {
    return ::rscovlm::detail::py::strip(s, chars);
}

/// Python `str.rstrip(chars)` (`detail::py::rstrip(s, chars)`).
inline std::string_view rstrip_chars(std::string_view s, std::string_view chars) noexcept {
    return ::rscovlm::detail::py::rstrip(s, chars);
}

/// Python `int(s)` as a double (`detail::py::parse_int_as_double`).
inline std::optional<double> py_int(std::string_view s) noexcept {
    return ::rscovlm::detail::py::parse_int_as_double(s);
}

/// Python `str(int)` of an integer-valued double (no exponent, no fraction).
inline std::string int_str(std::int64_t v) {
    return std::to_string(v);
}

} // namespace rscovlm::box_codec::text
