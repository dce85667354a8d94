#pragma once
/// \file bench/grounding.hpp
/// `bench.grounding`: referring-expression grounding. Records are JSON Lines
/// `{"image", "query", "gt": [x1, y1, x2, y2], "id"?, "category"?}` (image paths relative to the
/// file's folder; "box" or "bbox" may stand for "gt"); each is answered with `pipeline::ground` (the
/// codec's grounding prompt for its answer format, the first decoded box mapped to the original frame
/// as RSCoVLM's metric does) and scored with the preset's first metric (`metric.grounding.acc50`:
/// accuracy at IoU 0.5, `pixel_inclusive` from its parameters), per category and overall.

#include <rscovlm/bench/benchmark.hpp>
#include <rscovlm/bench/charts.hpp>
#include <rscovlm/pipeline/infer.hpp>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace rscovlm::bench {

/// Grounding benchmark over JSON Lines records (see the file comment).
class grounding_bench : public registry::component<grounding_bench, benchmark> {
public:
    static constexpr std::string_view key = "bench.grounding";
    static constexpr std::string_view summary =
        "referring grounding on JSON Lines {image, query, gt box}: pipeline::ground, accuracy by the preset's metric";

    std::string_view task() const noexcept override { return "grounding"; }

    std::vector<record> load(const std::string& data) const override {
        std::vector<record> out = detail::read_jsonl_records(data, {"image", "query"}, key);
        for (auto& r : out) {
            nlohmann::json& in = r.input;
            for (const char* alt : {"box", "bbox"})
                if (!in.contains("gt") && in.contains(alt)) in["gt"] = in[alt];
            const nlohmann::json& gt = in.contains("gt") ? in["gt"] : nlohmann::json();
            bool ok = gt.is_array() && gt.size() == 4;
            for (const auto& v : gt)
                ok = ok && v.is_number();
            if (!ok)
                RSCOVLM_THROW(data_error, "bad_record",
                              "'" + data + "' record '" + r.id + "': \"gt\" must be [x1, y1, x2, y2]");
        }
        return out;
    }

    nlohmann::json answer(const record& r, zoom::backend& model, const environment& env) const override {
        const box_codec::codec& codec = detail::need(env.codec, "box_codec", key);
        resolution::strategy& sizing = detail::need(env.sizing, "resolution", key);
        if (!env.load_image) RSCOVLM_THROW(config_error, "no_image_loader", "the benchmark has no image loader");
        const image img = env.load_image(r.input.at("image").get<std::string>());
        const pipeline::grounding_result g =
            pipeline::ground(img, codec, sizing, model, r.input.at("query").get<std::string>(), env.generation);
        return {{"system", g.system},
                {"prompt", g.prompt},
                {"text", g.text},
                {"box", g.box ? nlohmann::json(*g.box) : nlohmann::json(nullptr)},
                {"dropped", g.decoded.dropped}};
    }

    nlohmann::json score(const std::vector<record>& records, const answer_view& answers, const environment& env,
                         const score_options& options) const override {
        const metric_ref& m = detail::first_metric(env, key);
        std::vector<std::string> categories;
        std::vector<std::optional<nlohmann::json>> pairs;
        const std::size_t failed_n =
            detail::collect_pairs(records, answers, categories, pairs, [&](std::size_t i) -> nlohmann::json {
                return nlohmann::json{{"pred", answers[i]->at("box")}, {"gt", records[i].input.at("gt")}};
            });
        return detail::category_result("grounding", m, categories, pairs, failed_n, options, 2);
    }
};

} // namespace rscovlm::bench
