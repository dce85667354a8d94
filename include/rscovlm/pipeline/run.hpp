#pragma once
/// \file pipeline/run.hpp
/// Runnable pipelines: a preset names the components of a job, and `run` chains them on one image
/// with a generation backend (any `zoom::backend`: scripted, OpenAI-compatible server, LibTorch).
///
/// - detection: resolution plan -> the model's view of the image -> the box codec's system and user
///   prompts -> backend -> codec decode, boxes mapped back to the original frame (drop report kept).
/// - grounding: the same with RSCoVLM's grounding prompt for the codec's answer format and one
///   referring expression; the first box is mapped back as RSCoVLM's grounding metric does.
/// - vqa: the preset's `zoom` component (Zoom-in Chain or single turn) answers a question.
///
/// The task is the preset's `"task"` field, or inferred from its components (a `zoom` component:
/// vqa; a box codec with the `builder.refgeo` builder: grounding; a box codec: detection).

#include <rscovlm/box_codec/codec.hpp>
#include <rscovlm/box_codec/json.hpp>
#include <rscovlm/data/prompts.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/geometry/convert.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/draw.hpp>
#include <rscovlm/imaging/ops.hpp>
#include <rscovlm/pipeline/infer.hpp>
#include <rscovlm/pipeline/pipeline.hpp>
#include <rscovlm/resolution/strategy.hpp>
#include <rscovlm/zoom/backend.hpp>
#include <rscovlm/zoom/chain.hpp>
#include <rscovlm/zoom/controller.hpp>
#include <rscovlm/zoom/source.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::pipeline {

/// What a runnable preset does.
enum class task { detection, grounding, vqa };

/// "detection" | "grounding" | "vqa".
inline std::string_view task_name(task t) noexcept {
    switch (t) {
    case task::detection:
        return "detection";
    case task::grounding:
        return "grounding";
    case task::vqa:
        return "vqa";
    }
    return "detection";
}

/// Parses a task name; anything else is `rscovlm.config.bad_task`.
inline task parse_task(std::string_view s) {
    if (s == "detection") return task::detection;
    if (s == "grounding") return task::grounding;
    if (s == "vqa") return task::vqa;
    RSCOVLM_THROW(config_error, "bad_task", "unknown task '" + std::string(s) + "' (detection|grounding|vqa)");
}

/// The task of a pipeline (see the file comment); `rscovlm.config.not_runnable` when it has none.
template <class Kinds> task task_of(const basic_pipeline<Kinds>& p) {
    if (!p.task().empty()) return parse_task(p.task());
    if (p.template has<zoom::kind>()) return task::vqa;
    if (p.template has<box_codec::kind>()) {
        for (const auto& c : p.components())
            if (c.kind == data::builder_kind::name && c.key == "builder.refgeo") return task::grounding;
        return task::detection;
    }
    RSCOVLM_THROW(config_error, "not_runnable",
                  "pipeline '" + p.name() + "' has no task: give it a \"task\" or a box_codec / zoom component");
}

/// What `run` needs besides the pipeline, the image and the backend.
struct run_request {
    std::vector<std::string> classes; ///< detection: class names (empty: labels as written)
    std::string query;                ///< grounding: the referring expression
    std::string question;             ///< vqa: the question
    zoom::generation_options generation;
    /// Detection: score boxes from their tokens' log-probabilities by this rule (unset: unscored).
    std::optional<box_codec::score_rule> box_scores;
    /// Detection: constrained decoding with the codec's grammar.
    bool constrain = false;
};

/// Runs a preset's task on one image; the result as JSON (`detection_result`, `grounding_result`, or
/// the zoom chain's result with `"task": "vqa"`). Missing inputs are `rscovlm.usage.*` errors.
template <class Kinds> nlohmann::json run(const basic_pipeline<Kinds>& p, const image& original, zoom::backend& model,
                                          const run_request& req) {
    const task t = task_of(p);
    if (t == task::vqa) {
        if (req.question.empty())
            RSCOVLM_THROW(usage_error, "no_question", "pipeline '" + p.name() + "' (vqa) needs a question");
        zoom::memory_source src(original);
        zoom::chain_result cr = p.template get<zoom::kind>().run(src, req.question, model);
        nlohmann::json j = cr;
        j["task"] = "vqa";
        j["question"] = req.question;
        return j;
    }
    auto& codec = p.template get<box_codec::kind>();
    auto& sizing = p.template get<resolution::kind>();
    if (t == task::grounding) {
        if (req.query.empty())
            RSCOVLM_THROW(usage_error, "no_query", "pipeline '" + p.name() + "' (grounding) needs a query");
        return ground(original, codec, sizing, model, req.query, req.generation);
    }
    return detect(original, codec, sizing, model, req.classes, req.generation, req.box_scores, req.constrain);
}

} // namespace rscovlm::pipeline
