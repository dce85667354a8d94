// `rscovlm detect-scene`: streaming detection over a whole scene (pipeline::detect_scene) read window by
// window from any raster (libtiff, GDAL, or an image decoded once), with outputs in pixels (DOTA Task1)
// and, for georeferenced scenes, on the map (GeoJSON in WGS84, GeoPackage in the scene's CRS).
//
//   rscovlm detect-scene --image scene.tif --classes plane,ship --backend openai --in-flight 8 --out OUT
//
// OUT holds Task1/Task1_{class}.txt, windows.jsonl (one line per window: offset, answer, what was
// dropped, error), summary.json (counts, time, peak memory, pixels read), detections.png (the boxes on a
// preview of the scene), and, when the scene is georeferenced and GDAL is built in, detections.geojson
// and detections.gpkg. The demo step (`rscovlm demo`) runs it on a synthetic georeferenced scene.
#include "cli.hpp"

#include <rscovlm/data/synthetic.hpp>
#include <rscovlm/eval/dota_eval.hpp>
#include <rscovlm/eval/dota_io.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/io/image_source.hpp>
#include <rscovlm/pipeline/infer.hpp>
#include <rscovlm/pipeline/pipeline.hpp>
#include <rscovlm/pipeline/scene.hpp>
#include <rscovlm/zoom/scripted_backend.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <memory>
#include <mutex>

namespace rscovlm::cli {

std::string preset_path(const std::string& name);

namespace {

namespace fs = std::filesystem;

/// Peak resident memory of the process in MiB (getrusage).
double peak_rss_mib() {
    struct rusage ru {};
    if (::getrusage(RUSAGE_SELF, &ru) != 0) return -1.0;
    return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

struct scene_args {
    std::string image, out = "rscovlm-scene", preset = "dota-quad-detection", classes, reader = "auto", name;
    std::vector<int> bands;
    bool overviews = false, no_nms = false;
    int patch_size = 1024, patch_gap = 200, in_flight = 1, batch = 0, preview = 2048, cache_mb = 128;
    std::vector<int> padding_value;
    backend_args backend;
};

/// What detect-scene wrote.
struct scene_outputs {
    pipeline::scene_detect_result result;
    nlohmann::json summary;
};

/// A preview of the scene (longer side `side`) with the detections drawn.
image scene_preview(zoom::image_source& src, const pipeline::scene_detect_result& r, int side) {
    const double s = std::min(1.0, static_cast<double>(side) / std::max(src.width(), src.height()));
    const int w = std::max(1, static_cast<int>(src.width() * s)), h = std::max(1, static_cast<int>(src.height() * s));
    image view = src.read_resized(zoom::pixel_box{0, 0, src.width(), src.height()}, w, h, image::filter::bilinear);
    const double sx = static_cast<double>(w) / src.width(), sy = static_cast<double>(h) / src.height();
    std::vector<box_codec::object> objects;
    for (const auto& d : r.detections) {
        box_codec::object o;
        o.label = d.label;
        o.label_id = d.label_id;
        for (const auto& p : d.quad) {
            o.coords.push_back(p.x * sx);
            o.coords.push_back(p.y * sy);
        }
        objects.push_back(std::move(o));
    }
    pipeline::draw_objects(view, objects, box_codec::box_kind::quad);
    return view;
}

/// Runs detect-scene with `make_backend` and writes OUT (see the file comment).
scene_outputs detect_scene_to(const scene_args& a, const pipeline::backend_factory& make_backend, bool quiet) {
    io::image_source_options so;
    so.reader = a.reader;
    so.overviews = a.overviews;
    so.bands = a.bands;
    so.tiff_cache_bytes = static_cast<std::size_t>(a.cache_mb) << 20;
    auto src = io::open_image_source(a.image, so);
    const auto p = pipeline::pipeline::from_file(preset_path(a.preset));
    auto& codec = p.get<box_codec::kind>();
    auto& sizing = p.get<resolution::kind>();
    pipeline::scene_detect_options o;
    o.classes = split_list(a.classes);
    if (o.classes.empty()) o.classes = eval::dota_v1_classes();
    o.split.sizes = {a.patch_size};
    o.split.gaps = {a.patch_gap};
    if (!a.padding_value.empty()) o.split.padding_value_bgr = a.padding_value;
    o.generation = a.backend.generation();
    o.box_scores = a.backend.box_score_rule();
    o.constrain = a.backend.constrain;
    o.in_flight = a.in_flight;
    o.batch = a.batch;
    o.apply_nms = !a.no_nms;
    o.scene_id = a.name.empty() ? fs::path(a.image).stem().string() : a.name;
    // The id is the first field of Task1 lines and the stem of window names.
    const bool bad_char = std::any_of(o.scene_id.begin(), o.scene_id.end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '/' || c == '\\';
    });
    if (o.scene_id.empty() || bad_char || o.scene_id.find("__") != std::string::npos)
        RSCOVLM_THROW(usage_error, "bad_name",
                      "the scene name '" + o.scene_id +
                          "' is empty or contains '__', a slash, a space or a control character (use --name)");
    const std::size_t total = data::sliding_windows(src->width(), src->height(), o.split).size();
    progress bar(quiet, "detect-scene", total);
    std::size_t shown = 0;
    o.progress = [&](std::size_t done, std::size_t) {
        bar.tick(done - shown);
        shown = done;
    };
    scene_outputs out;
    out.result = pipeline::detect_scene(*src, codec, sizing, make_backend, o);
    bar.done();
    const pipeline::scene_detect_result& r = out.result;

    fs::create_directories(a.out);
    eval::write_task1_dir((fs::path(a.out) / "Task1").string(), r.task1(o.classes));
    {
        std::ofstream f(fs::path(a.out) / "windows.jsonl", std::ios::binary);
        for (const auto& w : r.windows)
            f << nlohmann::json(w).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
        if (!f) RSCOVLM_THROW(io_error, "write_failed", "cannot write windows.jsonl in '" + a.out + "'");
    }
    nlohmann::json s = {{"scene", r.scene_id},
                        {"image", a.image},
                        {"width", r.width},
                        {"height", r.height},
                        {"windows", r.windows.size()},
                        {"failed_windows", r.failed},
                        {"boxes_before_nms", r.before_nms},
                        {"detections", r.detections.size()},
                        {"unknown_labels", r.unknown_labels},
                        {"outside_scene", r.outside_scene},
                        {"dropped", r.dropped.counts},
                        {"peak_windows_in_memory", r.peak_windows},
                        {"seconds", r.seconds},
                        {"preset", p.name()},
                        {"georeferenced", false}};
    nlohmann::json per_class = nlohmann::json::object();
    for (const auto& d : r.detections)
        per_class[d.label] = per_class.value(d.label, 0) + 1;
    s["per_class"] = per_class;
    io::save_png((fs::path(a.out) / "detections.png").string(), scene_preview(*src, r, a.preview));
#if RSCOVLM_HAS_GDAL
    io::georef geo;
    if (auto* g = dynamic_cast<io::gdal_source*>(src.get())) {
        s["reader"] = "gdal";
        s["driver"] = g->driver();
        s["bands"] = g->bands();
        s["pixels_read"] = g->stats().pixels_read;
        s["read_seconds"] = g->stats().seconds;
        geo = g->geo();
    } else {
        // Pixels from libtiff or the in-memory decoder; the georeferencing from GDAL.
        const auto gr = try_call([&] { return io::read_georef(a.image); });
        if (gr.ok()) geo = gr.value();
    }
    if (geo.georeferenced()) {
        std::vector<io::geo_feature> features;
        for (const auto& d : r.detections) {
            io::geo_feature f;
            f.pixels.assign(d.quad.begin(), d.quad.end());
            const auto& w = r.windows[d.window];
            f.properties = {{"class", d.label},
                            {"score", d.score},
                            {"window", w.patch},
                            {"window_x", w.window.x_start},
                            {"window_y", w.window.y_start}};
            features.push_back(std::move(f));
        }
        // The GeoPackage stays in the scene's CRS (any CRS); the GeoJSON needs a way to WGS84.
        io::write_geopackage((fs::path(a.out) / "detections.gpkg").string(), features, geo);
        s["georeferenced"] = true;
        s["crs"] = geo.epsg.empty() ? geo.wkt : geo.epsg;
        s["geotransform"] = geo.transform;
        auto t = try_call([&] { return std::make_shared<io::geo_transformer>(geo); });
        if (t.ok()) {
            s["geojson_skipped"] =
                io::write_geojson((fs::path(a.out) / "detections.geojson").string(), features, *t.value());
            s["geojson"] = true;
        } else {
            s["geojson"] = false;
            s["warning"] = "no GeoJSON: " + t.error().id + ": " + t.error().message;
            if (!quiet) std::fprintf(stderr, "rscovlm: no GeoJSON (%s)\n", t.error().message.c_str());
        }
    }
#endif
    s["peak_rss_mib"] = peak_rss_mib();
    {
        std::ofstream f(fs::path(a.out) / "summary.json", std::ios::binary);
        f << s.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
        if (!f) RSCOVLM_THROW(io_error, "write_failed", "cannot write summary.json in '" + a.out + "'");
    }
    out.summary = std::move(s);
    return out;
}

} // namespace

void register_scene(CLI::App& app, context& ctx) {
    auto a = std::make_shared<scene_args>();
    CLI::App* cmd = app.add_subcommand(
        "detect-scene", "Detect objects over a whole scene of any size (split windows read on demand, batched "
                        "through any backend, merged with rotated NMS): Task1, GeoJSON and GeoPackage out");
    cmd->add_option("--image", a->image, "The scene (GeoTIFF/COG, JPEG2000, NITF with GDAL; TIFF; PNG, JPEG)")
        ->required();
    cmd->add_option("--out", a->out, "Output folder")->capture_default_str();
    cmd->add_option("--preset", a->preset, "Detection preset (its box codec and resolution strategy)")
        ->capture_default_str();
    cmd->add_option("--classes", a->classes, "Class names, comma-separated (default: the 15 DOTA-v1.0 classes)");
    cmd->add_option("--name", a->name, "Scene id in Task1 lines and window names (default: the file stem)");
    cmd->add_option("--patch-size", a->patch_size, "Split window size")->capture_default_str();
    cmd->add_option("--patch-gap", a->patch_gap, "Split window overlap")->capture_default_str();
    cmd->add_option("--padding-value", a->padding_value,
                    "Padding of partial windows in BGR order (one value, or three; default 0 as mmrotate)");
    cmd->add_option("--in-flight", a->in_flight, "Windows answered at once (one backend each)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_option("--batch", a->batch, "Windows held in memory at once (0 = 2 x --in-flight)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    cmd->add_option("--reader", a->reader, "Image reader: auto, libtiff, gdal, memory")
        ->check(CLI::IsMember({"auto", "libtiff", "gdal", "memory"}))
        ->capture_default_str();
    cmd->add_option("--bands", a->bands, "GDAL: 1-based bands shown as grey (one) or R,G,B (three)")->delimiter(',');
    cmd->add_flag("--overviews", a->overviews,
                  "GDAL: draw the preview PNG from overviews (windows stay full resolution)");
    cmd->add_option("--cache-mb", a->cache_mb, "Decoded-tile cache of the reader (libtiff's, or GDAL's block cache)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_flag("--no-nms", a->no_nms, "Keep every mapped box (no rotated NMS)");
    cmd->add_option("--preview", a->preview, "Longer side of detections.png")->capture_default_str();
    add_backend_options(cmd, a->backend);
    cmd->callback([a, &ctx] {
        const scene_args args = *a;
        const scene_outputs o = detect_scene_to(
            args, [&args] { return make_backend(args.backend); }, ctx.quiet);
        (*ctx.out) << nlohmann::json({{"detections", o.summary.at("detections")},
                                      {"windows", o.summary.at("windows")},
                                      {"failed_windows", o.summary.at("failed_windows")},
                                      {"georeferenced", o.summary.at("georeferenced")},
                                      {"out", args.out}})
                          .dump()
                   << "\n";
        if (o.result.failed) {
            std::fprintf(stderr, "rscovlm: %zu of %zu windows failed (see %s/windows.jsonl)\n", o.result.failed,
                         o.result.windows.size(), args.out.c_str());
            ctx.exit_code = 1;
        }
    });
}

/// Box scores on the synthetic scene: the oracle's answers plus three hallucinated boxes in every
/// window, from a backend that reports token log-probabilities as a calibrated model would (the true
/// boxes' tokens likely, the hallucinated ones' not; simulated, so the demo shows the mechanism, not a
/// model's calibration). mAP_nc scores every box 1 and cannot rank the hallucinations below the true
/// boxes; the mAP with `--box-scores mean` ranks by the tokens' geometric-mean probability.
void demo_box_scores(demo_context& d, const data::scene& s, scene_args a, const data::split_options& sp,
                     const box_codec::codec& codec, resolution::strategy& sizing) {
    // Hallucinations: small boxes of the scene's classes in every window.
    std::vector<data::dota_object> fakes;
    const auto windows = data::sliding_windows(s.image.width, s.image.height, sp);
    std::vector<std::string> classes; // those the scene holds, so every class scored has ground truth
    for (const auto& obj : s.objects)
        if (std::find(classes.begin(), classes.end(), obj.label) == classes.end()) classes.push_back(obj.label);
    std::sort(classes.begin(), classes.end());
    for (std::size_t i = 0; i < windows.size(); ++i)
        for (std::size_t j = 0; j < 3; ++j) {
            const auto& w = windows[i];
            const double x = w.x_start + 40.0 + 150.0 * static_cast<double>(j) + 37.0 * static_cast<double>(i % 7);
            const double y = w.y_start + 60.0 + 200.0 * static_cast<double>(j) + 23.0 * static_cast<double>(i % 5);
            data::dota_object f;
            f.poly = {geometry::point{x, y}, geometry::point{x + 30, y}, geometry::point{x + 30, y + 18},
                      geometry::point{x, y + 18}};
            f.label = classes[(3 * i + j) % classes.size()];
            fakes.push_back(f);
        }
    std::vector<data::dota_object> all = s.objects;
    all.insert(all.end(), fakes.begin(), fakes.end());
    struct state {
        std::vector<std::string> replies, fake_replies;
        std::size_t next = 0;
        std::mutex mu;
    };
    auto st = std::make_shared<state>();
    st->replies = pipeline::window_answers(all, s.image.width, s.image.height, sp, codec, sizing);
    st->fake_replies = pipeline::window_answers(fakes, s.image.width, s.image.height, sp, codec, sizing);
    struct calibrated : zoom::backend {
        std::shared_ptr<state> st;
        std::vector<zoom::token_logprob> lps;
        std::string generate(const nlohmann::json&, const std::vector<image>&,
                             const zoom::generation_options&) override {
            std::string reply, fake;
            {
                std::lock_guard<std::mutex> lock(st->mu);
                const std::size_t i = std::min(st->next++, st->replies.size() - 1);
                reply = st->replies[i];
                fake = st->fake_replies[i];
            }
            // Tokens of three bytes; a line that is one of the hallucinations gets log-probabilities
            // near -1.6, the others near -0.05 (a deterministic jitter keeps ties out of the ranking).
            lps.clear();
            std::size_t line_start = 0;
            while (line_start < reply.size()) {
                std::size_t end = reply.find('\n', line_start);
                end = end == std::string::npos ? reply.size() : end + 1;
                const std::string line = reply.substr(line_start, end - line_start);
                std::string bare = line;
                while (!bare.empty() && (bare.back() == '\n' || bare.back() == ' '))
                    bare.pop_back();
                const bool hallucinated = !bare.empty() && fake.find(bare) != std::string::npos;
                for (std::size_t k = 0; k < line.size(); k += 3) {
                    zoom::token_logprob t;
                    t.text = line.substr(k, 3);
                    const double jitter = 0.01 * static_cast<double>((line_start * 31 + k * 17) % 13);
                    t.logprob = hallucinated ? -1.6 - jitter : -0.05 - jitter;
                    lps.push_back(std::move(t));
                }
                line_start = end;
            }
            return reply;
        }
        std::vector<zoom::token_logprob> last_logprobs() const override { return lps; }
    };
    a.out = (fs::path(a.out).parent_path() / "out_box_scores").string();
    a.in_flight = 1; // the oracle answers the windows in order
    a.backend.box_scores = "mean";
    const scene_outputs o = detect_scene_to(
        a,
        [st] {
            auto b = std::make_unique<calibrated>();
            b->st = st;
            return b;
        },
        true);
    eval::dota_ground_truth gt;
    gt.images = {a.name};
    gt.objects.emplace_back();
    for (const auto& obj : s.objects)
        gt.objects[0].push_back(eval::gt_object{obj.poly, obj.label, obj.difficulty});
    eval::dota_eval_options eo;
    eo.classes = classes;
    std::vector<eval::class_detections> dets;
    for (auto& c : o.result.task1(eval::dota_v1_classes()))
        if (std::find(classes.begin(), classes.end(), c.label) != classes.end()) dets.push_back(std::move(c));
    const double ranked = eval::evaluate_dota(gt, dets, eo).map;
    eo.no_scores = true;
    const double nc = eval::evaluate_dota(gt, dets, eo).map;
    d.out << "box scores: " << fakes.size() << " hallucinated boxes added to the oracle's answers; mAP_nc "
          << std::fixed << std::setprecision(4) << nc << ", mAP with --box-scores mean " << ranked
          << " (token log-probabilities rank the hallucinations last)\n";
    d.out.unsetf(std::ios::fixed);
    if (!(ranked > nc))
        RSCOVLM_THROW(io_error, "demo_failed", "box scores did not rank the hallucinated boxes below the true ones");
}

void demo_scene(demo_context& d) {
    // A synthetic georeferenced scene (UTM zone 33N, 0.5 m pixels) walked window by window; an oracle
    // backend answers each window with the objects the generator drew in it, so the map outputs can be
    // checked against the known objects.
    data::scene_options so = data::scene_options::normal(11);
    so.width = 2400;
    so.height = 1800;
    const data::scene s = data::make_scene(so);
    const std::string dir = (fs::path(d.out_dir) / "scene").string();
    fs::create_directories(dir);
    std::string image_path = (fs::path(dir) / "scene.png").string();
#if RSCOVLM_HAS_GDAL
    image_path = (fs::path(dir) / "scene.tif").string();
    io::geotiff_options go;
    go.overviews = io::overview_factors(so.width, so.height);
    io::write_geotiff(image_path, s.image, io::make_georef(32633, 399960.0, 5400000.0, 0.5), go);
#else
    io::save_png(image_path, s.image);
#endif
    scene_args a;
    a.image = image_path;
    a.out = (fs::path(dir) / "out").string();
    a.name = "scene";
    a.patch_size = 800;
    a.patch_gap = 100;
    a.preset = "dota-quad-detection";
    const auto p = pipeline::pipeline::from_file(preset_path(a.preset));
    const auto& codec = p.get<box_codec::kind>();
    // The oracle: the objects of each window (in window order: one worker), in the model's frame.
    data::split_options sp;
    sp.sizes = {a.patch_size};
    sp.gaps = {a.patch_gap};
    const std::vector<std::string> replies =
        pipeline::window_answers(s.objects, s.image.width, s.image.height, sp, codec, p.get<resolution::kind>());
    auto shared = std::make_shared<zoom::scripted_backend>(replies);
    struct forward : zoom::backend {
        std::shared_ptr<zoom::scripted_backend> b;
        std::string generate(const nlohmann::json& m, const std::vector<image>& im,
                             const zoom::generation_options& g) override {
            return b->generate(m, im, g);
        }
    };
    const scene_outputs o = detect_scene_to(
        a,
        [shared] {
            auto f = std::make_unique<forward>();
            f->b = shared;
            return f;
        },
        true);
    d.out << "scene " << s.image.width << "x" << s.image.height << " (" << s.objects.size() << " objects), "
          << o.result.windows.size() << " windows of " << a.patch_size << " px: " << o.result.before_nms
          << " boxes mapped, " << o.result.detections.size() << " after NMS\n";
    if (o.summary.value("georeferenced", false)) {
        d.out << "  GeoJSON (WGS84) and GeoPackage (" << o.summary.at("crs").get<std::string>() << ") in " << a.out
              << "\n";
#if RSCOVLM_HAS_GDAL
        // Read the GeoJSON back with OGR and compare every corner with the generator's objects placed
        // independently: the affine written out, EPSG:32633 -> EPSG:4326 through a fresh OSR transform.
        OGRSpatialReference utm, wgs;
        utm.importFromEPSG(32633);
        wgs.importFromEPSG(4326);
        utm.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
        wgs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
        std::unique_ptr<OGRCoordinateTransformation, void (*)(OGRCoordinateTransformation*)> ct(
            OGRCreateCoordinateTransformation(&utm, &wgs), &OGRCoordinateTransformation::DestroyCT);
        std::vector<std::array<double, 2>> corners;
        for (const auto& obj : s.objects)
            for (const auto& pt : obj.poly) {
                double x = 399960.0 + pt.x * 0.5, y = 5400000.0 - pt.y * 0.5;
                if (ct && ct->Transform(1, &x, &y)) corners.push_back({x, y});
            }
        const std::string gj = (fs::path(a.out) / "detections.geojson").string();
        std::unique_ptr<GDALDataset, void (*)(GDALDataset*)> ds(
            GDALDataset::Open(gj.c_str(), GDAL_OF_VECTOR), [](GDALDataset* p) { GDALClose(GDALDataset::ToHandle(p)); });
        OGRLayer* layer = ds ? ds->GetLayer(0) : nullptr;
        if (!layer) RSCOVLM_THROW(io_error, "demo_failed", "OGR cannot read back '" + gj + "'");
        // Metres per degree near 48.7 N, to report the worst corner in metres.
        const double mx = 111320.0 * std::cos(48.74 * 3.14159265358979323846 / 180.0), my = 111132.0;
        double worst = 0.0;
        std::size_t features = 0;
        for (auto& feat : *layer) {
            const OGRLinearRing* ring = feat->GetGeometryRef()->toPolygon()->getExteriorRing();
            for (int v = 0; v < 4; ++v) {
                double best = 1e300;
                for (const auto& c : corners)
                    best = std::min(best, std::hypot((ring->getX(v) - c[0]) * mx, (ring->getY(v) - c[1]) * my));
                worst = std::max(worst, best);
            }
            ++features;
        }
        if (features != o.result.detections.size() || worst > 1.0)
            RSCOVLM_THROW(io_error, "demo_failed",
                          "the GeoJSON read back does not match the scene's objects (worst corner " +
                              std::to_string(worst) + " m)");
        d.out << "  read back with OGR: " << features << " features, every corner within " << std::fixed
              << std::setprecision(2) << worst << " m of a known object corner (pixels are 0.5 m)\n";
        d.out.unsetf(std::ios::fixed);
#endif
    } else
        d.out << "  (built without GDAL: Task1 and the PNG only) in " << a.out << "\n";
    demo_box_scores(d, s, a, sp, codec, p.get<resolution::kind>());
}

} // namespace rscovlm::cli
