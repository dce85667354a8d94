#pragma once
/// \file bench/large_image.hpp
/// The ultra-high-resolution VQA benchmarks RSCoVLM evaluates, with and without the Zoom-in Chain:
///
/// - `bench.lrsvqa`: LRS-VQA. Records are the JSON Lines of `LRS_VQA_merged.jsonl`
///   `{"question_id", "image", "text", "category", "ground_truth"}`; `--data` is that file (images
///   relative to its folder, or to the `image_root` parameter resolved against it) or the data set's
///   root folder in the reference's layout (`annotations/benchmark/LRS_VQA_merged.jsonl`, images under
///   `images/benchmark/`). The question is `text` as is. Scored as
///   `rscovlm/eval/metric/large_image_bench.py` lrsvqa_scores: "overall acc", "Overall Acc (Source
///   FAIR|STAR|GLH)" (question_id prefix), "Overall Acc (Task ...)" for its eight tasks, "Average Acc
///   (Source ...)" and "Average Acc" (means over the tasks present); each answer judged by the
///   preset's metric (`metric.vqa.wups` is the reference's compute_wups_acc).
/// - `bench.mme_realworld_rs`: MME-RealWorld's remote-sensing part. `--data` is the folder holding
///   `MME_RealWorld_remote_sensing.json` (image paths relative to it, as the reference joins them to
///   its data root) or that file. Records `{"Question_id"?, "Image", "Text", "Answer choices": [...],
///   "Ground truth", "Category"}`; the question is written as prepare_mme_realworld_remote_sensing
///   writes it (`Text`, " The choices are listed below: \n", each choice and "\n", the instruction,
///   "\nThe best answer is:"). Scored as mme_realworld_remote_sensing_scores: "acc", "count_acc",
///   "color_acc", "position_acc" with the preset's metric (`metric.vqa.contain`: the reference's
///   compute_contain_acc, lax by design: the letter anywhere in the answer counts), plus every
///   category.
///
/// Both answer with the preset's `zoom` component. With the Zoom-in Chain (`zoom.tool_call`) the
/// categories the reference asks without it (LRS-VQA: count; MME: count and position; parameter
/// `plain_categories`) get the single-turn question with the same options, as get_qa_message's
/// `visual_cot and category not in [...]`. Failed records are counted, never scored. The reference's
/// averages divide by zero when a source has no task, and its MME scores fail on a category with no
/// record; those values are null here.

#include <rscovlm/bench/benchmark.hpp>
#include <rscovlm/bench/charts.hpp>
#include <rscovlm/eval/lrsvqa.hpp>
#include <rscovlm/zoom/chain.hpp>
#include <rscovlm/zoom/source.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace rscovlm::bench {

namespace detail {

/// Records of a JSON / JSON Lines file whose ids are the string field `id_field` where present (the
/// position otherwise) and whose image path `image_field` is resolved against `image_base`.
inline std::vector<record> read_records_with(const std::string& path, const std::vector<std::string>& required,
                                             const std::string& id_field, const std::string& image_field,
                                             const std::string& image_base, std::string_view bench) {
    std::vector<record> rs = read_jsonl_records(path, required, bench, false);
    std::set<std::string> seen;
    for (std::size_t i = 0; i < rs.size(); ++i) {
        record& r = rs[i];
        const auto id = r.input.find(id_field);
        if (id != r.input.end() && id->is_string())
            r.id = id->get<std::string>();
        else if (id != r.input.end() && id->is_number_integer())
            r.id = std::to_string(id->get<long long>());
        if (!seen.insert(r.id).second)
            RSCOVLM_THROW(data_error, "duplicate_id", "'" + path + "': record id '" + r.id + "' repeats");
        r.input["image"] = resolve_path(r.input.at(image_field).get<std::string>(), image_base);
    }
    return rs;
}

} // namespace detail

/// Answers `question` about the record's image with `env`'s chain, or a single-turn chain when the
/// chain zooms and `category` is one of `plain`.
inline nlohmann::json answer_large_image(const record& r, const std::string& question, const std::string& category,
                                         const std::vector<std::string>& plain, zoom::backend& model,
                                         const environment& env, std::string_view bench) {
    const zoom::chain& chain = detail::need(env.chain, "zoom", bench);
    if (!env.load_image) RSCOVLM_THROW(config_error, "no_image_loader", "the benchmark has no image loader");
    const image img = env.load_image(r.input.at("image").get<std::string>());
    zoom::memory_source src(img);
    const bool single = chain.options().zoom_prompt && std::find(plain.begin(), plain.end(), category) != plain.end();
    const zoom::chain_result c =
        single ? zoom::single_turn_chain(chain.options()).run(src, question, model) : chain.run(src, question, model);
    return {{"prompt", question},
            {"text", c.answer},
            {"answered", c.answered},
            {"zoom", !single && chain.options().zoom_prompt},
            {"stop_reason", c.trace.stop_reason},
            {"steps", c.trace.steps.size()}};
}

/// True when metric `m` accepts `pred` for `gt` (the pair scored alone).
inline bool judge_pair(const metric_ref& m, const std::string& pred, const std::string& gt) {
    const nlohmann::json res = m.metric->evaluate({{"pairs", nlohmann::json::array({{{"pred", pred}, {"gt", gt}}})}});
    return res.is_object() && res.contains("acc") && res["acc"].is_number() && res["acc"].get<double>() == 1.0;
}

/// LRS-VQA (see the file comment).
class lrsvqa_bench : public registry::component<lrsvqa_bench, benchmark> {
public:
    static constexpr std::string_view key = "bench.lrsvqa";
    static constexpr std::string_view summary =
        "LRS-VQA (LRS_VQA_merged.jsonl): answered with or without the Zoom-in Chain, scored as RSCoVLM's "
        "lrsvqa_scores (per source, per task, Average Acc)";

    std::string image_root;                             ///< images' folder, relative to the data file's
    std::vector<std::string> plain_categories{"count"}; ///< asked without the Zoom-in prompt

    /// Parameters: "image_root" (""), "plain_categories" (["count"]).
    static lrsvqa_bench from_params(registry::params& p) {
        lrsvqa_bench b;
        b.image_root = p.get<std::string>("image_root", "");
        b.plain_categories = p.get<std::vector<std::string>>("plain_categories", {"count"});
        return b;
    }

    std::string_view task() const noexcept override { return "vqa"; }

    std::vector<record> load(const std::string& data) const override {
        namespace fs = std::filesystem;
        std::string file = data, base;
        if (fs::is_directory(data)) {
            file = (fs::path(data) / "annotations" / "benchmark" / "LRS_VQA_merged.jsonl").string();
            base = (fs::path(data) / "images" / "benchmark").string();
        } else {
            base = detail::resolve_path(image_root, fs::path(data).parent_path().string());
        }
        std::vector<record> rs =
            detail::read_records_with(file, {"image", "text", "ground_truth"}, "question_id", "image", base, key);
        for (auto& r : rs)
            if (r.input.contains("category") && !r.input["category"].is_string())
                RSCOVLM_THROW(data_error, "bad_record",
                              "'" + file + "' record '" + r.id + "': \"category\" must be a string");
        return rs;
    }

    nlohmann::json answer(const record& r, zoom::backend& model, const environment& env) const override {
        return answer_large_image(r, r.input.at("text").get<std::string>(), detail::category_of(r), plain_categories,
                                  model, env, key);
    }

    nlohmann::json score(const std::vector<record>& records, const answer_view& answers, const environment& env,
                         const score_options& options) const override {
        const metric_ref& m = detail::first_metric(env, key);
        std::vector<eval::lrsvqa::item> items;
        std::vector<bool> correct;
        std::size_t failed_n = 0;
        for (std::size_t i = 0; i < records.size(); ++i) {
            if (failed(answers[i])) {
                ++failed_n;
                continue;
            }
            eval::lrsvqa::item it;
            it.question_id = records[i].id; // the string form of "question_id"
            it.category = detail::category_of(records[i]);
            it.ground_truth = records[i].input.at("ground_truth").get<std::string>();
            it.output = answers[i]->at("text").get<std::string>();
            correct.push_back(judge_pair(m, it.output, it.ground_truth));
            items.push_back(std::move(it));
        }
        const nlohmann::json s = eval::lrsvqa::scores(
            items, [&](const eval::lrsvqa::item& it) { return correct[static_cast<std::size_t>(&it - items.data())]; });
        table t;
        t.columns = {"score", m.key};
        std::vector<double> bars;
        // The reference's keys in its order (the JSON object sorts them).
        std::vector<std::string> keys{"overall acc"};
        for (const auto& src : eval::lrsvqa::sources())
            keys.push_back("Overall Acc (Source " + src + ")");
        for (const auto& tk : eval::lrsvqa::tasks()) {
            keys.push_back("Overall Acc (Task " + tk + ")");
            const nlohmann::json& v = s.at(keys.back());
            bars.push_back(v.is_number() ? v.get<double>() : 0.0);
        }
        for (const auto& src : eval::lrsvqa::sources())
            keys.push_back("Average Acc (Source " + src + ")");
        keys.emplace_back("Average Acc");
        for (const auto& k : keys)
            t.rows.push_back({k, s.at(k)});
        t.rows.push_back({"answered", items.size()});
        t.rows.push_back({"failed", failed_n});
        const nlohmann::json pictures =
            items.empty() ? nlohmann::json::array() : detail::accuracy_chart(options, bars, eval::lrsvqa::tasks());
        return {{"task", task()},      {"total", records.size()}, {"answered", items.size()},
                {"failed", failed_n},  {"metrics", {{m.key, s}}}, {"table", t},
                {"pictures", pictures}};
    }
};

/// The instruction of MME-RealWorld's multiple-choice prompt (prepare_mme_realworld_remote_sensing).
inline constexpr std::string_view mme_instruction =
    "Select the best answer to the above multiple-choice question based on the image. Respond with only the "
    "letter (A, B, C, D, or E) of the correct option.";

/// The question sent for an MME-RealWorld record.
inline std::string mme_question(const nlohmann::json& input) {
    std::string q = input.at("Text").get<std::string>() + " The choices are listed below: \n";
    for (const auto& c : input.at("Answer choices"))
        q += (c.is_string() ? c.get<std::string>() : c.dump()) + "\n";
    return q + std::string(mme_instruction) + "\nThe best answer is:";
}

/// MME-RealWorld remote sensing (see the file comment).
class mme_realworld_rs_bench : public registry::component<mme_realworld_rs_bench, benchmark> {
public:
    static constexpr std::string_view key = "bench.mme_realworld_rs";
    static constexpr std::string_view summary =
        "MME-RealWorld remote sensing (MME_RealWorld_remote_sensing.json): multiple choice with or without the "
        "Zoom-in Chain, contain-accuracy overall and for count / color / position as RSCoVLM scores it";

    std::vector<std::string> plain_categories{"count", "position"}; ///< asked without the Zoom-in prompt

    /// Parameter: "plain_categories" (["count", "position"]).
    static mme_realworld_rs_bench from_params(registry::params& p) {
        mme_realworld_rs_bench b;
        b.plain_categories = p.get<std::vector<std::string>>("plain_categories", {"count", "position"});
        return b;
    }

    std::string_view task() const noexcept override { return "vqa"; }

    std::vector<record> load(const std::string& data) const override {
        namespace fs = std::filesystem;
        const std::string file =
            fs::is_directory(data) ? (fs::path(data) / "MME_RealWorld_remote_sensing.json").string() : data;
        std::vector<record> rs = detail::read_records_with(file, {"Image", "Text", "Ground truth"}, "Question_id",
                                                           "Image", fs::path(file).parent_path().string(), key);
        for (auto& r : rs) {
            const auto c = r.input.find("Answer choices");
            if (c == r.input.end() || !c->is_array())
                RSCOVLM_THROW(data_error, "bad_record",
                              "'" + file + "' record '" + r.id + "': \"Answer choices\" must be a list");
            const auto cat = r.input.find("Category");
            if (cat != r.input.end() && !cat->is_string())
                RSCOVLM_THROW(data_error, "bad_record",
                              "'" + file + "' record '" + r.id + "': \"Category\" must be a string");
            r.input["category"] = cat == r.input.end() ? nlohmann::json(nullptr) : *cat;
        }
        return rs;
    }

    nlohmann::json answer(const record& r, zoom::backend& model, const environment& env) const override {
        return answer_large_image(r, mme_question(r.input), detail::category_of(r), plain_categories, model, env, key);
    }

    nlohmann::json score(const std::vector<record>& records, const answer_view& answers, const environment& env,
                         const score_options& options) const override {
        const metric_ref& m = detail::first_metric(env, key);
        std::vector<std::string> categories;
        std::vector<std::optional<nlohmann::json>> pairs;
        const std::size_t failed_n =
            detail::collect_pairs(records, answers, categories, pairs, [&](std::size_t i) -> nlohmann::json {
                return nlohmann::json{{"pred", answers[i]->at("text")}, {"gt", records[i].input.at("Ground truth")}};
            });
        nlohmann::json result = detail::category_result("vqa", m, categories, pairs, failed_n, options, 1);
        // mme_realworld_remote_sensing_scores' keys.
        const nlohmann::json& scored = result["metrics"][m.key];
        auto acc_of = [](const nlohmann::json& r) {
            return r.is_object() && r.contains("acc") ? r["acc"] : nlohmann::json(nullptr);
        };
        nlohmann::json ref = {{"acc", acc_of(scored["overall"])}};
        for (const char* c : {"count", "color", "position"}) {
            const auto& per = scored["categories"];
            ref[std::string(c) + "_acc"] = per.contains(c) ? acc_of(per[c]) : nlohmann::json(nullptr);
        }
        result["metrics"]["reference"] = ref;
        return result;
    }
};

} // namespace rscovlm::bench
