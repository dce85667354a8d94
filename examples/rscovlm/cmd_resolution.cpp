// Subcommands of the resolution module: smart-resize, resize, preprocess, mrope; and its demo.
#include "cli.hpp"

#include <rscovlm/detail/py/str.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/io/npy.hpp>
#include <rscovlm/io/video_source.hpp>
#include <rscovlm/resolution/all.hpp>
#include <rscovlm/resolution/video.hpp>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <memory>
#include <sstream>

namespace rscovlm::cli {

namespace {

long long json_ll(const nlohmann::json& in, const char* key, long long fallback) {
    if (!in.contains(key)) return fallback;
    const auto& v = in[key];
    if (v.is_number_integer()) return v.get<long long>();
    if (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<long long>(v.get<double>())))
        return static_cast<long long>(v.get<double>());
    RSCOVLM_THROW(usage_error, "bad_field", std::string("field '") + key + "' must be an integer, got " + v.dump());
}

std::vector<std::array<int, 3>> json_grids(const nlohmann::json& in, const char* key) {
    std::vector<std::array<int, 3>> out;
    if (!in.contains(key) || in[key].is_null()) return out;
    if (!in[key].is_array())
        RSCOVLM_THROW(usage_error, "bad_field", std::string("field '") + key + "' must be a list of [t, h, w]");
    for (const auto& g : in[key]) {
        if (!g.is_array() || g.size() != 3)
            RSCOVLM_THROW(usage_error, "bad_field",
                          std::string("each entry of '") + key + "' must be [t, h, w], got " + g.dump());
        out.push_back({{g[0].get<int>(), g[1].get<int>(), g[2].get<int>()}});
    }
    return out;
}

// `preprocess --video`: options and run (qwen-vl-utils fetch_video + the processor's video path).
template <class Args> void add_video_preprocess_options(CLI::App& pp, const std::shared_ptr<Args>& pa) {
    pp.add_option("--video", pa->video,
                  "Video frames: a directory of frame images or a frame list file (.txt/.list/.lst); video files are "
                  "not decoded");
    pp.add_option("--fps", pa->fps,
                  "Video: sampling fps (qwen-vl-utils ele['fps'], default 2); for --frames-as-list the "
                  "reported sample fps");
    pp.add_option("--nframes", pa->nframes, "Video: explicit frame count (rounded to even), instead of --fps");
    pp.add_option("--min-frames", pa->min_frames, "Video: ele['min_frames'] (default 4)");
    pp.add_option("--max-frames", pa->max_frames, "Video: ele['max_frames'] (default min(768, total frames))");
    pp.add_option("--total-pixels", pa->total_pixels, "Video: ele['total_pixels'] (default 90316800)");
    pp.add_option("--source-fps", pa->source_fps,
                  "Video: fps of the frames (overrides a list file's '# fps = F' line)");
    pp.add_flag("--frames-as-list", pa->frames_as_list,
                "Video: pass the frames as a list of images (qwen-vl-utils list path: no sampling, Pillow resize)");
    pp.add_option("--torch-kernel", pa->torch_kernel,
                  "Video: torch CPU kernel build to reproduce: avx2 (default) or scalar")
        ->check(CLI::IsMember({"avx2", "scalar", "default"}));
}

template <class Args> void run_video_preprocess(context& ctx, CLI::App& pp, const Args& a) {
    const auto given = [&pp](const char* name) { return pp.get_option(name)->count() > 0; };
    io::video_load_options o;
    o.input = a.frames_as_list ? resolution::video_input::frame_list : resolution::video_input::decoded;
    if (given("--fps")) o.video.frames.fps = a.fps;
    if (given("--nframes")) o.video.frames.nframes = a.nframes;
    if (given("--min-frames")) o.video.frames.min_frames = a.min_frames;
    if (given("--max-frames")) o.video.frames.max_frames = a.max_frames;
    if (given("--min-pixels")) o.video.min_pixels = static_cast<double>(a.min_pixels);
    if (given("--max-pixels")) o.video.max_pixels = static_cast<double>(a.max_pixels);
    if (given("--total-pixels")) o.video.total_pixels = a.total_pixels;
    if (given("--source-fps")) o.source_fps = a.source_fps;
    if (!a.budget.empty()) {
        const auto b = resolution::find_budget(a.budget);
        o.video.min_pixels = static_cast<double>(b.min_pixels);
        o.video.max_pixels = static_cast<double>(b.max_pixels);
    }
    if (a.frames_as_list &&
        (given("--nframes") || given("--total-pixels") || given("--min-frames") || given("--max-frames")))
        RSCOVLM_THROW(
            usage_error, "bad_option",
            "--frames-as-list uses every frame: --nframes, --min-frames, --max-frames and --total-pixels do not apply");
    if (a.resized_height > 0 || a.resized_width > 0) {
        if (a.resized_height <= 0 || a.resized_width <= 0)
            RSCOVLM_THROW(usage_error, "bad_option", "--resized-height and --resized-width go together");
        o.video.resized = resolution::size{a.resized_height, a.resized_width};
    }
    o.video.rgb = imaging::parse_rgb_mode(a.to_rgb);
    o.video.torch_kernel = imaging::parse_torch_kernel(a.torch_kernel);
    o.video.threads = a.threads;
    o.video.bf16 = a.dtype == "bfloat16";
    o.load.max_pixels = static_cast<std::uint64_t>(a.max_image_pixels < 0 ? 0 : a.max_image_pixels);
    const resolution::video_result r = io::load_video(a.video, o);
    if (!a.out.empty()) {
        const std::vector<std::size_t> shape{r.rows, r.cols};
        if (o.video.bf16)
            io::save_npy(a.out, r.pixel_values_bf16, shape);
        else
            io::save_npy(a.out, r.pixel_values, shape);
    }
    (*ctx.out) << nlohmann::json{{"video_grid_thw", {r.grid_thw}},
                                 {"resized_height", r.resized_height},
                                 {"resized_width", r.resized_width},
                                 {"nframes", r.nframes},
                                 {"frame_indices", r.frame_indices},
                                 {"sample_fps", r.sample_fps},
                                 {"second_per_grid_ts", {static_cast<double>(r.second_per_grid_t_f32)}},
                                 {"tokens", r.tokens},
                                 {"pixel_values_shape", {r.rows, r.cols}}}
                      .dump()
               << "\n";
}

std::string lower_ext(const std::string& path) {
    return ::rscovlm::detail::py::lower_ascii(std::filesystem::path(path).extension().string());
}

void save_image_by_ext(const std::string& path, const image& img) {
    const std::string e = lower_ext(path);
    if (e == ".npy") // raw uint8 [height, width, channels], for scripts without an image library
        io::save_npy(path, img.data,
                     {static_cast<std::size_t>(img.height), static_cast<std::size_t>(img.width),
                      static_cast<std::size_t>(img.channels)});
    else if (e == ".jpg" || e == ".jpeg")
        io::save_jpeg(path, img, 95);
    else
        io::save_png(path, img);
}

/// Plan of one image for the demo table.
void print_plan_row(std::ostream& out, const std::string& name, int h, int w, const std::string& strategy_label,
                    resolution::strategy& s) {
    auto r = try_call([&] { return s.plan_size(h, w); });
    out << "  " << std::left << std::setw(30) << name << std::setw(13) << (std::to_string(w) + "x" + std::to_string(h))
        << std::setw(26) << strategy_label;
    if (!r.ok()) {
        out << r.error().what() << "\n";
        return;
    }
    const auto& p = r.value();
    out << std::setw(12) << (std::to_string(p.resized_width) + "x" + std::to_string(p.resized_height)) << std::setw(14)
        << ("[1," + std::to_string(p.grid_thw[1]) + "," + std::to_string(p.grid_thw[2]) + "]") << p.tokens << "\n";
}

} // namespace

void register_resolution(CLI::App& app, context& ctx) {
    // ------------------------------------------------------------------ smart-resize (JSON Lines)
    auto* sr = app.add_subcommand(
        "smart-resize",
        "JSON Lines: {\"height\",\"width\",\"factor\"?,\"min_pixels\"?,\"max_pixels\"?,\"variant\"?,\"budget\"?} or "
        "{\"image\": path, ...} (header only, never decoded) -> {\"height\",\"width\"}");
    auto sr_plan = std::make_shared<bool>(false);
    sr->add_flag("--plan", *sr_plan, "Also print grid_thw, tokens and the branch taken");
    sr->callback([&ctx, sr_plan] {
        run_jsonl(ctx, [&](const nlohmann::json& in) -> nlohmann::json {
            if (!in.is_object()) RSCOVLM_THROW(usage_error, "bad_field", "each line must be a JSON object");
            resolution::smart_resize_options o;
            if (in.contains("budget")) {
                const auto b = resolution::find_budget(in["budget"].get<std::string>());
                o.min_pixels = b.min_pixels;
                o.max_pixels = b.max_pixels;
            }
            o.factor = static_cast<int>(json_ll(in, "factor", 28));
            o.min_pixels = json_ll(in, "min_pixels", o.min_pixels);
            o.max_pixels = json_ll(in, "max_pixels", o.max_pixels);
            if (in.contains("variant")) o.variant = resolution::parse_variant(in["variant"].get<std::string>());
            long long h = 0, w = 0;
            if (in.contains("image")) {
                const auto info = io::probe_image(in["image"].get<std::string>());
                h = info.height;
                w = info.width;
            } else {
                if (!in.contains("height") || !in.contains("width"))
                    RSCOVLM_THROW(usage_error, "bad_field", "need 'height' and 'width' (or 'image')");
                h = json_ll(in, "height", 0);
                w = json_ll(in, "width", 0);
            }
            const auto s = resolution::smart_resize(h, w, o);
            nlohmann::json out{{"height", s.height}, {"width", s.width}};
            if (*sr_plan) {
                const int p = o.factor / 2;
                out["grid_thw"] = {1, s.height / p, s.width / p};
                out["tokens"] = static_cast<long long>(s.height / p) * (s.width / p) / 4;
                out["branch"] = std::string(resolution::smart_resize_branch(h, w, o));
                if (in.contains("image")) out["original"] = {{"height", h}, {"width", w}};
            }
            return out;
        });
    });

    // ------------------------------------------------------------------ resize
    struct resize_args {
        std::string in, out, filter = "bicubic", to_rgb = "composite";
        int width = 0, height = 0, threads = 0;
        long long max_image_pixels = static_cast<long long>(io::default_max_image_pixels);
    };
    auto ra = std::make_shared<resize_args>();
    auto* rs = app.add_subcommand(
        "resize", "Resize an image exactly like Pillow's Image.resize (after to_rgb); with --jsonl, one "
                  "{\"in\",\"out\",\"width\",\"height\",\"filter\"?,\"to_rgb\"?} per stdin line");
    rs->add_option("--in", ra->in, "Source image (PNG, JPEG, BMP, TGA, GIF, PNM)");
    rs->add_option("--out", ra->out, "Destination (.png, .jpg/.jpeg, or .npy for raw uint8 HxWxC)");
    rs->add_option("--width", ra->width, "Target width");
    rs->add_option("--height", ra->height, "Target height");
    rs->add_option("--filter", ra->filter, "bicubic|bilinear|nearest|lanczos")
        ->check(CLI::IsMember({"bicubic", "bilinear", "nearest", "lanczos"}));
    rs->add_option("--to-rgb", ra->to_rgb, "RGBA handling: composite (on white, qwen-vl-utils) or convert (drop alpha)")
        ->check(CLI::IsMember({"composite", "convert", "white_composite"}));
    rs->add_option("--threads", ra->threads, "Worker threads (0 = all cores)");
    rs->add_option("--max-image-pixels", ra->max_image_pixels, "Refuse larger images before decoding (0 = no limit)");
    auto rs_jsonl = std::make_shared<bool>(false);
    rs->add_flag("--jsonl", *rs_jsonl, "Batch mode: read JSON Lines jobs on stdin, write one JSON line per job");
    rs->callback([&ctx, ra, rs_jsonl] {
        auto job = [ra](const std::string& in, const std::string& out_path, int width, int height,
                        const std::string& filter, const std::string& to_rgb) -> nlohmann::json {
            io::load_options lo;
            lo.rgb = imaging::parse_rgb_mode(to_rgb);
            lo.max_pixels = static_cast<std::uint64_t>(ra->max_image_pixels < 0 ? 0 : ra->max_image_pixels);
            const image src = io::load_image(in, lo);
            imaging::resize_options ro;
            ro.threads = ra->threads;
            const image out = imaging::resize(src, width, height, imaging::parse_filter(filter), ro);
            save_image_by_ext(out_path, out);
            return {{"width", out.width}, {"height", out.height}, {"src_width", src.width}, {"src_height", src.height}};
        };
        if (*rs_jsonl) {
            run_jsonl(ctx, [&](const nlohmann::json& in) -> nlohmann::json {
                if (!in.is_object() || !in.contains("in") || !in.contains("out"))
                    RSCOVLM_THROW(usage_error, "bad_field", "each line needs 'in', 'out', 'width' and 'height'");
                return job(in["in"].get<std::string>(), in["out"].get<std::string>(),
                           static_cast<int>(json_ll(in, "width", 0)), static_cast<int>(json_ll(in, "height", 0)),
                           in.value("filter", ra->filter), in.value("to_rgb", ra->to_rgb));
            });
            return;
        }
        if (ra->in.empty() || ra->out.empty() || ra->width <= 0 || ra->height <= 0)
            RSCOVLM_THROW(usage_error, "missing_option", "resize needs --in, --out, --width and --height (or --jsonl)");
        (*ctx.out) << job(ra->in, ra->out, ra->width, ra->height, ra->filter, ra->to_rgb).dump() << "\n";
    });

    // ------------------------------------------------------------------ preprocess
    struct pp_args {
        std::string image, out, to_rgb = "composite", dtype = "float32", resized_out, variant = "qwen_vl_utils", budget;
        long long min_pixels = resolution::budget_hf_default.min_pixels,
                  max_pixels = resolution::budget_hf_default.max_pixels;
        long long max_image_pixels = static_cast<long long>(io::default_max_image_pixels);
        int threads = 0, resized_height = 0, resized_width = 0;
        // --video
        std::string video, torch_kernel = "avx2";
        double fps = 0, nframes = 0, min_frames = 0, max_frames = 0, total_pixels = 0, source_fps = 0;
        bool frames_as_list = false;
    };
    auto pa = std::make_shared<pp_args>();
    auto* pp = app.add_subcommand(
        "preprocess",
        "Qwen2.5-VL image (--image) or video (--video) preprocessing: writes pixel_values [N,1176] as .npy and prints "
        "{\"grid_thw\",\"resized_height\",\"resized_width\",\"tokens\"} (video: {\"video_grid_thw\",...,"
        "\"nframes\",\"frame_indices\",\"second_per_grid_ts\"})");
    pp->add_option("--image", pa->image, "Source image (or --video)");
    add_video_preprocess_options(*pp, pa);
    pp->add_option("--out", pa->out, "Output .npy for pixel_values (float32, or bf16 bits as uint16)");
    pp->add_option("--min-pixels", pa->min_pixels, "smart_resize min_pixels (default 3136)");
    pp->add_option("--max-pixels", pa->max_pixels, "smart_resize max_pixels (default 1003520)");
    pp->add_option("--budget", pa->budget, "Named budget instead: multitask|det|hf_default|qvu_default|sq<S>");
    pp->add_option("--to-rgb", pa->to_rgb, "RGBA handling: composite (default) or convert")
        ->check(CLI::IsMember({"composite", "convert", "white_composite"}));
    pp->add_option("--variant", pa->variant,
                   "smart_resize variant: qwen_vl_utils (default), transformers or transformers_legacy")
        ->check(CLI::IsMember({"qwen_vl_utils", "transformers", "transformers_legacy"}));
    pp->add_option("--dtype", pa->dtype, "float32 (default) or bfloat16 (stored as uint16 bit patterns)")
        ->check(CLI::IsMember({"float32", "bfloat16"}));
    pp->add_option("--resized-height", pa->resized_height,
                   "Explicit target height (with --resized-width; skips smart_resize)");
    pp->add_option("--resized-width", pa->resized_width, "Explicit target width");
    pp->add_option("--resized-out", pa->resized_out, "Also save the resized RGB image (.png, .jpg or .npy)");
    pp->add_option("--threads", pa->threads, "Worker threads (0 = all cores)");
    pp->add_option("--max-image-pixels", pa->max_image_pixels, "Refuse larger images before decoding (0 = no limit)");
    pp->callback([&ctx, pa, pp] {
        if (pa->image.empty() == pa->video.empty())
            RSCOVLM_THROW(usage_error, "missing_option", "preprocess needs exactly one of --image and --video");
        if (!pa->video.empty()) {
            run_video_preprocess(ctx, *pp, *pa);
            return;
        }
        io::load_options lo;
        lo.to_rgb = false;
        lo.max_pixels = static_cast<std::uint64_t>(pa->max_image_pixels < 0 ? 0 : pa->max_image_pixels);
        const image src = io::load_image(pa->image, lo);
        resolution::preprocess_options o;
        o.min_pixels = pa->min_pixels;
        o.max_pixels = pa->max_pixels;
        if (!pa->budget.empty()) {
            const auto b = resolution::find_budget(pa->budget);
            o.min_pixels = b.min_pixels;
            o.max_pixels = b.max_pixels;
        }
        o.rgb = imaging::parse_rgb_mode(pa->to_rgb);
        o.variant = resolution::parse_variant(pa->variant);
        o.threads = pa->threads;
        o.keep_resized_image = !pa->resized_out.empty();
        if (pa->resized_height > 0 || pa->resized_width > 0) {
            if (pa->resized_height <= 0 || pa->resized_width <= 0)
                RSCOVLM_THROW(usage_error, "bad_option", "--resized-height and --resized-width go together");
            o.resized = resolution::size{pa->resized_height, pa->resized_width};
        }
        const auto r = resolution::preprocess(src, o);
        if (!pa->out.empty()) {
            const std::vector<std::size_t> shape{r.rows, r.cols};
            if (pa->dtype == "bfloat16")
                io::save_npy(pa->out, resolution::to_bfloat16(r.pixel_values, o.threads), shape);
            else
                io::save_npy(pa->out, r.pixel_values, shape);
        }
        if (!pa->resized_out.empty()) save_image_by_ext(pa->resized_out, r.resized_image);
        (*ctx.out) << nlohmann::json{{"grid_thw", r.grid_thw},
                                     {"resized_height", r.resized_height},
                                     {"resized_width", r.resized_width},
                                     {"tokens", r.tokens},
                                     {"pixel_values_shape", {r.rows, r.cols}}}
                          .dump()
                   << "\n";
    });

    // ------------------------------------------------------------------ mrope (JSON Lines)
    auto model = std::make_shared<std::string>("qwen2_5_vl");
    auto* mr = app.add_subcommand(
        "mrope", "JSON Lines: {\"input_ids\",\"image_grid_thw\",\"video_grid_thw\"?,\"second_per_grid_ts\"?,"
                 "\"attention_mask\"?} -> {\"position_ids\": [[t],[h],[w]], \"rope_deltas\": d}");
    mr->add_option("--model", *model, "Temporal rule for videos: qwen2_5_vl (default) or qwen2_vl")
        ->check(CLI::IsMember({"qwen2_5_vl", "qwen2_vl"}));
    mr->callback([&ctx, model] {
        run_jsonl(ctx, [&](const nlohmann::json& in) -> nlohmann::json {
            if (!in.is_object() || !in.contains("input_ids") || !in["input_ids"].is_array())
                RSCOVLM_THROW(usage_error, "bad_field", "each line needs 'input_ids' (a list of ids)");
            resolution::rope_options o;
            o.model = resolution::parse_rope_model(in.value("model", *model));
            if (in.contains("spatial_merge_size"))
                o.spatial_merge_size = static_cast<int>(json_ll(in, "spatial_merge_size", 2));
            if (in.contains("tokens_per_second")) o.tokens_per_second = in["tokens_per_second"].get<float>();
            if (in.contains("second_per_grid_ts") && !in["second_per_grid_ts"].is_null())
                o.second_per_grid_ts = in["second_per_grid_ts"].get<std::vector<float>>();
            std::vector<std::int64_t> mask;
            if (in.contains("attention_mask") && !in["attention_mask"].is_null())
                mask = in["attention_mask"].get<std::vector<std::int64_t>>();
            const auto r =
                resolution::get_rope_index(in["input_ids"].get<std::vector<std::int64_t>>(),
                                           json_grids(in, "image_grid_thw"), json_grids(in, "video_grid_thw"), o, mask);
            return {{"position_ids", {r.position_ids[0], r.position_ids[1], r.position_ids[2]}},
                    {"rope_deltas", r.rope_delta}};
        });
    });
}

void demo_resolution(demo_context& d) {
    auto& out = d.out;
    out << "== resolution: how many visual tokens each image gets (Qwen2.5-VL, 28 px per merged token side)\n";
    struct sample {
        std::string name;
        image img;
    };
    std::vector<sample> samples;
    std::vector<std::pair<std::string, std::pair<int, int>>> sizes; // name -> (h, w), for images not held
#ifdef RSCOVLM_CLI_HAS_SCENES
    for (const auto& s : d.scenes)
        sizes.push_back({s.name, {s.image.height, s.image.width}});
#endif
    if (sizes.empty()) {
        // No sample scenes: plan typical aerial sizes and synthesize one gradient image.
        sizes = {{"dota_patch", {1024, 1024}},
                 {"dior_image", {800, 800}},
                 {"fhd_frame", {1080, 1920}},
                 {"uhr_tile", {9000, 12000}}};
    }
    resolution::fixed_budget multitask(resolution::budget_multitask.min_pixels,
                                       resolution::budget_multitask.max_pixels);
    resolution::fixed_budget det(resolution::budget_det.min_pixels, resolution::budget_det.max_pixels);
    resolution::fixed_square sq448(448);
    resolution::random_resize rnd(resolution::budget_multitask.min_pixels, resolution::budget_multitask.max_pixels, 1.0,
                                  2024);
    out << "  " << std::left << std::setw(30) << "image" << std::setw(13) << "WxH" << std::setw(26) << "strategy"
        << std::setw(12) << "resized" << std::setw(14) << "grid_thw"
        << "tokens\n";
    for (const auto& [name, hw] : sizes) {
        print_plan_row(out, name, hw.first, hw.second, "resize.smart multitask", multitask);
        print_plan_row(out, name, hw.first, hw.second, "resize.smart det", det);
        print_plan_row(out, name, hw.first, hw.second, "resize.square 448", sq448);
        print_plan_row(out, name, hw.first, hw.second, "resize.random seed=2024", rnd);
    }
    // Preprocess the first normal-size image end to end.
    image first;
    std::string first_name;
#ifdef RSCOVLM_CLI_HAS_SCENES
    for (const auto& s : d.scenes)
        if (static_cast<long long>(s.image.width) * s.image.height <= 4096LL * 4096) {
            first = s.image;
            first_name = s.name;
            break;
        }
#endif
    if (first.empty()) {
        first = image(1024, 768, 3);
        for (int y = 0; y < first.height; ++y)
            for (int x = 0; x < first.width; ++x) {
                first.at(x, y, 0) = static_cast<std::uint8_t>(x * 255 / first.width);
                first.at(x, y, 1) = static_cast<std::uint8_t>(y * 255 / first.height);
                first.at(x, y, 2) = static_cast<std::uint8_t>((x ^ y) & 0xff);
            }
        first_name = "gradient_1024x768";
    }
    resolution::preprocess_options o;
    o.min_pixels = resolution::budget_multitask.min_pixels;
    o.max_pixels = resolution::budget_multitask.max_pixels;
    o.keep_resized_image = true;
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = resolution::preprocess(first, o);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    out << "  preprocess " << first_name << " (multitask budget): pixel_values [" << r.rows << ", " << r.cols
        << "] float32, grid_thw [" << r.grid_thw[0] << ", " << r.grid_thw[1] << ", " << r.grid_thw[2] << "], "
        << r.tokens << " <|image_pad|> tokens";
    if (!d.quiet) out << ", " << std::fixed << std::setprecision(1) << ms << " ms" << std::defaultfloat;
    out << "\n";
    // M-RoPE of a one-image user turn.
    std::vector<std::int64_t> ids{151644, 872, 198, 151652};
    for (long long i = 0; i < r.tokens; ++i)
        ids.push_back(151655);
    ids.insert(ids.end(), {151653, 151645});
    const auto rope = resolution::get_rope_index(ids, {r.grid_thw});
    out << "  M-RoPE for '<|im_start|>user\\n<image>' (" << ids.size() << " tokens): rope_delta " << rope.rope_delta
        << ", last text position " << rope.position_ids[0].back() << "\n";
    if (!d.out_dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(d.out_dir, ec);
        const std::string png = (std::filesystem::path(d.out_dir) / "resolution_resized.png").string();
        const std::string npy = (std::filesystem::path(d.out_dir) / "resolution_pixel_values.npy").string();
        auto w1 = try_call([&] { io::save_png(png, r.resized_image); });
        auto w2 = try_call([&] { io::save_npy(npy, r.pixel_values, {r.rows, r.cols}); });
        if (w1.ok() && w2.ok())
            out << "  wrote " << png << " and " << npy << "\n";
        else
            out << "  could not write demo files: " << (w1.ok() ? w2.error().what() : w1.error().what()) << "\n";
    }
}

} // namespace rscovlm::cli
