#pragma once
/// \file data/dota.hpp
/// DOTA annotation files: `x1 y1 x2 y2 x3 y3 x4 y4 class difficulty` lines, optionally preceded
/// by `imagesource:` and `gsd:` header lines. Reader (strict, or mmrotate's exact dialect) and
/// writer (shortest round-trip numbers, or numpy float32 `str()` as mmrotate's img_split writes).

#include <rscovlm/data/detail/pyformat.hpp>
#include <rscovlm/detail/py/file.hpp>
#include <rscovlm/detail/py/str.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/geometry/types.hpp>

#include <cmath>
#include <cstddef>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::data {

/// The 15 DOTA-v1.0 categories, in the order of the official devkit.
inline constexpr std::string_view dota_v1_classes[] = {
    "plane",  "baseball-diamond", "bridge",           "ground-track-field", "small-vehicle",     "large-vehicle",
    "ship",   "tennis-court",     "basketball-court", "storage-tank",       "soccer-ball-field", "roundabout",
    "harbor", "swimming-pool",    "helicopter"};
/// DOTA-v1.5 adds container-crane; DOTA-v2.0 adds airport and helipad.
inline constexpr std::string_view dota_v2_extra_classes[] = {"container-crane", "airport", "helipad"};

/// One annotated object: a quadrilateral (DOTA vertex order), its class and difficulty
/// (0 normal, 1 difficult, 2 truncated by a split window).
struct dota_object {
    geometry::quad poly{};
    std::string label;
    int difficulty = 0;
};

/// The contents of one DOTA annotation file.
struct dota_annotation {
    std::string image_source;  ///< value of an `imagesource:` line ("" when absent)
    std::optional<double> gsd; ///< value of a `gsd:` line (absent, or `gsd:null`)
    std::vector<dota_object> objects;
    std::size_t skipped_lines = 0; ///< lines ignored (blank lines; short lines in the mmrotate dialect)
};

/// How lines are interpreted.
enum class dota_dialect {
    /// Whitespace-separated fields; 9 or 10 fields per object line; anything else is an error.
    strict,
    /// Exactly mmrotate's `_load_dota_txt` (tools/data/dota/split/img_split.py): universal
    /// newlines, `line.split(' ')`, lines with < 9 fields skipped (counted), label = field 9 as is
    /// (it keeps the trailing newline when there is no difficulty field), difficulty =
    /// `int(field 10)` only when there are exactly 10 fields, coordinates rounded to float32.
    mmrotate,
};

/// Options of the DOTA reader.
struct dota_read_options {
    dota_dialect dialect = dota_dialect::strict;
};

namespace detail {

inline bool starts_with(std::string_view s, std::string_view p) noexcept {
    return s.size() >= p.size() && s.substr(0, p.size()) == p;
}

/// Python `str.strip()` as a string (`detail::py::strip`).
inline std::string trim_copy(std::string_view s) {
    return std::string(::rscovlm::detail::py::strip(s));
}

/// Python universal-newline line iteration: "\r\n" and "\r" become "\n"; lines keep their "\n".
inline std::vector<std::string> python_lines(std::string_view text) {
    std::vector<std::string> lines;
    std::string cur;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '\r') {
            if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
            c = '\n';
        }
        cur.push_back(c);
        if (c == '\n') {
            lines.push_back(std::move(cur));
            cur.clear();
        }
    }
    if (!cur.empty()) lines.push_back(std::move(cur));
    return lines;
}

/// Python `s.split(sep)` / `s.split()` (`detail::py::split`) as strings.
inline std::vector<std::string> to_strings(const std::vector<std::string_view>& parts) {
    return std::vector<std::string>(parts.begin(), parts.end());
}
inline std::vector<std::string> split_char(std::string_view s, char sep) {
    return to_strings(::rscovlm::detail::py::split(s, std::string_view(&sep, 1)));
}
inline std::vector<std::string> split_ws(std::string_view s) {
    return to_strings(::rscovlm::detail::py::split(s));
}

[[noreturn]] inline void dota_fail(const std::string& source, std::size_t line_no, const std::string& what) {
    RSCOVLM_THROW(data_error, "bad_dota_line", source + ":" + std::to_string(line_no) + ": " + what);
}

inline std::string quoted_field(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\n')
            out += "\\n";
        else if (c == '\r')
            out += "\\r";
        else
            out += c;
    }
    return out + "'";
}

} // namespace detail

/// Parses the text of a DOTA annotation file. `source_name` is used in error messages.
/// Throws data_error "bad_dota_line" (naming source:line and the field) on malformed lines.
inline dota_annotation parse_dota(std::string_view text, const std::string& source_name = "<memory>",
                                  const dota_read_options& options = {}) {
    dota_annotation ann;
    const std::vector<std::string> lines = detail::python_lines(text);
    for (std::size_t li = 0; li < lines.size(); ++li) {
        const std::string& line = lines[li];
        const std::size_t line_no = li + 1;
        if (options.dialect == dota_dialect::mmrotate) {
            // mmrotate _load_dota_txt: `if line.startswith('gsd')`, float(line.split(':')[-1]) or None.
            if (detail::starts_with(line, "gsd")) {
                const std::size_t c = line.rfind(':');
                double g = 0;
                if (detail::parse_python_float(c == std::string::npos ? line : line.substr(c + 1), g))
                    ann.gsd = g;
                else
                    ann.gsd.reset();
                continue;
            }
            if (detail::starts_with(line, "imagesource:")) ann.image_source = detail::trim_copy(line.substr(12));
            const std::vector<std::string> items = detail::split_char(line, ' ');
            if (items.size() < 9) {
                ++ann.skipped_lines;
                continue;
            }
            dota_object obj;
            for (int k = 0; k < 8; ++k) {
                double v = 0;
                if (!detail::parse_python_float(items[static_cast<std::size_t>(k)], v))
                    detail::dota_fail(source_name, line_no,
                                      "field " + std::to_string(k + 1) + " is not a number: " +
                                          detail::quoted_field(items[static_cast<std::size_t>(k)]));
                // np.array(bboxes, dtype=np.float32)
                const double f = static_cast<double>(detail::to_float32(v));
                if (k % 2 == 0)
                    obj.poly[static_cast<std::size_t>(k / 2)].x = f;
                else
                    obj.poly[static_cast<std::size_t>(k / 2)].y = f;
            }
            obj.label = items[8];
            if (items.size() == 10) {
                long long d = 0;
                if (!detail::parse_python_int(items[9], d))
                    detail::dota_fail(source_name, line_no,
                                      "difficulty is not an integer: " + detail::quoted_field(items[9]));
                obj.difficulty = static_cast<int>(d);
            }
            ann.objects.push_back(std::move(obj));
            continue;
        }
        // strict dialect
        const std::string t = detail::trim_copy(line);
        if (t.empty()) {
            ++ann.skipped_lines;
            continue;
        }
        if (detail::starts_with(t, "imagesource:")) {
            ann.image_source = detail::trim_copy(std::string_view(t).substr(12));
            continue;
        }
        if (detail::starts_with(t, "gsd:")) {
            double g = 0;
            const std::string v = detail::trim_copy(std::string_view(t).substr(4));
            if (detail::parse_python_float(v, g))
                ann.gsd = g;
            else if (v == "null" || v == "None" || v.empty())
                ann.gsd.reset();
            else
                detail::dota_fail(source_name, line_no, "gsd is not a number: " + detail::quoted_field(v));
            continue;
        }
        const std::vector<std::string> f = detail::split_ws(t);
        if (f.size() != 9 && f.size() != 10)
            detail::dota_fail(source_name, line_no,
                              "expected 'x1 y1 x2 y2 x3 y3 x4 y4 class [difficulty]', got " + std::to_string(f.size()) +
                                  " fields");
        dota_object obj;
        for (std::size_t k = 0; k < 8; ++k) {
            double v = 0;
            if (!detail::parse_python_float(f[k], v) || !std::isfinite(v))
                detail::dota_fail(source_name, line_no,
                                  "field " + std::to_string(k + 1) +
                                      " is not a finite number: " + detail::quoted_field(f[k]));
            if (k % 2 == 0)
                obj.poly[k / 2].x = v;
            else
                obj.poly[k / 2].y = v;
        }
        obj.label = f[8];
        if (f.size() == 10) {
            long long d = 0;
            if (!detail::parse_python_int(f[9], d) || d < 0 || d > 1000)
                detail::dota_fail(source_name, line_no,
                                  "difficulty is not a small integer: " + detail::quoted_field(f[9]));
            obj.difficulty = static_cast<int>(d);
        }
        ann.objects.push_back(std::move(obj));
    }
    return ann;
}

/// Reads a DOTA annotation file. Throws io_error "open_failed" when the file cannot be read.
inline dota_annotation read_dota(const std::string& path, const dota_read_options& options = {}) {
    return parse_dota(
        ::rscovlm::detail::py::read_file_or_throw(path, "open_failed", "cannot open DOTA annotation file " + path),
        path, options);
}

/// Non-throwing `read_dota`.
inline result<dota_annotation> try_read_dota(const std::string& path, const dota_read_options& options = {}) {
    return try_call([&] { return read_dota(path, options); });
}

/// How numbers are written.
enum class dota_number_format {
    shortest,      ///< shortest round-trip text of the double (Python repr): 117.0, 964.25
    numpy_float32, ///< numpy float32 `str()`, as mmrotate's img_split writes patch files
    integer,       ///< rounded to the nearest integer (original DOTA-v1.0 style)
};

/// Options of the DOTA writer.
struct dota_write_options {
    dota_number_format numbers = dota_number_format::shortest;
    std::string image_source;  ///< written as `imagesource:<value>` when non-empty
    std::optional<double> gsd; ///< written as `gsd:<value>` when set
    bool write_difficulty = true;
};

/// Formats one number as the writer does.
inline std::string format_dota_number(double v, dota_number_format f) {
    switch (f) {
    case dota_number_format::numpy_float32:
        return detail::python_float_repr(detail::to_float32(v));
    case dota_number_format::integer:
        return std::isfinite(v) && std::abs(v) < 9.0e18 ? std::to_string(static_cast<long long>(std::llround(v)))
                                                        : detail::python_float_repr(v);
    case dota_number_format::shortest:
    default:
        return detail::python_float_repr(v);
    }
}

/// One object as a DOTA line without the trailing newline:
/// `x1 y1 ... x4 y4 label difficulty` (single spaces, as mmrotate's `' '.join`).
inline std::string format_dota_line(const dota_object& obj, const dota_write_options& options = {}) {
    std::string s;
    for (std::size_t k = 0; k < 4; ++k) {
        if (k) s += ' ';
        s += format_dota_number(obj.poly[k].x, options.numbers);
        s += ' ';
        s += format_dota_number(obj.poly[k].y, options.numbers);
    }
    s += ' ';
    s += obj.label;
    if (options.write_difficulty) {
        s += ' ';
        s += std::to_string(obj.difficulty);
    }
    return s;
}

/// Text of a DOTA annotation file (header lines, then one line per object, each ending in '\n').
inline std::string format_dota(const std::vector<dota_object>& objects, const dota_write_options& options = {}) {
    std::string out;
    if (!options.image_source.empty()) out += "imagesource:" + options.image_source + "\n";
    if (options.gsd) out += "gsd:" + detail::python_float_repr(*options.gsd) + "\n";
    for (const dota_object& o : objects) {
        out += format_dota_line(o, options);
        out += '\n';
    }
    return out;
}

/// Writes a DOTA annotation file. Throws io_error "write_failed".
inline void write_dota(const std::string& path, const std::vector<dota_object>& objects,
                       const dota_write_options& options = {}) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) RSCOVLM_THROW(io_error, "write_failed", "cannot create DOTA annotation file " + path);
    const std::string text = format_dota(objects, options);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!out) RSCOVLM_THROW(io_error, "write_failed", "cannot write DOTA annotation file " + path);
}

} // namespace rscovlm::data
