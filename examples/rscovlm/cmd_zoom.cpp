// Subcommands of the zoom module: `rscovlm zoom run|eval|parse|lrsvqa-zoom`, and its demo step.
#include "cli.hpp"

#include <rscovlm/data/readers.hpp>
#include <rscovlm/detail/py/file.hpp>
#include <rscovlm/eval/lrsvqa.hpp>
#include <rscovlm/eval/wordnet.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/io/image_source.hpp>
#include <rscovlm/io/openai_backend.hpp>
#include <rscovlm/resolution/smart_resize.hpp>
#include <rscovlm/resolution/strategy.hpp>
#include <rscovlm/zoom/all.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

namespace rscovlm::cli {

namespace {

/// Options shared by `zoom run` and `zoom eval`.
struct chain_args {
    backend_args backend;
    int max_steps = 2;
    std::string crop_from = "original";
    std::string on_malformed = "fallback";
    std::string multi_call = "first";
    long min_pixels = resolution::budget_hf_default.min_pixels;
    long max_pixels = resolution::budget_hf_default.max_pixels;
    double min_box = 28;
    double max_aspect = 100;
    bool no_clamp = false;
    std::string reader = "auto";
    bool overviews = false;
    std::vector<int> bands;
};

void add_chain_options(CLI::App* cmd, chain_args& a) {
    add_backend_options(cmd, a.backend);
    cmd->add_option("--max-steps", a.max_steps, "Maximum zoom turns")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    cmd->add_option("--crop-from", a.crop_from, "Crop the original image or the resized view")
        ->check(CLI::IsMember({"original", "resized"}))
        ->capture_default_str();
    cmd->add_option("--on-malformed", a.on_malformed, "Malformed tool call: show the full image again, or stop")
        ->check(CLI::IsMember({"fallback", "stop"}))
        ->capture_default_str();
    cmd->add_option("--multi-call", a.multi_call, "Several calls in one output: use the first, or all")
        ->check(CLI::IsMember({"first", "all"}))
        ->capture_default_str();
    cmd->add_option("--min-pixels", a.min_pixels, "Resolution budget: min_pixels")->capture_default_str();
    cmd->add_option("--max-pixels", a.max_pixels, "Resolution budget: max_pixels")->capture_default_str();
    cmd->add_option("--min-box", a.min_box, "Minimum zoom-box side in the resized frame (0 = off)")
        ->capture_default_str();
    cmd->add_option("--max-aspect", a.max_aspect, "Maximum zoom-box aspect ratio (0 = off)")->capture_default_str();
    cmd->add_flag("--no-clamp", a.no_clamp, "Do not clamp boxes to the image (outside pixels are black)");
    cmd->add_option("--reader", a.reader, "Image reader: auto, libtiff, gdal, memory")
        ->check(CLI::IsMember({"auto", "libtiff", "gdal", "memory"}))
        ->capture_default_str();
    cmd->add_flag("--overviews", a.overviews,
                  "GDAL: read the full view and the crops from the coarsest overview that still gives the pixels "
                  "the budget asks for (fast on large GeoTIFFs; not pixel-identical to the reference's full decode)");
    cmd->add_option("--bands", a.bands, "GDAL: 1-based bands shown as grey (one) or R,G,B (three)")->delimiter(',');
}

/// The image source options of the chain flags.
io::image_source_options source_options_of(const chain_args& a) {
    io::image_source_options o;
    o.reader = a.reader;
    o.overviews = a.overviews;
    o.bands = a.bands;
    return o;
}

/// The read counters of `src` when it is a GDAL source (pixels read, time), else null.
nlohmann::json source_stats(zoom::image_source& src) {
#if RSCOVLM_HAS_GDAL
    if (auto* g = dynamic_cast<io::gdal_source*>(&src)) {
        const auto& s = g->stats();
        const double all = static_cast<double>(g->width()) * static_cast<double>(g->height());
        return {{"reader", "gdal"},
                {"overviews", g->overviews().size()},
                {"reads", s.reads},
                {"overview_reads", s.overview_reads},
                {"pixels_read", s.pixels_read},
                {"fraction_of_image", all > 0 ? static_cast<double>(s.pixels_read) / all : 0.0},
                {"read_seconds", s.seconds}};
    }
#endif
    (void)src;
    return nullptr;
}

zoom::controller_options controller_options_of(const chain_args& a) {
    zoom::controller_options o;
    o.max_steps = a.max_steps;
    o.crop_from = zoom::parse_crop_source(a.crop_from);
    o.on_malformed = zoom::parse_malformed_policy(a.on_malformed);
    o.multi_call = zoom::parse_multi_call_policy(a.multi_call);
    o.min_pixels = a.min_pixels;
    o.max_pixels = a.max_pixels;
    o.boxes.min_size = a.min_box;
    o.boxes.max_aspect_ratio = a.max_aspect;
    o.boxes.clamp = !a.no_clamp;
    o.generation = a.backend.generation();
    return o;
}

/// The chain result as `rscovlm zoom run` prints it (`zoom::to_json`).
nlohmann::json result_json(const zoom::chain_result& r) {
    return r;
}

/// Writes the trace JSON to `path` and the full view with the zoom boxes to `path` with extension ".png".
void write_trace(const zoom::chain_result& r, const std::string& path) {
    std::ofstream f(path);
    if (!f) RSCOVLM_THROW(io_error, "open_failed", "cannot write trace '" + path + "'");
    nlohmann::json j = result_json(r);
    j["messages"] = r.messages;
    f << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    if (!r.images.empty()) {
        image view = r.images.front();
        zoom::draw_trace(view, r.trace, 3);
        io::save_png(std::filesystem::path(path).replace_extension(".png").string(), view);
    }
}

void register_run(CLI::App& group, context& ctx) {
    struct args_t {
        std::string image, question, trace;
        bool json = false, no_zoom = false;
        chain_args chain;
    };
    auto a = std::make_shared<args_t>();
    auto* cmd = group.add_subcommand("run", "Answer a question about an image with the Zoom-in Chain");
    cmd->add_option("--image", a->image, "Image (PNG, JPEG, tiled/striped TIFF)")->required();
    cmd->add_option("--question", a->question, "The question")->required();
    add_chain_options(cmd, a->chain);
    cmd->add_option("--trace", a->trace, "Write the steps as JSON to this file and the zoom boxes to <file>.png");
    cmd->add_flag("--json", a->json, "Print the answer, stop reason and trace as one JSON line");
    cmd->add_flag("--no-zoom", a->no_zoom, "Ask the plain question once, without the zoom tool");
    cmd->callback([&ctx, a] {
        try {
            auto backend = make_backend(a->chain.backend);
            auto src = io::open_image_source(a->image, source_options_of(a->chain));
            zoom::controller_options o = controller_options_of(a->chain);
            o.zoom_prompt = !a->no_zoom;
            const zoom::chain_result r = zoom::controller(o).run(*src, a->question, *backend);
            if (!a->trace.empty()) write_trace(r, a->trace);
            nlohmann::json stats = source_stats(*src);
            if (a->json) {
                nlohmann::json j = result_json(r);
                if (!stats.is_null()) j["source"] = stats;
                (*ctx.out) << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
            } else {
                (*ctx.out) << r.answer << "\n";
            }
            if (!stats.is_null() && !ctx.quiet && !a->json)
                std::fprintf(stderr, "rscovlm: read %llu pixels (%.4f%% of the image) in %.3f s\n",
                             static_cast<unsigned long long>(stats.at("pixels_read").get<std::uint64_t>()),
                             100.0 * stats.at("fraction_of_image").get<double>(),
                             stats.at("read_seconds").get<double>());
            if (!r.answered && !ctx.quiet)
                std::fprintf(stderr, "rscovlm: no final answer (%s)\n", r.trace.stop_reason.c_str());
        } catch (const rscovlm::usage_error&) {
            throw;
        } catch (const rscovlm::error& e) {
            fail(e);
            ctx.exit_code = 1;
        }
    });
}

std::vector<nlohmann::json> read_records(const std::string& path) {
    std::vector<nlohmann::json> out;
    for (auto& v : read_json_values(path, "benchmark")) {
        if (v.line > 0 && (v.value.is_discarded() || !v.value.is_object()))
            RSCOVLM_THROW(eval_error, "bad_record",
                          "'" + path + "' line " + std::to_string(v.line) + ": not a JSON object");
        out.push_back(std::move(v.value));
    }
    return out;
}

std::string str_field(const nlohmann::json& r, const char* key, const std::string& fallback = {}) {
    auto it = r.find(key);
    if (it == r.end() || it->is_null()) return fallback;
    if (it->is_string()) return it->get<std::string>();
    return it->dump();
}

void register_eval_cmd(CLI::App& group, context& ctx) {
    struct args_t {
        std::string benchmark, image_root, out, match = "exact", wordnet;
        bool score_only = false, zoom_all = false, no_zoom = false, confine_to_root = false;
        long limit = -1;
        chain_args chain;
    };
    auto a = std::make_shared<args_t>();
    auto* cmd = group.add_subcommand("eval", "Run and score an LRS-VQA-style benchmark (JSON array or JSON Lines)");
    cmd->add_option("--benchmark", a->benchmark, "Records: question_id, image, text, category, ground_truth")
        ->required();
    cmd->add_option("--image-root", a->image_root, "Directory the records' image paths are relative to");
    cmd->add_flag("--confine-to-root", a->confine_to_root,
                  "Refuse (rscovlm.data.path_outside_root) a record's image path that leaves --image-root (the "
                  "current directory without it) after normalisation, '..' and symbolic links included");
    cmd->add_flag("--score-only", a->score_only, "Score the records' existing 'output' fields; run no model");
    cmd->add_option("--out", a->out, "Write one JSON line per record (output, answered, steps) to this file");
    cmd->add_option("--match", a->match,
                    "Answer matching (wups: equal or WordNet synonyms, the reference's LRS-VQA score; WordNet from "
                    "--wordnet, $RSCOVLM_WORDNET_DIR or /usr/share/wordnet)")
        ->check(CLI::IsMember({"exact", "contain", "startswith", "wups"}))
        ->capture_default_str();
    cmd->add_option("--wordnet", a->wordnet, "WordNet database folder for --match wups");
    cmd->add_flag("--zoom-all", a->zoom_all, "Use the Zoom-in prompt for every category (the reference skips 'count')");
    cmd->add_flag("--no-zoom", a->no_zoom, "Never use the Zoom-in prompt");
    cmd->add_option("--limit", a->limit, "Evaluate only the first N records");
    add_chain_options(cmd, a->chain);
    cmd->callback([&ctx, a] {
        try {
            // The matching rule, with WordNet read first so a missing database fails before any answer.
            std::shared_ptr<const eval::wordnet::database> wn;
            if (a->match == "wups") wn = eval::wordnet::database::shared(a->wordnet);
            const eval::lrsvqa::item_judge judge = [&](const zoom::lrsvqa::item& it) {
                if (wn) return !it.failed && eval::wordnet::wups_match(*wn, it.output, it.ground_truth);
                return zoom::lrsvqa::is_correct(it, zoom::lrsvqa::parse_match_mode(a->match));
            };
            std::vector<nlohmann::json> recs = read_records(a->benchmark);
            if (a->limit >= 0 && static_cast<std::size_t>(a->limit) < recs.size())
                recs.resize(static_cast<std::size_t>(a->limit));
            std::unique_ptr<zoom::backend> backend;
            if (!a->score_only) backend = make_backend(a->chain.backend);
            std::ofstream out;
            if (!a->out.empty()) {
                out.open(a->out);
                if (!out) RSCOVLM_THROW(io_error, "open_failed", "cannot write '" + a->out + "'");
            }
            const zoom::controller_options base = controller_options_of(a->chain);
            std::vector<zoom::lrsvqa::item> items;
            std::size_t failed = 0;
            progress bar(ctx, "zoom eval", recs.size());
            for (std::size_t i = 0; i < recs.size(); ++i) {
                const nlohmann::json& r = recs[i];
                zoom::lrsvqa::item it{str_field(r, "question_id", std::to_string(i)), str_field(r, "category"),
                                      str_field(r, "ground_truth", str_field(r, "answer")), str_field(r, "output")};
                nlohmann::json line{
                    {"question_id", it.question_id}, {"category", it.category}, {"ground_truth", it.ground_truth}};
                if (!a->score_only) {
                    std::string image = str_field(r, "image");
                    if (!a->image_root.empty()) image = (std::filesystem::path(a->image_root) / image).string();
                    zoom::controller_options o = base;
                    o.zoom_prompt = !a->no_zoom && (a->zoom_all || zoom::lrsvqa::uses_zoom(it.category));
                    auto res = try_call([&] {
                        if (a->confine_to_root && !data::path_within(a->image_root, image))
                            RSCOVLM_THROW(data_error, "path_outside_root",
                                          a->benchmark + ": record " + std::to_string(i) + ": image '" +
                                              str_field(r, "image") + "' leaves the image root '" +
                                              (a->image_root.empty() ? std::string(".") : a->image_root) + "'");
                        auto src = io::open_image_source(image, source_options_of(a->chain));
                        return zoom::controller(o).run(*src, str_field(r, "text", str_field(r, "question")), *backend);
                    });
                    if (res.ok()) {
                        it.output = res.value().answer;
                        line["output"] = it.output;
                        line["answered"] = res.value().answered;
                        line["stop_reason"] = res.value().trace.stop_reason;
                        line["steps"] = res.value().trace.steps.size();
                    } else {
                        ++failed;
                        it.failed = true;
                        line["error"] = res.error().what();
                    }
                } else {
                    line["output"] = it.output;
                }
                line["correct"] = judge(it);
                if (out.is_open()) out << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
                items.push_back(std::move(it));
                bar.tick();
            }
            bar.done();
            nlohmann::json s = zoom::lrsvqa::scores(items, judge);
            s["failed"] = failed;
            (*ctx.out) << s.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
            if (failed) ctx.exit_code = 1;
        } catch (const rscovlm::usage_error&) {
            throw;
        } catch (const rscovlm::error& e) {
            fail(e);
            ctx.exit_code = 1;
        }
    });
}

nlohmann::json parsed_json(const zoom::parsed_output& p) {
    nlohmann::json calls = nlohmann::json::array();
    for (const auto& c : p.calls)
        calls.push_back({{"name", c.name}, {"bbox", {c.bbox[0], c.bbox[1], c.bbox[2], c.bbox[3]}}, {"notes", c.notes}});
    nlohmann::json dropped = nlohmann::json::array();
    for (const auto& d : p.dropped)
        dropped.push_back({{"reason", d.reason}, {"raw", d.raw}});
    return nlohmann::json{{"has_tool_call", p.has_tool_tag},
                          {"think", p.has_think ? nlohmann::json(p.think) : nlohmann::json(nullptr)},
                          {"text", p.text},
                          {"answer_text", p.answer_text},
                          {"calls", calls},
                          {"dropped", dropped}};
}

void register_parse(CLI::App& group, context& ctx) {
    auto* cmd = group.add_subcommand("parse",
                                     "JSON Lines: {\"output\": model text} -> parsed tool calls (never fails on text)");
    cmd->callback([&ctx] {
        run_jsonl(ctx, [](const nlohmann::json& in) {
            if (!in.is_object() || !in.contains("output") || !in["output"].is_string())
                RSCOVLM_THROW(zoom_error, "bad_input", "expected {\"output\": \"...\"}");
            return parsed_json(zoom::parse_output(in["output"].get<std::string>()));
        });
    });
}

void register_lrsvqa_zoom(CLI::App& group, context& ctx) {
    auto* cmd = group.add_subcommand(
        "lrsvqa-zoom", "JSON Lines: LRS-VQA-Zoom record [+ resized_width/resized_height] -> its training conversation");
    cmd->callback([&ctx] {
        run_jsonl(ctx, [](const nlohmann::json& in) {
            const int rw = in.value("resized_width", 0), rh = in.value("resized_height", 0);
            auto c = zoom::lrsvqa::build_zoom_conversation(in, rw, rh, in.value("disable_visual_cot", false));
            nlohmann::json j{{"messages", c.messages}, {"zoom", c.zoom}};
            if (c.zoom) {
                j["crop_window"] = {c.crop_window.x0, c.crop_window.y0, c.crop_window.x1, c.crop_window.y1};
                j["bbox_call"] = c.bbox_call;
            }
            return j;
        });
    });
}

} // namespace

void register_zoom(CLI::App& app, context& ctx) {
    CLI::App& group = subcommand(app, "zoom", "Zoom-in Chain for ultra-high-resolution images");
    register_run(group, ctx);
    register_eval_cmd(group, ctx);
    register_parse(group, ctx);
    register_lrsvqa_zoom(group, ctx);
}

void demo_zoom(demo_context& d) {
#ifdef RSCOVLM_CLI_HAS_SCENES
    // The UHR sample scene of the data step, or a moderate one when it is absent.
    std::unique_ptr<data::scene> own;
    const data::scene* sc = d.scenes.size() >= 2 ? &d.scenes[1] : nullptr;
    if (!sc) {
        data::scene_options so = data::scene_options::uhr(1);
        so.width = 4800;
        so.height = 3600;
        own = std::make_unique<data::scene>(data::make_scene(so));
        sc = own.get();
    }
    zoom::memory_source src = zoom::memory_source::borrow(sc->image);
    const int W = src.width(), H = src.height();

    // The question targets the most frequent class; an oracle backend that knows the scene zooms
    // twice (a dense window, then its densest half) and answers with the count inside the last crop.
    std::map<std::string, int> freq;
    for (const auto& o : sc->objects)
        ++freq[o.label];
    std::string label = "plane";
    int best = -1;
    for (const auto& kv : freq)
        if (kv.second > best) {
            best = kv.second;
            label = kv.first;
        }
    auto centre = [](const data::dota_object& o) {
        double x = 0, y = 0;
        for (const auto& p : o.poly) {
            x += p.x / 4;
            y += p.y / 4;
        }
        return std::pair<double, double>(x, y);
    };
    auto count_in = [&](double x0, double y0, double x1, double y1) {
        int n = 0;
        for (const auto& o : sc->objects) {
            if (o.label != label) continue;
            auto c = centre(o);
            n += (c.first >= x0 && c.first < x1 && c.second >= y0 && c.second < y1) ? 1 : 0;
        }
        return n;
    };
    // Densest window of a quarter of each side, on a coarse grid (original frame).
    const double ww = W / 4.0, wh = H / 4.0;
    double bx = 0, by = 0;
    int bn = -1;
    for (int gy = 0; gy <= 12; ++gy)
        for (int gx = 0; gx <= 12; ++gx) {
            const double x0 = (W - ww) * gx / 12.0, y0 = (H - wh) * gy / 12.0;
            const int n = count_in(x0, y0, x0 + ww, y0 + wh);
            if (n > bn) {
                bn = n;
                bx = x0;
                by = y0;
            }
        }
    const bool left = count_in(bx, by, bx + ww / 2, by + wh) >= count_in(bx + ww / 2, by, bx + ww, by + wh);
    const double hx0 = left ? bx : bx + ww / 2;
    const int answer = count_in(hx0, by, hx0 + ww / 2, by + wh);

    zoom::controller_options opt; // RSCoVLM defaults: 2 steps, crops of the original
    const auto rs = resolution::smart_resize(H, W, opt.factor, opt.min_pixels, opt.max_pixels);
    const double sx = static_cast<double>(rs.width) / W, sy = static_cast<double>(rs.height) / H;
    const std::vector<std::string> replies{
        "<think>The targets are small, I should zoom in.</think>\n" +
            zoom::format_tool_call(bx * sx, by * sy, (bx + ww) * sx, (by + wh) * sy),
        "<think>Closer still.</think>\n" +
            zoom::format_tool_call(hx0 * sx, by * sy, (hx0 + ww / 2) * sx, (by + wh) * sy),
        std::to_string(answer)};
    zoom::scripted_backend model(replies);
    const std::string question = "How many " + label + " objects are in the densest area?";
    const zoom::chain_result r = zoom::controller(opt).run(src, question, model);

    d.out << "Zoom-in Chain on the " << W << "x" << H << " scene (full view " << r.trace.resized_width << "x"
          << r.trace.resized_height << ", scripted backend)\n";
    d.out << "  Q: " << question << "\n";
    for (const auto& s : r.trace.steps) {
        d.out << "  step " << s.index << ": " << s.kind;
        for (const auto& z : s.zooms)
            d.out << "  box [" << static_cast<int>(z.bbox_model[0]) << ", " << static_cast<int>(z.bbox_model[1]) << ", "
                  << static_cast<int>(z.bbox_model[2]) << ", " << static_cast<int>(z.bbox_model[3]) << "] -> crop "
                  << z.crop.width() << "x" << z.crop.height() << " of the original at (" << z.crop.x0 << ", "
                  << z.crop.y0 << ") -> " << z.input_width << "x" << z.input_height << " (" << z.visual_tokens
                  << " tokens)";
        d.out << "\n";
    }
    d.out << "  A: " << r.answer << " (" << r.trace.stop_reason << ")\n";
    const std::string base = (std::filesystem::path(d.out_dir) / "zoom_trace").string();
    write_trace(r, base + ".json");
    if (r.images.size() >= 3) io::save_png(base + "_crop2.png", r.images.back());
    d.out << "  wrote zoom_trace.json, zoom_trace.png (boxes on the full view) and zoom_trace_crop2.png\n";
#else
    d.out << "zoom: no sample scenes in this build\n";
#endif
}

} // namespace rscovlm::cli
