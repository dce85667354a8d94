#pragma once
/// \file builtin.hpp
/// The `metric` registry kind and its built-in catalog.
///
/// A metric takes one JSON object describing what to score and returns a JSON object of scores:
/// - `metric.dota.devkit` / `metric.dota.mmrotate`: `{"gt_dir", "det_dir", "imageset"?}` (folders
///   in DOTA layout) or in memory `{"images": [{"id", "objects": [{"poly": [8], "label",
///   "difficult"}]}], "detections": [{"image", "label", "score"?, "poly": [8]}]}`; returns the
///   `to_json(dota_eval_result)` object. Parameters: `metric` ("voc07"|"area"), `iou`,
///   `tie_order` ("numpy"|"stable"), `no_scores` (mAP_nc), `classes`; mmrotate adds
///   `difficulty_threshold` and `box` ("rbox"|"qbox").
/// - `metric.grounding.acc50`: `{"pairs": [{"pred": [x1,y1,x2,y2] | null, "gt": [x1,y1,x2,y2]}]}`
///   -> `{"acc": fraction}`; parameters `threshold` (0.5), `pixel_inclusive` (false).
/// - `metric.vqa.exact`, `metric.vqa.contain`: `{"pairs": [{"pred", "gt"}]}` -> `{"acc"}`.
/// - `metric.mcq`: `{"pairs": [{"pred": free text, "gt": letter}]}` -> `{"acc", "unparsed"}`;
///   parameter `choices` ("ABCDE").

#include <rscovlm/errors.hpp>
#include <rscovlm/eval/dota_eval.hpp>
#include <rscovlm/eval/report.hpp>
#include <rscovlm/eval/text_metrics.hpp>
#include <rscovlm/registry.hpp>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::eval {

/// Interface of the `metric` kind.
class metric {
public:
    virtual ~metric() = default;
    /// Scores the input described by `input` (see builtin.hpp for each component's schema).
    virtual nlohmann::json evaluate(const nlohmann::json& input) const = 0;
};

namespace detail {

inline geometry::quad json_quad(const nlohmann::json& j, const std::string& what) {
    if (!j.is_array() || j.size() != 8) RSCOVLM_THROW(eval_error, "bad_input", what + " must be an array of 8 numbers");
    geometry::quad q{};
    for (std::size_t i = 0; i < 4; ++i) {
        if (!j[2 * i].is_number() || !j[2 * i + 1].is_number())
            RSCOVLM_THROW(eval_error, "bad_input", what + " must be an array of 8 numbers");
        q[i] = {j[2 * i].get<double>(), j[2 * i + 1].get<double>()};
    }
    return q;
}

inline geometry::hbox json_hbox(const nlohmann::json& j, const std::string& what) {
    if (!j.is_array() || j.size() != 4) RSCOVLM_THROW(eval_error, "bad_input", what + " must be [x1, y1, x2, y2]");
    for (const auto& v : j)
        if (!v.is_number()) RSCOVLM_THROW(eval_error, "bad_input", what + " must be [x1, y1, x2, y2]");
    return geometry::hbox{j[0].get<double>(), j[1].get<double>(), j[2].get<double>(), j[3].get<double>()};
}

inline void read_common(registry::params& p, dota_eval_options& o) {
    const std::string m = p.get<std::string>("metric", "voc07");
    p.check(parse_ap_metric(m, o.metric), "metric", "must be voc07 or area");
    o.iou_threshold = p.get<double>("iou", 0.5);
    p.check(o.iou_threshold >= 0 && o.iou_threshold <= 1, "iou", "must be in [0, 1]");
    const std::string t = p.get<std::string>("tie_order", "numpy");
    p.check(parse_tie_order(t, o.ties), "tie_order", "must be numpy or stable");
    o.no_scores = p.get<bool>("no_scores", false);
    o.classes = p.get<std::vector<std::string>>("classes", {});
    o.threads = p.get<int>("threads", 0);
}

/// In-memory DOTA input -> ground truth and per-class detections.
inline void dota_from_json(const nlohmann::json& in, const dota_eval_options& o, dota_ground_truth& gt,
                           std::vector<class_detections>& dets) {
    if (!in.contains("images") || !in["images"].is_array())
        RSCOVLM_THROW(eval_error, "bad_input", "expected \"images\" (array) or \"gt_dir\"");
    for (const auto& im : in["images"]) {
        gt.images.push_back(im.at("id").get<std::string>());
        std::vector<gt_object> objs;
        if (im.contains("objects"))
            for (const auto& ob : im["objects"])
                objs.push_back(gt_object{json_quad(ob.at("poly"), "objects[].poly"), ob.at("label").get<std::string>(),
                                         ob.value("difficult", 0)});
        gt.objects.push_back(std::move(objs));
    }
    const auto classes = eval_classes(o);
    dets.clear();
    for (const auto& c : classes)
        dets.push_back(class_detections{c, true, {}});
    if (in.contains("detections"))
        for (const auto& d : in["detections"]) {
            const std::string label = d.at("label").get<std::string>();
            for (auto& c : dets)
                if (c.label == label)
                    c.dets.push_back(detection{d.at("image").get<std::string>(), d.value("score", 1.0),
                                               json_quad(d.at("poly"), "detections[].poly")});
        }
}

inline nlohmann::json run_dota(const nlohmann::json& in, const dota_eval_options& o) {
    if (in.contains("gt_dir")) {
        return to_json(evaluate_dota_dirs(in.at("gt_dir").get<std::string>(), in.at("det_dir").get<std::string>(),
                                          in.value("imageset", std::string()), o));
    }
    dota_ground_truth gt;
    std::vector<class_detections> dets;
    dota_from_json(in, o, gt, dets);
    return to_json(evaluate_dota(gt, dets, o));
}

template <class F> inline nlohmann::json text_pairs_acc(const nlohmann::json& in, F&& accept) {
    if (!in.contains("pairs") || !in["pairs"].is_array())
        RSCOVLM_THROW(eval_error, "bad_input", "expected \"pairs\": [{\"pred\", \"gt\"}]");
    std::size_t ok = 0, n = 0;
    for (const auto& p : in["pairs"]) {
        ++n;
        if (accept(p.at("pred").get<std::string>(), p.at("gt").get<std::string>())) ++ok;
    }
    return {{"acc", n ? nlohmann::json(static_cast<double>(ok) / static_cast<double>(n)) : nlohmann::json(nullptr)},
            {"correct", ok},
            {"total", n}};
}

} // namespace detail

/// Base of the two DOTA Task1 metrics: the options their parameters parse to (the CLI's `eval`
/// commands build a metric from their flags through the registry and read these back).
class dota_metric : public metric {
public:
    dota_eval_options options;
    nlohmann::json evaluate(const nlohmann::json& input) const override { return detail::run_dota(input, options); }
};

/// DOTA_devkit Task1 evaluation (see dota_eval.hpp).
class dota_devkit_metric : public dota_metric {
public:
    static constexpr std::string_view key = "metric.dota.devkit";
    static constexpr std::string_view summary = "DOTA Task1 mAP exactly as DOTA_devkit dota_evaluation_task1";
    static dota_devkit_metric from_params(registry::params& p) {
        dota_devkit_metric m;
        detail::read_common(p, m.options);
        m.options.protocol = dota_protocol::devkit;
        return m;
    }
};

/// mmrotate 1.x eval_rbbox_map evaluation (see dota_eval.hpp).
class dota_mmrotate_metric : public dota_metric {
public:
    static constexpr std::string_view key = "metric.dota.mmrotate";
    static constexpr std::string_view summary = "DOTA Task1 mAP exactly as mmrotate 1.x eval_rbbox_map (DOTAMetric)";
    static dota_mmrotate_metric from_params(registry::params& p) {
        dota_mmrotate_metric m;
        detail::read_common(p, m.options);
        m.options.protocol = dota_protocol::mmrotate;
        m.options.difficulty_threshold = p.get<int>("difficulty_threshold", 100);
        const std::string b = p.get<std::string>("box", "rbox");
        p.check(b == "rbox" || b == "qbox", "box", "must be rbox or qbox");
        m.options.box = b == "qbox" ? mmrotate_box::qbox : mmrotate_box::rbox;
        return m;
    }
};

/// Grounding accuracy at an IoU threshold (RSCoVLM geoground / refGeo).
class grounding_metric : public metric {
public:
    static constexpr std::string_view key = "metric.grounding.acc50";
    static constexpr std::string_view summary = "grounding accuracy: IoU > 0.5 on horizontal boxes";
    double threshold = 0.5;
    bool pixel_inclusive = false;
    static grounding_metric from_params(registry::params& p) {
        grounding_metric m;
        m.threshold = p.get<double>("threshold", 0.5);
        m.pixel_inclusive = p.get<bool>("pixel_inclusive", false);
        return m;
    }
    nlohmann::json evaluate(const nlohmann::json& in) const override {
        if (!in.contains("pairs") || !in["pairs"].is_array())
            RSCOVLM_THROW(eval_error, "bad_input", "expected \"pairs\": [{\"pred\", \"gt\"}]");
        std::vector<std::optional<geometry::hbox>> pred;
        std::vector<geometry::hbox> gt;
        for (const auto& p : in["pairs"]) {
            if (p.contains("pred") && !p["pred"].is_null())
                pred.emplace_back(detail::json_hbox(p["pred"], "pred"));
            else
                pred.emplace_back(std::nullopt);
            gt.push_back(detail::json_hbox(p.at("gt"), "gt"));
        }
        return {{"acc", grounding_accuracy(pred, gt, threshold, pixel_inclusive)}, {"total", gt.size()}};
    }
};

/// VQA exact match after normalisation.
class vqa_exact_metric : public metric {
public:
    static constexpr std::string_view key = "metric.vqa.exact";
    static constexpr std::string_view summary = "VQA exact match after lower/strip/strip('.')";
    nlohmann::json evaluate(const nlohmann::json& in) const override {
        return detail::text_pairs_acc(in, [](const std::string& p, const std::string& g) { return vqa_exact(p, g); });
    }
};

/// VQA contain-accuracy after normalisation.
class vqa_contain_metric : public metric {
public:
    static constexpr std::string_view key = "metric.vqa.contain";
    static constexpr std::string_view summary = "VQA accuracy: normalised answer contained in the prediction";
    nlohmann::json evaluate(const nlohmann::json& in) const override {
        return detail::text_pairs_acc(in, [](const std::string& p, const std::string& g) { return vqa_contain(p, g); });
    }
};

/// Multiple-choice accuracy with letter extraction.
class mcq_metric : public metric {
public:
    static constexpr std::string_view key = "metric.mcq";
    static constexpr std::string_view summary = "multiple-choice accuracy (option letter extracted from the answer)";
    std::string choices = "ABCDE";
    static mcq_metric from_params(registry::params& p) {
        mcq_metric m;
        m.choices = p.get<std::string>("choices", "ABCDE");
        return m;
    }
    nlohmann::json evaluate(const nlohmann::json& in) const override {
        std::size_t unparsed = 0;
        auto r = detail::text_pairs_acc(in, [&](const std::string& p, const std::string& g) {
            const auto c = extract_choice(p, choices);
            if (!c) {
                ++unparsed;
                return false;
            }
            const auto want = extract_choice(g, choices);
            return want && *want == *c;
        });
        r["unparsed"] = unparsed;
        return r;
    }
};

/// Built-in `metric` components.
using builtin = registry::type_list<dota_devkit_metric, dota_mmrotate_metric, grounding_metric, vqa_exact_metric,
                                    vqa_contain_metric, mcq_metric>;

/// The `metric` kind: scores model outputs against references.
struct kind {
    static constexpr std::string_view name = "metric";
    using interface = metric;
    using builtin_list = builtin;
};

} // namespace rscovlm::eval
