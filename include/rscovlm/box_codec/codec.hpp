#pragma once
/// \file
/// The box codec interface (registry kind `box_codec`) and the pieces the codecs share: the
/// reference's preparation of annotations for encoding (frame mapping with `int()`, ordering by
/// category rank, y1, x1) and the final step of decoding (label matching, mapping boxes back to
/// the original frame).

#include <rscovlm/box_codec/labels.hpp>
#include <rscovlm/box_codec/text.hpp>
#include <rscovlm/box_codec/types.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/geometry/convert.hpp>
#include <rscovlm/geometry/obb.hpp>
#include <rscovlm/geometry/ops.hpp>
#include <rscovlm/registry.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace rscovlm::box_codec {

/// The corners of a decoded object in the codec's geometry (hbb: x1 y1 x2 y2; obb: cx cy w h
/// degrees; quad: 8 numbers); false when it has too few numbers.
inline bool object_quad(const object& o, box_kind kind, geometry::quad& q) {
    const auto& c = o.coords;
    if (kind == box_kind::hbb && c.size() >= 4) {
        q = geometry::hbox_to_quad(geometry::hbox{c[0], c[1], c[2], c[3]});
        return true;
    }
    if (kind == box_kind::obb && c.size() >= 5) {
        const double pi = 3.14159265358979323846;
        q = geometry::rbox_to_quad(geometry::rbox{c[0], c[1], c[2], c[3], c[4] * pi / 180.0});
        return true;
    }
    if (c.size() >= 8) {
        for (std::size_t i = 0; i < 4; ++i)
            q[i] = geometry::point{c[2 * i], c[2 * i + 1]};
        return true;
    }
    return false;
}

/// A box codec: writes boxes + labels as the exact training text of one answer format, and reads
/// model answers back into boxes (never throwing on model output).
class codec : public registry::keyed {
public:
    /// The registry key of the component, e.g. "codec.quad.plain" (its `component_key()`).
    std::string_view name() const noexcept { return component_key(); }
    /// The geometry this codec writes and reads.
    virtual box_kind kind() const noexcept = 0;
    /// The answer text for `annotations` (original frame). Throws codec_error on bad annotations
    /// (`bad_polygon`, `unknown_label`, `bad_frame`).
    virtual std::string encode(const std::vector<annotation>& annotations, const encode_options& options) const = 0;
    /// Parses a model answer. Never throws: returns the boxes it could read (original frame) and
    /// a report of everything dropped.
    virtual decode_result decode(std::string_view text, const decode_options& options) const = 0;
    /// The system prompt that goes with this format ("" when the format has none).
    virtual std::string system_prompt() const { return {}; }
    /// The user prompt of this format as a template, `{categories}` standing for the class list
    /// (Python `str.format(categories=...)`); "" when the format has no such template. Builders
    /// that rewrite the template (RSCoVLM's open-ended prompts) read it here.
    virtual std::string user_template() const { return {}; }
    /// The user prompt asking for `classes` (raw names) in this format: by default the template
    /// with `categories_string(classes)` in place of `{categories}`.
    virtual std::string user_prompt(const std::vector<std::string>& classes) const;
};

namespace detail {

/// Replaces every `{categories}` in `tmpl` by `cats` (Python `str.format(categories=...)`).
inline std::string format_categories(std::string_view tmpl, std::string_view cats) {
    return ::rscovlm::detail::py::replace(tmpl, "{categories}", cats);
}
} // namespace detail

inline std::string codec::user_prompt(const std::vector<std::string>& classes) const {
    return detail::format_categories(user_template(), categories_string(classes));
}

namespace detail {

/// An annotation prepared the reference's way for encoding (resized frame, integers).
struct prepared {
    std::array<std::int64_t, 4> bbox{}; ///< int(x * rw / ow) of the original bbox
    std::vector<std::int64_t> polygon;  ///< int(x * rw / ow) of the original polygon
    std::string name;                   ///< display name
    std::size_t rank = 0;               ///< category rank
    std::size_t order = 0;              ///< input position (stable sort)
};

inline geometry::frame effective_frame(const geometry::frame& f) {
    geometry::frame e = f;
    if (e.resized_width <= 0) e.resized_width = e.orig_width;
    if (e.resized_height <= 0) e.resized_height = e.orig_height;
    if (e.orig_width <= 0 || e.orig_height <= 0)
        RSCOVLM_THROW(codec_error, "bad_frame",
                      "original image size must be positive, got " + std::to_string(f.orig_width) + "x" +
                          std::to_string(f.orig_height));
    return e;
}

/// The RSCoVLM preparation (dense_det_dataset.py `preprocess_coco_format_metadata`,
/// `resize_coordinates_in_metadata`, then `annotations.sort(key=(category_rank, bbox[1], bbox[0]))`).
/// `lowercase_rank_key` selects RSCoVLM's (true) or LMMRotate's (false) class sort key.
inline std::vector<prepared> prepare(const std::vector<annotation>& anns, const encode_options& opt, bool need_polygon,
                                     bool lowercase_rank_key = true) {
    const geometry::frame f = effective_frame(opt.frame);
    std::vector<std::string> classes = opt.classes;
    if (classes.empty()) {
        for (const auto& a : anns) {
            const std::string d = display_name(a.label);
            bool seen = false;
            for (const auto& c : classes)
                seen = seen || display_name(c) == d;
            if (!seen) classes.push_back(a.label);
        }
    }
    const auto sorted = sorted_classes(classes, lowercase_rank_key);
    std::vector<prepared> out;
    out.reserve(anns.size());
    for (std::size_t i = 0; i < anns.size(); ++i) {
        const annotation& a = anns[i];
        prepared p;
        p.order = i;
        p.name = display_name(a.label);
        bool found = false;
        for (std::size_t r = 0; r < sorted.size() && !found; ++r)
            if (sorted[r] == a.label || display_name(sorted[r]) == p.name) p.rank = r, found = true;
        if (!found)
            RSCOVLM_THROW(codec_error, "unknown_label",
                          "annotation " + std::to_string(i) + ": label '" + sanitize_utf8(a.label) +
                              "' is not in the class list");
        std::vector<double> poly = a.polygon;
        geometry::hbox box;
        if (a.bbox) {
            box = *a.bbox;
        } else if (poly.size() >= 2) {
            // COCO bbox of the segmentation: x1, y1 = min; x2 = int(x1 + w), y2 = int(y1 + h)
            double x0 = poly[0], y0 = poly[1], x1 = poly[0], y1 = poly[1];
            for (std::size_t k = 0; k + 1 < poly.size(); k += 2) {
                x0 = std::min(x0, poly[k]), x1 = std::max(x1, poly[k]);
                y0 = std::min(y0, poly[k + 1]), y1 = std::max(y1, poly[k + 1]);
            }
            box = geometry::hbox{x0, y0, static_cast<double>(::rscovlm::detail::py::int_trunc(x0 + (x1 - x0))),
                                 static_cast<double>(::rscovlm::detail::py::int_trunc(y0 + (y1 - y0)))};
        } else {
            RSCOVLM_THROW(codec_error, "bad_polygon",
                          "annotation " + std::to_string(i) + " has neither bbox nor polygon");
        }
        if (poly.empty()) poly = {box.x1, box.y1, box.x2, box.y1, box.x2, box.y2, box.x1, box.y2};
        if (need_polygon && (poly.size() < 8 || poly.size() % 2 != 0))
            RSCOVLM_THROW(codec_error, "bad_polygon",
                          "annotation " + std::to_string(i) +
                              ": polygon needs at least 4 points (an even count of at least 8 values), got " +
                              std::to_string(poly.size()) + " values");
        p.bbox = {geometry::to_resized_int(box.x1, f.resized_width, f.orig_width),
                  geometry::to_resized_int(box.y1, f.resized_height, f.orig_height),
                  geometry::to_resized_int(box.x2, f.resized_width, f.orig_width),
                  geometry::to_resized_int(box.y2, f.resized_height, f.orig_height)};
        p.polygon = geometry::map_to_resized(poly, f);
        out.push_back(std::move(p));
    }
    std::stable_sort(out.begin(), out.end(), [](const prepared& a, const prepared& b) {
        if (a.rank != b.rank) return a.rank < b.rank;
        if (a.bbox[1] != b.bbox[1]) return a.bbox[1] < b.bbox[1];
        return a.bbox[0] < b.bbox[0];
    });
    if (opt.rename)
        for (auto& p : out)
            p.name = opt.rename(p.name);
    return out;
}

/// The values one prepared annotation contributes in `kind` (resized frame, integers):
/// hbb = the bbox; obb = `convert_segmentation_to_obb`; quad = `normalize_polygon(clockwise)`.
inline std::vector<std::int64_t> values(const prepared& p, box_kind kind, bool clockwise = true) {
    if (kind == box_kind::hbb) return {p.bbox[0], p.bbox[1], p.bbox[2], p.bbox[3]};
    std::vector<double> d(p.polygon.begin(), p.polygon.end());
    if (kind == box_kind::obb) {
        const auto r = geometry::try_segmentation_to_obb(d);
        if (!r) RSCOVLM_THROW(codec_error, "bad_polygon", "cannot fit an oriented box: " + r.error().message);
        const auto& v = r.value();
        return {v[0], v[1], v[2], v[3], v[4]};
    }
    const geometry::quad q = geometry::normalize_polygon(geometry::quad_from_flat(d.data()), clockwise);
    std::vector<std::int64_t> o;
    for (const auto& pt : q) {
        o.push_back(static_cast<std::int64_t>(pt.x));
        o.push_back(static_cast<std::int64_t>(pt.y));
    }
    return o;
}

/// `a,b,c,...` of integers.
inline std::string join_ints(const std::vector<std::int64_t>& v, std::string_view sep = ",") {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) s.append(sep.data(), sep.size());
        s += std::to_string(v[i]);
    }
    return s;
}

/// Maps values of `kind` from the resized frame back to the original frame
/// (`poly[i] * original_width / resized_width`, dense_det.py `parse_*_output`). For obb the centre
/// is mapped like a point and w, h, angle follow the images of the box axes.
inline void to_original_frame(std::vector<double>& v, box_kind kind, const geometry::frame& f) {
    if (kind != box_kind::obb) {
        geometry::map_to_original(v, f);
        return;
    }
    const double sx = f.resized_width ? static_cast<double>(f.orig_width) / f.resized_width : 0.0;
    const double sy = f.resized_height ? static_cast<double>(f.orig_height) / f.resized_height : 0.0;
    const double t = geometry::deg2rad(v[4]);
    const double c = std::cos(t), s = std::sin(t);
    v[0] = geometry::to_original(v[0], f.orig_width, f.resized_width);
    v[1] = geometry::to_original(v[1], f.orig_height, f.resized_height);
    if (sx == sy) {
        v[2] *= sx;
        v[3] *= sy;
        return;
    }
    const double w = v[2] * std::hypot(sx * c, sy * s);
    const double h = v[3] * std::hypot(sx * s, sy * c);
    v[2] = w;
    v[3] = h;
    v[4] = geometry::rad2deg(std::atan2(sy * s, sx * c));
}

/// Shared last step of every decoder: checks the count of values, matches the label, maps the
/// box back, appends it or records why not. `values` are in the resized frame.
/// `item` is the item's text, or a callable returning it (only called when the item is dropped).
/// When `item` is a view into `whole` (the decoded answer), the kept box records its byte span.
template <class Item> inline void finish(decode_result& r, const label_matcher& m, const geometry::frame& f,
                                         box_kind kind, std::vector<double> values, std::string_view raw_label,
                                         std::size_t index, const Item& item, std::string_view whole = {}) {
    auto item_text = [&item]() -> std::string {
        if constexpr (std::is_invocable_v<const Item&>)
            return item();
        else
            return std::string(std::string_view(item));
    };
    const std::size_t k = arity(kind);
    if (values.size() < k) {
        r.dropped.add("too_few_numbers", index, item_text());
        return;
    }
    if (values.size() > k) {
        r.dropped.add("extra_numbers", index, item_text()); // kept: the reference keeps poly[:8]
        values.resize(k);
    }
    for (double v : values)
        if (!std::isfinite(v)) {
            r.dropped.add("bad_number", index, item_text());
            return;
        }
    const std::string label = ascii_lower(text::strip(raw_label));
    if (label.empty()) {
        r.dropped.add("missing_label", index, item_text());
        return;
    }
    const auto lm = m.match(label);
    if (!lm) {
        r.dropped.add("unknown_label", index, item_text());
        return;
    }
    if (lm->fuzzy) ++r.fuzzy_matched;
    if (f.resized_width > 0 && f.resized_height > 0 && f.orig_width > 0 && f.orig_height > 0)
        to_original_frame(values, kind, f);
    object o;
    o.coords = std::move(values);
    o.label = lm->name;
    o.label_id = lm->id;
    if constexpr (std::is_convertible_v<const Item&, std::string_view>) {
        const std::string_view v(item);
        if (!whole.empty() && v.data() >= whole.data() && v.data() + v.size() <= whole.data() + whole.size()) {
            const auto b = static_cast<std::size_t>(v.data() - whole.data());
            o.span = std::make_pair(b, b + v.size());
        }
    }
    r.objects.push_back(std::move(o));
}

/// True when the answer says there is nothing (`output.lower().strip().rstrip('.') == 'there are none'`).
inline bool says_none(std::string_view s) {
    const std::string low = ascii_lower(text::strip(s));
    return ::rscovlm::detail::py::rstrip(low, ".") == "there are none";
}

} // namespace detail
} // namespace rscovlm::box_codec
