#pragma once
/// \file report.hpp
/// JSON and text renderings of evaluation results (used by the CLI and the `metric` components).

#include <rscovlm/eval/detection_protocols.hpp>
#include <rscovlm/eval/dota_eval.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <string>

namespace rscovlm::eval {

namespace detail {
/// A double as JSON; NaN and infinities become null.
inline nlohmann::json num_json(double v) {
    return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}
} // namespace detail

/// `{"mAP": x|null, "ap": {class: ap|null}, "classes": [{"class","ap","num_gts","num_dets",
/// "error"?...}], "map_error"?}`; with `details`, each class also carries its ranking, TP/FP flags
/// and recall/precision curves.
inline nlohmann::json to_json(const dota_eval_result& r, bool details = false) {
    nlohmann::json j;
    j["mAP"] = detail::num_json(r.map);
    nlohmann::json ap = nlohmann::json::object();
    nlohmann::json cls = nlohmann::json::array();
    for (const auto& c : r.classes) {
        ap[c.label] = c.error.empty() ? detail::num_json(c.ap) : nlohmann::json(nullptr);
        nlohmann::json e = {{"class", c.label}, {"ap", ap[c.label]}, {"num_gts", c.num_gts}, {"num_dets", c.num_dets}};
        if (!c.error.empty()) e["error"] = c.error;
        if (details) {
            e["order"] = c.order;
            e["tp"] = c.tp;
            e["fp"] = c.fp;
            nlohmann::json rec = nlohmann::json::array(), prec = nlohmann::json::array();
            for (double v : c.recall)
                rec.push_back(detail::num_json(v));
            for (double v : c.precision)
                prec.push_back(detail::num_json(v));
            e["recall"] = rec;
            e["precision"] = prec;
        }
        cls.push_back(std::move(e));
    }
    j["ap"] = ap;
    j["classes"] = cls;
    if (!r.map_error.empty()) j["map_error"] = r.map_error;
    return j;
}

/// A fixed-width table: class, #GT, #det, AP (percent), then the mAP.
inline std::string to_table(const dota_eval_result& r, const std::string& title = "") {
    std::string s;
    char buf[160];
    if (!title.empty()) s += title + "\n";
    std::snprintf(buf, sizeof buf, "%-20s %7s %7s %8s\n", "class", "gts", "dets", "AP");
    s += buf;
    s += std::string(45, '-') + "\n";
    for (const auto& c : r.classes) {
        if (!c.error.empty())
            std::snprintf(buf, sizeof buf, "%-20s %7lld %7zu %8s  (%s)\n", c.label.c_str(), c.num_gts, c.num_dets,
                          "error", c.error.c_str());
        else if (std::isnan(c.ap))
            std::snprintf(buf, sizeof buf, "%-20s %7lld %7zu %8s\n", c.label.c_str(), c.num_gts, c.num_dets, "nan");
        else
            std::snprintf(buf, sizeof buf, "%-20s %7lld %7zu %8.2f\n", c.label.c_str(), c.num_gts, c.num_dets,
                          100 * c.ap);
        s += buf;
    }
    s += std::string(45, '-') + "\n";
    if (std::isnan(r.map))
        std::snprintf(buf, sizeof buf, "%-20s %24s\n", "mAP", r.map_error.empty() ? "nan" : "undefined");
    else
        std::snprintf(buf, sizeof buf, "%-20s %24.2f\n", "mAP", 100 * r.map);
    s += buf;
    if (!r.map_error.empty()) s += "(" + r.map_error + ")\n";
    return s;
}

/// `{"points": [{"threshold","mAP","kept"}], "best_threshold", "best_mAP"}`.
inline nlohmann::json to_json(const sweep_result& r) {
    nlohmann::json pts = nlohmann::json::array();
    for (const auto& p : r.points)
        pts.push_back({{"threshold", p.threshold}, {"mAP", detail::num_json(p.map)}, {"kept", p.kept}});
    return {{"points", pts}, {"best_threshold", r.best_threshold}, {"best_mAP", detail::num_json(r.best_map)}};
}

/// `{"points": [{"score_threshold","precision","recall","f1"}], "mF1"}`.
inline nlohmann::json to_json(const mf1_result& r) {
    nlohmann::json pts = nlohmann::json::array();
    for (const auto& p : r.points)
        pts.push_back(
            {{"score_threshold", p.score_threshold}, {"precision", p.precision}, {"recall", p.recall}, {"f1", p.f1}});
    return {{"points", pts}, {"mF1", r.mean_f1}};
}

/// ADL forms of the `to_json` above, so `nlohmann::json j = value;` works.
inline void to_json(nlohmann::json& j, const dota_eval_result& v) {
    j = to_json(v);
}
inline void to_json(nlohmann::json& j, const sweep_result& v) {
    j = to_json(v);
}
inline void to_json(nlohmann::json& j, const mf1_result& v) {
    j = to_json(v);
}

} // namespace rscovlm::eval
