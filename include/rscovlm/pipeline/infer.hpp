#pragma once
/// \file pipeline/infer.hpp
/// One model call on one image, for the tasks a preset runs (see pipeline/run.hpp): the model's view
/// of the image, the prompts, the backend, and the decoded answer in the original frame.
///
/// - `detect`: resolution plan -> the model's view -> the box codec's system and user prompts ->
///   backend -> codec decode, boxes mapped back to the original frame (drop report kept).
/// - `ground`: the same with RSCoVLM's grounding prompt for the codec's answer format and one
///   referring expression; the first box is mapped back as RSCoVLM's grounding metric does.
///
/// This header does not depend on `pipeline::pipeline`, so registry components (benchmarks) can
/// use it.

#include <rscovlm/box_codec/codec.hpp>
#include <rscovlm/box_codec/grammar.hpp>
#include <rscovlm/box_codec/json.hpp>
#include <rscovlm/box_codec/scores.hpp>
#include <rscovlm/data/prompts.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/geometry/convert.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/draw.hpp>
#include <rscovlm/imaging/ops.hpp>
#include <rscovlm/resolution/strategy.hpp>
#include <rscovlm/zoom/backend.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::pipeline {

/// The image the model sees for a plan: RGB (qwen-vl-utils `to_rgb`, white composite) resized with
/// Pillow's filter to the plan's size, the order of the reference's preprocessing.
inline image model_view(const image& original, const resolution::plan& p, image::filter f = image::filter::bicubic) {
    if (original.empty()) RSCOVLM_THROW(resolution_error, "zero_size", "the image has no pixels");
    // An RGB input is resized as is (to_rgb would copy it first).
    image converted;
    const image* rgb = &original;
    if (original.channels != 3) {
        converted = imaging::to_rgb(original);
        rgb = &converted;
    }
    if (rgb->width == p.resized_width && rgb->height == p.resized_height) return *rgb;
    return imaging::resize(*rgb, p.resized_width, p.resized_height, f);
}

/// Output of `detect`.
struct detection_result {
    resolution::plan plan;            ///< how the image was sized
    std::string system;               ///< system prompt sent ("" = the template's default)
    std::string prompt;               ///< user prompt sent
    std::string text;                 ///< the model's answer
    box_codec::decode_result decoded; ///< boxes in the original frame, and what was dropped
    zoom::usage usage;
    /// How the boxes were scored from the answer's token log-probabilities (`box_codec::score_boxes`),
    /// when asked for and the backend returned them; the boxes' `score` is set then.
    std::optional<box_codec::score_report> scores;
    /// True when the answer was decoded under the codec's grammar (`constrain` and a plain codec).
    bool constrained = false;
};

inline void to_json(nlohmann::json& j, const detection_result& r) {
    j = nlohmann::json{
        {"task", "detection"},
        {"plan", r.plan},
        {"system", r.system},
        {"prompt", r.prompt},
        {"text", r.text},
        {"objects", nlohmann::json(r.decoded)["objects"]},
        {"dropped", r.decoded.dropped},
        {"fuzzy_matched", r.decoded.fuzzy_matched},
        {"constrained", r.constrained},
        {"usage", {{"prompt_tokens", r.usage.prompt_tokens}, {"completion_tokens", r.usage.completion_tokens}}}};
    if (r.scores)
        j["box_scores"] = {{"aligned", r.scores->aligned},
                           {"from_span", r.scores->from_span},
                           {"from_answer", r.scores->from_answer},
                           {"answer_score", std::isfinite(r.scores->answer_score)
                                                ? nlohmann::json(r.scores->answer_score)
                                                : nlohmann::json()}};
}

namespace detail {
inline nlohmann::json user_turn(const std::string& text) {
    return {{"role", "user"},
            {"content", nlohmann::json::array({{{"type", "image"}}, {{"type", "text"}, {"text", text}}})}};
}
inline nlohmann::json conversation(const std::string& system, const std::string& user) {
    nlohmann::json m = nlohmann::json::array();
    if (!system.empty()) m.push_back({{"role", "system"}, {"content", system}});
    m.push_back(user_turn(user));
    return m;
}
inline std::string replace_all(std::string s, std::string_view from, std::string_view to) {
    for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
        s.replace(pos, from.size(), to);
    return s;
}
} // namespace detail

/// `detect` with the model's view already planned (`plan` for the original's size): callers that
/// plan on one thread and generate on others (scene detection) use it, since strategies are not
/// thread-safe. With `box_scores`, the answer's token log-probabilities are asked for and each box is
/// scored from them by that rule (`box_codec::score_boxes`); a backend that returns none leaves the
/// boxes unscored. With `constrain`, the codec's grammar for `classes` in the model's frame
/// (`box_codec::make_answer_grammar`) goes to the backend as `generation_options::constraint`, so a
/// backend that constrains decoding answers only what decodes whole (codecs without a grammar:
/// unconstrained, `constrained` false).
inline detection_result
detect_planned(const image& original, const resolution::plan& plan, const box_codec::codec& codec, zoom::backend& model,
               const std::vector<std::string>& classes, const zoom::generation_options& generation = {},
               std::optional<box_codec::score_rule> box_scores = std::nullopt, bool constrain = false) {
    detection_result r;
    if (original.empty()) RSCOVLM_THROW(resolution_error, "zero_size", "the image has no pixels");
    r.plan = plan;
    const image view = model_view(original, r.plan);
    r.system = codec.system_prompt();
    r.prompt = codec.user_prompt(classes);
    zoom::generation_options g = generation;
    if (box_scores) g.logprobs = std::max(g.logprobs, 0);
    if (constrain) {
        g.constraint = box_codec::make_answer_grammar(codec, classes, r.plan.resized_width, r.plan.resized_height);
        r.constrained = g.constraint != nullptr;
    }
    r.text = model.generate(detail::conversation(r.system, r.prompt), {view}, g);
    r.usage = model.last_usage();
    box_codec::decode_options d;
    d.classes = classes;
    d.frame =
        geometry::frame{r.plan.original_width, r.plan.original_height, r.plan.resized_width, r.plan.resized_height};
    r.decoded = codec.decode(r.text, d);
    if (box_scores) {
        const std::vector<zoom::token_logprob> lps = model.last_logprobs();
        if (!lps.empty()) r.scores = box_codec::score_boxes(r.decoded.objects, r.text, lps, *box_scores);
    }
    return r;
}

/// Detection on one image: `sizing` plans the model's view, `codec` gives the prompts and decodes
/// the answer (boxes mapped back to the original frame), `model` generates.
inline detection_result detect(const image& original, const box_codec::codec& codec, resolution::strategy& sizing,
                               zoom::backend& model, const std::vector<std::string>& classes,
                               const zoom::generation_options& generation = {},
                               std::optional<box_codec::score_rule> box_scores = std::nullopt, bool constrain = false) {
    if (original.empty()) RSCOVLM_THROW(resolution_error, "zero_size", "the image has no pixels");
    return detect_planned(original, sizing.plan_size(original.height, original.width), codec, model, classes,
                          generation, box_scores, constrain);
}

/// Output of `ground`.
struct grounding_result {
    resolution::plan plan;
    std::string query;
    std::string system;
    std::string prompt;
    std::string text;
    box_codec::decode_result decoded; ///< in the model's (resized) frame, labels as written
    /// The first decoded box's horizontal extent `[x1, y1, x2, y2]` in the original frame, mapped as
    /// RSCoVLM's grounding metric does (`resize_bbox`: `v / resized * orig`); empty when none parsed.
    std::optional<std::array<double, 4>> box;
    zoom::usage usage;
};

inline void to_json(nlohmann::json& j, const grounding_result& r) {
    j = nlohmann::json{
        {"task", "grounding"},
        {"plan", r.plan},
        {"query", r.query},
        {"system", r.system},
        {"prompt", r.prompt},
        {"text", r.text},
        {"box", r.box ? nlohmann::json(*r.box) : nlohmann::json(nullptr)},
        {"decoded", r.decoded},
        {"usage", {{"prompt_tokens", r.usage.prompt_tokens}, {"completion_tokens", r.usage.completion_tokens}}}};
}

/// The grounding user prompt RSCoVLM trains with for a codec's answer format: plain-text codecs
/// `"find the {prompt}"` (with the codec's system prompt), JSON codecs the main `Locate the ...`
/// template of their box kind (refgeo_dataset.py).
inline std::string grounding_prompt(const box_codec::codec& codec, const std::string& query) {
    const std::string_view name = codec.name();
    const bool plain = name.find("plain") != std::string_view::npos;
    std::string_view t = data::prompts::ground_plain_user;
    if (!plain)
        t = codec.kind() == box_codec::box_kind::hbb ? data::prompts::ground_hbb_json_main
                                                     : data::prompts::ground_obb_json_main;
    return detail::replace_all(std::string(t), "{prompt}", query);
}

/// Grounding of one referring expression on one image.
inline grounding_result ground(const image& original, const box_codec::codec& codec, resolution::strategy& sizing,
                               zoom::backend& model, const std::string& query,
                               const zoom::generation_options& generation = {}) {
    grounding_result r;
    if (original.empty()) RSCOVLM_THROW(resolution_error, "zero_size", "the image has no pixels");
    r.query = query;
    r.plan = sizing.plan_size(original.height, original.width);
    const image view = model_view(original, r.plan);
    r.system = codec.system_prompt();
    r.prompt = grounding_prompt(codec, query);
    r.text = model.generate(detail::conversation(r.system, r.prompt), {view}, generation);
    r.usage = model.last_usage();
    box_codec::decode_options d; // the model's frame: no mapping, labels kept as written
    d.frame = geometry::frame{r.plan.resized_width, r.plan.resized_height, r.plan.resized_width, r.plan.resized_height};
    r.decoded = codec.decode(r.text, d);
    if (!r.decoded.objects.empty()) {
        const std::vector<double>& c = r.decoded.objects.front().coords;
        std::vector<double> xy(c);
        if (codec.kind() == box_codec::box_kind::obb && c.size() >= 5) {
            // (cx, cy, w, h, angle in degrees): the extent of its corners.
            const double pi = 3.14159265358979323846;
            xy.clear();
            for (const auto& q : geometry::rbox_to_quad(geometry::rbox{c[0], c[1], c[2], c[3], c[4] * pi / 180.0})) {
                xy.push_back(q.x);
                xy.push_back(q.y);
            }
        }
        double x1 = xy.at(0), y1 = xy.at(1), x2 = x1, y2 = y1;
        for (std::size_t k = 0; k + 1 < xy.size(); k += 2) {
            x1 = std::min(x1, xy[k]), x2 = std::max(x2, xy[k]);
            y1 = std::min(y1, xy[k + 1]), y2 = std::max(y2, xy[k + 1]);
        }
        const geometry::frame f = r.plan.frames();
        r.box = std::array<double, 4>{f.to_original_x_div_first(x1), f.to_original_y_div_first(y1),
                                      f.to_original_x_div_first(x2), f.to_original_y_div_first(y2)};
    }
    return r;
}

/// Draws decoded objects (original frame) on `img`: horizontal boxes as rectangles, oriented boxes
/// (cx, cy, w, h, degrees) and quadrilaterals as polygons, one colour per class id.
inline void draw_objects(image& img, const std::vector<box_codec::object>& objects, box_codec::box_kind kind) {
    static const imaging::rgb palette[] = {{230, 25, 75},  {60, 180, 75},  {255, 225, 25}, {0, 130, 200},
                                           {245, 130, 48}, {145, 30, 180}, {70, 240, 240}, {240, 50, 230}};
    const int thick = std::max(1, std::min(img.width, img.height) / 300);
    for (const auto& o : objects) {
        const auto& col = palette[static_cast<std::size_t>(o.label_id < 0 ? 0 : o.label_id) % 8];
        const auto& c = o.coords;
        if (kind == box_codec::box_kind::hbb && c.size() >= 4) {
            imaging::draw_rect(img, c[0], c[1], c[2], c[3], col, thick);
        } else if (kind == box_codec::box_kind::obb && c.size() >= 5) {
            const double pi = 3.14159265358979323846;
            imaging::draw_polygon(
                img, geometry::rbox_to_quad(geometry::rbox{c[0], c[1], c[2], c[3], c[4] * pi / 180.0}), col, thick);
        } else if (c.size() >= 8) {
            const geometry::quad q{geometry::point{c[0], c[1]}, geometry::point{c[2], c[3]},
                                   geometry::point{c[4], c[5]}, geometry::point{c[6], c[7]}};
            imaging::draw_polygon(img, q, col, thick);
        }
    }
}

} // namespace rscovlm::pipeline
