#pragma once
/// \file
/// Streaming detection over a whole scene of any size: the mmrotate-exact split windows
/// (`data::sliding_windows`) are read from an image source on demand (no patch files), a bounded
/// batch at a time, answered by one or more backends at once, and the boxes are mapped to the scene
/// and merged class-wise with rotated NMS (the DOTA devkit merge: `py_cpu_nms_poly_fast`, 0.1).
///
/// Memory is bounded by the window batch (`scene_detect_options::batch` windows are held at once),
/// not by the scene: a 30000x30000 GeoTIFF is walked with the same footprint as a 2000x2000 PNG.
/// Each window is padded as `data::crop_patch` pads it (the split's padding value), planned by the
/// resolution strategy on the calling thread (strategies are not thread-safe) and answered through
/// `detect_planned` by a worker; a window whose generation fails is reported, not dropped silently.
///
/// Scores: every box scores 1.0 (the models write no confidence), so equal-score NMS keeps boxes in
/// the reference's stable order; the result is the score-free protocol's input (mAP_nc).

#include <rscovlm/box_codec/codec.hpp>
#include <rscovlm/config.hpp>
#include <rscovlm/data/dota.hpp>
#include <rscovlm/data/split.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/eval/dota_io.hpp>
#include <rscovlm/eval/nms.hpp>
#include <rscovlm/pipeline/infer.hpp>
#include <rscovlm/resolution/strategy.hpp>
#include <rscovlm/zoom/backend.hpp>
#include <rscovlm/zoom/source.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace rscovlm::pipeline {

/// One merged detection in scene pixel coordinates (GDAL's pixel/line frame: (0, 0) is the top-left
/// corner of the top-left pixel, as the DOTA coordinates of the split are).
struct scene_detection {
    std::string label;      ///< class name as given in `scene_detect_options::classes`
    int label_id = -1;      ///< its index in the class list
    double score = 1.0;     ///< 1.0: the models write no confidence
    geometry::quad quad{};  ///< corners in scene pixels
    std::size_t window = 0; ///< index of the source window in `scene_detect_result::windows`
};

/// What one window gave.
struct scene_window_result {
    data::split_window window;
    std::string patch;       ///< `{scene_id}__{size}__{x}___{y}`, as the split names patch files
    std::size_t objects = 0; ///< boxes decoded from the answer
    std::size_t dropped = 0; ///< answer parts the codec dropped
    std::string text;        ///< the model's answer
    std::string error;       ///< non-empty when generation failed (the window gave no boxes)
    long prompt_tokens = -1;
    long completion_tokens = -1;
};

/// Options of detect_scene.
struct scene_detect_options {
    data::split_options split;           ///< window sizes, gaps, rates, padding (mmrotate's defaults)
    std::vector<std::string> classes;    ///< class list of the prompt and the decoder (required)
    zoom::generation_options generation; ///< sampling options of every window
    /// Score each box from its tokens' log-probabilities by this rule (`box_codec::score_boxes`);
    /// unset, or a backend without log-probabilities: every box scores 1.0 (NMS then keeps the first).
    std::optional<box_codec::score_rule> box_scores;
    /// Constrained decoding with the codec's grammar (`detect_planned`'s `constrain`).
    bool constrain = false;
    int in_flight = 1; ///< windows answered at once (one backend each)
    int batch = 0;     ///< windows held in memory at once (0 = 2 x in_flight)
    eval::nms_options nms{0.1, eval::nms_method::devkit_fast, eval::tie_order::numpy};
    bool apply_nms = true;          ///< false: keep every mapped box
    std::string scene_id = "scene"; ///< name of the scene in patch ids and Task1 lines
    /// Called after each batch with (windows done, windows in all).
    std::function<void(std::size_t, std::size_t)> progress;
};

/// Result of detect_scene.
struct scene_detect_result {
    std::string scene_id;
    int width = 0;
    int height = 0;
    std::vector<scene_window_result> windows;
    std::vector<scene_detection> detections; ///< after NMS, class by class, in keep order
    std::size_t before_nms = 0;              ///< mapped boxes before NMS
    std::size_t unknown_labels = 0;          ///< decoded boxes whose label is not in the class list
    std::size_t outside_scene = 0;           ///< boxes dropped: a corner not finite or over a window off the scene
    std::size_t failed = 0;                  ///< windows that could not be read or whose generation failed
    box_codec::drop_report dropped;          ///< what the codec dropped, over every window
    std::size_t peak_windows = 0;            ///< most windows held in memory at once
    double seconds = 0.0;

    /// The detections per class, as the Task1 writers take them (image name = the scene id).
    std::vector<eval::class_detections> task1(const std::vector<std::string>& classes) const {
        std::vector<eval::class_detections> out;
        for (const auto& c : classes)
            out.push_back(eval::class_detections{c, true, {}});
        for (const auto& d : detections)
            if (d.label_id >= 0 && static_cast<std::size_t>(d.label_id) < out.size())
                out[static_cast<std::size_t>(d.label_id)].dets.push_back(eval::detection{scene_id, d.score, d.quad});
        return out;
    }
};

inline void to_json(nlohmann::json& j, const scene_window_result& w) {
    j = nlohmann::json{{"patch", w.patch},      {"x", w.window.x_start},
                       {"y", w.window.y_start}, {"size", w.window.x_stop - w.window.x_start},
                       {"objects", w.objects},  {"dropped", w.dropped},
                       {"text", w.text}};
    if (!w.error.empty()) j["error"] = w.error;
}

/// Makes one backend per worker (called on the calling thread, `in_flight` times).
using backend_factory = std::function<std::unique_ptr<zoom::backend>()>;

namespace detail {

/// The pixels of window `w` of `src`, padded as data::crop_patch pads a decoded image.
inline image read_split_window(zoom::image_source& src, const data::split_window& w, const data::split_options& o) {
    const int W = src.width(), H = src.height();
    const int x0 = std::clamp(w.x_start, 0, W), y0 = std::clamp(w.y_start, 0, H);
    const int x1 = std::clamp(w.x_stop, 0, W), y1 = std::clamp(w.y_stop, 0, H);
    const image clipped = src.read(zoom::pixel_box{x0, y0, std::max(x0, x1), std::max(y0, y1)});
    const data::split_window local{w.x_start - x0, w.y_start - y0, w.x_stop - x0, w.y_stop - y0};
    return data::crop_patch(clipped, local, o);
}

} // namespace detail

/// The answer a perfect model would give for each window of a `width` x `height` scene: the objects
/// wholly inside the window (of `classes`; empty = every class), in window coordinates, written by
/// `codec` in the model's frame that `sizing` plans. For scripted and oracle backends in tests and
/// demos (one reply per window, in `data::sliding_windows` order).
inline std::vector<std::string> window_answers(const std::vector<data::dota_object>& objects, int width, int height,
                                               const data::split_options& split, const box_codec::codec& codec,
                                               resolution::strategy& sizing,
                                               const std::vector<std::string>& classes = {}) {
    std::vector<std::string> replies;
    for (const auto& w : data::sliding_windows(width, height, split)) {
        std::vector<box_codec::annotation> anns;
        for (const auto& obj : objects) {
            if (!classes.empty() && std::find(classes.begin(), classes.end(), obj.label) == classes.end()) continue;
            bool inside = true;
            for (const auto& p : obj.poly)
                inside = inside && p.x >= w.x_start && p.x < w.x_stop && p.y >= w.y_start && p.y < w.y_stop;
            if (!inside) continue;
            box_codec::annotation a;
            for (const auto& p : obj.poly) {
                a.polygon.push_back(p.x - w.x_start);
                a.polygon.push_back(p.y - w.y_start);
            }
            a.label = obj.label;
            anns.push_back(std::move(a));
        }
        const int pw = w.x_stop - w.x_start, ph = w.y_stop - w.y_start;
        const resolution::plan pl = sizing.plan_size(ph, pw);
        box_codec::encode_options eo;
        eo.frame = geometry::frame{pw, ph, pl.resized_width, pl.resized_height};
        replies.push_back(codec.encode(anns, eo));
    }
    return replies;
}

/// Detects objects over the whole of `src` (see the file comment). `codec` writes the prompt and
/// decodes the answers; `sizing` plans each window's model view; `make_backend` gives the workers'
/// backends. Raises `rscovlm.usage.*` for bad options; generation errors are per window.
inline scene_detect_result detect_scene(zoom::image_source& src, const box_codec::codec& codec,
                                        resolution::strategy& sizing, const backend_factory& make_backend,
                                        const scene_detect_options& o) {
    if (o.classes.empty()) RSCOVLM_THROW(usage_error, "no_classes", "scene detection needs a class list");
    if (o.in_flight < 1) RSCOVLM_THROW(usage_error, "bad_in_flight", "in_flight must be at least 1");
    if (o.batch < 0) RSCOVLM_THROW(usage_error, "bad_batch", "the window batch must be >= 0");
    if (!make_backend) RSCOVLM_THROW(usage_error, "no_backend", "scene detection needs a backend factory");
    const auto t0 = std::chrono::steady_clock::now();
    scene_detect_result res;
    res.scene_id = o.scene_id;
    res.width = src.width();
    res.height = src.height();
    if (res.width <= 0 || res.height <= 0) RSCOVLM_THROW(image_error, "empty_image", "the scene has no pixels");
    const std::vector<data::split_window> windows = data::sliding_windows(res.width, res.height, o.split);
    const std::size_t n = windows.size();
    res.windows.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        res.windows[i].window = windows[i];
        res.windows[i].patch = data::patch_id(o.scene_id, windows[i]);
    }
    const std::size_t workers =
        std::min<std::size_t>(static_cast<std::size_t>(o.in_flight), std::max<std::size_t>(n, 1));
    const std::size_t batch =
        o.batch > 0 ? std::max<std::size_t>(static_cast<std::size_t>(o.batch), workers) : 2 * workers;
    std::vector<std::unique_ptr<zoom::backend>> backends;
    for (std::size_t k = 0; k < workers; ++k) {
        backends.push_back(make_backend());
        if (!backends.back()) RSCOVLM_THROW(usage_error, "no_backend", "the backend factory returned no backend");
    }
    const box_codec::box_kind kind = codec.kind();
    std::vector<std::vector<scene_detection>> per_class(o.classes.size());

    for (std::size_t start = 0; start < n; start += batch) {
        const std::size_t end = std::min(n, start + batch);
        std::vector<image> patches(end - start);
        std::vector<resolution::plan> plans(end - start);
        for (std::size_t i = start; i < end; ++i) {
            // A window that cannot be read (a corrupt tile) or planned is reported; the others still run.
#if RSCOVLM_HAS_EXCEPTIONS
            try {
                patches[i - start] = detail::read_split_window(src, windows[i], o.split);
                plans[i - start] = sizing.plan_size(patches[i - start].height, patches[i - start].width);
            } catch (const std::exception& e) {
                res.windows[i].error = e.what();
                patches[i - start] = image();
            }
#else
            patches[i - start] = detail::read_split_window(src, windows[i], o.split);
            plans[i - start] = sizing.plan_size(patches[i - start].height, patches[i - start].width);
#endif
        }
        res.peak_windows = std::max(res.peak_windows, patches.size());
        std::vector<detection_result> answers(end - start);
        std::atomic<std::size_t> next{0};
        auto work = [&](std::size_t k) {
            for (std::size_t j = next++; j < answers.size(); j = next++) {
                scene_window_result& wr = res.windows[start + j];
                if (!wr.error.empty()) continue; // not read
#if RSCOVLM_HAS_EXCEPTIONS
                try {
                    answers[j] = detect_planned(patches[j], plans[j], codec, *backends[k], o.classes, o.generation,
                                                o.box_scores, o.constrain);
                } catch (const std::exception& e) {
                    wr.error = e.what();
                } catch (...) {
                    wr.error = "[rscovlm.error.unexpected] the backend raised a non-standard exception";
                }
#else
                answers[j] = detect_planned(patches[j], plans[j], codec, *backends[k], o.classes, o.generation,
                                            o.box_scores, o.constrain);
#endif
            }
        };
        const std::size_t threads = std::min(workers, answers.size());
        if (threads <= 1) {
            work(0);
        } else {
            std::vector<std::thread> pool;
#if RSCOVLM_HAS_EXCEPTIONS
            try {
                for (std::size_t k = 0; k < threads; ++k)
                    pool.emplace_back(work, k);
            } catch (...) {
                for (auto& t : pool)
                    t.join();
                throw;
            }
#else
            for (std::size_t k = 0; k < threads; ++k)
                pool.emplace_back(work, k);
#endif
            for (auto& t : pool)
                t.join();
        }
        patches.clear();
        for (std::size_t j = 0; j < answers.size(); ++j) {
            scene_window_result& wr = res.windows[start + j];
            if (!wr.error.empty()) {
                ++res.failed;
                continue;
            }
            const detection_result& d = answers[j];
            wr.text = d.text;
            wr.objects = d.decoded.objects.size();
            wr.dropped = d.decoded.dropped.total();
            wr.prompt_tokens = d.usage.prompt_tokens;
            wr.completion_tokens = d.usage.completion_tokens;
            for (const auto& [reason, count] : d.decoded.dropped.counts)
                res.dropped.counts[reason] += count;
            for (const auto& ex : d.decoded.dropped.examples)
                if (res.dropped.examples.size() < res.dropped.max_examples) res.dropped.examples.push_back(ex);
            for (const auto& obj : d.decoded.objects) {
                geometry::quad q{};
                if (obj.label_id < 0 || static_cast<std::size_t>(obj.label_id) >= o.classes.size() ||
                    !box_codec::object_quad(obj, kind, q)) {
                    ++res.unknown_labels;
                    continue;
                }
                // A box whose corner is not finite or lies more than a window off the scene is a
                // hallucination: dropped and counted (it would survive NMS and land anywhere on the map).
                const double margin = static_cast<double>(wr.window.x_stop - wr.window.x_start);
                bool inside = true;
                for (auto& p : q) {
                    p.x += static_cast<double>(wr.window.x_start);
                    p.y += static_cast<double>(wr.window.y_start);
                    inside = inside && std::isfinite(p.x) && std::isfinite(p.y) && p.x >= -margin && p.y >= -margin &&
                             p.x <= res.width + margin && p.y <= res.height + margin;
                }
                if (!inside) {
                    ++res.outside_scene;
                    continue;
                }
                scene_detection sd;
                sd.label = o.classes[static_cast<std::size_t>(obj.label_id)];
                sd.label_id = obj.label_id;
                sd.quad = q;
                sd.score = obj.score.value_or(1.0);
                sd.window = start + j;
                per_class[static_cast<std::size_t>(obj.label_id)].push_back(std::move(sd));
                ++res.before_nms;
            }
        }
        if (o.progress) o.progress(end, n);
    }
    for (auto& dets : per_class) {
        if (!o.apply_nms) {
            for (auto& d : dets)
                res.detections.push_back(std::move(d));
            continue;
        }
        std::vector<geometry::quad> quads;
        std::vector<double> scores;
        for (const auto& d : dets) {
            quads.push_back(d.quad);
            scores.push_back(d.score);
        }
        for (std::size_t k : eval::nms_quads(quads, scores, o.nms))
            res.detections.push_back(dets[k]);
    }
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return res;
}

} // namespace rscovlm::pipeline
