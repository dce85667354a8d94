// `rscovlm generate`, `rscovlm detect` and `rscovlm tiny-model`: the LibTorch Qwen2.5-VL / RSCoVLM model
// on the command line, plus the `torch` backend of `rscovlm zoom`, the plugin's components and its demo
// step. Part of the `rscovlm-torch` executable, which the core `rscovlm` runs for these commands.
#include <rscovlm/torch/builtin.hpp>
#include <rscovlm/torch/detect.hpp>
#include <rscovlm/torch/threads.hpp>
#include <rscovlm/torch/tiny.hpp>
#include <rscovlm/torch/vlm.hpp>

#include <rscovlm/box_codec/builtin.hpp>
#include <rscovlm/geometry/convert.hpp>
#include <rscovlm/imaging/draw.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/io/video_source.hpp>
#include <rscovlm/pipeline/run.hpp>
#include <rscovlm/registry.hpp>

#include "../../../examples/rscovlm/cli.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#ifdef __linux__
#include <sched.h>
#endif

namespace rscovlm::cli {

namespace {

namespace rt = rscovlm::torch;
namespace fs = std::filesystem;

/// Options shared by the model subcommands.
struct model_args {
    std::string model;
    std::string tokenizer;
    std::string device = "cpu";
    std::string dtype = "auto";
    long long min_pixels = 0; ///< 0: the checkpoint's preprocessor_config.json
    long long max_pixels = 0;
    long long memory_limit_mb = 0;
    bool map_weights = false;
    int threads = 0; ///< 0: the cores this process may run on
    int max_new_tokens = 256;
    bool greedy = false;
    double temperature = -1.0;
    double top_p = -1.0;
    int top_k = -1;
    double repetition_penalty = -1.0;
    unsigned long long seed = 0;
};

void add_model_options(CLI::App* cmd, model_args& a) {
    cmd->add_option("--model", a.model, "Checkpoint directory (config.json + safetensors)")->required();
    cmd->add_option("--tokenizer", a.tokenizer, "tokenizer.json or its directory (default: the model directory)");
    cmd->add_option("--device", a.device, "cpu, cuda, cuda:N")->capture_default_str();
    cmd->add_option("--dtype", a.dtype, "auto, float32, bfloat16, float16")
        ->check(CLI::IsMember({"auto", "float32", "bfloat16", "float16"}))
        ->capture_default_str();
    cmd->add_option("--min-pixels", a.min_pixels,
                    "Image pixel budget, lower bound (default: the checkpoint's preprocessor_config.json, else 3136)");
    cmd->add_option("--max-pixels", a.max_pixels,
                    "Image pixel budget, upper bound (default: the checkpoint's preprocessor_config.json, else "
                    "1003520)");
    cmd->add_option("--threads", a.threads, "ATen intra-op threads (0: the cores this process may run on)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--memory-limit-mb", a.memory_limit_mb, "Refuse models estimated above this size (0: no limit)");
    cmd->add_flag("--map-weights", a.map_weights,
                  "CPU: map the checkpoint copy-on-write instead of reading it (near-instant load, pages shared "
                  "between processes; slower first forward and decode)");
    cmd->add_option("--max-new-tokens", a.max_new_tokens, "Generation length limit")->capture_default_str();
    cmd->add_flag("--greedy", a.greedy, "Greedy decoding (ignore the sampling settings of generation_config.json)");
    cmd->add_option("--temperature", a.temperature, "Sampling temperature (default: generation_config.json)");
    cmd->add_option("--top-p", a.top_p, "Nucleus sampling threshold");
    cmd->add_option("--top-k", a.top_k, "Top-k sampling");
    cmd->add_option("--repetition-penalty", a.repetition_penalty, "Repetition penalty");
    cmd->add_option("--seed", a.seed, "Sampling seed")->capture_default_str();
}

/// The cores this process may run on (its CPU affinity), at least 1.
int available_cores() {
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
    return std::max(1u, std::thread::hardware_concurrency());
}

/// Whether a model on `device` in `dtype` runs its arithmetic through BLAS matrix products
/// (`rt::set_compute_threads`): float32 on the CPU without SDPA kernels.
bool blas_bound(const std::string& device, const std::string& dtype) {
    const auto dd = rt::resolve_device(device, dtype);
    return dd.first.is_cpu() && dd.second == at::kFloat && !rt::ops::sdpa_enabled();
}

rt::vlm load_vlm(const model_args& a, const context& ctx) {
    // The cores available unless told otherwise (split between ATen and OpenBLAS: set_compute_threads).
    rt::set_compute_threads(a.threads > 0 ? a.threads : available_cores(), blas_bound(a.device, a.dtype));
    rt::vlm_options o;
    o.load.device = a.device;
    o.load.dtype = a.dtype;
    o.load.memory_limit_bytes = static_cast<std::uint64_t>(a.memory_limit_mb) << 20;
    o.load.map_weights = a.map_weights;
    o.tokenizer = a.tokenizer;
    if (a.min_pixels > 0 || a.max_pixels > 0) {
        // One bound given: the other from the checkpoint.
        resolution::budget b = rt::checkpoint_budget(a.model);
        if (a.min_pixels > 0) b.min_pixels = a.min_pixels;
        if (a.max_pixels > 0) b.max_pixels = a.max_pixels;
        if (b.max_pixels < b.min_pixels)
            RSCOVLM_THROW(usage_error, "bad_budget",
                          "--min-pixels " + std::to_string(b.min_pixels) + " exceeds --max-pixels " +
                              std::to_string(b.max_pixels));
        b.name = "command line";
        o.budget = b;
    }
    const bool quiet = ctx.quiet;
    o.load.on_estimate = [quiet](const rt::memory_estimate& e) {
        if (!quiet)
            std::fprintf(stderr, "rscovlm: model of %.1f M parameters, about %.1f MiB with a 4096-token KV cache\n",
                         static_cast<double>(e.parameters) / 1e6, static_cast<double>(e.total_bytes) / 1048576.0);
    };
    return rt::vlm::load(a.model, o);
}

rt::sampling_options sampling(const rt::vlm& v, const model_args& a) {
    rt::sampling_options s = v.default_sampling(a.max_new_tokens);
    if (a.temperature >= 0) {
        s.temperature = a.temperature;
        s.do_sample = a.temperature > 0;
    }
    if (a.top_p > 0) s.top_p = a.top_p;
    if (a.top_k >= 0) s.top_k = a.top_k;
    if (a.repetition_penalty > 0) s.repetition_penalty = a.repetition_penalty;
    s.seed = a.seed;
    if (a.greedy) s.do_sample = false;
    return s;
}

/// `rt::detect` (resolution -> codec prompts -> model -> codec decode, boxes in the original frame) as
/// the command's JSON report; writes the annotated PNG when `png` is not empty.
nlohmann::json run_detect(const rt::vlm& v, const model_args& a, const image& original, const std::string& image_name,
                          const std::vector<std::string>& classes, const std::string& codec_key, const std::string& png,
                          const std::string& box_scores = "off", bool constrain = false) {
    auto codec = registry::make<box_codec::kind>(codec_key, nlohmann::json::object());
    box_codec::score_rule rule{};
    const bool scored = box_codec::parse_score_rule(box_scores, rule);
    const rt::detection d = rt::detect(v, original, *codec, classes, sampling(v, a),
                                       scored ? std::optional<box_codec::score_rule>(rule) : std::nullopt, constrain);
    const auto& plan = d.result.plan;
    nlohmann::json j = {{"image", image_name},
                        {"codec", codec_key},
                        {"classes", classes},
                        {"original_size", {{"width", original.width}, {"height", original.height}}},
                        {"resized_size", {{"width", plan.resized_width}, {"height", plan.resized_height}}},
                        {"grid_thw", plan.grid_thw},
                        {"prompt_tokens", d.output.prompt_tokens},
                        {"generated_tokens", d.output.tokens.size()},
                        {"finish_reason", d.output.finish_reason},
                        {"text", d.result.text},
                        {"objects", nlohmann::json(d.result.decoded)["objects"]},
                        {"dropped", d.result.decoded.dropped},
                        {"constrained", d.result.constrained},
                        {"timing", {{"prefill_s", d.output.prefill_seconds}, {"decode_s", d.output.decode_seconds}}}};
    if (!png.empty()) {
        image canvas = original;
        pipeline::draw_objects(canvas, d.result.decoded.objects, codec->kind());
        io::save_png(png, canvas);
        j["png"] = png;
    }
    return j;
}

/// Writes the tiny random model with the vocabulary and special ids of `tokenizer_path`, copying the
/// tokenizer files into `out`.
nlohmann::json write_tiny(const std::string& out, const std::string& tokenizer_path, std::uint64_t seed, bool nested,
                          std::uint64_t shard_bytes, bool bf16) {
    auto tok = tokenizer::bpe_tokenizer::from_file(tokenizer_path);
    auto id = [&](const char* t) -> std::int64_t {
        auto v = tok.token_to_id(t);
        if (!v) RSCOVLM_THROW(model_error, "tokenizer_mismatch", std::string("the tokenizer has no ") + t + " token");
        return *v;
    };
    std::vector<std::int64_t> eos = {id("<|im_end|>")};
    if (auto e = tok.token_to_id("<|endoftext|>")) eos.push_back(*e);
    rt::model_config cfg = rt::tiny_config(static_cast<int>(tok.vocab_size()), id("<|image_pad|>"),
                                           id("<|vision_start|>"), id("<|vision_end|>"), eos);
    cfg.video_token_id = tok.token_to_id("<|video_pad|>").value_or(cfg.video_token_id);
    cfg.text.tie_word_embeddings = true; // halves the file: the vocabulary is large, the model tiny
    rt::random_checkpoint_options o;
    o.seed = seed;
    o.layout = nested ? rt::name_layout::nested : rt::name_layout::flat;
    o.max_shard_bytes = shard_bytes;
    o.bf16 = bf16;
    o.generation.pad_token_id = eos.back();
    rt::write_random_checkpoint(out, cfg, o);
    fs::path src(tokenizer_path);
    std::error_code ec;
    if (fs::is_directory(src, ec)) src /= "tokenizer.json";
    fs::copy_file(src, fs::path(out) / "tokenizer.json", fs::copy_options::overwrite_existing, ec);
    if (ec) RSCOVLM_THROW(io_error, "write_failed", "cannot copy " + src.string() + " into " + out);
    fs::path cfg_json = src.parent_path() / "tokenizer_config.json";
    if (fs::exists(cfg_json, ec))
        fs::copy_file(cfg_json, fs::path(out) / "tokenizer_config.json", fs::copy_options::overwrite_existing, ec);
    auto est = rt::estimate_memory(cfg, bf16 ? 2 : 4, 0, 1);
    return {{"model", out},
            {"vocab_size", cfg.text.vocab_size},
            {"parameters", est.parameters},
            {"layout", nested ? "nested" : "flat"},
            {"dtype", bf16 ? "bfloat16" : "float32"}};
}

std::string default_tokenizer(const std::string& data_dir) {
    return data_dir + "/tokenizer/qwen/tokenizer.json";
}

/// A video input: frames (a directory of frame images or a frame list file, qwen-vl-utils' decoded-video
/// path unless `frames_as_list`) and the qwen-vl-utils `ele` fields.
struct video_spec {
    std::string path;
    std::optional<double> fps, nframes, min_frames, max_frames, source_fps, min_pixels, max_pixels, total_pixels;
    bool frames_as_list = false;
};

/// A video of a `--batch` request: a path, or an object {"path", "fps", "nframes", "min_frames",
/// "max_frames", "source_fps", "min_pixels", "max_pixels", "total_pixels", "frames_as_list"}.
video_spec parse_video_spec(const nlohmann::json& j) {
    video_spec v;
    if (j.is_string()) {
        v.path = j.get<std::string>();
        return v;
    }
    if (!j.is_object() || !j.contains("path") || !j.at("path").is_string())
        RSCOVLM_THROW(usage_error, "bad_request", "a video must be a path or an object with \"path\"");
    v.path = j.at("path").get<std::string>();
    auto num = [&](const char* k, std::optional<double>& out) {
        if (!j.contains(k)) return;
        if (!j.at(k).is_number())
            RSCOVLM_THROW(usage_error, "bad_request", std::string("video field \"") + k + "\" must be a number");
        out = j.at(k).get<double>();
    };
    static const std::set<std::string> known = {"path",         "fps",           "nframes",    "min_frames",
                                                "max_frames",   "source_fps",    "min_pixels", "max_pixels",
                                                "total_pixels", "frames_as_list"};
    for (const auto& kv : j.items())
        if (!known.count(kv.key()))
            RSCOVLM_THROW(usage_error, "bad_request", "unknown video field \"" + kv.key() + "\"");
    num("fps", v.fps);
    num("nframes", v.nframes);
    num("min_frames", v.min_frames);
    num("max_frames", v.max_frames);
    num("source_fps", v.source_fps);
    num("min_pixels", v.min_pixels);
    num("max_pixels", v.max_pixels);
    num("total_pixels", v.total_pixels);
    if (j.contains("frames_as_list")) {
        if (!j.at("frames_as_list").is_boolean())
            RSCOVLM_THROW(usage_error, "bad_request", "video field \"frames_as_list\" must be true or false");
        v.frames_as_list = j.at("frames_as_list").get<bool>();
    }
    return v;
}

/// Runs `spec` through qwen-vl-utils' `fetch_video` and the processor's video path.
resolution::video_result load_video(const video_spec& spec) {
    io::video_load_options o;
    o.input = spec.frames_as_list ? resolution::video_input::frame_list : resolution::video_input::decoded;
    if (spec.fps) o.video.frames.fps = *spec.fps;
    if (spec.nframes) o.video.frames.nframes = static_cast<int>(*spec.nframes);
    if (spec.min_frames) o.video.frames.min_frames = *spec.min_frames;
    if (spec.max_frames) o.video.frames.max_frames = *spec.max_frames;
    if (spec.source_fps) o.source_fps = *spec.source_fps;
    if (spec.min_pixels) o.video.min_pixels = *spec.min_pixels;
    if (spec.max_pixels) o.video.max_pixels = *spec.max_pixels;
    if (spec.total_pixels) o.video.total_pixels = static_cast<long long>(*spec.total_pixels);
    return io::load_video(spec.path, o);
}

/// One request of `generate --batch`: `prompt` (+ `images`, `videos`, `system`) or HF `messages` whose
/// `{"type":"image"}` / `{"type":"video"}` items take `images` / `videos` in order; optional
/// `max_new_tokens`, `temperature`, `top_p`, `top_k`, `seed`, `stop` (strings) and `id` (echoed).
struct batch_request {
    nlohmann::json messages;
    std::vector<std::string> images;
    std::vector<video_spec> videos;
    rt::sampling_options sampling;
    std::vector<std::string> stop;
    nlohmann::json id;
};

batch_request parse_batch_request(const nlohmann::json& in, const rt::sampling_options& base) {
    if (!in.is_object()) RSCOVLM_THROW(usage_error, "bad_request", "a request must be a JSON object");
    batch_request r;
    r.sampling = base;
    if (in.contains("id")) r.id = in.at("id");
    if (in.contains("images")) r.images = in.at("images").get<std::vector<std::string>>();
    if (in.contains("videos")) {
        if (!in.at("videos").is_array()) RSCOVLM_THROW(usage_error, "bad_request", "\"videos\" must be an array");
        for (const auto& v : in.at("videos"))
            r.videos.push_back(parse_video_spec(v));
    }
    if (in.contains("messages")) {
        r.messages = in.at("messages");
        if (!r.messages.is_array()) RSCOVLM_THROW(usage_error, "bad_request", "\"messages\" must be an array");
    } else {
        if (!in.contains("prompt") || !in.at("prompt").is_string())
            RSCOVLM_THROW(usage_error, "bad_request", "a request needs \"prompt\" (a string) or \"messages\"");
        nlohmann::json content = nlohmann::json::array();
        for (std::size_t i = 0; i < r.images.size(); ++i)
            content.push_back({{"type", "image"}});
        for (std::size_t i = 0; i < r.videos.size(); ++i)
            content.push_back({{"type", "video"}});
        content.push_back({{"type", "text"}, {"text", in.at("prompt")}});
        r.messages = nlohmann::json::array();
        if (in.contains("system")) r.messages.push_back({{"role", "system"}, {"content", in.at("system")}});
        r.messages.push_back({{"role", "user"}, {"content", content}});
    }
    if (in.contains("max_new_tokens")) r.sampling.max_new_tokens = in.at("max_new_tokens").get<int>();
    if (in.contains("temperature")) {
        r.sampling.temperature = in.at("temperature").get<double>();
        r.sampling.do_sample = r.sampling.temperature > 0;
    }
    if (in.contains("top_p")) r.sampling.top_p = in.at("top_p").get<double>();
    if (in.contains("top_k")) r.sampling.top_k = in.at("top_k").get<int>();
    if (in.contains("seed")) r.sampling.seed = in.at("seed").get<unsigned long long>();
    if (in.contains("stop")) r.stop = in.at("stop").get<std::vector<std::string>>();
    return r;
}

nlohmann::json output_json(const rt::vlm_output& r) {
    return {{"text", r.text},
            {"tokens", r.tokens},
            {"prompt_tokens", r.prompt_tokens},
            {"finish_reason", r.finish_reason},
            {"timing", {{"prefill_s", r.prefill_seconds}, {"decode_s", r.decode_seconds}}}};
}

/// `generate --batch FILE`: every request of the file through one batch engine, `in_flight` at once
/// (greedy ones share batches); one JSON line per request, in order. Returns the number that failed.
std::size_t generate_batch(rt::vlm v, const model_args& a, const std::string& file, int max_batch, int in_flight,
                           context& ctx) {
    const std::vector<json_file_value> values = read_json_values(file, "batch file");
    const rt::sampling_options base = sampling(v, a);
    rt::batch_engine engine(std::move(v), static_cast<std::size_t>(std::max(1, max_batch)));
    std::vector<nlohmann::json> out(values.size());
    std::atomic<std::size_t> next{0}, failed{0};
    std::mutex bar_mu;
    progress bar(ctx, "generate", values.size());
    auto work = [&] {
        for (std::size_t i = next++; i < values.size(); i = next++) {
            const auto& val = values[i];
            auto r = try_call([&] {
                if (val.value.is_discarded())
                    RSCOVLM_THROW(usage_error, "bad_json",
                                  "'" + file + "' line " + std::to_string(val.line) + ": not valid JSON");
                const batch_request q = parse_batch_request(val.value, base);
                std::vector<image> imgs;
                for (const auto& f : q.images)
                    imgs.push_back(io::load_image(f));
                std::vector<resolution::video_result> vids;
                for (const auto& f : q.videos)
                    vids.push_back(load_video(f));
                const rt::vlm_output o = engine.run(
                    engine.model().prepare(q.messages, imgs, false, std::move(vids)).input, q.sampling, q.stop);
                nlohmann::json j = output_json(o);
                if (!q.id.is_null()) j["id"] = q.id;
                return j;
            });
            if (r.ok()) {
                out[i] = std::move(r.value());
            } else {
                out[i] = {{"error", "[" + r.error().id + "] " + r.error().message}};
                ++failed;
            }
            std::lock_guard<std::mutex> lock(bar_mu);
            bar.tick();
        }
    };
    const std::size_t workers = std::min<std::size_t>(values.size(), static_cast<std::size_t>(std::max(1, in_flight)));
    std::vector<std::thread> pool;
    for (std::size_t k = 1; k < workers; ++k)
        pool.emplace_back(work);
    work();
    for (auto& t : pool)
        t.join();
    bar.done();
    for (const auto& j : out)
        (*ctx.out) << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return failed;
}

} // namespace

void register_torch(CLI::App& app, context& ctx) {
    register_train(app, ctx);
    // ---------------------------------------------------------------- generate
    {
        auto a = std::make_shared<model_args>();
        auto images = std::make_shared<std::vector<std::string>>();
        auto prompt = std::make_shared<std::string>();
        auto system = std::make_shared<std::string>();
        auto stream = std::make_shared<bool>(false);
        auto json = std::make_shared<bool>(false);
        auto* cmd = app.add_subcommand(torch_commands[0].name, torch_commands[0].description);
        add_model_options(cmd, *a);
        cmd->add_option("--image", *images, "Image file (repeat for several; they come before the prompt)");
        auto video = std::make_shared<video_spec>();
        auto videos = std::make_shared<std::vector<std::string>>();
        cmd->add_option(
            "--video", *videos,
            "Video frames: a directory of frame images or a frame list file (.txt/.list/.lst, '# fps = F'); "
            "repeat for several; they come after the images, before the prompt");
        cmd->add_option("--video-fps", video->fps, "Videos: sampling fps (qwen-vl-utils ele['fps'], default 2)");
        cmd->add_option("--video-nframes", video->nframes, "Videos: explicit frame count instead of --video-fps");
        cmd->add_option("--video-min-frames", video->min_frames, "Videos: ele['min_frames'] (default 4)");
        cmd->add_option("--video-max-frames", video->max_frames,
                        "Videos: ele['max_frames'] (default min(768, total frames))");
        cmd->add_option("--video-source-fps", video->source_fps,
                        "Videos: fps of the frames (overrides a list file's '# fps = F' line)");
        cmd->add_option("--video-min-pixels", video->min_pixels, "Videos: ele['min_pixels'] (default 128*28*28)");
        cmd->add_option("--video-max-pixels", video->max_pixels, "Videos: ele['max_pixels'] (default 768*28*28)");
        cmd->add_option("--video-total-pixels", video->total_pixels, "Videos: ele['total_pixels']");
        cmd->add_flag("--video-frames-as-list", video->frames_as_list,
                      "Videos: pass the frames as a list of images (qwen-vl-utils list path: no sampling)");
        cmd->add_option("--prompt", *prompt, "User prompt (required without --batch)");
        cmd->add_option("--system", *system, "System prompt (default: the chat template's)");
        cmd->add_flag("--stream", *stream, "Print the answer while it is generated");
        cmd->add_flag("--json", *json, "Print a JSON object (text, tokens, timing) instead of the text");
        auto batch = std::make_shared<std::string>();
        auto max_batch = std::make_shared<int>(8);
        auto in_flight = std::make_shared<int>(8);
        cmd->add_option("--batch", *batch,
                        "JSON Lines (or a JSON array) of requests {\"prompt\"|\"messages\", \"images\", \"videos\" "
                        "(paths or {\"path\", \"fps\", \"nframes\", \"min_frames\", \"max_frames\", \"source_fps\", "
                        "\"min_pixels\", \"max_pixels\", "
                        "\"total_pixels\", \"frames_as_list\"}), \"system\", "
                        "\"max_new_tokens\", \"temperature\", \"top_p\", \"top_k\", \"seed\", \"stop\", \"id\"}: "
                        "answered together (greedy requests batched), one JSON line each, in order");
        cmd->add_option("--max-batch", *max_batch, "--batch: most sequences decoded together")
            ->check(CLI::PositiveNumber)
            ->capture_default_str();
        cmd->add_option("--in-flight", *in_flight, "--batch: requests submitted at once")
            ->check(CLI::PositiveNumber)
            ->capture_default_str();
        cmd->callback([&ctx, a, images, videos, video, prompt, system, stream, json, batch, max_batch, in_flight] {
            if (!batch->empty()) {
                if (!prompt->empty() || !images->empty() || !videos->empty() || *stream)
                    RSCOVLM_THROW(usage_error, "batch_conflict", "--batch takes its prompts and images from the file");
                if (generate_batch(load_vlm(*a, ctx), *a, *batch, *max_batch, *in_flight, ctx) > 0) ctx.exit_code = 1;
                return;
            }
            if (prompt->empty()) RSCOVLM_THROW(usage_error, "no_prompt", "generate needs --prompt or --batch");
            rt::vlm v = load_vlm(*a, ctx);
            std::vector<image> imgs;
            nlohmann::json content = nlohmann::json::array();
            for (const auto& f : *images) {
                imgs.push_back(io::load_image(f));
                content.push_back({{"type", "image"}});
            }
            std::vector<resolution::video_result> vids;
            for (const auto& f : *videos) {
                video_spec spec = *video;
                spec.path = f;
                vids.push_back(load_video(spec));
                content.push_back({{"type", "video"}});
            }
            content.push_back({{"type", "text"}, {"text", *prompt}});
            nlohmann::json messages = nlohmann::json::array();
            if (!system->empty()) messages.push_back({{"role", "system"}, {"content", *system}});
            messages.push_back({{"role", "user"}, {"content", content}});
            std::ostream& out = *ctx.out;
            std::function<void(const std::string&)> on_text;
            if (*stream && !*json)
                on_text = [&out](const std::string& piece) {
                    out << piece;
                    out.flush();
                };
            rt::vlm_output r =
                v.generate(v.prepare(messages, imgs, false, std::move(vids)).input, sampling(v, *a), {}, on_text);
            if (*json) {
                out << output_json(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
            } else if (*stream) {
                out << "\n";
            } else {
                out << r.text << "\n";
            }
        });
    }
    // ---------------------------------------------------------------- detect
    {
        auto a = std::make_shared<model_args>();
        auto img = std::make_shared<std::string>();
        auto classes = std::make_shared<std::string>();
        auto format = std::make_shared<std::string>("quad");
        auto codec = std::make_shared<std::string>();
        auto png = std::make_shared<std::string>();
        auto box_scores = std::make_shared<std::string>("off");
        auto constrain = std::make_shared<bool>(false);
        auto* cmd = app.add_subcommand(torch_commands[1].name, torch_commands[1].description);
        add_model_options(cmd, *a);
        a->greedy = true;
        cmd->add_option("--image", *img, "Image file")->required();
        cmd->add_option("--classes", *classes, "Comma-separated class names, e.g. \"plane, ship\"")->required();
        cmd->add_option("--format", *format, "Box format of the RSCoVLM plain-text codec")
            ->check(CLI::IsMember({"quad", "hbb", "obb"}))
            ->capture_default_str();
        cmd->add_option("--codec", *codec, "Any box codec key instead of --format (e.g. codec.obb.json)");
        cmd->add_option("--png", *png, "Write the image annotated with the detections here");
        cmd->add_option("--box-scores", *box_scores,
                        "Score each box from its tokens' log-probabilities: mean (geometric mean) or product")
            ->check(CLI::IsMember({"off", "mean", "product"}))
            ->capture_default_str();
        cmd->add_flag("--constrain", *constrain,
                      "Constrained decoding with the codec's grammar (plain codecs): the answer always parses");
        cmd->callback([&ctx, a, img, classes, format, codec, png, box_scores, constrain] {
            auto cls = split_list(*classes);
            if (cls.empty()) RSCOVLM_THROW(usage_error, "no_classes", "--classes names no class");
            const std::string key = codec->empty() ? "codec." + *format + ".plain" : *codec;
            image original = io::load_image(*img);
            rt::vlm v = load_vlm(*a, ctx);
            nlohmann::json j = run_detect(v, *a, original, *img, cls, key, *png, *box_scores, *constrain);
            (*ctx.out) << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        });
    }
    // ---------------------------------------------------------------- tiny-model
    {
        auto out = std::make_shared<std::string>();
        auto tok = std::make_shared<std::string>();
        auto seed = std::make_shared<unsigned long long>(0);
        auto layout = std::make_shared<std::string>("flat");
        auto shard = std::make_shared<unsigned long long>(0);
        auto bf16 = std::make_shared<bool>(false);
        auto* cmd = app.add_subcommand(torch_commands[2].name, torch_commands[2].description);
        cmd->add_option("--out", *out, "Directory to write")->required();
        cmd->add_option("--tokenizer", *tok,
                        "tokenizer.json whose vocabulary and special ids the model uses (default: bundled)");
        cmd->add_option("--seed", *seed, "Random seed")->capture_default_str();
        cmd->add_option("--layout", *layout,
                        "Tensor names: flat (visual.*, model.*) or nested (model.visual.*, model.language_model.*)")
            ->check(CLI::IsMember({"flat", "nested"}))
            ->capture_default_str();
        cmd->add_option("--shard-bytes", *shard,
                        "Shard the weights into files of at most this many bytes (0: one file)");
        cmd->add_flag("--bf16", *bf16, "Store the weights as bfloat16");
        cmd->callback([&ctx, out, tok, seed, layout, shard, bf16] {
            const std::string t = tok->empty() ? default_tokenizer(ctx.data_dir) : *tok;
            (*ctx.out) << write_tiny(*out, t, *seed, *layout == "nested", *shard, *bf16).dump() << "\n";
        });
    }
    // ---------------------------------------------------------------- zoom backend
    hooks().make_torch_backend = [](const std::string& model_dir,
                                    const std::string& device) -> std::unique_ptr<zoom::backend> {
        // Through the registry: backends of one model share it and batch their requests (bench --in-flight).
        rt::set_compute_threads(available_cores(), blas_bound(device.empty() ? "cpu" : device, "auto"));
        return registry::make<rt::backend_kind>("backend.torch.qwen2_5_vl",
                                                {{"model", model_dir}, {"device", device.empty() ? "cpu" : device}});
    };
    hooks().torch_components = [] { return registry::describe<rt::backend_kind>(); };
    hooks().demo_torch = demo_torch;
}

void demo_torch(demo_context& d) {
    const std::string dir = (fs::path(d.out_dir) / "tiny-model").string();
    const std::string tok = d.tokenizer_path.empty() ? default_tokenizer(d.data_dir) : d.tokenizer_path;
    auto info = write_tiny(dir, tok, 0, false, 0, false);
    d.out << "Wrote a tiny random Qwen2.5-VL (" << info["parameters"].get<std::uint64_t>() << " parameters) to " << dir
          << "\n";
    image img;
#ifdef RSCOVLM_CLI_HAS_SCENES
    if (!d.scenes.empty()) img = d.scenes.front().image;
#endif
    if (img.width == 0) {
        img = image(224, 224, 3);
        for (int y = 0; y < 224; ++y)
            for (int x = 0; x < 224; ++x)
                for (int c = 0; c < 3; ++c)
                    img.at(x, y, c) = static_cast<std::uint8_t>((x * (c + 1) + y * (3 - c)) & 255);
    }
    model_args a;
    a.model = dir;
    a.greedy = true;
    a.max_new_tokens = 32;
    a.max_pixels = 448LL * 448;
    context quiet_ctx;
    quiet_ctx.quiet = true;
    rt::vlm v = load_vlm(a, quiet_ctx);
    const std::string png = (fs::path(d.out_dir) / "torch_detect.png").string();
    auto j = run_detect(v, a, img, "scene", {"plane", "ship", "storage-tank"}, "codec.quad.plain", png);
    d.out << "rscovlm detect on a " << img.width << "x" << img.height << " image: resized to "
          << j["resized_size"]["width"] << "x" << j["resized_size"]["height"] << ", " << j["prompt_tokens"]
          << " prompt tokens, " << j["generated_tokens"] << " generated, " << j["objects"].size()
          << " boxes decoded (random weights: the text is noise), "
          << "annotated image " << png << "\n";
}

} // namespace rscovlm::cli
