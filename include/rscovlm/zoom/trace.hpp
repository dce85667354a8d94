#pragma once
/// \file
/// The record of one Zoom-in Chain run: every generation, the boxes it asked for in every frame,
/// the crops taken and the images sent, as plain values with a JSON form.

#include <array>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <rscovlm/geometry/types.hpp>
#include <rscovlm/zoom/source.hpp>
#include <rscovlm/zoom/tool_call.hpp>

namespace rscovlm::zoom {

/// One executed zoom (or fallback) inside a step.
struct zoom_record {
    std::array<double, 4> bbox_model{}; ///< as emitted, in the resized full-image frame
    geometry::hbox bbox_resized;        ///< after the box policy, resized frame
    geometry::hbox bbox_original;       ///< mapped to the original image (float)
    pixel_box crop;                     ///< integer window actually read (frame given by `crop_frame`)
    std::string crop_frame;             ///< "original" or "resized"
    int input_width = 0;                ///< size of the image sent to the model
    int input_height = 0;
    long visual_tokens = 0;               ///< (input_height / factor) * (input_width / factor)
    std::vector<std::string> adjustments; ///< box-policy adjustments
    std::vector<std::string> notes;       ///< parser leniencies
};

/// One generation of the chain and what the controller did with it.
struct step {
    int index = 0; ///< 0-based generation index
    /// "answer" (no tool call: final), "zoom" (crop shown), "fallback" (malformed call, full image
    /// shown again), "malformed" (malformed call, chain stopped), "max_steps" (call refused: limit).
    std::string kind;
    std::string output; ///< raw generated text
    bool has_think = false;
    std::string think;
    std::vector<zoom_record> zooms;    ///< executed zooms (one, or several with multi_call=all)
    std::vector<dropped_call> dropped; ///< unusable tool-call blocks
    /// Rejected calls: box policy ("inverted_box", "outside_image", "empty_box"), crop window
    /// ("empty_crop", "crop_aspect_ratio", "crop_too_large": over a safety limit, see limits.hpp).
    std::vector<std::string> rejected;
    int prompt_images = 0;         ///< images in the request
    long prompt_visual_tokens = 0; ///< their visual tokens
    long prompt_tokens = -1;       ///< from the backend when known
    long completion_tokens = -1;
};

/// The whole run.
struct trace {
    int original_width = 0;
    int original_height = 0;
    int resized_width = 0; ///< full view sent first
    int resized_height = 0;
    std::string crop_from; ///< "original" or "resized"
    int max_steps = 0;
    std::vector<step> steps;
    std::string stop_reason; ///< "answered", "max_steps", "malformed"
};

inline nlohmann::json box_json(const geometry::hbox& b) {
    return nlohmann::json::array({b.x1, b.y1, b.x2, b.y2});
}

/// JSON form of a zoom record.
inline nlohmann::json to_json(const zoom_record& z) {
    return nlohmann::json{
        {"bbox_model", nlohmann::json::array({z.bbox_model[0], z.bbox_model[1], z.bbox_model[2], z.bbox_model[3]})},
        {"bbox_resized", box_json(z.bbox_resized)},
        {"bbox_original", box_json(z.bbox_original)},
        {"crop", nlohmann::json::array({z.crop.x0, z.crop.y0, z.crop.x1, z.crop.y1})},
        {"crop_frame", z.crop_frame},
        {"crop_size", nlohmann::json::array({z.crop.width(), z.crop.height()})},
        {"input_size", nlohmann::json::array({z.input_width, z.input_height})},
        {"visual_tokens", z.visual_tokens},
        {"adjustments", z.adjustments},
        {"notes", z.notes}};
}

/// JSON form of a step.
inline nlohmann::json to_json(const step& s) {
    nlohmann::json j{{"index", s.index},
                     {"kind", s.kind},
                     {"output", s.output},
                     {"prompt_images", s.prompt_images},
                     {"prompt_visual_tokens", s.prompt_visual_tokens}};
    if (s.has_think) j["think"] = s.think;
    nlohmann::json zs = nlohmann::json::array();
    for (const auto& z : s.zooms)
        zs.push_back(to_json(z));
    j["zooms"] = zs;
    nlohmann::json ds = nlohmann::json::array();
    for (const auto& d : s.dropped)
        ds.push_back({{"reason", d.reason}, {"raw", d.raw}});
    j["dropped"] = ds;
    j["rejected"] = s.rejected;
    if (s.prompt_tokens >= 0) j["prompt_tokens"] = s.prompt_tokens;
    if (s.completion_tokens >= 0) j["completion_tokens"] = s.completion_tokens;
    return j;
}

/// JSON form of a trace.
inline nlohmann::json to_json(const trace& t) {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& s : t.steps)
        steps.push_back(to_json(s));
    return nlohmann::json{{"original_size", nlohmann::json::array({t.original_width, t.original_height})},
                          {"resized_size", nlohmann::json::array({t.resized_width, t.resized_height})},
                          {"crop_from", t.crop_from},
                          {"max_steps", t.max_steps},
                          {"stop_reason", t.stop_reason},
                          {"steps", steps}};
}

/// ADL forms of the `to_json` above, so `nlohmann::json j = value;` works.
inline void to_json(nlohmann::json& j, const zoom_record& v) {
    j = to_json(v);
}
inline void to_json(nlohmann::json& j, const step& v) {
    j = to_json(v);
}
inline void to_json(nlohmann::json& j, const trace& v) {
    j = to_json(v);
}

} // namespace rscovlm::zoom
