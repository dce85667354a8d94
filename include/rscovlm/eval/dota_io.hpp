#pragma once
/// \file dota_io.hpp
/// Readers and writers of DOTA text formats: ground truth (`x1 y1 ... x4 y4 class difficult`),
/// Task1 detection files (`Task1_{class}.txt`: `image score x1 y1 ... x4 y4`) and image sets.
///
/// Two ground-truth parsers mirror the two references:
/// - `gt_syntax::devkit` (DOTA_devkit `parse_gt`): `line.strip().split(' ')`; lines with fewer
///   than 9 fields are skipped (so `imagesource:`/`gsd:` header lines are ignored); 9 fields mean
///   difficult 0, 10 fields `int(field 9)`; more fields are an error (the reference would fail
///   later with a KeyError).
/// - `gt_syntax::mmrotate` (mmrotate 1.x `DOTADataset`): `line.split()`, 8 floats, class, and
///   `int(field 9)`; a header line is an error, as in the reference (ValueError).
/// Numbers follow Python's `float()` / `int()`: decimal notation with optional exponent,
/// `inf`/`nan`; anything else raises `eval_error` `bad_number` naming the file and line.

#include <rscovlm/detail/py/file.hpp>
#include <rscovlm/detail/py/format.hpp>
#include <rscovlm/detail/py/int.hpp>
#include <rscovlm/detail/py/str.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/geometry/types.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace rscovlm::eval {

/// The 15 DOTA-v1.0 classes in the official order.
inline const std::vector<std::string>& dota_v1_classes() {
    static const std::vector<std::string> c = {
        "plane",  "baseball-diamond", "bridge",           "ground-track-field", "small-vehicle",     "large-vehicle",
        "ship",   "tennis-court",     "basketball-court", "storage-tank",       "soccer-ball-field", "roundabout",
        "harbor", "swimming-pool",    "helicopter"};
    return c;
}

/// One ground-truth object.
struct gt_object {
    geometry::quad poly{};
    std::string label;
    int difficult = 0;
};

/// One detection (a line of a Task1 file).
struct detection {
    std::string image;
    double score = 0.0;
    geometry::quad poly{};
};

/// Detections of one class (the contents of `Task1_{label}.txt`).
struct class_detections {
    std::string label;
    bool file_present = true; ///< false when the Task1 file does not exist
    std::vector<detection> dets;
};

/// Which reference's ground-truth syntax to follow.
enum class gt_syntax { devkit, mmrotate };

namespace detail {

/// Python `float(token)` (`detail::py::parse_float`); false when it would raise.
inline bool py_float(std::string_view tok, double& out) {
    const auto v = ::rscovlm::detail::py::parse_float(tok);
    if (v) out = *v;
    return v.has_value();
}

inline std::string where(const std::string& source, std::size_t line) {
    return source + ":" + std::to_string(line);
}

inline std::string clip_text(std::string_view s) {
    std::string t(s.substr(0, 60));
    if (s.size() > 60) t += "...";
    return t;
}

/// Iterates over lines the way Python's readlines() does (keeps the last line without '\n').
template <class F> inline void for_each_line(std::string_view text, F&& f) {
    std::size_t start = 0, lineno = 0;
    while (start < text.size()) {
        std::size_t e = text.find('\n', start);
        if (e == std::string_view::npos) e = text.size();
        f(text.substr(start, e - start), ++lineno);
        start = e + 1;
    }
}

} // namespace detail

/// Parses one DOTA ground-truth file's text. `source` names the file in error messages.
inline std::vector<gt_object> parse_dota_gt(std::string_view text, gt_syntax syntax, const std::string& source) {
    std::vector<gt_object> out;
    detail::for_each_line(text, [&](std::string_view raw, std::size_t lineno) {
        if (syntax == gt_syntax::devkit) {
            const auto f = ::rscovlm::detail::py::split(::rscovlm::detail::py::strip(raw), " ");
            if (f.size() < 9) return;
            gt_object o;
            o.label = std::string(f[8]);
            if (f.size() == 10) {
                const auto d = ::rscovlm::detail::py::parse_int(f[9]);
                if (!d)
                    RSCOVLM_THROW(eval_error, "bad_number",
                                  detail::where(source, lineno) + ": difficult '" + detail::clip_text(f[9]) +
                                      "' is not an integer");
                o.difficult = static_cast<int>(*d);
            } else if (f.size() > 10) {
                RSCOVLM_THROW(eval_error, "bad_annotation",
                              detail::where(source, lineno) + ": " + std::to_string(f.size()) +
                                  " fields (DOTA_devkit parse_gt accepts 9 or 10)");
            }
            for (int i = 0; i < 8; ++i) {
                double v = 0;
                if (!detail::py_float(f[static_cast<std::size_t>(i)], v))
                    RSCOVLM_THROW(eval_error, "bad_number",
                                  detail::where(source, lineno) + ": coordinate '" +
                                      detail::clip_text(f[static_cast<std::size_t>(i)]) + "' is not a number");
                (i % 2 ? o.poly[static_cast<std::size_t>(i / 2)].y : o.poly[static_cast<std::size_t>(i / 2)].x) = v;
            }
            out.push_back(std::move(o));
        } else {
            const auto f = ::rscovlm::detail::py::split(raw);
            if (f.empty()) return; // blank line (the reference would fail on it; skipped here)
            gt_object o;
            for (int i = 0; i < 8; ++i) {
                double v = 0;
                if (static_cast<std::size_t>(i) >= f.size() || !detail::py_float(f[static_cast<std::size_t>(i)], v))
                    RSCOVLM_THROW(eval_error, "bad_annotation",
                                  detail::where(source, lineno) + ": could not convert '" +
                                      detail::clip_text(static_cast<std::size_t>(i) < f.size()
                                                            ? f[static_cast<std::size_t>(i)]
                                                            : std::string_view("")) +
                                      "' to float (mmrotate DOTADataset syntax: 8 numbers, class, difficulty)");
                (i % 2 ? o.poly[static_cast<std::size_t>(i / 2)].y : o.poly[static_cast<std::size_t>(i / 2)].x) = v;
            }
            if (f.size() < 10)
                RSCOVLM_THROW(eval_error, "bad_annotation",
                              detail::where(source, lineno) + ": missing class or difficulty field");
            o.label = std::string(f[8]);
            const auto d = ::rscovlm::detail::py::parse_int(f[9]);
            if (!d)
                RSCOVLM_THROW(eval_error, "bad_number",
                              detail::where(source, lineno) + ": difficulty '" + detail::clip_text(f[9]) +
                                  "' is not an integer");
            o.difficult = static_cast<int>(*d);
            out.push_back(std::move(o));
        }
    });
    return out;
}

/// Parses a Task1 detection file's text (DOTA_devkit `voc_eval`: `line.strip().split(' ')`, image,
/// float score, 8 floats). Malformed lines raise `eval_error` `bad_detection` naming the line.
inline std::vector<detection> parse_task1(std::string_view text, const std::string& source) {
    std::vector<detection> out;
    out.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
    std::vector<std::string_view> f;
    f.reserve(16);
    detail::for_each_line(text, [&](std::string_view raw, std::size_t lineno) {
        ::rscovlm::detail::py::split_into(::rscovlm::detail::py::strip(raw), " ", f);
        if (f.size() != 10)
            RSCOVLM_THROW(eval_error, "bad_detection",
                          detail::where(source, lineno) + ": expected 'image score x1 y1 ... x4 y4' (10 fields), got " +
                              std::to_string(f.size()) + " in '" + detail::clip_text(raw) + "'");
        detection d;
        d.image = std::string(f[0]);
        if (!detail::py_float(f[1], d.score))
            RSCOVLM_THROW(eval_error, "bad_number",
                          detail::where(source, lineno) + ": score '" + detail::clip_text(f[1]) + "' is not a number");
        for (int i = 0; i < 8; ++i) {
            double v = 0;
            if (!detail::py_float(f[static_cast<std::size_t>(i + 2)], v))
                RSCOVLM_THROW(eval_error, "bad_number",
                              detail::where(source, lineno) + ": coordinate '" +
                                  detail::clip_text(f[static_cast<std::size_t>(i + 2)]) + "' is not a number");
            (i % 2 ? d.poly[static_cast<std::size_t>(i / 2)].y : d.poly[static_cast<std::size_t>(i / 2)].x) = v;
        }
        out.push_back(std::move(d));
    });
    return out;
}

/// Reads a whole file; throws `io_error` `not_found` / `read_failed`.
inline std::string read_text_file(const std::string& path) {
    return ::rscovlm::detail::py::read_file_or_throw(path, "not_found", "cannot open '" + path + "'");
}

/// Reads an image-set file (one id per line, stripped; blank lines skipped).
inline std::vector<std::string> read_imageset(const std::string& path) {
    const std::string text = read_text_file(path);
    std::vector<std::string> ids;
    detail::for_each_line(text, [&](std::string_view l, std::size_t) {
        l = ::rscovlm::detail::py::strip(l);
        if (!l.empty()) ids.emplace_back(l);
    });
    return ids;
}

/// Image ids of a ground-truth folder: the stems of its `*.txt` files, sorted.
inline std::vector<std::string> list_gt_images(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) RSCOVLM_THROW(io_error, "not_found", "'" + dir + "' is not a directory");
    std::vector<std::string> ids;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.is_regular_file() && e.path().extension() == ".txt") ids.push_back(e.path().stem().string());
    std::sort(ids.begin(), ids.end());
    return ids;
}

/// Ground truth of a data set: image ids (evaluation order) and their objects.
struct dota_ground_truth {
    std::vector<std::string> images;
    std::vector<std::vector<gt_object>> objects; ///< parallel to `images`
};

/// Reads `{gt_dir}/{id}.txt` for every id (all `*.txt` files, sorted, when `images` is empty).
inline dota_ground_truth read_dota_gt_dir(const std::string& gt_dir, std::vector<std::string> images,
                                          gt_syntax syntax) {
    if (images.empty()) images = list_gt_images(gt_dir);
    dota_ground_truth gt;
    gt.objects.reserve(images.size());
    for (const auto& id : images) {
        const std::string path = (std::filesystem::path(gt_dir) / (id + ".txt")).string();
        gt.objects.push_back(parse_dota_gt(read_text_file(path), syntax, path));
    }
    gt.images = std::move(images);
    return gt;
}

/// Reads `{det_dir}/Task1_{label}.txt` for every label; a missing file gives `file_present = false`.
/// Files are parsed on up to `threads` threads (0 = all cores); the first error in label order is
/// raised.
inline std::vector<class_detections> read_task1_dir(const std::string& det_dir, const std::vector<std::string>& labels,
                                                    int threads = 0) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(det_dir, ec)) RSCOVLM_THROW(io_error, "not_found", "'" + det_dir + "' is not a directory");
    std::vector<class_detections> out(labels.size());
    std::vector<std::optional<error_info>> errors(labels.size());
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
        for (;;) {
            const std::size_t i = next.fetch_add(1);
            if (i >= labels.size()) return;
            class_detections& c = out[i];
            c.label = labels[i];
            const std::string path = (fs::path(det_dir) / ("Task1_" + labels[i] + ".txt")).string();
            std::error_code e2;
            if (!fs::exists(path, e2)) {
                c.file_present = false;
                continue;
            }
            auto r = try_call([&] { return parse_task1(read_text_file(path), path); });
            if (r)
                c.dets = std::move(r.value());
            else
                errors[i] = r.error();
        }
    };
    unsigned t = threads > 0 ? static_cast<unsigned>(threads) : std::max(1u, std::thread::hardware_concurrency());
    t = std::min<unsigned>(t, static_cast<unsigned>(std::max<std::size_t>(1, labels.size())));
    std::vector<std::thread> pool;
    for (unsigned k = 1; k < t; ++k)
        pool.emplace_back(worker);
    worker();
    for (auto& th : pool)
        th.join();
    for (const auto& e : errors)
        if (e)
            ::rscovlm::detail::raise(
                ::rscovlm::error(e->id.substr(e->id.find('.') + 1, e->id.rfind('.') - e->id.find('.') - 1),
                                 e->id.substr(e->id.rfind('.') + 1), e->message));
    return out;
}

/// Python `str(float)` (`detail::py::float_repr`): the shortest repr that round-trips, with ".0"
/// for integral values.
inline std::string py_float_repr(double v) {
    return ::rscovlm::detail::py::float_repr(v);
}

/// Task1 line layout used by the writers.
enum class task1_style {
    mmrotate, ///< mmrotate DOTAMetric: `str(round(score, 2))` and coordinates `%.2f`
    devkit    ///< DOTA_devkit ResultMerge: `str(score)` and `str(coordinate)` (Python repr)
};

/// Formats one Task1 line (without newline).
inline std::string format_task1_line(const detection& d, task1_style style) {
    std::string s = d.image;
    s.push_back(' ');
    if (style == task1_style::mmrotate) {
        // round(score, 2) rounds the exact binary value, as '%.2f' does
        s += ::rscovlm::detail::py::float_repr(
            std::strtod(::rscovlm::detail::py::format_fixed(d.score, 2).c_str(), nullptr));
        for (const auto& p : d.poly)
            s += " " + ::rscovlm::detail::py::format_fixed(p.x, 2) + " " + ::rscovlm::detail::py::format_fixed(p.y, 2);
    } else {
        s += py_float_repr(d.score);
        for (const auto& p : d.poly)
            s += " " + py_float_repr(p.x) + " " + py_float_repr(p.y);
    }
    return s;
}

/// Writes `Task1_{label}.txt` for every class into `dir` (created if needed); classes without
/// detections get an empty file.
inline void write_task1_dir(const std::string& dir, const std::vector<class_detections>& classes,
                            task1_style style = task1_style::mmrotate) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(dir, ec);
    for (const auto& c : classes) {
        const std::string path = (fs::path(dir) / ("Task1_" + c.label + ".txt")).string();
        std::ofstream f(path, std::ios::binary);
        if (!f) RSCOVLM_THROW(io_error, "write_failed", "cannot write '" + path + "'");
        for (const auto& d : c.dets)
            f << format_task1_line(d, style) << '\n';
        if (!f) RSCOVLM_THROW(io_error, "write_failed", "error while writing '" + path + "'");
    }
}

} // namespace rscovlm::eval
