#pragma once
/// \file bench/detection.hpp
/// `bench.detection.dota`: oriented object detection on a DOTA-layout folder, the way RSCoVLM
/// evaluates DOTA: every image is split in memory into the mmrotate splitter's windows
/// (`data::sliding_windows` + `data::crop_patch`, patch size and gap from the parameters, 1024/200
/// by default; an image smaller than a patch is one padded patch), each patch is answered with the
/// box codec's prompts and decoded (drop report kept), the boxes of every patch are mapped to the
/// image frame by the patch offsets and merged class-wise with rotated NMS (`eval::merge_patches`,
/// DOTA_devkit's `py_cpu_nms_poly_fast` at 0.1), written as Task1 files (`OUT/task1/`), and scored
/// by each DOTA metric of the preset (`metric.dota.devkit` / `metric.dota.mmrotate`, mAP_nc with
/// `no_scores`), optionally with the score-threshold sweep.
///
/// Data layout: `DATA/images/*.{png,jpg,jpeg,tif,tiff,bmp}` (or the images directly in `DATA`) and
/// DOTA label files `{id}.txt` in `DATA/labelTxt`, `DATA/annfiles` or `DATA/labels`.

#include <rscovlm/bench/benchmark.hpp>
#include <rscovlm/bench/charts.hpp>
#include <rscovlm/data/split.hpp>
#include <rscovlm/eval/detection_protocols.hpp>
#include <rscovlm/eval/dota_eval.hpp>
#include <rscovlm/eval/dota_io.hpp>
#include <rscovlm/eval/report.hpp>
#include <rscovlm/geometry/convert.hpp>
#include <rscovlm/imaging/ops.hpp>
#include <rscovlm/pipeline/infer.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace rscovlm::bench {

namespace detail {

inline bool is_bench_image(const std::filesystem::path& p) {
    std::string e = p.extension().string();
    for (char& c : e)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".tif" || e == ".tiff" || e == ".bmp";
}

/// The corners of a decoded object in the codec's geometry (hbb: x1 y1 x2 y2; obb: cx cy w h
/// degrees; quad: 8 numbers); false when it has too few numbers.
inline bool object_quad(const box_codec::object& o, box_codec::box_kind kind, geometry::quad& q) {
    const auto& c = o.coords;
    if (kind == box_codec::box_kind::hbb && c.size() >= 4) {
        q = geometry::hbox_to_quad(geometry::hbox{c[0], c[1], c[2], c[3]});
        return true;
    }
    if (kind == box_codec::box_kind::obb && c.size() >= 5) {
        const double pi = 3.14159265358979323846;
        q = geometry::rbox_to_quad(geometry::rbox{c[0], c[1], c[2], c[3], c[4] * pi / 180.0});
        return true;
    }
    if (c.size() >= 8) {
        for (std::size_t i = 0; i < 4; ++i)
            q[i] = geometry::point{c[2 * i], c[2 * i + 1]};
        return true;
    }
    return false;
}

inline std::vector<double> quad_coords(const geometry::quad& q) {
    std::vector<double> v;
    for (const auto& p : q) {
        v.push_back(p.x);
        v.push_back(p.y);
    }
    return v;
}

} // namespace detail

/// Detection benchmark on a DOTA-layout folder (see the file comment).
class dota_detection_bench : public registry::component<dota_detection_bench, benchmark> {
public:
    static constexpr std::string_view key = "bench.detection.dota";
    static constexpr std::string_view summary =
        "DOTA-layout detection: in-memory split, per-patch answers, merge with rotated NMS, Task1 files, mAP(_nc)";

    std::vector<std::string> classes; ///< empty: DOTA-v1.0's 15 classes
    data::split_options split;        ///< patch size / gap (1024 / 200), padding
    eval::nms_options merge{0.1, eval::nms_method::devkit_fast, eval::tie_order::numpy};
    eval::task1_style task1 = eval::task1_style::mmrotate;

    /// Parameters: "classes" (list), "patch_size" (1024), "patch_gap" (200), "img_rate_thr" (0.6),
    /// "padding" (true), "padding_value" (BGR list, [0]), "merge_iou" (0.1), "merge_nms"
    /// ("devkit_fast" | "devkit" | "exact" | "mmcv"), "task1_style" ("mmrotate" | "devkit").
    static dota_detection_bench from_params(registry::params& p) {
        dota_detection_bench b;
        b.classes = p.get<std::vector<std::string>>("classes", {});
        b.split.sizes = {p.get<int>("patch_size", 1024)};
        b.split.gaps = {p.get<int>("patch_gap", 200)};
        b.split.img_rate_thr = p.get<double>("img_rate_thr", 0.6);
        b.split.padding = p.get<bool>("padding", true);
        b.split.padding_value_bgr = p.get<std::vector<int>>("padding_value", {0});
        try_validate(p, b.split);
        b.merge.iou_threshold = p.get<double>("merge_iou", 0.1);
        p.check(b.merge.iou_threshold >= 0 && b.merge.iou_threshold <= 1, "merge_iou", "must be in [0, 1]");
        const std::string m = p.get<std::string>("merge_nms", "devkit_fast");
        p.check(eval::parse_nms_method(m, b.merge.method), "merge_nms", "must be devkit_fast, devkit, exact or mmcv");
        const std::string t = p.get<std::string>("task1_style", "mmrotate");
        p.check(t == "mmrotate" || t == "devkit", "task1_style", "must be mmrotate or devkit");
        b.task1 = t == "devkit" ? eval::task1_style::devkit : eval::task1_style::mmrotate;
        return b;
    }

    /// The class list scored (the parameter, or DOTA-v1.0's).
    std::vector<std::string> class_list() const { return classes.empty() ? eval::dota_v1_classes() : classes; }

    std::string_view task() const noexcept override { return "detection"; }

    std::vector<record> load(const std::string& data) const override {
        namespace fs = std::filesystem;
        if (!fs::is_directory(data))
            RSCOVLM_THROW(data_error, "bad_data", std::string(key) + " needs a folder, got '" + data + "'");
        const fs::path root(data);
        const fs::path images = fs::is_directory(root / "images") ? root / "images" : root;
        fs::path labels;
        for (const char* d : {"labelTxt", "annfiles", "labels"})
            if (fs::is_directory(root / d)) {
                labels = root / d;
                break;
            }
        if (labels.empty())
            RSCOVLM_THROW(data_error, "no_labels", "'" + data + "' has no labelTxt/, annfiles/ or labels/ folder");
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(images))
            if (e.is_regular_file() && detail::is_bench_image(e.path())) files.push_back(e.path());
        std::sort(files.begin(), files.end());
        std::vector<record> out;
        for (const auto& f : files) {
            const std::string id = f.stem().string();
            const fs::path label = labels / (id + ".txt");
            if (!fs::is_regular_file(label))
                RSCOVLM_THROW(data_error, "missing_labels",
                              "image '" + f.string() + "' has no label file '" + label.string() + "'");
            out.push_back(record{id, {{"image", f.string()}, {"labels", label.string()}}});
        }
        if (out.empty()) RSCOVLM_THROW(data_error, "no_records", "no images in '" + images.string() + "'");
        return out;
    }

    nlohmann::json answer(const record& r, zoom::backend& model, const environment& env) const override {
        const box_codec::codec& codec = detail::need(env.codec, "box_codec", key);
        resolution::strategy& sizing = detail::need(env.sizing, "resolution", key);
        if (!env.load_image) RSCOVLM_THROW(config_error, "no_image_loader", "the benchmark has no image loader");
        image img = env.load_image(r.input.at("image").get<std::string>());
        if (img.channels != 3) img = imaging::to_rgb(img, imaging::rgb_mode::convert); // cv2.imread drops alpha
        const std::vector<std::string> names = class_list();
        nlohmann::json line = {{"image", r.input.at("image")}, {"width", img.width}, {"height", img.height}};
        nlohmann::json patches = nlohmann::json::array();
        for (const data::split_window& w : data::sliding_windows(img.width, img.height, split)) {
            const image patch = data::crop_patch(img, w, split);
            const pipeline::detection_result d = pipeline::detect(patch, codec, sizing, model, names, env.generation);
            if (!line.contains("prompt")) {
                line["system"] = d.system;
                line["prompt"] = d.prompt;
            }
            patches.push_back({{"patch", data::patch_id(r.id, w)},
                               {"x", w.x_start},
                               {"y", w.y_start},
                               {"text", d.text},
                               {"objects", nlohmann::json(d.decoded)["objects"]},
                               {"dropped", d.decoded.dropped}});
        }
        line["patches"] = std::move(patches);
        return line;
    }

    /// The merged detections of the answered records, per class (image ids = record ids).
    std::vector<eval::class_detections> merged_detections(const std::vector<record>& records,
                                                          const answer_view& answers, box_codec::box_kind kind,
                                                          std::size_t* unknown_labels = nullptr) const {
        const std::vector<std::string> names = class_list();
        std::vector<eval::class_detections> per_class;
        for (const auto& c : names)
            per_class.push_back(eval::class_detections{c, true, {}});
        std::size_t unknown = 0;
        for (std::size_t i = 0; i < records.size(); ++i) {
            if (failed(answers[i])) continue;
            for (const auto& p : answers[i]->at("patches")) {
                const std::string patch = p.at("patch").get<std::string>();
                for (const auto& o : p.at("objects")) {
                    const auto obj = o.get<box_codec::object>();
                    // The decoded label is the class's display form; its index names the raw class.
                    geometry::quad q{};
                    if (obj.label_id < 0 || static_cast<std::size_t>(obj.label_id) >= names.size() ||
                        !detail::object_quad(obj, kind, q)) {
                        ++unknown;
                        continue;
                    }
                    per_class[static_cast<std::size_t>(obj.label_id)].dets.push_back(eval::detection{patch, 1.0, q});
                }
            }
        }
        if (unknown_labels) *unknown_labels = unknown;
        return eval::merge_patches(per_class, merge);
    }

    nlohmann::json score(const std::vector<record>& records, const answer_view& answers, const environment& env,
                         const score_options& options) const override {
        namespace fs = std::filesystem;
        const box_codec::codec& codec = detail::need(env.codec, "box_codec", key);
        if (options.out_dir.empty())
            RSCOVLM_THROW(data_error, "no_out_dir", std::string(key) + " writes Task1 files: it needs a run folder");
        const std::vector<std::string> names = class_list();
        std::size_t failed_n = 0, dropped = 0;
        for (std::size_t i = 0; i < records.size(); ++i) {
            if (failed(answers[i])) {
                ++failed_n;
                continue;
            }
            for (const auto& p : answers[i]->at("patches"))
                dropped += p.at("dropped").value("total", std::size_t(0));
        }
        std::size_t unknown = 0;
        const auto merged = merged_detections(records, answers, codec.kind(), &unknown);
        const std::string task1_dir = (fs::path(options.out_dir) / "task1").string();
        eval::write_task1_dir(task1_dir, merged, task1);
        // Scores cover the answered images; failed ones are reported, not scored as empty.
        std::vector<std::string> ids;
        for (std::size_t i = 0; i < records.size(); ++i)
            if (!failed(answers[i])) ids.push_back(records[i].id);
        const std::string imageset = (fs::path(options.out_dir) / "imageset.txt").string();
        {
            std::ofstream f(imageset, std::ios::binary);
            for (const auto& id : ids)
                f << id << '\n';
            if (!f) RSCOVLM_THROW(io_error, "write_failed", "cannot write '" + imageset + "'");
        }
        const std::string gt_dir =
            records.empty() ? std::string()
                            : fs::path(records.front().input.at("labels").get<std::string>()).parent_path().string();
        nlohmann::json metrics = nlohmann::json::object();
        table t;
        t.columns = {"class", "gts", "dets"};
        std::vector<std::vector<nlohmann::json>> rows(names.size());
        std::vector<nlohmann::json> map_row = {"mAP", nullptr, nullptr};
        const eval::dota_eval_options* curve_opts = nullptr;
        for (const metric_ref& m : env.metrics) {
            if (m.key.rfind("metric.dota.", 0) != 0) continue;
            // Nothing answered: no score (an empty image set would mean every label file). A protocol
            // that rejects the labels (mmrotate's reader raises on DOTA's imagesource:/gsd: header
            // lines, as the reference does) reports its error; the other protocols still score.
            nlohmann::json res = {{"mAP", nullptr}, {"classes", nlohmann::json::array()}};
            if (!ids.empty()) {
                auto r = try_call([&] {
                    return m.metric->evaluate({{"gt_dir", gt_dir}, {"det_dir", task1_dir}, {"imageset", imageset}});
                });
                if (r.ok())
                    res = std::move(r.value());
                else
                    res["error"] = r.error().what();
            }
            metrics[m.key] = res;
            t.columns.push_back(m.key + " AP");
            for (std::size_t c = 0; c < names.size(); ++c) {
                const nlohmann::json* cr = nullptr;
                for (const auto& e : res.at("classes"))
                    if (e.at("class") == names[c]) cr = &e;
                if (rows[c].empty())
                    rows[c] = {names[c], cr ? cr->at("num_gts") : nlohmann::json(nullptr),
                               cr ? cr->at("num_dets") : nlohmann::json(nullptr)};
                rows[c].push_back(cr ? cr->at("ap") : nlohmann::json(nullptr));
            }
            map_row.push_back(res.at("mAP"));
            if (!curve_opts) {
                if (auto* d = dynamic_cast<const eval::dota_devkit_metric*>(m.metric.get())) curve_opts = &d->options;
                if (auto* d = dynamic_cast<const eval::dota_mmrotate_metric*>(m.metric.get())) curve_opts = &d->options;
            }
        }
        if (!curve_opts)
            RSCOVLM_THROW(config_error, "missing_component",
                          std::string(key) +
                              " needs a metric.dota.devkit or metric.dota.mmrotate metric in the preset");
        for (auto& r : rows)
            t.rows.push_back(std::move(r));
        t.rows.push_back(std::move(map_row));

        nlohmann::json pictures = nlohmann::json::array();
        eval::dota_eval_options opt = *curve_opts;
        opt.classes = names;
        if (options.sweep && !ids.empty()) {
            const eval::gt_syntax syn =
                opt.protocol == eval::dota_protocol::devkit ? eval::gt_syntax::devkit : eval::gt_syntax::mmrotate;
            const auto gt = eval::read_dota_gt_dir(gt_dir, ids, syn);
            metrics["sweep"] =
                eval::to_json(eval::sweep_score_thresholds(gt, eval::read_task1_dir(task1_dir, names), opt));
        }
        if (options.save_png && !ids.empty()) {
            const fs::path pic_dir = fs::path(options.out_dir) / "pictures";
            fs::create_directories(pic_dir);
            opt.keep_curves = true;
            const eval::dota_eval_result curves = eval::evaluate_dota_dirs(gt_dir, task1_dir, imageset, opt);
            for (const auto& c : curves.classes) {
                if (c.num_gts <= 0) continue;
                const std::string path = (pic_dir / ("pr_" + c.label + ".png")).string();
                options.save_png(path, pr_curve_chart(c.recall, c.precision));
                pictures.push_back(path);
            }
            std::vector<sample_view> samples;
            for (std::size_t i = 0; i < records.size() && samples.size() < options.samples; ++i) {
                if (failed(answers[i]) || !env.load_image) continue;
                sample_view s;
                s.picture = env.load_image(records[i].input.at("image").get<std::string>());
                for (const auto& g : eval::parse_dota_gt(eval::read_text_file(records[i].input.at("labels")),
                                                         eval::gt_syntax::devkit, records[i].id))
                    s.truth.push_back(g.poly);
                for (const auto& c : merged)
                    for (const auto& d : c.dets)
                        if (d.image == records[i].id) s.predicted.push_back(d.poly);
                samples.push_back(std::move(s));
            }
            if (!samples.empty()) {
                const std::string path = (pic_dir / "samples.png").string();
                options.save_png(path, sample_page(samples));
                pictures.push_back(path);
            }
        }
        return {{"task", "detection"},    {"total", records.size()},  {"answered", records.size() - failed_n},
                {"failed", failed_n},     {"dropped_boxes", dropped}, {"unknown_labels", unknown},
                {"task1_dir", task1_dir}, {"metrics", metrics},       {"table", t},
                {"pictures", pictures}};
    }

private:
    static void try_validate(registry::params& p, const data::split_options& o) {
        p.check(o.sizes[0] > 0 && o.gaps[0] >= 0 && o.sizes[0] > o.gaps[0], "patch_size",
                "need patch_size > patch_gap >= 0");
        p.check(!o.padding_value_bgr.empty() && o.padding_value_bgr.size() <= 4, "padding_value",
                "must hold 1 or one value per channel");
        for (int v : o.padding_value_bgr)
            p.check(v >= 0 && v <= 255, "padding_value", "values must be in [0, 255]");
    }
};

} // namespace rscovlm::bench
