// Subcommands of the eval module: `geom iou`, `nms`, `eval dota|sweep|export|merge|mf1`, and the
// evaluation step of `rscovlm demo`.
#include "cli.hpp"

#include <rscovlm/eval/all.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <memory>
#include <sstream>

namespace rscovlm::cli {

namespace {

using nlohmann::json;

// A box given as 5 numbers (rotated box, theta in radians), 8 numbers (quad) or an even number
// >= 6 of polygon coordinates; also accepted as a list of [x, y] pairs.
struct any_box {
    bool is_rbox = false;
    geometry::rbox r{};
    geometry::polygon poly;
};

any_box parse_box(const json& j, const char* field) {
    std::vector<double> v;
    if (!j.is_array())
        RSCOVLM_THROW(usage_error, "bad_field", std::string("\"") + field + "\" must be an array of numbers");
    for (const auto& e : j) {
        if (e.is_array() && e.size() == 2 && e[0].is_number() && e[1].is_number()) {
            v.push_back(e[0].get<double>());
            v.push_back(e[1].get<double>());
        } else if (e.is_number()) {
            v.push_back(e.get<double>());
        } else {
            RSCOVLM_THROW(usage_error, "bad_field", std::string("\"") + field + "\" must hold numbers or [x, y] pairs");
        }
    }
    any_box b;
    if (v.size() == 5 && !j[0].is_array()) {
        b.is_rbox = true;
        b.r = geometry::rbox{v[0], v[1], v[2], v[3], v[4]};
        const auto q = eval::rbox_corners(b.r);
        b.poly.assign(q.begin(), q.end());
        return b;
    }
    if (v.size() < 6 || v.size() % 2)
        RSCOVLM_THROW(usage_error, "bad_field",
                      std::string("\"") + field +
                          "\" must be a rotated box [cx, cy, w, h, theta] or a polygon "
                          "(8 numbers for a quad), got " +
                          std::to_string(v.size()) + " numbers");
    for (std::size_t i = 0; i < v.size(); i += 2)
        b.poly.push_back(geometry::point{v[i], v[i + 1]});
    return b;
}

geometry::quad to_quad(const any_box& b, const char* field) {
    if (b.poly.size() != 4)
        RSCOVLM_THROW(usage_error, "bad_field", std::string("\"") + field + "\" must be a quad or rotated box here");
    return geometry::quad{b.poly[0], b.poly[1], b.poly[2], b.poly[3]};
}

// Non-finite reference results (polyiou NaN, mmcv inf on slivers) as the strings the oracle
// files use, since JSON has no NaN/Infinity.
json num(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
    return v;
}

std::vector<std::string> split_csv(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty()) out.push_back(item);
    return out;
}

std::vector<std::string> discover_task1_classes(const std::string& dir) {
    namespace fs = std::filesystem;
    std::vector<std::string> labels;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) RSCOVLM_THROW(io_error, "not_found", "'" + dir + "' is not a directory");
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string name = e.path().filename().string();
        if (e.is_regular_file() && name.rfind("Task1_", 0) == 0 && e.path().extension() == ".txt")
            labels.push_back(name.substr(6, name.size() - 10));
    }
    std::sort(labels.begin(), labels.end());
    return labels;
}

// Options shared by `eval dota`, `eval sweep` and `eval mf1`.
struct dota_args {
    std::string gt, det, imageset, metric = "voc07", protocol = "devkit", ties = "numpy", box = "rbox", classes;
    double iou = 0.5;
    bool no_scores = false;
    int diff_thr = 100;
    int threads = 0;

    void add(CLI::App* c, bool with_det = true) {
        c->add_option("--gt", gt, "Folder of DOTA ground-truth txt files")->required();
        if (with_det) c->add_option("--det", det, "Folder of Task1_{class}.txt detection files")->required();
        c->add_option("--imageset", imageset, "Image ids, one per line (default: every GT file, sorted)");
        c->add_option("--metric", metric, "AP integration: voc07 (11 points) or area")->capture_default_str();
        c->add_option("--iou", iou, "IoU threshold")->capture_default_str();
        c->add_option("--protocol", protocol,
                      "Reference to reproduce: devkit (DOTA_devkit) or mmrotate (1.x eval_rbbox_map)")
            ->capture_default_str();
        c->add_option("--tie-order", ties, "Order of equal scores: numpy (1.24 argsort) or stable")
            ->capture_default_str();
        c->add_option("--diff-thr", diff_thr, "mmrotate: GT with difficulty above this are ignored")
            ->capture_default_str();
        c->add_option("--box", box, "mmrotate box type: rbox (minAreaRect + rotated IoU) or qbox")
            ->capture_default_str();
        c->add_option("--classes", classes, "Comma-separated class names (default: the 15 DOTA-v1.0 classes)");
        c->add_option("--threads", threads, "Worker threads (0 = all cores)")->capture_default_str();
    }
    /// The flags as a `metric` component ({"key": "metric.dota.<protocol>", "params": {...}}): the
    /// registry's parser validates them, as it validates a preset's metric entry.
    nlohmann::json component() const {
        if (protocol != "devkit" && protocol != "mmrotate")
            RSCOVLM_THROW(usage_error, "bad_option", "--protocol must be devkit or mmrotate, got '" + protocol + "'");
        nlohmann::json p = {
            {"metric", metric}, {"iou", iou}, {"tie_order", ties}, {"no_scores", no_scores}, {"threads", threads}};
        if (!classes.empty()) p["classes"] = split_csv(classes);
        if (protocol == "mmrotate") {
            p["difficulty_threshold"] = diff_thr;
            p["box"] = box;
        }
        return {{"key", "metric.dota." + protocol}, {"params", p}};
    }
    eval::dota_eval_options options() const {
        const nlohmann::json c = component();
        const auto m = registry::make<eval::kind>(c["key"].get<std::string>(), c["params"]);
        return static_cast<const eval::dota_metric&>(*m).options;
    }
    eval::dota_ground_truth load_gt(const eval::dota_eval_options& o) const {
        std::vector<std::string> images;
        if (!imageset.empty()) images = eval::read_imageset(imageset);
        return eval::read_dota_gt_dir(gt, std::move(images),
                                      o.protocol == eval::dota_protocol::devkit ? eval::gt_syntax::devkit
                                                                                : eval::gt_syntax::mmrotate);
    }
};

void register_geom_iou(CLI::App& app, context& ctx) {
    auto& geom = subcommand(app, "geom", "Geometry tools (JSON Lines in, JSON Lines out)");
    auto* c = geom.add_subcommand(
        "iou", "IoU of box pairs: {\"a\": box, \"b\": box} -> {\"iou\": x}; boxes are quads (8 numbers), rotated boxes "
               "[cx, cy, w, h, theta_radians] or polygons");
    auto method = std::make_shared<std::string>("exact");
    auto iof = std::make_shared<bool>(false);
    c->add_option("--method", *method,
                  "exact (double-precision polygon clipping), devkit (DOTA_devkit polyiou, quads), "
                  "mmcv (mmcv float32 box_iou_rotated for rotated boxes / box_iou_quadri for quads)")
        ->capture_default_str();
    c->add_flag("--iof", *iof, "Also report IoF = |A and B| / |A|");
    c->callback([&ctx, method, iof] {
        if (*method != "exact" && *method != "devkit" && *method != "mmcv")
            RSCOVLM_THROW(usage_error, "bad_option", "--method must be exact, devkit or mmcv");
        run_jsonl(ctx, [&](const json& in) -> json {
            if (!in.is_object() || !in.contains("a") || !in.contains("b"))
                RSCOVLM_THROW(usage_error, "bad_field", "expected {\"a\": box, \"b\": box}");
            const any_box a = parse_box(in["a"], "a"), b = parse_box(in["b"], "b");
            json out;
            if (*method == "exact") {
                out["iou"] = eval::polygon_iou(a.poly, b.poly);
                if (*iof) out["iof"] = eval::polygon_iof(a.poly, b.poly);
            } else if (*method == "devkit") {
                out["iou"] = num(eval::devkit_polyiou(to_quad(a, "a"), to_quad(b, "b")));
            } else if (a.is_rbox && b.is_rbox) {
                auto f = [](const geometry::rbox& r) {
                    return std::array<float, 5>{static_cast<float>(r.cx), static_cast<float>(r.cy),
                                                static_cast<float>(r.w), static_cast<float>(r.h),
                                                static_cast<float>(r.theta)};
                };
                out["iou"] = num(eval::mmcv_iou_rotated_f32(f(a.r), f(b.r)));
                if (*iof) out["iof"] = num(eval::mmcv_iou_rotated_f32(f(a.r), f(b.r), true));
            } else {
                auto f = [](const geometry::quad& q) {
                    std::array<float, 8> o{};
                    for (std::size_t i = 0; i < 4; ++i) {
                        o[2 * i] = static_cast<float>(q[i].x);
                        o[2 * i + 1] = static_cast<float>(q[i].y);
                    }
                    return o;
                };
                const auto qa = f(to_quad(a, "a")), qb = f(to_quad(b, "b"));
                out["iou"] = num(eval::mmcv_iou_quadri_f32(qa, qb));
                if (*iof) out["iof"] = num(eval::mmcv_iou_quadri_f32(qa, qb, true));
            }
            return out;
        });
    });
}

void register_nms(CLI::App& app, context& ctx) {
    auto* c = app.add_subcommand("nms", "Rotated NMS: {\"boxes\": [[8 numbers] | [cx,cy,w,h,theta], ...], \"scores\": "
                                        "[...], \"labels\"?: [...]} -> {\"keep\": [indices in keep order]}");
    auto iou = std::make_shared<double>(0.5);
    auto method = std::make_shared<std::string>("devkit");
    auto ties = std::make_shared<std::string>("numpy");
    c->add_option("--iou", *iou, "IoU threshold")->capture_default_str();
    c->add_option("--method", *method,
                  "devkit (py_cpu_nms_poly), devkit_fast (py_cpu_nms_poly_fast), exact, mmcv (nms_rotated)")
        ->capture_default_str();
    c->add_option("--tie-order", *ties, "Order of equal scores: numpy or stable")->capture_default_str();
    c->callback([&ctx, iou, method, ties] {
        eval::nms_options opt;
        opt.iou_threshold = *iou;
        if (!eval::parse_nms_method(*method, opt.method))
            RSCOVLM_THROW(usage_error, "bad_option", "--method must be devkit, devkit_fast, exact or mmcv");
        if (!eval::parse_tie_order(*ties, opt.ties))
            RSCOVLM_THROW(usage_error, "bad_option", "--tie-order must be numpy or stable");
        run_jsonl(ctx, [opt](const json& in) -> json {
            if (!in.is_object() || !in.contains("boxes") || !in.contains("scores") || !in["boxes"].is_array() ||
                !in["scores"].is_array())
                RSCOVLM_THROW(usage_error, "bad_field", "expected {\"boxes\": [...], \"scores\": [...]}");
            const auto& jb = in["boxes"];
            const auto& js = in["scores"];
            if (jb.size() != js.size())
                RSCOVLM_THROW(usage_error, "bad_field",
                              std::to_string(jb.size()) + " boxes but " + std::to_string(js.size()) + " scores");
            std::vector<geometry::quad> quads;
            std::vector<geometry::rbox> rboxes;
            std::vector<double> scores;
            bool all_rbox = true;
            for (std::size_t i = 0; i < jb.size(); ++i) {
                const any_box b = parse_box(jb[i], "boxes[]");
                all_rbox = all_rbox && b.is_rbox;
                quads.push_back(to_quad(b, "boxes[]"));
                rboxes.push_back(b.r);
                if (!js[i].is_number()) RSCOVLM_THROW(usage_error, "bad_field", "scores must be numbers");
                scores.push_back(js[i].get<double>());
            }
            std::vector<std::size_t> keep;
            if (in.contains("labels")) {
                const auto& jl = in["labels"];
                if (!jl.is_array() || jl.size() != jb.size())
                    RSCOVLM_THROW(usage_error, "bad_field", "\"labels\" must be an array as long as \"boxes\"");
                std::vector<std::string> labels;
                for (const auto& l : jl)
                    labels.push_back(l.is_string() ? l.get<std::string>() : l.dump());
                keep = eval::batched_nms_quads(quads, scores, labels, opt);
            } else if (opt.method == eval::nms_method::mmcv && all_rbox && !rboxes.empty()) {
                keep = eval::nms_rboxes(rboxes, scores, opt);
            } else {
                keep = eval::nms_quads(quads, scores, opt);
            }
            return json{{"keep", keep}};
        });
    });
}

void register_eval_group(CLI::App& app, context& ctx) {
    auto& ev = subcommand(app, "eval", "Detection evaluation (DOTA Task1, mAP_nc, threshold sweep, patch merge)");

    // eval dota
    {
        auto* c = ev.add_subcommand("dota", "DOTA Task1 mAP: prints {\"mAP\": x, \"ap\": {class: ap}, ...}");
        auto a = std::make_shared<dota_args>();
        auto table = std::make_shared<bool>(false);
        auto details = std::make_shared<bool>(false);
        a->add(c);
        c->add_flag("--no-scores", a->no_scores, "Score every detection 1.0 (mAP_nc, the VLM protocol)");
        c->add_flag("--table", *table, "Print a readable table instead of JSON");
        c->add_flag("--details", *details, "Include per-class rankings, TP/FP flags and PR curves in the JSON");
        c->callback([&ctx, a, table, details] {
            const auto o = [&] {
                auto x = a->options();
                x.keep_curves = *details;
                return x;
            }();
            const auto gt = a->load_gt(o);
            const auto dets = eval::read_task1_dir(a->det, eval::detail::eval_classes(o));
            const auto r = eval::evaluate_dota(gt, dets, o);
            if (*table) {
                (*ctx.out) << eval::to_table(r, "protocol " + a->protocol + ", " + a->metric + ", IoU " +
                                                    std::to_string(o.iou_threshold).substr(0, 4) +
                                                    (o.no_scores ? ", scores ignored (mAP_nc)" : ""));
            } else {
                json j = eval::to_json(r, *details);
                j["protocol"] = a->protocol;
                j["metric"] = a->metric;
                j["iou"] = o.iou_threshold;
                j["tie_order"] = a->ties;
                j["no_scores"] = o.no_scores;
                if (o.protocol == eval::dota_protocol::mmrotate) {
                    j["box"] = a->box;
                    j["diff_thr"] = o.difficulty_threshold;
                    if (std::isfinite(r.map)) { // DOTAMetric's AP50 = round(mAP, 3)
                        char buf[32];
                        std::snprintf(buf, sizeof buf, "%.3f", r.map);
                        j["AP50"] = std::strtod(buf, nullptr);
                    }
                }
                (*ctx.out) << j.dump() << "\n";
            }
        });
    }
    // eval sweep
    {
        auto* c = ev.add_subcommand("sweep",
                                    "Score-threshold sweep of mAP_nc (keep score > t, score 1.0) on a labelled split");
        auto a = std::make_shared<dota_args>();
        auto thr = std::make_shared<std::vector<double>>();
        a->protocol = "mmrotate";
        a->add(c);
        c->add_option("--thresholds", *thr, "Thresholds to try (default 0, 0.05, ..., 0.95)")->delimiter(',');
        c->callback([&ctx, a, thr] {
            const auto o = a->options();
            const auto gt = a->load_gt(o);
            const auto dets = eval::read_task1_dir(a->det, eval::detail::eval_classes(o));
            const auto r = eval::sweep_score_thresholds(gt, dets, o, *thr);
            json j = eval::to_json(r);
            j["protocol"] = a->protocol;
            (*ctx.out) << j.dump() << "\n";
        });
    }
    // eval export
    {
        auto* c = ev.add_subcommand("export",
                                    "Apply a score threshold (keep score > t, score 1.0) and write a Task1 submission");
        auto det = std::make_shared<std::string>();
        auto out = std::make_shared<std::string>();
        auto t = std::make_shared<double>(0.0);
        auto classes = std::make_shared<std::string>();
        auto style = std::make_shared<std::string>("mmrotate");
        c->add_option("--det", *det, "Folder of Task1_{class}.txt files")->required();
        c->add_option("--out", *out, "Output folder")->required();
        c->add_option("--threshold", *t, "Score threshold (strict)")->required();
        c->add_option("--classes", *classes, "Comma-separated classes (default: the Task1 files found)");
        c->add_option("--style", *style, "Line format: mmrotate (%.2f) or devkit (Python repr)")->capture_default_str();
        c->callback([&ctx, det, out, t, classes, style] {
            auto labels = split_csv(*classes);
            if (labels.empty()) labels = discover_task1_classes(*det);
            const auto dets = eval::apply_score_threshold(eval::read_task1_dir(*det, labels), *t);
            eval::write_task1_dir(*out, dets,
                                  *style == "devkit" ? eval::task1_style::devkit : eval::task1_style::mmrotate);
            std::size_t n = 0;
            for (const auto& c : dets)
                n += c.dets.size();
            (*ctx.out) << json{{"classes", labels.size()}, {"kept", n}, {"threshold", *t}, {"out", *out}}.dump()
                       << "\n";
        });
    }
    // eval merge
    {
        auto* c = ev.add_subcommand("merge", "Merge patch detections (P0000__1024__x___y) into original images with "
                                             "class-wise NMS and write Task1 files");
        auto det = std::make_shared<std::string>();
        auto out = std::make_shared<std::string>();
        auto iou = std::make_shared<double>(0.1);
        auto method = std::make_shared<std::string>("devkit_fast");
        auto classes = std::make_shared<std::string>();
        auto style = std::make_shared<std::string>("mmrotate");
        c->add_option("--det", *det, "Folder of patch-level Task1_{class}.txt files")->required();
        c->add_option("--out", *out, "Output folder")->required();
        c->add_option("--nms-iou", *iou, "NMS IoU threshold")->capture_default_str();
        c->add_option("--nms", *method, "NMS: devkit_fast, devkit, exact or mmcv")->capture_default_str();
        c->add_option("--classes", *classes, "Comma-separated classes (default: the Task1 files found)");
        c->add_option("--style", *style, "Line format: mmrotate (%.2f) or devkit (Python repr)")->capture_default_str();
        c->callback([&ctx, det, out, iou, method, classes, style] {
            eval::nms_options opt;
            opt.iou_threshold = *iou;
            if (!eval::parse_nms_method(*method, opt.method))
                RSCOVLM_THROW(usage_error, "bad_option", "--nms must be devkit_fast, devkit, exact or mmcv");
            auto labels = split_csv(*classes);
            if (labels.empty()) labels = discover_task1_classes(*det);
            eval::merge_report rep;
            const auto merged = eval::merge_patches(eval::read_task1_dir(*det, labels), opt, &rep);
            eval::write_task1_dir(*out, merged,
                                  *style == "devkit" ? eval::task1_style::devkit : eval::task1_style::mmrotate);
            (*ctx.out) << json{{"input", rep.input},
                               {"kept", rep.kept},
                               {"unparsed_names", rep.unparsed.size()},
                               {"out", *out}}
                              .dump()
                       << "\n";
        });
    }
    // eval mf1
    {
        auto* c = ev.add_subcommand("mf1", "LMMRotate mF1 (confusion matrix with background) over score thresholds");
        auto a = std::make_shared<dota_args>();
        auto thr = std::make_shared<std::vector<double>>();
        a->add(c);
        c->add_option("--score-thresholds", *thr, "Score thresholds (default 0, 0.1, ..., 0.9)")->delimiter(',');
        c->callback([&ctx, a, thr] {
            auto o = a->options();
            o.protocol = eval::dota_protocol::mmrotate;
            const auto gt = a->load_gt(o);
            const auto classes = eval::detail::eval_classes(o);
            const auto dets = eval::read_task1_dir(a->det, classes);
            (*ctx.out) << eval::to_json(eval::mf1(gt, dets, classes, *thr, o.iou_threshold)).dump() << "\n";
        });
    }
}

} // namespace

void register_eval(CLI::App& app, context& ctx) {
    register_geom_iou(app, ctx);
    register_nms(app, ctx);
    register_eval_group(app, ctx);
}

void demo_eval(demo_context& d) {
#ifdef RSCOVLM_CLI_HAS_SCENES
    if (d.scenes.empty()) {
        d.out << "(no sample scene available: the data step did not run)\n";
        return;
    }
    const data::scene& s = d.scenes.front();
    // Ground truth = the scene's objects; "VLM" detections = the GT perturbed deterministically
    // (shift, scale, a few misses, duplicates and false positives), all scored 1.0 (mAP_nc).
    eval::dota_ground_truth gt;
    gt.images.push_back(s.name);
    gt.objects.emplace_back();
    for (const auto& o : s.objects)
        gt.objects[0].push_back(eval::gt_object{o.poly, o.label, o.difficulty});
    std::vector<std::string> classes;
    for (const auto& o : s.objects)
        if (std::find(classes.begin(), classes.end(), o.label) == classes.end()) classes.push_back(o.label);
    std::sort(classes.begin(), classes.end());
    std::vector<eval::class_detections> dets;
    for (const auto& c : classes)
        dets.push_back(eval::class_detections{c, true, {}});
    std::uint32_t h = 2166136261u;
    auto rnd = [&h]() { // deterministic FNV/xorshift stream in [0, 1)
        h ^= h << 13;
        h ^= h >> 17;
        h ^= h << 5;
        return static_cast<double>(h % 100000u) / 100000.0;
    };
    for (std::size_t i = 0; i < s.objects.size(); ++i) {
        const auto& o = s.objects[i];
        auto& cd = *std::find_if(dets.begin(), dets.end(), [&](const auto& c) { return c.label == o.label; });
        const double u = rnd();
        if (u < 0.12) continue; // missed
        geometry::point c{0, 0};
        for (const auto& p : o.poly)
            c = {c.x + p.x / 4, c.y + p.y / 4};
        const double scale = 0.85 + 0.3 * rnd();
        double w = 0, hh = 0;
        for (const auto& p : o.poly) {
            w = std::max(w, std::abs(p.x - c.x));
            hh = std::max(hh, std::abs(p.y - c.y));
        }
        const double dx = (rnd() - 0.5) * 0.4 * w, dy = (rnd() - 0.5) * 0.4 * hh;
        geometry::quad q;
        for (std::size_t k = 0; k < 4; ++k)
            q[k] = {std::round(c.x + dx + (o.poly[k].x - c.x) * scale),
                    std::round(c.y + dy + (o.poly[k].y - c.y) * scale)};
        cd.dets.push_back(eval::detection{s.name, 1.0, q});
        if (u > 0.92) cd.dets.push_back(eval::detection{s.name, 1.0, q}); // duplicate
        if (u > 0.88 && u <= 0.92) {                                      // false positive
            geometry::quad f = q;
            for (auto& p : f)
                p = {p.x + 3 * w + 40, p.y};
            cd.dets.push_back(eval::detection{s.name, 1.0, f});
        }
    }
    eval::dota_eval_options o;
    o.classes = classes;
    o.no_scores = true;
    o.protocol = eval::dota_protocol::mmrotate;
    const auto r = eval::evaluate_dota(gt, dets, o);
    d.out << "Scene " << s.name << ": " << s.objects.size() << " objects; perturbed copies scored 1.0\n";
    d.out << eval::to_table(r, "mAP_nc (mmrotate protocol, VOC07 11-point, IoU 0.5, numpy tie order)");
    o.protocol = eval::dota_protocol::devkit;
    const auto r2 = eval::evaluate_dota(gt, dets, o);
    d.out << "Same detections, DOTA_devkit protocol: mAP_nc " << std::fixed << std::setprecision(2)
          << (std::isnan(r2.map) ? 0.0 : 100 * r2.map)
          << (std::isnan(r2.map) ? " (undefined: " + r2.map_error + ")" : "") << std::defaultfloat << "\n";
#else
    d.out << "(the data module is not available: no sample scene)\n";
#endif
}

} // namespace rscovlm::cli
