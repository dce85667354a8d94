#pragma once
/// \file data/detail/pyjson.hpp
/// Python `json.dumps(obj)` with default settings (ensure_ascii=True, separators ", " and ": ",
/// insertion-ordered objects, floats as `repr`), for the JSON targets RSCoVLM builds.

#include <rscovlm/data/detail/pyformat.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace rscovlm::data::detail {

/// Decodes one UTF-8 code point at s[i] (advancing i); invalid bytes decode as themselves (U+00xx).
inline std::uint32_t next_code_point(std::string_view s, std::size_t& i) noexcept {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len <= 1 || i + len > s.size()) {
        ++i;
        return c;
    }
    std::uint32_t cp = len == 2 ? (c & 0x1FU) : len == 3 ? (c & 0x0FU) : (c & 0x07U);
    for (std::size_t k = 1; k < len; ++k) {
        const auto cc = static_cast<unsigned char>(s[i + k]);
        if ((cc >> 6) != 2) {
            ++i;
            return c;
        }
        cp = (cp << 6) | (cc & 0x3FU);
    }
    i += len;
    return cp;
}

/// `json.dumps(str)`: quoted, with \" \\ \n \r \t \b \f escapes, other controls and all
/// non-ASCII as \uXXXX (surrogate pairs above U+FFFF).
inline std::string py_json_string(std::string_view s) {
    std::string out = "\"";
    char buf[16];
    for (std::size_t i = 0; i < s.size();) {
        const std::uint32_t cp = next_code_point(s, i);
        switch (cp) {
        case '"': out += "\\\""; continue;
        case '\\': out += "\\\\"; continue;
        case '\n': out += "\\n"; continue;
        case '\r': out += "\\r"; continue;
        case '\t': out += "\\t"; continue;
        case '\b': out += "\\b"; continue;
        case '\f': out += "\\f"; continue;
        default: break;
        }
        if (cp >= 0x20 && cp < 0x7F) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x10000) {
            std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(cp));
            out += buf;
        } else {
            const std::uint32_t v = cp - 0x10000;
            std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                          static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
            out += buf;
        }
    }
    out += '"';
    return out;
}

/// `json.dumps(value)` with Python's defaults.
inline std::string py_json_dumps(const nlohmann::ordered_json& v) {
    switch (v.type()) {
    case nlohmann::ordered_json::value_t::null: return "null";
    case nlohmann::ordered_json::value_t::boolean: return v.get<bool>() ? "true" : "false";
    case nlohmann::ordered_json::value_t::number_integer: return std::to_string(v.get<std::int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: return std::to_string(v.get<std::uint64_t>());
    case nlohmann::ordered_json::value_t::number_float: {
        const double d = v.get<double>();
        if (d != d) return "NaN";
        if (d > 1.7976931348623157e308) return "Infinity";
        if (d < -1.7976931348623157e308) return "-Infinity";
        return python_float_repr(d);
    }
    case nlohmann::ordered_json::value_t::string: return py_json_string(v.get_ref<const std::string&>());
    case nlohmann::ordered_json::value_t::array: {
        std::string out = "[";
        bool first = true;
        for (const auto& e : v) {
            if (!first) out += ", ";
            first = false;
            out += py_json_dumps(e);
        }
        return out + "]";
    }
    case nlohmann::ordered_json::value_t::object: {
        std::string out = "{";
        bool first = true;
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (!first) out += ", ";
            first = false;
            out += py_json_string(it.key());
            out += ": ";
            out += py_json_dumps(it.value());
        }
        return out + "}";
    }
    default: return "null";
    }
}

}  // namespace rscovlm::data::detail
