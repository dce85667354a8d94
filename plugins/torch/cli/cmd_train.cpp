// `rscovlm train`: RSCoVLM's fine-tuning of Qwen2.5-VL (rscovlm::torch::train::trainer) from a JSON
// configuration whose keys are the reference's training arguments, on one process or many (torchrun /
// Slurm variables: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT). Part of `rscovlm-torch`.
//
//   rscovlm train --config recipe.json --set output_dir=runs/a --set max_steps=100
//   rscovlm train --preset rscovlm-detection-7b --set model_name_or_path=Qwen2.5-VL-7B --set shards=out/shards
//   torchrun --nproc_per_node 8 rscovlm-torch train --config recipe.json    (or any launcher setting the variables)
#include <rscovlm/torch/train/trainer.hpp>

#include "../../../examples/rscovlm/cli.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

namespace rscovlm::cli {

namespace {

namespace tr = rscovlm::torch::train;
namespace fs = std::filesystem;

struct train_args {
    std::string config, preset;
    std::vector<std::string> sets;
};

/// A training preset: a file, or `registry/presets/train/<name>.json`; its "train" object (or the whole
/// file) is the configuration.
nlohmann::json load_train_config(const train_args& a, const context& ctx) {
    std::string path = a.config;
    if (!a.preset.empty()) {
        if (!path.empty()) RSCOVLM_THROW(usage_error, "conflicting_options", "give --config or --preset, not both");
        path = a.preset;
        if (!fs::is_regular_file(path)) {
#ifdef RSCOVLM_PRESETS_DIR
            const fs::path bundled = fs::path(RSCOVLM_PRESETS_DIR) / "train" / (a.preset + ".json");
#else
            const fs::path bundled =
                fs::path(ctx.data_dir) / ".." / ".." / "registry" / "presets" / "train" / (a.preset + ".json");
#endif
            if (!fs::is_regular_file(bundled))
                RSCOVLM_THROW(config_error, "unknown_preset",
                              "no training preset file or bundled preset named '" + a.preset + "'");
            path = bundled.string();
        }
    }
    (void)ctx;
    nlohmann::json j = nlohmann::json::object();
    if (!path.empty()) {
        std::ifstream in(path);
        if (!in) RSCOVLM_THROW(io_error, "open", "cannot open training configuration '" + path + "'");
        j = nlohmann::json::parse(in, nullptr, false);
        if (j.is_discarded()) RSCOVLM_THROW(config_error, "bad_json", path + " is not valid JSON");
        if (j.is_object() && j.contains("train")) j = j["train"];
        if (!j.is_object()) RSCOVLM_THROW(config_error, "bad_json", path + ": the configuration must be a JSON object");
        // Relative data paths in a configuration file are relative to that file.
        const fs::path base = fs::path(path).parent_path();
        auto rebase = [&](nlohmann::json& v) {
            if (v.is_string() && !v.get<std::string>().empty() && fs::path(v.get<std::string>()).is_relative() &&
                fs::exists(base / v.get<std::string>()))
                v = (base / v.get<std::string>()).string();
        };
        for (const char* k : {"micro_batches", "model_name_or_path"})
            if (j.contains(k)) rebase(j[k]);
        if (j.contains("shards")) {
            if (j["shards"].is_array())
                for (auto& s : j["shards"])
                    rebase(s);
            else
                rebase(j["shards"]);
        }
    }
    for (const auto& s : a.sets) {
        const auto eq = s.find('=');
        if (eq == std::string::npos || eq == 0)
            RSCOVLM_THROW(usage_error, "bad_set", "--set takes key=value, got '" + s + "'");
        const std::string key = s.substr(0, eq), text = s.substr(eq + 1);
        nlohmann::json v = nlohmann::json::parse(text, nullptr, false);
        if (v.is_discarded()) v = text; // a bare string
        if (key == "shards" && v.is_string() && text.find(',') != std::string::npos) {
            nlohmann::json arr = nlohmann::json::array();
            std::size_t start = 0;
            while (start <= text.size()) {
                const auto c = text.find(',', start);
                arr.push_back(text.substr(start, c == std::string::npos ? std::string::npos : c - start));
                if (c == std::string::npos) break;
                start = c + 1;
            }
            v = arr;
        }
        j[key] = v;
    }
    return j;
}

/// The progress line of rank 0: step, loss, lr, tokens/s, ETA (a bar on a terminal, a line every
/// `logging_steps` steps otherwise).
class train_progress {
public:
    train_progress(bool quiet, std::int64_t total, std::int64_t every)
        : m_on(!quiet), m_tty(::isatty(2) != 0), m_total(total), m_every(std::max<std::int64_t>(1, every)) {}
    void step(const tr::step_record& r) {
        if (!m_on) return;
        ++m_done;
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
        const double rate = secs > 0 ? static_cast<double>(m_done) / secs : 0.0;
        const std::int64_t left_steps = std::max<std::int64_t>(0, m_total - r.step);
        const long left = rate > 0 ? static_cast<long>(static_cast<double>(left_steps) / rate) : 0;
        const double lr = r.lr.empty() ? 0.0 : r.lr.front().second;
        const int pct = m_total > 0 ? static_cast<int>(r.step * 100 / m_total) : 100;
        const int bar = pct * 20 / 100;
        if (m_tty) {
            std::fprintf(
                stderr,
                "\rtrain [%.*s%*s] %3d%% step %lld/%lld loss %.4f lr %.3g grad %.3f %.0f tok/s ETA %02ld:%02ld:%02ld ",
                bar, "####################", 20 - bar, "", pct, static_cast<long long>(r.step),
                static_cast<long long>(m_total), r.loss, lr, r.grad_norm, r.tokens_per_s, left / 3600, left / 60 % 60,
                left % 60);
            std::fflush(stderr);
        } else if (r.step % m_every == 0 || r.step == m_total) {
            std::fprintf(stderr,
                         "train step %lld/%lld loss %.4f lr %.3g grad_norm %.3f %.0f tok/s ETA %02ld:%02ld:%02ld\n",
                         static_cast<long long>(r.step), static_cast<long long>(m_total), r.loss, lr, r.grad_norm,
                         r.tokens_per_s, left / 3600, left / 60 % 60, left % 60);
        }
    }
    ~train_progress() {
        if (m_on && m_tty && m_done > 0) std::fputc('\n', stderr);
    }

private:
    bool m_on, m_tty;
    std::int64_t m_total, m_every, m_done = 0;
    std::chrono::steady_clock::time_point m_start = std::chrono::steady_clock::now();
};

} // namespace

void register_train(CLI::App& app, context& ctx) {
    auto a = std::make_shared<train_args>();
    auto* cmd = app.add_subcommand(torch_commands[3].name, torch_commands[3].description);
    cmd->add_option("--config", a->config, "Training configuration (JSON; keys as RSCoVLM's training arguments)");
    cmd->add_option("--preset", a->preset, "A bundled training preset (registry/presets/train) or a preset file");
    cmd->add_option("--set", a->sets,
                    "key=value overriding the configuration (value parsed as JSON, else text); repeatable");
    cmd->callback([&ctx, a] {
        nlohmann::json j = load_train_config(*a, ctx);
        tr::train_config cfg = tr::train_config::from_json(j, a->config.empty() ? "--set" : a->config);
        cfg.validate();
        if (cfg.output_dir.empty())
            RSCOVLM_THROW(usage_error, "missing_option", "output_dir is required (--set output_dir=DIR)");
        const tr::dist_env env = tr::dist_env::from_environment();
        const tr::process_group pg =
            tr::process_group::join(env, std::chrono::milliseconds(static_cast<long long>(cfg.dist_timeout_s * 1000.0)),
                                    cfg.resolved_backend());
        tr::trainer t(cfg, pg);
        auto source = t.make_source();
        t.plan(*source);
        const bool show = env.rank == 0 && !ctx.quiet;
        if (show)
            std::fprintf(
                stderr, "train: %lld steps, %d rank(s)%s, %zu trainable tensors in %zu groups\n",
                static_cast<long long>(t.total_steps()), env.world_size, cfg.zero_stage == 1 ? " (ZeRO-1)" : "",
                [&] {
                    std::size_t n = 0;
                    for (const auto& g : t.groups())
                        n += g.params.size();
                    return n;
                }(),
                t.groups().size());
        train_progress bar(!show, t.total_steps(), cfg.logging_steps);
        tr::trainer_hooks hooks;
        hooks.on_step = [&bar](const tr::step_record& r) { bar.step(r); };
        auto res = t.train(hooks, source);
        if (env.rank == 0) {
            nlohmann::json out{{"steps", res.steps},
                               {"total_steps", res.total_steps},
                               {"resumed_from", res.resumed_from},
                               {"world_size", env.world_size},
                               {"output_dir", cfg.output_dir},
                               {"log", (fs::path(cfg.output_dir) / "log.jsonl").string()},
                               {"curves", (fs::path(cfg.output_dir) / "curves.png").string()}};
            if (!res.history.empty()) {
                out["final_loss"] = res.history.back().loss;
                out["final_grad_norm"] = res.history.back().grad_norm;
            }
            (*ctx.out) << out.dump() << "\n";
        }
    });
}

} // namespace rscovlm::cli
