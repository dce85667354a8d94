#pragma once
/// \file
/// Value types of the box codecs: boxes with labels, encode/decode options, drop reports.

#include <rscovlm/geometry/ops.hpp>
#include <rscovlm/geometry/types.hpp>

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rscovlm::box_codec {

/// The geometry a codec writes and reads.
enum class box_kind {
    hbb,  ///< x1, y1, x2, y2
    obb,  ///< cx, cy, w, h, angle (degrees, RSCoVLM's rule: w long side, angle in [-90, 90))
    quad, ///< x1, y1, x2, y2, x3, y3, x4, y4
};

/// "hbb" / "obb" / "quad".
inline std::string_view to_string(box_kind k) noexcept {
    return k == box_kind::hbb ? "hbb" : k == box_kind::obb ? "obb" : "quad";
}
/// Number of values of one box of kind `k`.
inline std::size_t arity(box_kind k) noexcept {
    return k == box_kind::hbb ? 4 : k == box_kind::obb ? 5 : 8;
}

/// One decoded box: coordinates in the original image frame, the label as matched against the
/// class list (display form: lowercase, '-' -> ' '), and its index in the class list (-1 when no
/// class list was given).
struct object {
    std::vector<double> coords;
    std::string label;
    int label_id = -1;
    /// Byte range [first, second) of the decoded answer this box was read from, for codecs that read
    /// boxes in place (the plain, tag and special-token formats); absent for formats parsed through a
    /// JSON tree or rewritten before parsing (florence2).
    std::optional<std::pair<std::size_t, std::size_t>> span;
    /// Confidence from the answer's token log-probabilities (`box_codec::score_boxes`); absent when
    /// the boxes were not scored.
    std::optional<double> score;
};

/// One annotation to encode (original image frame). `bbox` is the horizontal box used for hbb
/// output and for the reference ordering (derived from `polygon` when absent); `polygon` is the
/// segmentation (flat x, y, ...) used for obb and quad output (derived from `bbox` when absent).
struct annotation {
    std::optional<geometry::hbox> bbox;
    std::vector<double> polygon;
    std::string label; ///< a class name (raw, e.g. "small-vehicle", or its display form)
};

/// Options of `codec::encode`.
struct encode_options {
    /// Class names (raw dataset names). Their sorted display forms give the category ranks that
    /// order the objects; when empty, the distinct labels of the annotations are used.
    std::vector<std::string> classes;
    /// Original and resized sizes; a zero resized size means "same as original".
    geometry::frame frame;
    /// Optional relabelling applied to each object's display name after the objects are sorted,
    /// in output order (RSCoVLM's open-ended prompts draw a synonym per object there).
    std::function<std::string(const std::string&)> rename;
};

/// Options of `codec::decode`.
struct decode_options {
    /// Class names (raw). When empty every label is kept as written (lowercased) with id -1.
    std::vector<std::string> classes;
    /// Original and resized sizes; boxes are mapped back to the original frame.
    geometry::frame frame;
    /// Map unknown labels to the best class by the WRatio-like scorer (the reference does).
    bool fuzzy = true;
    /// Minimum fuzzy score (0..100) for a match; below it the box is dropped as `unknown_label`.
    double fuzzy_cutoff = 0.0;
    /// Inputs longer than this many bytes are cut (the rest is reported as `truncated_input`).
    std::size_t max_bytes = std::size_t(64) << 20;
};

/// A dropped item: which item (line or instance, 0-based), why, and an excerpt (<= 80 bytes,
/// invalid UTF-8 replaced by '?').
struct dropped_item {
    std::size_t index = 0;
    std::string reason;
    std::string excerpt;
};

/// What a decoder could not use, counted per reason. Reasons are stable snake_case strings:
/// `bad_format`, `bad_number`, `too_few_numbers`, `extra_numbers` (kept, truncated),
/// `unknown_label`, `missing_label`, `bad_json`, `not_an_object`, `missing_key`, `truncated_input`.
struct drop_report {
    std::map<std::string, std::size_t> counts;
    std::vector<dropped_item> examples; ///< the first `max_examples` items
    std::size_t max_examples = 16;

    /// Counts one item under `reason` (and keeps an example while there is room).
    void add(std::string_view reason, std::size_t index, std::string_view text) {
        ++counts[std::string(reason)];
        if (examples.size() < max_examples) examples.push_back(dropped_item{index, std::string(reason), excerpt(text)});
    }
    /// Total number of counted items.
    std::size_t total() const noexcept {
        std::size_t n = 0;
        for (const auto& kv : counts)
            n += kv.second;
        return n;
    }
    /// First 80 bytes of `s` with bytes that do not form valid UTF-8 replaced by '?'.
    static std::string excerpt(std::string_view s) {
        std::string out;
        std::size_t i = 0;
        while (i < s.size() && out.size() < 80) {
            const auto c = static_cast<unsigned char>(s[i]);
            std::size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
            bool ok = len > 0 && i + len <= s.size();
            for (std::size_t k = 1; ok && k < len; ++k)
                ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 2;
            if (ok && len > 1) {
                const auto c1 = static_cast<unsigned char>(s[i + 1]);
                if (len == 2 && c < 0xC2) ok = false;
                if (len == 3 && ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0))) ok = false;
                if (len == 4 && ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 >= 0x90) || c > 0xF4)) ok = false;
            }
            if (!ok) {
                out.push_back('?');
                ++i;
                continue;
            }
            if (len == 1 && c < 0x20 && c != '\t') {
                out.push_back(' ');
            } else {
                out.append(s.data() + i, len);
            }
            i += len;
        }
        return out;
    }
};

/// The result of a decode: the boxes kept, the drop report, and how many labels were matched
/// fuzzily rather than exactly.
struct decode_result {
    std::vector<object> objects;
    drop_report dropped;
    std::size_t fuzzy_matched = 0;
};

} // namespace rscovlm::box_codec
