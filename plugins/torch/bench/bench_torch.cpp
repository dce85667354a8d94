// Prefill and decode throughput and peak memory of the LibTorch Qwen2.5-VL.
//
//   bench_torch [--size tiny|7b] [--model DIR] [--device cpu|cuda] [--dtype float32|bfloat16|float16]
//               [--prompt N] [--image HxW] [--new N] [--batch B] [--repeat R] [--threads T] [--ids FILE]
//
// --size tiny (default) runs the tiny random model (written to a temporary directory through the
// safetensors writer and loaded like a checkpoint); --size 7b builds a Qwen2.5-VL-7B-shaped model with
// random weights directly on the device (no file); --model DIR loads a real checkpoint. Prints one JSON
// line per run (with the mean decode step time of the first and last quarter of the steps and their
// ratio); no timing assertions. --threads: threads for the arithmetic (default: the cores), split between
// ATen and OpenBLAS as the CLI does (`set_compute_threads`; `threads` and `blas_threads` in the output). --ids FILE:
// the prompts as a JSON array of rows, each its token ids or {"input_ids", "grid_thw", "pixels": a raw float32
// [patches, patch_dim] file} (--image, --prompt and --batch are then ignored), and the
// greedy ids of every row are printed too (`compare_transformers.py` runs the reference on the same ids).
// --image 0x0: no image. --map-weights 1: map the weights (`load_options::map_weights`) instead of reading them into
// owned memory. `load_s` is the checkpoint load
// time (0 for --size 7b, built in memory).
#include <rscovlm/torch/generate.hpp>
#include <rscovlm/torch/model.hpp>
#include <rscovlm/torch/threads.hpp>
#include <rscovlm/torch/tiny.hpp>

#include <nlohmann/json.hpp>

#include <ATen/Parallel.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace rt = rscovlm::torch;

namespace {

/// Peak resident set size in MiB (Linux VmHWM), -1 elsewhere.
double peak_rss_mib() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
    return -1.0;
}

rt::qwen2_5_vl random_model(const rt::model_config& cfg, at::ScalarType dt, c10::Device dev) {
    std::unordered_map<std::string, at::Tensor> w;
    at::manual_seed(0);
    for (const auto& s : rt::expected_weights(cfg)) {
        if (s.optional) continue;
        const bool norm = s.name.find("norm") != std::string::npos || s.name.find("ln_q") != std::string::npos;
        auto opt = at::TensorOptions().dtype(dt).device(dev);
        w[s.name] = norm ? at::ones(s.shape, opt) : at::randn(s.shape, opt) * 0.02;
    }
    return rt::qwen2_5_vl::from_weights(cfg, std::move(w));
}

} // namespace

int main(int argc, char** argv) {
    std::string size = "tiny", model_dir, device = "cpu", dtype = "float32", ids_file;
    bool map_weights = false;
    int prompt = 128, new_tokens = 32, batch = 1, repeat = 2, img_h = 224, img_w = 224, threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--size")
            size = v;
        else if (k == "--model")
            model_dir = v;
        else if (k == "--device")
            device = v;
        else if (k == "--dtype")
            dtype = v;
        else if (k == "--prompt")
            prompt = std::stoi(v);
        else if (k == "--new")
            new_tokens = std::stoi(v);
        else if (k == "--batch")
            batch = std::stoi(v);
        else if (k == "--repeat")
            repeat = std::stoi(v);
        else if (k == "--threads")
            threads = std::stoi(v);
        else if (k == "--ids")
            ids_file = v;
        else if (k == "--map-weights")
            map_weights = v != "0";
        else if (k == "--image") {
            auto x = v.find('x');
            img_h = std::stoi(v.substr(0, x));
            img_w = std::stoi(v.substr(x + 1));
        } else {
            std::fprintf(stderr, "unknown option %s\n", k.c_str());
            return 2;
        }
    }
    // As the CLI: the cores available unless --threads says otherwise.
    const auto dd0 = rt::resolve_device(device, dtype);
    const rt::thread_setup ts = rt::set_compute_threads(
        threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())),
        dd0.first.is_cpu() && dd0.second == at::kFloat && !rt::ops::sdpa_enabled());
    ::torch::NoGradGuard ng;
    auto dd = rt::resolve_device(device, dtype);
    rt::qwen2_5_vl model;
    std::filesystem::path tmp;
    double load_s = 0.0;
    if (!model_dir.empty()) {
        rt::load_options o;
        o.device = device;
        o.dtype = dtype;
        o.map_weights = map_weights;
        const auto t0 = std::chrono::steady_clock::now();
        model = rt::qwen2_5_vl::load(model_dir, o);
        load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } else if (size == "7b") {
        model = random_model(rt::model_config{}, dd.second, dd.first);
    } else {
        tmp = std::filesystem::temp_directory_path() / "rscovlm_bench_tiny";
        rt::write_random_checkpoint(tmp.string(), rt::tiny_config(), {});
        rt::load_options o;
        o.device = device;
        o.dtype = dtype;
        model = rt::qwen2_5_vl::load(tmp.string(), o);
    }
    const auto& cfg = model.config();
    // One image of img_h x img_w pixels (rounded down to the 28-pixel grid) plus `prompt` text tokens.
    const std::int64_t f = static_cast<std::int64_t>(cfg.vision.patch_size) * cfg.vision.spatial_merge_size;
    const std::int64_t gh = std::max<std::int64_t>(1, img_h / f) * cfg.vision.spatial_merge_size;
    const std::int64_t gw = std::max<std::int64_t>(1, img_w / f) * cfg.vision.spatial_merge_size;
    std::mt19937 rng(1);
    std::normal_distribution<float> px;
    std::vector<rt::sequence_input> seqs;
    std::int64_t ids_image_tokens = 0; // per row, with --ids
    if (!ids_file.empty()) {
        std::ifstream in(ids_file);
        const auto rows = nlohmann::json::parse(in);
        std::int64_t image_tokens = 0;
        for (const auto& r : rows) {
            rt::sequence_input s;
            if (r.is_array()) {
                s.input_ids = r.get<std::vector<std::int64_t>>();
            } else {
                // {"input_ids", "grid_thw": [[t, h, w], ...], "pixels": raw float32 [patches, patch_dim] file}
                s.input_ids = r.at("input_ids").get<std::vector<std::int64_t>>();
                s.grid_thw = r.at("grid_thw").get<std::vector<std::array<std::int64_t, 3>>>();
                std::ifstream px_in(r.at("pixels").get<std::string>(), std::ios::binary);
                px_in.seekg(0, std::ios::end);
                s.pixel_values.resize(static_cast<std::size_t>(px_in.tellg()) / sizeof(float));
                px_in.seekg(0);
                px_in.read(reinterpret_cast<char*>(s.pixel_values.data()),
                           static_cast<std::streamsize>(s.pixel_values.size() * sizeof(float)));
                for (const auto& g : s.grid_thw)
                    image_tokens += g[0] * g[1] * g[2] / 4;
            }
            seqs.push_back(std::move(s));
        }
        batch = static_cast<int>(seqs.size());
        img_h = img_w = 0;
        ids_image_tokens = image_tokens / std::max(1, batch);
    } else {
        seqs.resize(static_cast<std::size_t>(batch));
    }
    for (auto& s : seqs) {
        if (!ids_file.empty()) break;
        if (img_h <= 0 || img_w <= 0) {
            for (int i = 0; i < prompt; ++i)
                s.input_ids.push_back(3 + static_cast<std::int64_t>(rng() % 300));
            continue;
        }
        s.input_ids.push_back(cfg.vision_start_token_id);
        for (std::int64_t i = 0; i < gh * gw / 4; ++i)
            s.input_ids.push_back(cfg.image_token_id);
        s.input_ids.push_back(cfg.vision_end_token_id);
        for (int i = 0; i < prompt; ++i)
            s.input_ids.push_back(3 + static_cast<std::int64_t>(rng() % 300));
        s.pixel_values.resize(static_cast<std::size_t>(gh * gw * cfg.vision.patch_dim()));
        for (auto& v : s.pixel_values)
            v = px(rng);
        s.grid_thw = {{1, gh, gw}};
    }
    rt::sampling_options o;
    o.max_new_tokens = new_tokens;
    for (int r = 0; r < repeat; ++r) {
        // Decode step times from the token callback of row 0 (one call per step): the mean of the first
        // and of the last quarter of the steps; their ratio shows whether a step's cost grows with the
        // steps before it beyond attention over the longer context.
        std::vector<std::chrono::steady_clock::time_point> marks;
        auto g = rt::generate(model, seqs, o, [&](std::size_t row, std::int64_t) {
            if (row == 0) marks.push_back(std::chrono::steady_clock::now());
            return true;
        });
        std::vector<double> steps;
        for (std::size_t i = 1; i < marks.size(); ++i)
            steps.push_back(std::chrono::duration<double>(marks[i] - marks[i - 1]).count());
        const std::size_t q = std::max<std::size_t>(1, steps.size() / 4);
        auto mean = [](auto b, auto e) {
            return e == b ? 0.0 : std::accumulate(b, e, 0.0) / static_cast<double>(e - b);
        };
        const double first = steps.empty() ? 0.0 : mean(steps.begin(), steps.begin() + static_cast<long>(q));
        const double last = steps.empty() ? 0.0 : mean(steps.end() - static_cast<long>(q), steps.end());
        double prompt_tokens = 0;
        for (const auto& s : seqs)
            prompt_tokens += static_cast<double>(s.input_ids.size());
        const bool image = img_h > 0 && img_w > 0;
        std::printf(
            "{\"size\":\"%s\",\"device\":\"%s\",\"dtype\":\"%s\",\"batch\":%d,\"prompt_tokens\":%.0f,"
            "\"image_tokens\":%lld,\"new_tokens\":%lld,\"prefill_s\":%.4f,\"prefill_tok_s\":%.1f,"
            "\"decode_s\":%.4f,\"decode_tok_s\":%.1f,\"step_first_ms\":%.2f,\"step_last_ms\":%.2f,"
            "\"step_growth\":%.3f,\"threads\":%d,\"blas_threads\":%d,\"peak_rss_mib\":%.1f,\"load_s\":%.4f,\"run\":%d",
            model_dir.empty() ? size.c_str() : model_dir.c_str(), device.c_str(), dtype.c_str(), batch, prompt_tokens,
            static_cast<long long>(image ? gh * gw / 4 : ids_image_tokens), static_cast<long long>(g.decode_steps + 1),
            g.prefill_seconds, prompt_tokens / g.prefill_seconds, g.decode_seconds,
            g.decode_steps > 0 ? static_cast<double>(g.decode_steps) * batch / g.decode_seconds : 0.0, first * 1e3,
            last * 1e3, first > 0 ? last / first : 0.0, at::get_num_threads(), ts.blas, peak_rss_mib(), load_s, r);
        if (!ids_file.empty()) std::printf(",\"tokens\":%s", nlohmann::json(g.tokens).dump().c_str());
        std::printf("}\n");
        std::fflush(stdout);
    }
    if (!tmp.empty()) std::filesystem::remove_all(tmp);
    return 0;
}
