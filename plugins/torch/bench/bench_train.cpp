// Training throughput of rscovlm::torch::train::trainer: step time, tokens/s and peak memory of full
// optimizer steps (forward, loss, backward, clipping, AdamW) on a random Qwen2.5-VL.
//
//   bench_train [--size tiny|mid] [--device cpu|cuda] [--batch B] [--text N] [--image HxW] [--steps S]
//               [--ga G] [--checkpointing 0|1] [--lora 0|1] [--threads T]
//
// --size tiny: the tiny test model (2 vision blocks, 2 decoder layers, vocab 512); --size mid: a
// 0.1B-parameter Qwen2.5-VL shape (vision 8 x 256, text 8 x 512, vocab 32000). The checkpoint is
// written to a temporary directory and loaded as `rscovlm train` loads one. Each micro-batch holds B
// samples of one image plus N text tokens, all supervised. Prints one JSON line; no assertions.
#include <rscovlm/torch/tiny.hpp>
#include <rscovlm/torch/train/trainer.hpp>

#include <torch/types.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace rt = rscovlm::torch;
namespace tr = rscovlm::torch::train;

namespace {

double peak_rss_mib() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
    return -1.0;
}

rt::model_config mid_config() {
    rt::model_config c = rt::tiny_config(32000, 31990);
    c.vision.depth = 8;
    c.vision.hidden_size = 256;
    c.vision.num_heads = 4;
    c.vision.intermediate_size = 512;
    c.vision.out_hidden_size = 512;
    c.vision.window_size = 112;
    c.vision.fullatt_block_indexes = {3, 7};
    c.text.hidden_size = 512;
    c.text.intermediate_size = 1408;
    c.text.num_hidden_layers = 8;
    c.text.num_attention_heads = 8;
    c.text.num_key_value_heads = 2;
    c.text.mrope_section = {8, 12, 12};
    return c;
}

tr::micro_batch synthetic(const rt::model_config& cfg, int batch, int text, int gh, int gw) {
    std::vector<tr::example> xs;
    for (int b = 0; b < batch; ++b) {
        tr::example e;
        e.input_ids.push_back(static_cast<std::int32_t>(cfg.vision_start_token_id));
        for (int i = 0; i < gh * gw / 4; ++i)
            e.input_ids.push_back(static_cast<std::int32_t>(cfg.image_token_id));
        e.input_ids.push_back(static_cast<std::int32_t>(cfg.vision_end_token_id));
        for (int i = 0; i < text; ++i)
            e.input_ids.push_back(static_cast<std::int32_t>(3 + (i * 7 + b) % 200));
        e.labels.assign(e.input_ids.size(), -100);
        for (std::size_t i = e.input_ids.size() - static_cast<std::size_t>(text); i < e.input_ids.size(); ++i)
            e.labels[i] = e.input_ids[i];
        for (auto& p : e.position_ids)
            for (std::size_t i = 0; i < e.input_ids.size(); ++i)
                p.push_back(static_cast<std::int64_t>(i));
        e.grid_thw.push_back({1, gh, gw});
        e.pixel_values.resize(static_cast<std::size_t>(gh * gw) * 1176);
        for (std::size_t i = 0; i < e.pixel_values.size(); ++i)
            e.pixel_values[i] = static_cast<float>((i * 2654435761u) % 1000) / 500.0f - 1.0f;
        e.index = b;
        xs.push_back(std::move(e));
    }
    return tr::collate(xs, 0);
}

/// The same micro-batch at every position (one epoch of `n`).
struct synthetic_source : tr::data_source {
    synthetic_source(tr::micro_batch b, std::size_t n) : m_b(std::move(b)), m_n(n) {}
    std::size_t batches(std::int64_t) const override { return m_n; }
    tr::micro_batch get(std::int64_t, std::size_t) const override { return m_b; }
    tr::micro_batch m_b;
    std::size_t m_n;
};

} // namespace

int main(int argc, char** argv) {
    std::string size = "tiny", device = "cpu";
    int batch = 2, text = 256, steps = 4, ga = 1, threads = 0, img_h = 224, img_w = 224;
    bool checkpointing = false, lora = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i], v = argv[i + 1];
        if (k == "--size")
            size = v;
        else if (k == "--device")
            device = v;
        else if (k == "--batch")
            batch = std::stoi(v);
        else if (k == "--text")
            text = std::stoi(v);
        else if (k == "--steps")
            steps = std::stoi(v);
        else if (k == "--ga")
            ga = std::stoi(v);
        else if (k == "--threads")
            threads = std::stoi(v);
        else if (k == "--checkpointing")
            checkpointing = v == "1";
        else if (k == "--lora")
            lora = v == "1";
        else if (k == "--image") {
            const auto x = v.find('x');
            img_h = std::stoi(v.substr(0, x));
            img_w = std::stoi(v.substr(x + 1));
        } else {
            std::fprintf(stderr, "unknown option %s\n", k.c_str());
            return 2;
        }
    }
    const rt::model_config cfg = size == "mid" ? mid_config() : rt::tiny_config();
    const auto dir = std::filesystem::temp_directory_path() / ("rscovlm_bench_train_" + size);
    rt::write_random_checkpoint(dir.string(), cfg, {});
    tr::train_config c;
    c.model_name_or_path = dir.string();
    c.micro_batches = "(synthetic)"; // never read: the data source below is given to train()
    c.device = device;
    c.threads = threads; // 0: LibTorch's choice
    c.optimizer.learning_rate = 1e-5;
    c.gradient_accumulation_steps = ga;
    c.max_steps = steps + 1; // one warm-up step, not timed
    c.lr_scheduler_type = "constant";
    c.gradient_checkpointing = checkpointing;
    c.freeze_merger = false;
    c.save_steps = 0;
    c.resume = false;
    if (lora) {
        c.lora_enable = true;
        c.freeze_language = true;
    }
    const int f = cfg.vision.patch_size * cfg.vision.spatial_merge_size;
    const int gh = std::max(1, img_h / f) * cfg.vision.spatial_merge_size;
    const int gw = std::max(1, img_w / f) * cfg.vision.spatial_merge_size;
    const tr::micro_batch mb = synthetic(cfg, batch, text, gh, gw);
    const auto src = std::make_shared<synthetic_source>(mb, static_cast<std::size_t>((steps + 1) * ga));
    tr::process_group pg;
    const auto t0 = std::chrono::steady_clock::now();
    tr::trainer t(c, pg);
    const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::int64_t params = 0, trainable = 0;
    for (const auto& [n, p] : t.named_parameters())
        params += p.numel();
    for (const auto& [n, p] : t.trained_parameters())
        trainable += p.requires_grad() ? p.numel() : 0;
    auto res = t.train({}, src);
    std::vector<double> secs;
    std::int64_t tokens = 0;
    for (std::size_t i = 1; i < res.history.size(); ++i) {
        secs.push_back(res.history[i].seconds);
        tokens += res.history[i].tokens;
    }
    double total = 0;
    for (double v : secs)
        total += v;
    std::sort(secs.begin(), secs.end());
    const double median = secs.empty() ? 0.0 : secs[secs.size() / 2];
    nlohmann::ordered_json out;
    out["size"] = size;
    out["device"] = device;
    out["threads"] = at::get_num_threads();
    out["parameters"] = params;
    out["trainable"] = trainable;
    out["batch"] = batch;
    out["gradient_accumulation_steps"] = ga;
    out["tokens_per_step"] = secs.empty() ? 0 : tokens / static_cast<std::int64_t>(secs.size());
    out["image_grid"] = {gh, gw};
    out["checkpointing"] = checkpointing;
    out["lora"] = lora;
    out["load_s"] = load_s;
    out["step_ms_median"] = median * 1000.0;
    out["tokens_per_s"] = total > 0 ? static_cast<double>(tokens) / total : 0.0;
    out["peak_rss_mib"] = peak_rss_mib();
    std::cout << out.dump() << std::endl;
    std::filesystem::remove_all(dir);
    return 0;
}
