#pragma once
/// \file data/detail/pyjson.hpp
/// Python `json.dumps(obj)` under the data module's names (see detail/py/json.hpp).

#include <rscovlm/detail/py/json.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace rscovlm::data::detail {

/// `json.dumps(str)` (`detail::py::json_dumps_string`).
inline std::string py_json_string(std::string_view s) {
    return ::rscovlm::detail::py::json_dumps_string(s);
}

/// `json.dumps(value)` with Python's defaults (`detail::py::json_dumps`).
inline std::string py_json_dumps(const nlohmann::ordered_json& v) {
    return ::rscovlm::detail::py::json_dumps(v);
}

} // namespace rscovlm::data::detail
