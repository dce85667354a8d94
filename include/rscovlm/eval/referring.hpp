#pragma once
/// \file referring.hpp
/// GeoChat referring precision as RSCoVLM computes it (`compute_geochat_referring_acc` in
/// `rscovlm/eval/metric/metric.py`; GeoChat itself ships no scoring script for this task):
/// "Pr(F1=1, IoU=0.5)", the fraction of samples whose predicted boxes match their ground-truth boxes
/// one to one.
///
/// Per sample, with P predicted and G ground-truth boxes (4 numbers x1,y1,x2,y2, or 8 numbers: four
/// corners):
/// 1. boxes become float32 (`torch.tensor(..., dtype=float32)`) and are scaled by
///    `w_rescale = original_width / resized_width`, `h_rescale = original_height / resized_height`
///    in float32 (a float32 tensor times a Python float); a 4-number box becomes the rectangle
///    (x1,y1) (x2,y1) (x2,y2) (x1,y2), an 8-number box its four corners ordered by decreasing angle
///    around their mean (`np.argsort(-angles)`);
/// 2. the generalized IoU of every pair (`polygon_giou`): 0 when either polygon is invalid or the
///    union area is 0, else `iou - (hull - union) / hull` with `hull` the area of the convex hull of
///    all eight corners; the matrix is float32;
/// 3. greedy matching, at most min(P, G) times: the largest remaining entry; stop when it is below
///    0.5, else count a true positive and zero its row and column;
/// 4. F1 = 2 TP / (2 TP + FP + FN); the sample is correct when F1 >= 1, that is TP = P = G.
/// The overall precision is correct / total; the reference also reports it per `size_group`, per
/// `type` and per object count ("single" when `obj_ids` has one entry, else "multiple").
///
/// Restated with these choices where the reference leaves the result to its libraries:
/// - GEOS validity: a polygon of zero area is invalid (GIoU 0); other invalid rings cannot arise
///   from a rectangle or from four corners sorted by angle, except with repeated or collinear
///   corners, which have zero area;
/// - areas are exact double-precision polygon areas (union = area A + area B - intersection), where
///   shapely's overlay can differ in the last bits; the float32 rounding of the matrix absorbs this
///   except within a float32 ulp of 0.5;
/// - the corners of an 8-number box are ordered in double precision (the reference mixes float32
///   numpy and torch values; only near-equal angles can order differently);
/// - ties for the largest entry go to the first in row-major order (`torch.topk(k=1)` does not
///   specify it).
/// An empty prediction or ground-truth list, or boxes of mixed or wrong sizes, make the reference
/// fail (`adaptive_flatten` / `torch.tensor`); here they raise eval_error "bad_input", except that an
/// empty prediction list may be scored as a miss (`empty_is_miss`).

#include <rscovlm/detail/py/str.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/eval/polygon_iou.hpp>
#include <rscovlm/geometry/types.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <map>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace rscovlm::eval::referring {

/// One referring sample.
struct sample {
    std::vector<std::vector<double>> pred; ///< predicted boxes, 4 or 8 numbers each
    std::vector<std::vector<double>> gt;   ///< ground-truth boxes, 4 or 8 numbers each
    double w_rescale = 1.0, h_rescale = 1.0;
    std::string size_group = "unknown", type = "unknown";
    bool single_object = false; ///< `len(obj_ids) == 1`
};

namespace detail {

inline double cross(const geometry::point& o, const geometry::point& a, const geometry::point& b) {
    return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

inline double ring_area(const std::vector<geometry::point>& p) {
    double s = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
        const auto& a = p[i];
        const auto& b = p[(i + 1) % p.size()];
        s += a.x * b.y - b.x * a.y;
    }
    return std::fabs(s) / 2;
}

/// Area of the convex hull (Andrew's monotone chain).
inline double hull_area(std::vector<geometry::point> pts) {
    std::sort(pts.begin(), pts.end(),
              [](const auto& a, const auto& b) { return a.x < b.x || (a.x == b.x && a.y < b.y); });
    if (pts.size() < 3) return 0.0;
    std::vector<geometry::point> h(2 * pts.size());
    std::size_t k = 0;
    for (std::size_t i = 0; i < pts.size(); ++i) {
        while (k >= 2 && cross(h[k - 2], h[k - 1], pts[i]) <= 0)
            --k;
        h[k++] = pts[i];
    }
    for (std::size_t i = pts.size() - 1, t = k + 1; i-- > 0;) {
        while (k >= t && cross(h[k - 2], h[k - 1], pts[i]) <= 0)
            --k;
        h[k++] = pts[i];
    }
    h.resize(k > 0 ? k - 1 : 0);
    return ring_area(h);
}

/// The reference `rescale_box`: float32 corners of a 4- or 8-number box.
inline std::vector<geometry::point> rescale_box(const std::vector<double>& b, double w_rescale, double h_rescale) {
    const float w = static_cast<float>(w_rescale), h = static_cast<float>(h_rescale);
    auto fx = [&](double v) { return static_cast<double>(static_cast<float>(v) * w); };
    auto fy = [&](double v) { return static_cast<double>(static_cast<float>(v) * h); };
    if (b.size() == 4) {
        const double x1 = fx(b[0]), y1 = fy(b[1]), x2 = fx(b[2]), y2 = fy(b[3]);
        return {{x1, y1}, {x2, y1}, {x2, y2}, {x1, y2}};
    }
    std::vector<geometry::point> p;
    for (std::size_t i = 0; i < 8; i += 2)
        p.push_back({fx(b[i]), fy(b[i + 1])});
    double cx = 0, cy = 0;
    for (const auto& q : p) {
        cx += q.x;
        cy += q.y;
    }
    cx /= 4, cy /= 4;
    std::vector<double> ang;
    for (const auto& q : p)
        ang.push_back(std::atan2(q.y - cy, q.x - cx));
    std::vector<std::size_t> idx(4);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t c) { return -ang[a] < -ang[c]; });
    std::vector<geometry::point> out;
    for (std::size_t i : idx)
        out.push_back(p[i]);
    return out;
}

} // namespace detail

/// The reference `polygon_giou` of two boxes (4 or 8 numbers each).
inline double polygon_giou(const std::vector<double>& pred, const std::vector<double>& gt, double w_rescale,
                           double h_rescale) {
    const auto a = detail::rescale_box(pred, w_rescale, h_rescale);
    const auto b = detail::rescale_box(gt, w_rescale, h_rescale);
    const double area_a = detail::ring_area(a), area_b = detail::ring_area(b);
    if (!(area_a > 0) || !(area_b > 0)) return 0.0; // invalid (zero-area) polygon
    const double inter = intersection_area(geometry::polygon(a), geometry::polygon(b));
    const double uni = area_a + area_b - inter;
    if (uni == 0) return 0.0;
    const double iou = inter / uni;
    std::vector<geometry::point> all(a);
    all.insert(all.end(), b.begin(), b.end());
    const double hull = detail::hull_area(all);
    return iou - (hull - uni) / hull;
}

/// True positives of the greedy one-to-one matching at GIoU >= `threshold` (float32 matrix).
inline std::size_t greedy_matches(const sample& s, float threshold = 0.5f) {
    const std::size_t np = s.pred.size(), ng = s.gt.size();
    std::vector<float> m(np * ng);
    for (std::size_t i = 0; i < np; ++i)
        for (std::size_t j = 0; j < ng; ++j)
            m[i * ng + j] = static_cast<float>(polygon_giou(s.pred[i], s.gt[j], s.w_rescale, s.h_rescale));
    std::size_t tp = 0;
    for (std::size_t it = 0; it < std::min(np, ng); ++it) {
        const std::size_t best = static_cast<std::size_t>(std::max_element(m.begin(), m.end()) - m.begin());
        if (m[best] < threshold) break;
        ++tp;
        const std::size_t r = best / ng, c = best % ng;
        for (std::size_t j = 0; j < ng; ++j)
            m[r * ng + j] = 0.0f;
        for (std::size_t i = 0; i < np; ++i)
            m[i * ng + c] = 0.0f;
    }
    return tp;
}

/// Whether a sample is correct: F1 of the matching is 1 (every prediction and every truth matched).
inline bool sample_correct(const sample& s) {
    const std::size_t tp = greedy_matches(s);
    const std::size_t fp = s.pred.size() - tp, fn = s.gt.size() - tp;
    const double denom = static_cast<double>(2 * tp + fp + fn);
    return denom > 0 && static_cast<double>(2 * tp) / denom >= 1.0;
}

/// The reference's `plain` parsing: `re.findall` of eight comma-separated integers, else of four
/// (ASCII digits).
inline std::vector<std::vector<double>> parse_plain_boxes(std::string_view text) {
    auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    for (std::size_t want : {std::size_t{8}, std::size_t{4}}) {
        std::vector<std::vector<double>> out;
        for (std::size_t i = 0; i < text.size();) {
            if (!is_digit(text[i])) {
                ++i;
                continue;
            }
            std::vector<double> box;
            std::size_t j = i;
            while (box.size() < want) {
                if (j >= text.size() || !is_digit(text[j])) break;
                double v = 0;
                for (; j < text.size() && is_digit(text[j]); ++j)
                    v = v * 10 + (text[j] - '0');
                box.push_back(v);
                if (box.size() < want) {
                    if (j < text.size() && text[j] == ',')
                        ++j;
                    else
                        break;
                }
            }
            if (box.size() == want) {
                out.push_back(std::move(box));
                i = j;
            } else {
                ++i;
            }
        }
        if (!out.empty() || want == 4) return out;
    }
    return {};
}

/// The reference's `json` parsing: a leading "```json" and a final "\n```" removed, `strip()`, a
/// JSON list of objects whose `bbox_2d` are the boxes. Unparsable text raises eval_error
/// "unparsed_output" (the reference's `json.loads` fails).
inline std::vector<std::vector<double>> parse_json_boxes(std::string_view text) {
    std::string_view t = text;
    if (t.substr(0, 7) == "```json") t.remove_prefix(7);
    if (t.size() >= 4 && t.substr(t.size() - 4) == "\n```")
        t.remove_suffix(4);
    else if (t.size() >= 5 && t.substr(t.size() - 5) == "\n```\n")
        t.remove_suffix(5); // Python's `$` also matches before a final newline
    t = ::rscovlm::detail::py::strip(t);
    const nlohmann::json j = nlohmann::json::parse(t, nullptr, false);
    if (j.is_discarded() || !j.is_array())
        RSCOVLM_THROW(eval_error, "unparsed_output", "referring output is not a JSON list: " + std::string(text));
    std::vector<std::vector<double>> out;
    for (const auto& item : j) {
        if (!item.is_object() || !item.contains("bbox_2d") || !item["bbox_2d"].is_array())
            RSCOVLM_THROW(eval_error, "unparsed_output", "referring output item without a bbox_2d list");
        std::vector<double> b;
        for (const auto& v : item["bbox_2d"]) {
            if (!v.is_number()) RSCOVLM_THROW(eval_error, "unparsed_output", "bbox_2d must hold numbers");
            b.push_back(v.get<double>());
        }
        out.push_back(std::move(b));
    }
    return out;
}

/// Correct and total counts of one group.
struct tally {
    std::size_t correct = 0, total = 0;
    double precision() const { return total ? static_cast<double>(correct) / static_cast<double>(total) : 0.0; }
};

/// Overall and grouped precision.
struct precision_result {
    tally overall;
    std::map<std::string, tally> by_size, by_type, by_count;
};

/// `compute_geochat_referring_acc` over parsed samples.
inline precision_result referring_precision(const std::vector<sample>& samples) {
    precision_result r;
    for (const auto& s : samples) {
        for (const auto* boxes : {&s.pred, &s.gt})
            for (const auto& b : *boxes)
                if (b.size() != 4 && b.size() != 8)
                    RSCOVLM_THROW(eval_error, "bad_input", "a box must have 4 or 8 numbers");
        if (s.gt.empty()) RSCOVLM_THROW(eval_error, "bad_input", "a referring sample needs ground-truth boxes");
        for (const auto* boxes : {&s.pred, &s.gt})
            for (const auto& b : *boxes)
                if (b.size() != boxes->front().size())
                    RSCOVLM_THROW(eval_error, "bad_input",
                                  "the boxes of one list must all have 4 or all have 8 numbers");
        const bool ok = !s.pred.empty() && sample_correct(s);
        for (tally* t : {&r.overall, &r.by_size[s.size_group], &r.by_type[s.type],
                         &r.by_count[s.single_object ? "single" : "multiple"]}) {
            ++t->total;
            if (ok) ++t->correct;
        }
    }
    return r;
}

} // namespace rscovlm::eval::referring
