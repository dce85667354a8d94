#pragma once
/// \file detail/py/json.hpp
/// Python `json.dumps(obj)` with its defaults: `ensure_ascii=True` (every non-ASCII code point and
/// every control as `\uXXXX`, surrogate pairs above U+FFFF, the short escapes \" \\ \n \r \t \b
/// \f), separators ", " and ": ", objects in insertion order, floats as `repr(float)`, NaN and
/// infinities as `NaN` / `Infinity` / `-Infinity`.

#include <rscovlm/detail/py/format.hpp>
#include <rscovlm/detail/py/utf8.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace rscovlm::detail::py {

/// `json.dumps(s)` of a str. Ill-formed UTF-8 (which a Python str cannot hold) is read as
/// `bytes.decode("utf-8", "replace")` does: one U+FFFD per maximal ill-formed subsequence.
inline std::string json_dumps_string(std::string_view s) {
    std::string out = "\"";
    char buf[16];
    for (std::size_t i = 0; i < s.size();) {
        const char32_t cp = next_code_point(s, i);
        switch (cp) {
        case '"':
            out += "\\\"";
            continue;
        case '\\':
            out += "\\\\";
            continue;
        case '\n':
            out += "\\n";
            continue;
        case '\r':
            out += "\\r";
            continue;
        case '\t':
            out += "\\t";
            continue;
        case '\b':
            out += "\\b";
            continue;
        case '\f':
            out += "\\f";
            continue;
        default:
            break;
        }
        if (cp >= 0x20 && cp < 0x7F) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x10000) {
            std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(cp));
            out += buf;
        } else {
            const std::uint32_t v = static_cast<std::uint32_t>(cp) - 0x10000;
            std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                          static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
            out += buf;
        }
    }
    out += '"';
    return out;
}

/// `json.dumps(value)` with Python's defaults.
template <class Json> inline std::string json_dumps(const Json& v) {
    using value_t = nlohmann::json::value_t;
    switch (v.type()) {
    case value_t::null:
        return "null";
    case value_t::boolean:
        return v.template get<bool>() ? "true" : "false";
    case value_t::number_integer:
        return std::to_string(v.template get<std::int64_t>());
    case value_t::number_unsigned:
        return std::to_string(v.template get<std::uint64_t>());
    case value_t::number_float: {
        const double d = v.template get<double>();
        if (d != d) return "NaN";
        if (d > 1.7976931348623157e308) return "Infinity";
        if (d < -1.7976931348623157e308) return "-Infinity";
        return float_repr(d);
    }
    case value_t::string:
        return json_dumps_string(v.template get_ref<const std::string&>());
    case value_t::array: {
        std::string out = "[";
        bool first = true;
        for (const auto& e : v) {
            if (!first) out += ", ";
            first = false;
            out += json_dumps(e);
        }
        return out + "]";
    }
    case value_t::object: {
        std::string out = "{";
        bool first = true;
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (!first) out += ", ";
            first = false;
            out += json_dumps_string(it.key());
            out += ": ";
            out += json_dumps(it.value());
        }
        return out + "}";
    }
    default:
        return "null";
    }
}

} // namespace rscovlm::detail::py
