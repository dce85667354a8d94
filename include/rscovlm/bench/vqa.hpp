#pragma once
/// \file bench/vqa.hpp
/// `bench.vqa`: visual question answering. Records are JSON Lines `{"image", "question", "answer",
/// "category"?, "choices"?: [..], "id"?}` (image paths relative to the file's folder). A question with
/// choices is written as RSCoVLM writes multiple-choice questions (LRS-VQA builder: the question
/// right-stripped of the instruction's characters, " The choices are listed below: \n", one choice
/// per line, the instruction and the answer cue). Each record is answered by the preset's `zoom`
/// component (`zoom.none`: one turn; `zoom.tool_call`: the Zoom-in Chain), as `rscovlm run` does for
/// vqa, and scored with the preset's first metric (`metric.vqa.contain`, `metric.vqa.exact`,
/// `metric.mcq`, or any metric taking `{"pairs": [{"pred", "gt"}]}`), per category and overall.

#include <rscovlm/bench/benchmark.hpp>
#include <rscovlm/bench/charts.hpp>
#include <rscovlm/data/prompts.hpp>
#include <rscovlm/detail/py/py.hpp>
#include <rscovlm/zoom/source.hpp>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace rscovlm::bench {

/// The question text sent for a VQA record (see the file comment).
inline std::string vqa_question(const nlohmann::json& input) {
    const std::string q = input.at("question").get<std::string>();
    auto it = input.find("choices");
    if (it == input.end() || !it->is_array() || it->empty()) return q;
    std::string choices(data::prompts::mcq_choice_intro);
    for (const auto& c : *it)
        choices += (c.is_string() ? c.get<std::string>() : c.dump()) + "\n";
    return std::string(::rscovlm::detail::py::rstrip(q, data::prompts::mcq_rstrip_chars)) + choices +
           std::string(data::prompts::mcq_instruction) + std::string(data::prompts::mcq_answer_cue);
}

/// VQA benchmark over JSON Lines records (see the file comment).
class vqa_bench : public registry::component<vqa_bench, benchmark> {
public:
    static constexpr std::string_view key = "bench.vqa";
    static constexpr std::string_view summary =
        "VQA / multiple choice on JSON Lines {image, question, answer, category?, choices?}: the preset's zoom "
        "component answers, the preset's metric scores per category";

    std::string_view task() const noexcept override { return "vqa"; }

    std::vector<record> load(const std::string& data) const override {
        return detail::read_jsonl_records(data, {"image", "question", "answer"}, key);
    }

    nlohmann::json answer(const record& r, zoom::backend& model, const environment& env) const override {
        const zoom::chain& chain = detail::need(env.chain, "zoom", key);
        if (!env.load_image) RSCOVLM_THROW(config_error, "no_image_loader", "the benchmark has no image loader");
        const image img = env.load_image(r.input.at("image").get<std::string>());
        const std::string question = vqa_question(r.input);
        zoom::memory_source src(img);
        const zoom::chain_result c = chain.run(src, question, model);
        return {{"prompt", question},
                {"text", c.answer},
                {"answered", c.answered},
                {"stop_reason", c.trace.stop_reason},
                {"steps", c.trace.steps.size()}};
    }

    nlohmann::json score(const std::vector<record>& records, const answer_view& answers, const environment& env,
                         const score_options& options) const override {
        const metric_ref& m = detail::first_metric(env, key);
        std::vector<std::string> categories;
        std::vector<std::optional<nlohmann::json>> pairs;
        const std::size_t failed_n =
            detail::collect_pairs(records, answers, categories, pairs, [&](std::size_t i) -> nlohmann::json {
                const nlohmann::json& gt = records[i].input.at("answer");
                return nlohmann::json{{"pred", answers[i]->at("text")},
                                      {"gt", gt.is_string() ? gt.get<std::string>() : gt.dump()}};
            });
        return detail::category_result("vqa", m, categories, pairs, failed_n, options, 1);
    }
};

} // namespace rscovlm::bench
