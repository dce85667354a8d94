#pragma once
/// \file box_codec/json.hpp
/// JSON conversion of the decoded boxes and the drop report, next to their types (found by ADL:
/// `nlohmann::json j = result;`). Objects are `{"label", "label_id", "coords"}`; the report is
/// `{"counts": {reason: n}, "total", "examples": [{"index", "reason", "excerpt"}]}`.

#include <rscovlm/box_codec/types.hpp>

#include <nlohmann/json.hpp>

namespace rscovlm::box_codec {

inline void to_json(nlohmann::json& j, const object& o) {
    j = nlohmann::json{{"label", o.label}, {"label_id", o.label_id}, {"coords", o.coords}};
    if (o.score) j["score"] = *o.score;
}

inline void from_json(const nlohmann::json& j, object& o) {
    o.label = j.value("label", std::string());
    o.label_id = j.value("label_id", -1);
    o.coords = j.at("coords").get<std::vector<double>>();
    if (auto s = j.find("score"); s != j.end() && s->is_number()) o.score = s->get<double>();
}

inline void to_json(nlohmann::json& j, const dropped_item& d) {
    j = nlohmann::json{{"index", d.index}, {"reason", d.reason}, {"excerpt", d.excerpt}};
}

inline void to_json(nlohmann::json& j, const drop_report& r) {
    nlohmann::json counts = nlohmann::json::object();
    for (const auto& kv : r.counts)
        counts[kv.first] = kv.second;
    nlohmann::json examples = nlohmann::json::array();
    for (const auto& d : r.examples)
        examples.push_back(d);
    j = nlohmann::json{{"counts", counts}, {"total", r.total()}, {"examples", examples}};
}

inline void to_json(nlohmann::json& j, const decode_result& r) {
    nlohmann::json objects = nlohmann::json::array();
    for (const auto& o : r.objects)
        objects.push_back(o);
    j = nlohmann::json{{"objects", objects}, {"dropped", r.dropped}, {"fuzzy_matched", r.fuzzy_matched}};
}

} // namespace rscovlm::box_codec
