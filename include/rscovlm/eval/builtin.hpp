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
/// - `metric.vqa.wups`: `{"pairs": [{"pred", "gt"}]}` -> `{"acc", "correct", "total"}`: LRS-VQA's
///   compute_wups_acc (equal after normalisation, or WordNet synonyms; see wordnet.hpp); parameter
///   `wordnet` (the database folder; "" = the default search).
/// - `metric.mcq`: `{"pairs": [{"pred": free text, "gt": letter}]}` -> `{"acc", "unparsed"}`;
///   parameter `choices` ("ABCDE").
/// - `metric.caption.coco`: `{"records": [{"id"?: string|integer, "pred": string, "refs": [string,
///   ...]}]}` (at least one record, at least one reference each, ids unique as text; an id defaults
///   to the record's index) -> `{"Bleu_1", "Bleu_2", "Bleu_3",
///   "Bleu_4", "ROUGE_L", "CIDEr", "images"}` exactly as pycocoevalcap's `Bleu(4)` (corpus score,
///   option "closest"), `Rouge()` and `Cider()` (see caption_metrics.hpp); parameters `tokenizer`
///   ("ptb": the restated PTBTokenizer, as pycocoevalcap's `eval.py` tokenizes; "none": the text is
///   already tokenized), `per_image` (false; true adds `"per_image": [{"id", "Bleu_1", ...}]`) and
///   `metrics` (["bleu", "rouge", "cider"]). METEOR and SPICE are not provided: asking for them
///   raises eval_error "not_provided"; their fields are absent.
/// - `metric.caption.rscovlm_cider`: the same records -> `{"CIDEr"}` exactly as RSCoVLM's
///   `compute_cider`: `lower()` on every caption, no tokenizer, `Cider()`, times 100.
/// - `metric.vqa.bidirectional_contain`: `{"pairs": [{"pred", "gt"}]}` -> `{"acc", "correct",
///   "total"}`: VHM's `eval_contain` (either side contains the other after lower/strip/strip('.'));
///   `acc` is `correct / max(total, 1)` as VHM averages.
/// - `metric.count.mae`: `{"pairs": [{"pred": string, "gt": integer}]}` -> `{"mae", "mape",
///   "total", "unparsed"}`: VHM's `eval_counting_mae` (see vhm_metrics.hpp); parameter `unparsed`
///   ("error": a prediction without a count raises eval_error "unparsed_count", as the reference
///   fails; "skip": such pairs are left out and counted). A zero truth raises "zero_truth".
/// - `metric.referring.precision50`: `{"samples": [{"output": string | "pred": [[4 or 8 numbers],
///   ...], "gt": [[4 or 8 numbers], ...], "original_width"?, "original_height"?, "resized_width"?,
///   "resized_height"? (the boxes are scaled by original / resized; 1 when absent), "size_group"?,
///   "type"?, "obj_ids"?: [...]}]}` -> RSCoVLM's `compute_geochat_referring_acc` table:
///   `{"precision", "overall": {"Pr(F1=1, IoU=0.5)", "correct", "total"}, "size_<g>" /
///   "type_<t>" / "count_single|multiple": {"Pr(F1=1, IoU=0.5)", "total_samples"}}` (see
///   referring.hpp); parameters `prompt_type` ("json" | "plain": how `output` is parsed) and
///   `empty_pred` ("error": no predicted box raises eval_error "bad_input", as the reference fails;
///   "miss": the sample counts as wrong).

#include <rscovlm/errors.hpp>
#include <rscovlm/eval/caption_metrics.hpp>
#include <rscovlm/eval/dota_eval.hpp>
#include <rscovlm/eval/referring.hpp>
#include <rscovlm/eval/report.hpp>
#include <rscovlm/eval/text_metrics.hpp>
#include <rscovlm/eval/vhm_metrics.hpp>
#include <rscovlm/eval/wordnet.hpp>
#include <rscovlm/registry.hpp>

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
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

inline const nlohmann::json& pairs_array(const nlohmann::json& in) {
    if (!in.is_object() || !in.contains("pairs") || !in["pairs"].is_array())
        RSCOVLM_THROW(eval_error, "bad_input", "expected \"pairs\": [{\"pred\", \"gt\"}]");
    return in["pairs"];
}

inline std::string json_text(const nlohmann::json& obj, const char* field, const std::string& where) {
    if (!obj.is_object() || !obj.contains(field) || !obj[field].is_string())
        RSCOVLM_THROW(eval_error, "bad_input", where + "." + field + " must be a string");
    return obj[field].get<std::string>();
}

/// `{"records": [{"id"?, "pred", "refs": [...]}]}` -> caption records (ids default to the index).
inline std::vector<caption::record> caption_records(const nlohmann::json& in) {
    if (!in.is_object() || !in.contains("records") || !in["records"].is_array())
        RSCOVLM_THROW(eval_error, "bad_input", "expected \"records\": [{\"id\", \"pred\", \"refs\"}]");
    std::vector<caption::record> out;
    for (const auto& r : in["records"]) {
        const std::string where = "records[" + std::to_string(out.size()) + "]";
        caption::record rec;
        if (r.is_object() && r.contains("id")) {
            if (r["id"].is_string())
                rec.id = r["id"].get<std::string>();
            else if (r["id"].is_number_integer())
                rec.id = r["id"].dump();
            else
                RSCOVLM_THROW(eval_error, "bad_input", where + ".id must be a string or an integer");
        } else {
            rec.id = std::to_string(out.size());
        }
        rec.hypothesis = json_text(r, "pred", where);
        if (!r.contains("refs") || !r["refs"].is_array() || r["refs"].empty())
            RSCOVLM_THROW(eval_error, "bad_input", where + ".refs must be a non-empty array of strings");
        for (const auto& g : r["refs"]) {
            if (!g.is_string()) RSCOVLM_THROW(eval_error, "bad_input", where + ".refs must hold strings");
            rec.references.push_back(g.get<std::string>());
        }
        out.push_back(std::move(rec));
    }
    if (out.empty()) RSCOVLM_THROW(eval_error, "empty_input", "caption metrics need at least one record");
    // the reference keys its dictionaries by id: a repeated id would silently merge two images
    std::unordered_set<std::string> ids;
    for (const auto& r : out)
        if (!ids.insert(r.id).second)
            RSCOVLM_THROW(eval_error, "bad_input", "caption record id '" + r.id + "' repeats");
    return out;
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

/// LRS-VQA answer matching (RSCoVLM compute_wups_acc): equal after normalisation, or sharing a
/// WordNet synset (see wordnet.hpp). The database is read when the metric is built, so a missing
/// WordNet fails before any answer is generated.
class vqa_wups_metric : public metric {
public:
    static constexpr std::string_view key = "metric.vqa.wups";
    static constexpr std::string_view summary =
        "LRS-VQA accuracy: normalised answers equal or WordNet synonyms (RSCoVLM compute_wups_acc)";
    std::shared_ptr<const wordnet::database> db;
    /// Parameter "wordnet": the database folder ("" = $RSCOVLM_WORDNET_DIR, /usr/share/wordnet,
    /// $NLTK_DATA/corpora/wordnet).
    static vqa_wups_metric from_params(registry::params& p) {
        vqa_wups_metric m;
        m.db = wordnet::database::shared(p.get<std::string>("wordnet", ""));
        return m;
    }
    nlohmann::json evaluate(const nlohmann::json& in) const override {
        const wordnet::database& w = db ? *db : *wordnet::database::shared();
        return detail::text_pairs_acc(
            in, [&](const std::string& p, const std::string& g) { return wordnet::wups_match(w, p, g); });
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

/// COCO caption metrics exactly as pycocoevalcap (BLEU-1..4, ROUGE-L, CIDEr-D).
class caption_coco_metric : public metric {
public:
    static constexpr std::string_view key = "metric.caption.coco";
    static constexpr std::string_view summary =
        "captioning BLEU-1..4, ROUGE-L and CIDEr-D exactly as pycocoevalcap (METEOR/SPICE not provided)";
    bool ptb = true;
    bool per_image = false;
    bool want_bleu = true, want_rouge = true, want_cider = true;
    static caption_coco_metric from_params(registry::params& p) {
        caption_coco_metric m;
        const std::string t = p.get<std::string>("tokenizer", "ptb");
        p.check(t == "ptb" || t == "none", "tokenizer", "must be ptb or none");
        m.ptb = t == "ptb";
        m.per_image = p.get<bool>("per_image", false);
        const auto names = p.get<std::vector<std::string>>("metrics", {"bleu", "rouge", "cider"});
        m.want_bleu = m.want_rouge = m.want_cider = false;
        for (const auto& n : names) {
            if (n == "meteor" || n == "spice")
                RSCOVLM_THROW(eval_error, "not_provided",
                              n + " runs a Java program in pycocoevalcap and is not provided");
            p.check(n == "bleu" || n == "rouge" || n == "cider", "metrics",
                    "entries must be bleu, rouge or cider (meteor and spice are not provided)");
            m.want_bleu = m.want_bleu || n == "bleu";
            m.want_rouge = m.want_rouge || n == "rouge";
            m.want_cider = m.want_cider || n == "cider";
        }
        p.check(!names.empty(), "metrics", "must name at least one metric");
        return m;
    }
    nlohmann::json evaluate(const nlohmann::json& in) const override {
        auto records = detail::caption_records(in);
        if (ptb)
            for (auto& r : records) {
                r.hypothesis = caption::ptb_tokenize(r.hypothesis);
                for (auto& g : r.references)
                    g = caption::ptb_tokenize(g);
            }
        nlohmann::json out = {{"images", records.size()}};
        nlohmann::json rows = nlohmann::json::array();
        if (per_image)
            for (const auto& r : records)
                rows.push_back({{"id", r.id}});
        if (want_bleu) {
            const auto b = caption::bleu(records, 4);
            for (std::size_t k = 0; k < 4; ++k) {
                const std::string name = "Bleu_" + std::to_string(k + 1);
                out[name] = b.corpus[k];
                if (per_image)
                    for (std::size_t i = 0; i < records.size(); ++i)
                        rows[i][name] = b.per_image[k][i];
            }
        }
        if (want_rouge) {
            const auto r = caption::rouge_l(records);
            out["ROUGE_L"] = r.corpus;
            if (per_image)
                for (std::size_t i = 0; i < records.size(); ++i)
                    rows[i]["ROUGE_L"] = r.per_image[i];
        }
        if (want_cider) {
            const auto c = caption::cider(records);
            out["CIDEr"] = c.corpus;
            if (per_image)
                for (std::size_t i = 0; i < records.size(); ++i)
                    rows[i]["CIDEr"] = c.per_image[i];
        }
        if (per_image) out["per_image"] = std::move(rows);
        return out;
    }
};

/// RSCoVLM's `compute_cider`: lower-cased, untokenized captions, CIDEr-D times 100.
class caption_rscovlm_cider_metric : public metric {
public:
    static constexpr std::string_view key = "metric.caption.rscovlm_cider";
    static constexpr std::string_view summary =
        "CIDEr x 100 exactly as RSCoVLM compute_cider (lower-cased, untokenized captions)";
    nlohmann::json evaluate(const nlohmann::json& in) const override {
        auto records = detail::caption_records(in);
        for (auto& r : records) {
            r.hypothesis = ::rscovlm::detail::py::lower_ascii(r.hypothesis);
            for (auto& g : r.references)
                g = ::rscovlm::detail::py::lower_ascii(g);
        }
        return {{"CIDEr", caption::cider(records).corpus * 100}};
    }
};

/// VHM's bidirectional contain-accuracy.
class vqa_bidirectional_contain_metric : public metric {
public:
    static constexpr std::string_view key = "metric.vqa.bidirectional_contain";
    static constexpr std::string_view summary =
        "VQA accuracy as VHM eval_contain: prediction in answer or answer in prediction";
    nlohmann::json evaluate(const nlohmann::json& in) const override {
        std::size_t ok = 0, n = 0;
        for (const auto& p : detail::pairs_array(in)) {
            const std::string where = "pairs[" + std::to_string(n) + "]";
            const std::string pred = detail::json_text(p, "pred", where), gt = detail::json_text(p, "gt", where);
            ++n;
            if (vhm::vhm_contain(pred, gt)) ++ok;
        }
        return {{"acc", static_cast<double>(ok) / static_cast<double>(n ? n : 1)}, {"correct", ok}, {"total", n}};
    }
};

/// VHM's counting MAE / MAPE.
class count_mae_metric : public metric {
public:
    static constexpr std::string_view key = "metric.count.mae";
    static constexpr std::string_view summary = "counting MAE and MAPE as VHM eval_counting_mae";
    bool skip_unparsed = false;
    static count_mae_metric from_params(registry::params& p) {
        count_mae_metric m;
        const std::string u = p.get<std::string>("unparsed", "error");
        p.check(u == "error" || u == "skip", "unparsed", "must be error or skip");
        m.skip_unparsed = u == "skip";
        return m;
    }
    nlohmann::json evaluate(const nlohmann::json& in) const override {
        std::vector<std::string> preds;
        std::vector<std::int64_t> truths;
        for (const auto& p : detail::pairs_array(in)) {
            const std::string where = "pairs[" + std::to_string(preds.size()) + "]";
            preds.push_back(detail::json_text(p, "pred", where));
            if (!p.contains("gt") || !p["gt"].is_number_integer())
                RSCOVLM_THROW(eval_error, "bad_input", where + ".gt must be an integer");
            truths.push_back(p["gt"].get<std::int64_t>());
        }
        const auto s = vhm::counting_scores(preds, truths, skip_unparsed);
        return {{"mae", s.mae}, {"mape", s.mape}, {"total", s.total}, {"unparsed", s.unparsed}};
    }
};

/// GeoChat referring precision (RSCoVLM compute_geochat_referring_acc).
class referring_precision_metric : public metric {
public:
    static constexpr std::string_view key = "metric.referring.precision50";
    static constexpr std::string_view summary =
        "GeoChat referring Pr(F1=1, IoU=0.5) as RSCoVLM compute_geochat_referring_acc (GIoU, greedy matching)";
    bool plain = false;
    bool empty_is_miss = false;
    static referring_precision_metric from_params(registry::params& p) {
        referring_precision_metric m;
        const std::string t = p.get<std::string>("prompt_type", "json");
        p.check(t == "json" || t == "plain", "prompt_type", "must be json or plain");
        m.plain = t == "plain";
        const std::string e = p.get<std::string>("empty_pred", "error");
        p.check(e == "error" || e == "miss", "empty_pred", "must be error or miss");
        m.empty_is_miss = e == "miss";
        return m;
    }
    nlohmann::json evaluate(const nlohmann::json& in) const override {
        if (!in.is_object() || !in.contains("samples") || !in["samples"].is_array())
            RSCOVLM_THROW(eval_error, "bad_input", "expected \"samples\": [{\"output\" | \"pred\", \"gt\"}]");
        auto boxes = [](const nlohmann::json& j, const std::string& where) {
            if (!j.is_array()) RSCOVLM_THROW(eval_error, "bad_input", where + " must be a list of boxes");
            std::vector<std::vector<double>> out;
            for (const auto& b : j) {
                if (!b.is_array()) RSCOVLM_THROW(eval_error, "bad_input", where + " must be a list of boxes");
                std::vector<double> v;
                for (const auto& x : b) {
                    if (!x.is_number()) RSCOVLM_THROW(eval_error, "bad_input", where + " boxes must hold numbers");
                    v.push_back(x.get<double>());
                }
                out.push_back(std::move(v));
            }
            return out;
        };
        auto number = [](const nlohmann::json& s, const char* k, const std::string& where) {
            if (!s.contains(k)) return std::optional<double>();
            if (!s[k].is_number()) RSCOVLM_THROW(eval_error, "bad_input", where + "." + k + " must be a number");
            return std::optional<double>(s[k].get<double>());
        };
        std::vector<referring::sample> samples;
        for (const auto& s : in["samples"]) {
            const std::string where = "samples[" + std::to_string(samples.size()) + "]";
            if (!s.is_object()) RSCOVLM_THROW(eval_error, "bad_input", where + " must be an object");
            referring::sample r;
            if (s.contains("pred"))
                r.pred = boxes(s["pred"], where + ".pred");
            else if (s.contains("output") && s["output"].is_string())
                r.pred = plain ? referring::parse_plain_boxes(s["output"].get<std::string>())
                               : referring::parse_json_boxes(s["output"].get<std::string>());
            else
                RSCOVLM_THROW(eval_error, "bad_input", where + " needs \"output\" (string) or \"pred\" (boxes)");
            if (!s.contains("gt")) RSCOVLM_THROW(eval_error, "bad_input", where + ".gt is missing");
            r.gt = boxes(s["gt"], where + ".gt");
            const auto ow = number(s, "original_width", where), oh = number(s, "original_height", where);
            const auto rw = number(s, "resized_width", where), rh = number(s, "resized_height", where);
            if (ow || rw) {
                if (!ow || !rw || *rw == 0)
                    RSCOVLM_THROW(eval_error, "bad_input",
                                  where + ": width rescale needs original_width and a non-zero resized_width");
                r.w_rescale = *ow / *rw;
            }
            if (oh || rh) {
                if (!oh || !rh || *rh == 0)
                    RSCOVLM_THROW(eval_error, "bad_input",
                                  where + ": height rescale needs original_height and a non-zero resized_height");
                r.h_rescale = *oh / *rh;
            }
            if (s.contains("size_group"))
                r.size_group =
                    s["size_group"].is_string() ? s["size_group"].get<std::string>() : s["size_group"].dump();
            if (s.contains("type")) r.type = s["type"].is_string() ? s["type"].get<std::string>() : s["type"].dump();
            r.single_object = s.contains("obj_ids") && s["obj_ids"].is_array() && s["obj_ids"].size() == 1;
            if (r.pred.empty() && !empty_is_miss)
                RSCOVLM_THROW(eval_error, "bad_input",
                              where + ": no predicted box (the reference fails on an empty list)");
            samples.push_back(std::move(r));
        }
        if (samples.empty()) RSCOVLM_THROW(eval_error, "empty_input", "referring precision needs at least one sample");
        const auto res = referring::referring_precision(samples);
        const std::string pr = "Pr(F1=1, IoU=0.5)";
        nlohmann::json out = {
            {"precision", res.overall.precision()},
            {"overall",
             {{pr, res.overall.precision()}, {"correct", res.overall.correct}, {"total", res.overall.total}}}};
        auto groups = [&](const std::map<std::string, referring::tally>& m, const std::string& prefix) {
            for (const auto& [name, t] : m)
                out[prefix + name] = {{pr, t.precision()}, {"total_samples", t.total}};
        };
        groups(res.by_size, "size_");
        groups(res.by_type, "type_");
        groups(res.by_count, "count_");
        return out;
    }
};

/// Built-in `metric` components.
using builtin = registry::type_list<dota_devkit_metric, dota_mmrotate_metric, grounding_metric, vqa_exact_metric,
                                    vqa_contain_metric, vqa_wups_metric, mcq_metric, caption_coco_metric,
                                    caption_rscovlm_cider_metric, vqa_bidirectional_contain_metric, count_mae_metric,
                                    referring_precision_metric>;

/// The `metric` kind: scores model outputs against references.
struct kind {
    static constexpr std::string_view name = "metric";
    using interface = metric;
    using builtin_list = builtin;
};

} // namespace rscovlm::eval
