#pragma once
/// \file bench/caption.hpp
/// `bench.caption`: image captioning, as RSCoVLM evaluates its remote-sensing caption sets
/// (`cap_ucm_caption`, `cap_sydney_caption`, `cap_rsicd`, `cap_rsitmd`, `cap_nwpu_caption`,
/// `vrsbench_caption`). Records are JSON Lines `{"image", "ground_truth": [reference, ...],
/// "question"?, "id"?}` (the reference's formatted test files: `references` is accepted as well;
/// image paths relative to the file's folder). Each record is asked its `question` (default: the
/// reference's "Describe the image") through the preset's `zoom` component (one turn with
/// `zoom.none`), and every metric of the preset scores all answered records together
/// (`{"records": [{"id", "pred", "refs"}]}`: `metric.caption.rscovlm_cider` is the reference's own
/// score, `metric.caption.coco` adds BLEU-1..4, ROUGE-L and CIDEr-D as pycocoevalcap computes them).
/// Corpus-level scores (CIDEr's document frequencies span the whole set) are not split by category.

#include <rscovlm/bench/benchmark.hpp>
#include <rscovlm/zoom/source.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace rscovlm::bench {

/// The question RSCoVLM's caption test files ask (`format_image_caption.py`).
inline constexpr std::string_view caption_question = "Describe the image";

/// Captioning benchmark over JSON Lines records (see the file comment).
class caption_bench : public registry::component<caption_bench, benchmark> {
public:
    static constexpr std::string_view key = "bench.caption";
    static constexpr std::string_view summary =
        "image captioning on JSON Lines {image, ground_truth: [refs], question?}: the preset's zoom component "
        "answers, every caption metric of the preset scores the set (RSCoVLM CIDEr, BLEU/ROUGE-L/CIDEr-D)";

    std::string_view task() const noexcept override { return "caption"; }

    std::vector<record> load(const std::string& data) const override {
        std::vector<record> rs = detail::read_jsonl_records(data, {"image"}, key);
        for (auto& r : rs) {
            auto& in = r.input;
            if (!in.contains("ground_truth") && in.contains("references")) in["ground_truth"] = in["references"];
            const auto it = in.find("ground_truth");
            bool ok = it != in.end() && it->is_array() && !it->empty();
            if (ok)
                for (const auto& g : *it)
                    ok = ok && g.is_string();
            if (!ok)
                RSCOVLM_THROW(
                    data_error, "bad_record",
                    "'" + data + "' record '" + r.id +
                        "': bench.caption needs \"ground_truth\" (or \"references\"): a non-empty list of strings");
            if (in.contains("question") && !in["question"].is_string())
                RSCOVLM_THROW(data_error, "bad_record",
                              "'" + data + "' record '" + r.id + "': \"question\" must be a string");
        }
        return rs;
    }

    nlohmann::json answer(const record& r, zoom::backend& model, const environment& env) const override {
        const zoom::chain& chain = detail::need(env.chain, "zoom", key);
        if (!env.load_image) RSCOVLM_THROW(config_error, "no_image_loader", "the benchmark has no image loader");
        const image img = env.load_image(r.input.at("image").get<std::string>());
        const std::string question = r.input.value("question", std::string(caption_question));
        zoom::memory_source src(img);
        const zoom::chain_result c = chain.run(src, question, model);
        return {
            {"prompt", question}, {"text", c.answer}, {"answered", c.answered}, {"stop_reason", c.trace.stop_reason}};
    }

    nlohmann::json score(const std::vector<record>& records, const answer_view& answers, const environment& env,
                         const score_options&) const override {
        if (env.metrics.empty())
            RSCOVLM_THROW(config_error, "missing_component",
                          std::string(key) + " needs a caption metric in the preset");
        nlohmann::json items = nlohmann::json::array();
        std::size_t failed_n = 0;
        for (std::size_t i = 0; i < records.size(); ++i) {
            if (failed(answers[i])) {
                ++failed_n;
                continue;
            }
            items.push_back({{"id", records[i].id},
                             {"pred", answers[i]->at("text")},
                             {"refs", records[i].input.at("ground_truth")}});
        }
        table t;
        t.columns = {"set", "total", "failed"};
        std::vector<nlohmann::json> row = {"overall", records.size(), failed_n};
        nlohmann::json metrics = nlohmann::json::object();
        for (const auto& m : env.metrics) {
            const nlohmann::json res =
                items.empty() ? nlohmann::json(nullptr) : m.metric->evaluate({{"records", items}});
            metrics[m.key] = {{"overall", res}};
            if (!res.is_object()) continue;
            for (auto it = res.begin(); it != res.end(); ++it)
                if (it->is_number() && it.key() != "images") {
                    t.columns.push_back(m.key + " " + it.key());
                    row.push_back(*it);
                }
        }
        t.rows.push_back(std::move(row));
        return {{"task", task()},
                {"total", records.size()},
                {"answered", records.size() - failed_n},
                {"failed", failed_n},
                {"metrics", metrics},
                {"table", t},
                {"pictures", nlohmann::json::array()}};
    }
};

} // namespace rscovlm::bench
