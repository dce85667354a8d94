#pragma once
/// \file
/// `rscovlm::torch::train::trainer`: RSCoVLM's fine-tuning loop (transformers 4.51 `Trainer` +
/// RSCoVLM's `CustomTrainer`) over the LibTorch Qwen2.5-VL, on one process or many through c10d.
///
/// One optimizer step, as the reference takes it:
/// 1. for each micro-batch of the accumulation window: forward, the model's mean cross-entropy
///    (`loss_weighting` "mean", the reference) divided by `gradient_accumulation_steps`, backward
///    (gradients add up; the last micro-batch's backward also averages them over ranks, bucket by
///    bucket, while backward runs);
/// 2. `clip_grad_norm_(max_grad_norm)`, the pre-clip norm logged;
/// 3. AdamW on every group at the schedule's current lr (the first warmup step runs at lr 0: the
///    moments still advance); with `zero_stage` 1 each rank updates only the parameters it owns and
///    keeps only their optimizer state, then every parameter is broadcast from its owner;
/// 4. the schedule advances, gradients are cleared.
/// Windows are aligned to the epoch start; an epoch's last, shorter window still steps (the
/// reference's `do_sync_step` at the epoch end) with the loss still divided by the full count.
/// Total steps: `max_steps`, else ceil(`num_train_epochs` x max(batches_per_epoch // GA, 1)).

#include <rscovlm/data/recipe.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/draw.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/io/safetensors.hpp>
#include <rscovlm/torch/model.hpp>
#include <rscovlm/torch/train/batch.hpp>
#include <rscovlm/torch/train/distributed.hpp>
#include <rscovlm/torch/train/optim.hpp>
#include <rscovlm/torch/train/recompute.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <nlohmann/json.hpp>
#include <torch/types.h>
#include <torch/version.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace rscovlm::torch::train {

namespace fs = std::filesystem;

/// The training configuration. JSON keys are RSCoVLM's training argument names (transformers'
/// `TrainingArguments` plus RSCoVLM's own); defaults are theirs unless noted.
struct train_config {
    std::string model_name_or_path; ///< checkpoint directory (also accepted as `model_id`, the reference's name)
    std::string output_dir;
    // data: either pre-collated micro-batches or shards of `rscovlm data build`
    std::string micro_batches;       ///< JSONL of collated micro-batches (paths inside relative to it)
    std::vector<std::string> shards; ///< shard files or directories holding `shard-*` / `pack-*` files
    std::int64_t per_device_train_batch_size = 8;
    std::int64_t gradient_accumulation_steps = 1;
    double num_train_epochs = 3.0;
    std::int64_t max_steps = -1;
    bool shuffle = true; ///< per-epoch DistributedSampler shuffling (shards)
    std::uint64_t seed = 42;
    std::int64_t pad_token_id = -1; ///< collator padding id (-1: the model config's bos_token_id, <|endoftext|>)
    // optimizer
    optimizer_options optimizer;
    std::string lr_scheduler_type = "linear";
    double warmup_ratio = 0.0;
    std::int64_t warmup_steps = 0;
    double max_grad_norm = 1.0;
    std::string loss_weighting = "mean"; ///< "mean" (the reference) or "tokens" (num_items_in_batch)
    // freezing (RSCoVLM's defaults: the merger is frozen unless told otherwise)
    bool freeze_vision = false, freeze_merger = true, freeze_language = false;
    // LoRA (RSCoVLM's defaults: r 64, alpha 16, dropout 0.05; targets: every Linear and Embedding
    // module outside the vision tower, optionally the last `num_lora_modules` of them)
    bool lora_enable = false;
    std::int64_t lora_rank = 64;
    double lora_alpha = 16.0;
    double lora_dropout = 0.05;
    std::vector<std::string> lora_namespan_exclude;
    std::int64_t num_lora_modules = -1;
    bool lora_save_merged = false; ///< also write the merged full model to output_dir/merged
    // compute
    bool gradient_checkpointing = false;
    bool bf16 = false, tf32 = false;
    std::string device = "cpu";
    /// LibTorch intra-op threads of this process (0: LibTorch's own choice).
    int threads = 0;
    int zero_stage = 0; ///< 0: plain data parallel; 1: ZeRO-1 (optimizer state sharded across ranks)
    std::size_t bucket_mb = 25;
    std::string dist_backend = "auto"; ///< "gloo", "nccl", or "auto" (nccl on CUDA devices, else gloo)
    double dist_timeout_s = 1800.0;
    // checkpoints and logs
    std::int64_t save_steps = 500;
    std::int64_t logging_steps = 1;
    bool resume = true; ///< continue from the newest complete `checkpoint-*` in output_dir (as RSCoVLM's train.py)

    /// Reads a JSON object; unknown keys are errors (train_error "bad_config" naming the key).
    static train_config from_json(const nlohmann::json& j, const std::string& origin = "config") {
        if (!j.is_object()) RSCOVLM_THROW(train_error, "bad_config", origin + ": not a JSON object");
        train_config c;
        for (auto it = j.begin(); it != j.end(); ++it)
            c.set(it.key(), it.value(), origin);
        return c;
    }

    /// Sets one key from JSON (also used by `--set key=value`).
    void set(const std::string& k, const nlohmann::json& v, const std::string& origin = "config") {
        auto bad = [&](const std::string& why) {
            RSCOVLM_THROW(train_error, "bad_config", origin + ": '" + k + "' " + why);
        };
        auto num = [&]() -> double {
            if (!v.is_number()) bad("must be a number");
            return v.get<double>();
        };
        auto integer = [&]() -> std::int64_t {
            if (!v.is_number_integer()) bad("must be an integer");
            return v.get<std::int64_t>();
        };
        auto flag = [&]() -> bool {
            if (!v.is_boolean()) bad("must be true or false");
            return v.get<bool>();
        };
        auto str = [&]() -> std::string {
            if (!v.is_string()) bad("must be a string");
            return v.get<std::string>();
        };
        if (k == "model_name_or_path" || k == "model_id")
            model_name_or_path = str();
        else if (k == "output_dir")
            output_dir = str();
        else if (k == "micro_batches")
            micro_batches = str();
        else if (k == "shards" || k == "data_path") {
            shards.clear();
            if (v.is_string())
                shards.push_back(v.get<std::string>());
            else if (v.is_array()) {
                for (const auto& s : v) {
                    if (!s.is_string()) bad("must list paths");
                    shards.push_back(s.get<std::string>());
                }
            } else
                bad("must be a path or a list of paths");
        } else if (k == "per_device_train_batch_size")
            per_device_train_batch_size = integer();
        else if (k == "gradient_accumulation_steps")
            gradient_accumulation_steps = integer();
        else if (k == "num_train_epochs")
            num_train_epochs = num();
        else if (k == "max_steps")
            max_steps = integer();
        else if (k == "shuffle")
            shuffle = flag();
        else if (k == "seed")
            seed = static_cast<std::uint64_t>(integer());
        else if (k == "pad_token_id")
            pad_token_id = integer();
        else if (k == "learning_rate")
            optimizer.learning_rate = num();
        else if (k == "vision_lr")
            optimizer.vision_lr = v.is_null() ? std::optional<double>() : std::optional<double>(num());
        else if (k == "merger_lr")
            optimizer.merger_lr = v.is_null() ? std::optional<double>() : std::optional<double>(num());
        else if (k == "weight_decay")
            optimizer.weight_decay = num();
        else if (k == "adam_beta1")
            optimizer.beta1 = num();
        else if (k == "adam_beta2")
            optimizer.beta2 = num();
        else if (k == "adam_epsilon")
            optimizer.eps = num();
        else if (k == "optimizer_groups")
            optimizer.groups = parse_group_mode(str());
        else if (k == "lr_scheduler_type") {
            lr_scheduler_type = str();
            parse_schedule(lr_scheduler_type);
        } else if (k == "warmup_ratio")
            warmup_ratio = num();
        else if (k == "warmup_steps")
            warmup_steps = integer();
        else if (k == "max_grad_norm")
            max_grad_norm = num();
        else if (k == "loss_weighting") {
            loss_weighting = str();
            if (loss_weighting != "mean" && loss_weighting != "tokens") bad("must be 'mean' or 'tokens'");
        } else if (k == "freeze_vision")
            freeze_vision = flag();
        else if (k == "freeze_merger")
            freeze_merger = flag();
        else if (k == "freeze_language")
            freeze_language = flag();
        else if (k == "lora_enable")
            lora_enable = flag();
        else if (k == "lora_rank")
            lora_rank = integer();
        else if (k == "lora_alpha")
            lora_alpha = num();
        else if (k == "lora_dropout")
            lora_dropout = num();
        else if (k == "num_lora_modules")
            num_lora_modules = integer();
        else if (k == "lora_save_merged")
            lora_save_merged = flag();
        else if (k == "lora_namespan_exclude") {
            lora_namespan_exclude.clear();
            if (!v.is_array()) bad("must be a list of name fragments");
            for (const auto& x : v) {
                if (!x.is_string()) bad("must be a list of name fragments");
                lora_namespan_exclude.push_back(x.get<std::string>());
            }
        } else if (k == "vision_lora" || k == "use_dora") {
            if (flag()) bad("is not supported (LoRA covers the language model; DoRA is not implemented)");
        } else if (k == "bias_for_lora") {
            if (str() != "none") bad("must be 'none' (adapters only)");
        } else if (k == "init_lora_weights") {
            std::string low = v.is_string() ? v.get<std::string>() : std::string();
            std::transform(low.begin(), low.end(), low.begin(),
                           [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
            if (!(v.is_boolean() && v.get<bool>()) && low != "true")
                bad("must be true (PEFT's default initialisation)");
        } else if (k == "gradient_checkpointing")
            gradient_checkpointing = flag();
        else if (k == "bf16")
            bf16 = flag();
        else if (k == "tf32")
            tf32 = flag();
        else if (k == "device")
            device = str();
        else if (k == "threads") {
            threads = static_cast<int>(integer());
            if (threads < 0) bad("must be 0 (automatic) or a positive count");
        } else if (k == "zero_stage") {
            zero_stage = static_cast<int>(integer());
            if (zero_stage != 0 && zero_stage != 1) bad("must be 0 or 1 (ZeRO-1 is the reference recipe's stage)");
        } else if (k == "bucket_mb")
            bucket_mb = static_cast<std::size_t>(integer());
        else if (k == "dist_timeout_s")
            dist_timeout_s = num();
        else if (k == "save_steps")
            save_steps = integer();
        else if (k == "logging_steps")
            logging_steps = integer();
        else if (k == "resume")
            resume = flag();
        else if (k == "description" || k == "recipe" || k == "comment") {
            // documentation keys of presets
        } else
            RSCOVLM_THROW(train_error, "bad_config", origin + ": unknown key '" + k + "'");
    }

    /// The configuration as JSON (saved with checkpoints and compared across ranks).
    nlohmann::json to_json() const {
        nlohmann::json j;
        j["model_name_or_path"] = model_name_or_path;
        j["output_dir"] = output_dir;
        j["micro_batches"] = micro_batches;
        j["shards"] = shards;
        j["per_device_train_batch_size"] = per_device_train_batch_size;
        j["gradient_accumulation_steps"] = gradient_accumulation_steps;
        j["num_train_epochs"] = num_train_epochs;
        j["max_steps"] = max_steps;
        j["shuffle"] = shuffle;
        j["seed"] = seed;
        j["pad_token_id"] = pad_token_id;
        j["learning_rate"] = optimizer.learning_rate;
        j["vision_lr"] = optimizer.vision_lr ? nlohmann::json(*optimizer.vision_lr) : nlohmann::json();
        j["merger_lr"] = optimizer.merger_lr ? nlohmann::json(*optimizer.merger_lr) : nlohmann::json();
        j["weight_decay"] = optimizer.weight_decay;
        j["adam_beta1"] = optimizer.beta1;
        j["adam_beta2"] = optimizer.beta2;
        j["adam_epsilon"] = optimizer.eps;
        j["optimizer_groups"] = optimizer.groups == group_mode::custom ? "custom" : "deepspeed";
        j["lr_scheduler_type"] = lr_scheduler_type;
        j["warmup_ratio"] = warmup_ratio;
        j["warmup_steps"] = warmup_steps;
        j["max_grad_norm"] = max_grad_norm;
        j["loss_weighting"] = loss_weighting;
        j["freeze_vision"] = freeze_vision;
        j["freeze_merger"] = freeze_merger;
        j["freeze_language"] = freeze_language;
        j["lora_enable"] = lora_enable;
        j["lora_rank"] = lora_rank;
        j["lora_alpha"] = lora_alpha;
        j["lora_dropout"] = lora_dropout;
        j["lora_namespan_exclude"] = lora_namespan_exclude;
        j["num_lora_modules"] = num_lora_modules;
        j["lora_save_merged"] = lora_save_merged;
        j["gradient_checkpointing"] = gradient_checkpointing;
        j["bf16"] = bf16;
        j["tf32"] = tf32;
        j["device"] = device;
        j["threads"] = threads;
        j["zero_stage"] = zero_stage;
        j["bucket_mb"] = bucket_mb;
        j["dist_backend"] = dist_backend;
        j["dist_timeout_s"] = dist_timeout_s;
        j["save_steps"] = save_steps;
        j["logging_steps"] = logging_steps;
        j["resume"] = resume;
        return j;
    }

    /// The c10d backend `dist_backend` resolves to.
    std::string resolved_backend() const {
        if (dist_backend != "auto") return dist_backend;
        return device.rfind("cuda", 0) == 0 ? "nccl" : "gloo";
    }

    /// Checks values that no single key can check. train_error "bad_config".
    void validate() const {
        auto bad = [](const std::string& m) { RSCOVLM_THROW(train_error, "bad_config", m); };
        if (model_name_or_path.empty()) bad("model_name_or_path is required");
        if (micro_batches.empty() == shards.empty()) bad("give exactly one of 'micro_batches' and 'shards'");
        if (per_device_train_batch_size < 1) bad("per_device_train_batch_size must be at least 1");
        if (gradient_accumulation_steps < 1) bad("gradient_accumulation_steps must be at least 1");
        if (max_steps <= 0 && !(num_train_epochs > 0))
            bad("num_train_epochs must be positive when max_steps is not set");
        if (!(warmup_ratio >= 0.0 && warmup_ratio <= 1.0)) bad("warmup_ratio must be in [0, 1]");
        if (!(optimizer.learning_rate >= 0)) bad("learning_rate must not be negative");
        if (lora_enable && !freeze_language)
            bad("If `lora_enable` is True, `freeze_language` must also be True (as RSCoVLM's get_args requires)");
        if (lora_enable && (lora_rank < 1 || !(lora_alpha > 0) || !(lora_dropout >= 0 && lora_dropout < 1)))
            bad("lora_rank must be >= 1, lora_alpha > 0 and lora_dropout in [0, 1)");
        if (dist_backend == "nccl" && device.rfind("cuda", 0) != 0) bad("dist_backend nccl needs a CUDA device");
        if (bf16 && device.rfind("cuda", 0) != 0) bad("bf16 needs a CUDA device; on the CPU training runs in float32");
        if (freeze_vision && freeze_merger && freeze_language && !lora_enable)
            bad("every parameter is frozen: nothing to train");
    }
};

// ------------------------------------------------------------------------------------------- data

/// A source of micro-batches for one rank: per epoch, a count and the micro-batch at each position.
class data_source {
public:
    virtual ~data_source() = default;
    /// Epochs the source defines itself (a micro-batch file), or 0 when the configuration decides.
    virtual std::int64_t fixed_epochs() const { return 0; }
    /// Micro-batches of this rank in `epoch`.
    virtual std::size_t batches(std::int64_t epoch) const = 0;
    /// Micro-batch `i` of this rank in `epoch`.
    virtual micro_batch get(std::int64_t epoch, std::size_t i) const = 0;
};

/// Pre-collated micro-batches (the training oracle's format). Epochs come from each line's `epoch`
/// (absent: 0) and the file is the whole run: `num_train_epochs` is not used and `max_steps` can only
/// shorten it (the schedule's total is then the smaller of the two); within an epoch, rank r of W takes the
/// micro-batches at positions r, r+W, ..., so W ranks with accumulation g see, window by window, what one process with
/// accumulation W x g sees.
class micro_batch_file_source : public data_source {
public:
    micro_batch_file_source(const std::string& path, int rank, int world) {
        std::ifstream in(path);
        if (!in) RSCOVLM_THROW(io_error, "open", "cannot open micro-batch file '" + path + "'");
        std::vector<micro_batch> all = read_micro_batches(path);
        // Epochs: re-read the `epoch` fields (read_micro_batches keeps only the tensors).
        std::vector<std::int64_t> epochs;
        std::string line;
        while (std::getline(in, line)) {
            if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
            auto j = nlohmann::json::parse(line, nullptr, false);
            epochs.push_back(j.is_object() && j.contains("epoch") && j["epoch"].is_number_integer()
                                 ? j["epoch"].get<std::int64_t>()
                                 : 0);
        }
        std::map<std::int64_t, std::vector<micro_batch>> by_epoch;
        for (std::size_t i = 0; i < all.size(); ++i)
            by_epoch[epochs[i]].push_back(std::move(all[i]));
        for (auto& [e, v] : by_epoch) {
            if (v.size() % static_cast<std::size_t>(world) != 0)
                RSCOVLM_THROW(train_error, "bad_data",
                              path + ": epoch " + std::to_string(e) + " has " + std::to_string(v.size()) +
                                  " micro-batches, not a multiple of the " + std::to_string(world) + " ranks");
            std::vector<micro_batch> mine;
            for (std::size_t i = static_cast<std::size_t>(rank); i < v.size(); i += static_cast<std::size_t>(world))
                mine.push_back(v[i]);
            m_epochs.push_back(std::move(mine));
        }
        if (m_epochs.empty()) RSCOVLM_THROW(train_error, "bad_data", path + " holds no micro-batch");
    }
    std::int64_t fixed_epochs() const override { return static_cast<std::int64_t>(m_epochs.size()); }
    std::size_t batches(std::int64_t epoch) const override {
        return epoch < static_cast<std::int64_t>(m_epochs.size()) ? m_epochs[static_cast<std::size_t>(epoch)].size()
                                                                  : 0;
    }
    micro_batch get(std::int64_t epoch, std::size_t i) const override {
        return m_epochs.at(static_cast<std::size_t>(epoch)).at(i);
    }

private:
    std::vector<std::vector<micro_batch>> m_epochs;
};

/// Samples (plain shards) or packed rows (packed shards) of `rscovlm data build`, read through the
/// library's shard reader. Each epoch, PyTorch's `DistributedSampler` (seeded with `seed + epoch`)
/// gives this rank its slice; consecutive runs of `batch` indices are collated.
class shard_source : public data_source {
public:
    shard_source(const std::vector<std::string>& paths, std::int64_t batch, int rank, int world, bool shuffle,
                 std::uint64_t seed, std::int64_t pad_id)
        : m_batch(static_cast<std::size_t>(batch)), m_pad(pad_id) {
        std::vector<std::string> files;
        for (const auto& p : paths) {
            if (fs::is_directory(p)) {
                std::vector<std::string> in_dir;
                for (const auto& e : fs::directory_iterator(p)) {
                    const std::string n = e.path().filename().string();
                    if ((n.rfind("shard-", 0) == 0 || n.rfind("pack-", 0) == 0) &&
                        e.path().extension() == ".safetensors")
                        in_dir.push_back(e.path().string());
                }
                std::sort(in_dir.begin(), in_dir.end());
                if (in_dir.empty()) RSCOVLM_THROW(train_error, "bad_data", p + " holds no shard-*/pack-* file");
                files.insert(files.end(), in_dir.begin(), in_dir.end());
            } else {
                files.push_back(p);
            }
        }
        for (const auto& f : files) {
            auto r = std::make_shared<engine::shard_reader>(engine::shard_reader::open(f));
            if (!r->has_pixels() && r->file().names().size() > 0) {
                // Shards written without pixels cannot train a vision model; checked per example too.
            }
            for (std::size_t i = 0; i < r->size(); ++i)
                m_items.push_back({r, i});
            m_readers.push_back(std::move(r));
        }
        if (m_items.empty()) RSCOVLM_THROW(train_error, "bad_data", "the shards hold no sample");
        m_sampler = std::make_unique<data::distributed_sampler>(m_items.size(), static_cast<std::size_t>(world),
                                                                static_cast<std::size_t>(rank), shuffle, seed, false);
    }
    std::size_t batches(std::int64_t) const override { return (m_sampler->num_samples() + m_batch - 1) / m_batch; }
    micro_batch get(std::int64_t epoch, std::size_t i) const override {
        if (epoch != m_epoch) {
            m_sampler->set_epoch(static_cast<std::uint64_t>(epoch));
            m_indices = m_sampler->indices();
            m_epoch = epoch;
        }
        std::vector<example> xs;
        for (std::size_t k = i * m_batch; k < std::min(m_indices.size(), (i + 1) * m_batch); ++k) {
            const auto& [r, pos] = m_items[m_indices[k]];
            xs.push_back(r->kind() == engine::shard_kind::packed ? to_example(r->pack(pos))
                                                                 : to_example(r->sample(pos)));
        }
        return collate(xs, m_pad);
    }

private:
    std::size_t m_batch;
    std::int64_t m_pad;
    std::vector<std::shared_ptr<engine::shard_reader>> m_readers;
    std::vector<std::pair<std::shared_ptr<engine::shard_reader>, std::size_t>> m_items;
    std::unique_ptr<data::distributed_sampler> m_sampler;
    mutable std::int64_t m_epoch = -1;
    mutable std::vector<std::size_t> m_indices;
};

// ------------------------------------------------------------------------------------------- trainer

/// What one micro-batch contributed.
struct micro_record {
    std::vector<std::int64_t> samples;
    double loss = 0.0, loss_sum = 0.0;
    std::int64_t label_tokens = 0;
};

/// One optimizer step, as logged.
struct step_record {
    std::int64_t step = 0;  ///< 1-based optimizer step
    std::int64_t epoch = 0; ///< 0-based epoch the step belongs to
    double loss = 0.0;      ///< the step's loss (sum of the backward-ed micro-batch losses, averaged over ranks)
    double grad_norm = 0.0; ///< before clipping
    bool clipped = false;
    std::vector<std::pair<std::string, double>> lr; ///< per group: the lr the step used
    double learning_rate = 0.0; ///< group 0's lr after the step's schedule advance (what transformers logs)
    std::int64_t tokens = 0;    ///< non-padding tokens of the step, all ranks
    double seconds = 0.0, tokens_per_s = 0.0;
    std::vector<micro_record> micro; ///< this rank's micro-batches

    /// The log.jsonl line (keys in this order; `lr` in group order).
    nlohmann::ordered_json to_json() const {
        nlohmann::ordered_json lrs = nlohmann::ordered_json::object();
        for (const auto& [g, v] : lr)
            lrs[g] = v;
        nlohmann::ordered_json j;
        j["step"] = step;
        j["epoch"] = epoch;
        j["loss"] = loss;
        j["grad_norm"] = grad_norm;
        j["lr"] = lrs;
        j["learning_rate"] = learning_rate;
        j["tokens"] = tokens;
        j["tokens_per_s"] = tokens_per_s;
        j["seconds"] = seconds;
        return j;
    }
};

/// Hooks of the training loop (all optional).
struct trainer_hooks {
    std::function<void(const step_record&)> on_step;                             ///< after every optimizer step
    std::function<void(std::int64_t step, const std::string& dir)> on_save;      ///< after a checkpoint is complete
    std::function<void(const micro_batch&, const micro_record&)> on_micro_batch; ///< after each backward
    std::function<bool(std::int64_t step)> should_stop;                          ///< checked after each step
};

/// Summary of a run.
struct train_result {
    std::int64_t steps = 0;           ///< optimizer steps done (global)
    std::int64_t resumed_from = 0;    ///< step of the checkpoint resumed from (0: fresh)
    std::int64_t total_steps = 0;     ///< planned steps
    std::vector<step_record> history; ///< steps run in this call
};

/// Name of the newest complete `checkpoint-<step>` directory of `dir`, or "" when none.
inline std::string latest_checkpoint(const std::string& dir) {
    std::string best;
    std::int64_t best_step = -1;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return best;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        const std::string n = e.path().filename().string();
        if (n.rfind("checkpoint-", 0) != 0 || !e.is_directory()) continue;
        const std::string num = n.substr(11);
        if (num.empty() || num.find_first_not_of("0123456789") != std::string::npos) continue;
        if (!fs::exists(e.path() / "trainer_state.json")) continue;
        const std::int64_t s = std::stoll(num);
        if (s > best_step) {
            best_step = s;
            best = e.path().string();
        }
    }
    return best;
}

namespace detail {
/// A float32 CPU copy of `t` kept alive in `keep`, and the safetensors writer's view of it as `name`.
inline io::safetensors::tensor_view f32_view(const std::string& name, const at::Tensor& t,
                                             std::vector<at::Tensor>& keep) {
    keep.push_back(t.detach().to(at::kCPU, at::kFloat).contiguous());
    const at::Tensor& c = keep.back();
    io::safetensors::tensor_view v;
    v.name = name;
    v.type = io::safetensors::dtype::f32;
    v.shape = std::vector<std::int64_t>(c.sizes().begin(), c.sizes().end());
    v.data = c.data_ptr();
    v.size_bytes = static_cast<std::size_t>(c.numel()) * sizeof(float);
    return v;
}
} // namespace detail

/// CUDA autocast to bfloat16 for a scope (nothing when `on` is false); the previous state comes back
/// at the end of the scope, also when the scope is left by an exception.
class bf16_autocast {
public:
    explicit bf16_autocast(bool on) {
        if (on) m_swap.emplace(true, at::kBFloat16);
    }
    ~bf16_autocast() {
        if (m_swap) at::autocast::clear_cache();
    }
    bf16_autocast(const bf16_autocast&) = delete;
    bf16_autocast& operator=(const bf16_autocast&) = delete;

private:
    std::optional<detail::autocast_swap> m_swap;
};

/// The training loop and its parts (usable one by one to compose another loop).
class trainer {
public:
    /// Loads the model (float32 on CPU; trainable weights), applies the freezing flags in the
    /// reference's order (vision tower, merger, `lm_head`, language model), groups the parameters and
    /// joins the process group `pg` (may be a single-process group).
    trainer(train_config cfg, const process_group& pg) : m_cfg(std::move(cfg)), m_pg(&pg) {
        m_cfg.validate();
        apply_threads(m_cfg.threads);
        if (m_cfg.tf32) {
            at::globalContext().setAllowTF32CuBLAS(true);
            at::globalContext().setAllowTF32CuDNN(true);
        }
        load_options lo;
        lo.device = m_cfg.device;
        // One GPU per rank: a bare "cuda" means this rank's LOCAL_RANK device.
        if (lo.device == "cuda" && pg.distributed()) lo.device = "cuda:" + std::to_string(pg.env().local_rank);
        lo.dtype = "float32"; // fp32 master weights and optimizer state; `bf16` autocasts the compute (CUDA)
        lo.requires_grad = true;
        if (lo.device.rfind("cuda", 0) == 0) {
            // The rank's GPU becomes the current device (streams, NCCL and the caching allocator use it).
            const c10::Device d(lo.device);
            c10::impl::getDeviceGuardImpl(c10::kCUDA)->setDevice(d.has_index() ? d : c10::Device(c10::kCUDA, 0));
        }
        m_model = std::make_unique<qwen2_5_vl>(qwen2_5_vl::load(m_cfg.model_name_or_path, lo));
        apply_freezing();
        for (const auto& [canon, t] : m_model->named_parameters())
            m_named.emplace_back(checkpoint_name(canon), t);
        at::manual_seed(m_cfg.seed); // transformers' set_seed(args.seed) before the model is wrapped
        if (m_cfg.lora_enable) add_lora();
        m_groups = make_groups(m_cfg.lora_enable ? m_lora_named : m_named, m_cfg.optimizer);
        for (const auto& g : m_groups)
            for (const auto& p : g.params)
                m_trainable.push_back(p);
        if (m_trainable.empty()) RSCOVLM_THROW(train_error, "bad_config", "no parameter is trainable");
        assign_owners();
        if (m_cfg.gradient_checkpointing) enable_checkpointing();
        if (pg.distributed()) {
            pg.check_same("rscovlm/config", config_fingerprint(), "the training configuration");
            // Every rank starts from rank 0's weights (as DDP's constructor broadcasts them).
            for (auto& p : m_trainable) {
                at::NoGradGuard ng;
                at::Tensor d = p.detach();
                pg.broadcast(d, 0, "initial weight broadcast");
            }
            // Buckets follow module order (reversed inside), not the optimizer's grouping.
            std::vector<at::Tensor> in_module_order;
            for (const auto& [n, p] : trained_parameters())
                if (p.requires_grad()) in_module_order.push_back(p);
            m_sync = std::make_unique<gradient_sync>(pg, std::move(in_module_order), m_cfg.bucket_mb << 20);
        }
    }

    const train_config& config() const noexcept { return m_cfg; }
    qwen2_5_vl& model() noexcept { return *m_model; }
    const std::vector<param_group>& groups() const noexcept { return m_groups; }
    /// Every parameter (checkpoint names, module order; frozen ones included).
    const std::vector<std::pair<std::string, at::Tensor>>& named_parameters() const noexcept { return m_named; }
    std::int64_t global_step() const noexcept { return m_step; }
    /// The LoRA parameters (PEFT names, `...lora_A.default.weight`); empty without LoRA.
    const std::vector<std::pair<std::string, at::Tensor>>& lora_parameters() const noexcept { return m_lora_named; }
    /// What the optimizer updates and checkpoints store: the LoRA parameters, or every parameter.
    const std::vector<std::pair<std::string, at::Tensor>>& trained_parameters() const noexcept {
        return m_cfg.lora_enable ? m_lora_named : m_named;
    }

    /// Adds every adapter's `scaling * B A` into its base weight (PEFT `merge_and_unload`) and removes the
    /// adapters. train_error "lora_merge" when a tied embedding carries adapters on both of its uses.
    void merge_lora() {
        auto& lora = m_model->text().lora();
        if (lora.empty()) return;
        if (m_model->tied() && lora.embed.active() && lora.head.active())
            RSCOVLM_THROW(train_error, "lora_merge",
                          "embed_tokens and lm_head are one tied matrix with an adapter on each: merging would change "
                          "both uses; keep the adapter, or exclude one of them (lora_namespan_exclude)");
        at::NoGradGuard ng;
        auto merge = [](const at::Tensor& w, const lora_adapter& a) {
            if (a.active()) w.detach().add_(at::matmul(a.B, a.A) * a.scaling);
        };
        auto& layers = m_model->text().layers();
        for (std::size_t i = 0; i < layers.size() && i < lora.layers.size(); ++i) {
            const auto& l = lora.layers[i];
            merge(layers[i].q_w, l.q);
            merge(layers[i].k_w, l.k);
            merge(layers[i].v_w, l.v);
            merge(layers[i].o_w, l.o);
            merge(layers[i].gate_w, l.gate);
            merge(layers[i].up_w, l.up);
            merge(layers[i].down_w, l.down);
        }
        if (lora.head.active()) merge(m_model->text().lm_head(), lora.head);
        if (lora.embed.active())
            m_model->text().embed_tokens().detach().add_(at::matmul(lora.embed.B, lora.embed.A).t() *
                                                         lora.embed.scaling);
        lora = text_lora{};
    }

    /// Checkpoint name of canonical weight `canon` (the layout the model was loaded from).
    std::string checkpoint_name(const std::string& canon) const { return layout_name(canon, m_model->layout()); }

    /// Logits `[B, L, vocab]` of a micro-batch (the model's training forward: no cache).
    at::Tensor logits(const micro_batch& b) const { return m_model->text().head(hidden_states(b)); }

    /// Final hidden states `[B, L, hidden]` of a micro-batch (images encoded and scattered in).
    at::Tensor hidden_states(const micro_batch& b) const {
        const auto dev = m_model->device();
        at::Tensor feats;
        if (b.pixel_values.defined() && !b.grid_thw.empty())
            feats = m_model->encode_images(b.pixel_values.to(dev), b.grid_thw);
        at::Tensor emb = m_model->embed(b.input_ids.to(dev), feats);
        return m_model->text().hidden_states(emb, b.position_ids.to(dev), b.attention_mask.to(dev), nullptr, false,
                                             b.segments.defined() ? b.segments.to(dev) : at::Tensor());
    }

    /// Forward and loss of one micro-batch (graph kept for backward). The output head runs only on the
    /// positions whose next token is supervised: the loss and its gradients are those of the full logits
    /// (unsupervised rows contribute nothing), without the `[B, L, vocab]` tensor of prompt and image
    /// positions.
    loss_parts forward_loss(const micro_batch& b) const {
        check_tokens(b);
        return selected_loss(hidden_states(b), b.labels.to(m_model->device(), at::kLong), m_model->text());
    }

    /// train_error "bad_token" unless every input id is in [0, vocab) and every label is -100 or in
    /// [0, vocab) (an id outside would index out of the embedding; on CUDA, a device assert).
    void check_tokens(const micro_batch& b) const {
        const std::int64_t V = m_model->config().text.vocab_size;
        if (b.length() < 2)
            RSCOVLM_THROW(train_error, "bad_micro_batch", "a micro-batch needs at least 2 tokens per row");
        const auto& ids = b.input_ids;
        if (ids.lt(0).any().item<bool>() || ids.ge(V).any().item<bool>())
            RSCOVLM_THROW(train_error, "bad_token",
                          "an input id is outside the model's vocabulary [0, " + std::to_string(V) + ")");
        const auto& lb = b.labels;
        if (lb.ne(ignore_index).logical_and(lb.lt(0).logical_or(lb.ge(V))).any().item<bool>())
            RSCOVLM_THROW(train_error, "bad_token",
                          "a label is neither -100 nor inside the vocabulary [0, " + std::to_string(V) + ")");
    }

    /// Loss from final hidden states `[B, L, H]`: the rows predicting a supervised label through the
    /// text model's head (and its LoRA adapter).
    static loss_parts selected_loss(const at::Tensor& hidden, const at::Tensor& labels, const text_model& text) {
        const std::int64_t L = hidden.size(1);
        at::Tensor target = labels.narrow(1, 1, L - 1).reshape({-1});
        at::Tensor rows = target.ne(ignore_index).nonzero().reshape({-1});
        at::Tensor h = hidden.narrow(1, 0, L - 1).reshape({-1, hidden.size(-1)}).index_select(0, rows);
        at::Tensor lg = text.head(h).to(at::kFloat);
        at::Tensor t = target.index_select(0, rows);
        loss_parts p;
        p.mean = at::cross_entropy_loss(lg, t, {}, at::Reduction::Mean, ignore_index);
        p.sum = at::cross_entropy_loss(lg, t, {}, at::Reduction::Sum, ignore_index);
        p.tokens = rows.size(0);
        return p;
    }

    /// Runs the whole training (resuming from the newest checkpoint of `output_dir` when `resume`).
    train_result train(const trainer_hooks& hooks = {}, std::shared_ptr<data_source> source = {}) {
        if (!source) source = make_source();
        train_result res;
        plan(*source);
        res.total_steps = m_total;
        std::int64_t start_epoch = 0;
        std::size_t start_pos = 0;
        if (m_cfg.resume && !m_cfg.output_dir.empty()) {
            const std::string ck = latest_checkpoint(m_cfg.output_dir);
            if (!ck.empty()) {
                auto st = load_state(ck);
                start_epoch = st.first;
                start_pos = st.second;
                res.resumed_from = m_step;
            }
        }
        if (rank0() && !m_cfg.output_dir.empty()) {
            fs::create_directories(m_cfg.output_dir);
            trim_log(res.resumed_from);
        }
        for (std::int64_t epoch = start_epoch; epoch < m_epochs && m_step < m_total; ++epoch) {
            const std::size_t n = source->batches(epoch);
            const std::size_t ga = static_cast<std::size_t>(m_cfg.gradient_accumulation_steps);
            for (std::size_t pos = epoch == start_epoch ? start_pos : 0; pos < n && m_step < m_total; pos += ga) {
                const std::size_t count = std::min(ga, n - pos);
                std::vector<micro_batch> window;
                for (std::size_t k = 0; k < count; ++k)
                    window.push_back(source->get(epoch, pos + k));
                step_record r = step(window, epoch);
                m_epoch = epoch;
                m_position = pos + count;
                if (m_position >= n) {
                    m_epoch = epoch + 1;
                    m_position = 0;
                }
                log_step(r);
                res.history.push_back(r);
                if (hooks.on_step) hooks.on_step(r);
                const bool last = m_step >= m_total;
                if (!m_cfg.output_dir.empty() && m_cfg.save_steps > 0 && m_step % m_cfg.save_steps == 0 && !last) {
                    const std::string dir = save_checkpoint();
                    if (hooks.on_save) hooks.on_save(m_step, dir);
                }
                if (hooks.should_stop) {
                    // Every rank stops together: one rank's decision is everyone's.
                    at::Tensor stop = at::zeros({1}, at::TensorOptions().dtype(at::kFloat));
                    if (hooks.should_stop(m_step)) stop.fill_(1.0);
                    m_pg->all_reduce_sum(stop, "stop decision");
                    if (stop.item<float>() > 0) {
                        res.steps = m_step;
                        return res;
                    }
                }
            }
        }
        res.steps = m_step;
        if (!m_cfg.output_dir.empty()) {
            // transformers saves at the last step whenever saving is on (DefaultFlowCallback).
            if (m_cfg.save_steps > 0 && m_step > res.resumed_from) {
                const std::string dir = save_checkpoint();
                if (hooks.on_save) hooks.on_save(m_step, dir);
            }
            if (m_cfg.lora_enable) {
                save_adapter(m_cfg.output_dir);
                if (m_cfg.lora_save_merged && rank0()) {
                    // Merging changes the live weights: it runs after the adapter is saved.
                    merge_lora();
                    save_model((fs::path(m_cfg.output_dir) / "merged").string());
                }
            } else {
                save_model(m_cfg.output_dir);
            }
            if (rank0()) write_curves();
        }
        return res;
    }

    /// One optimizer step over `window` (this rank's micro-batches of the accumulation window).
    step_record step(const std::vector<micro_batch>& window, std::int64_t epoch = 0) {
        const auto t0 = std::chrono::steady_clock::now();
        step_record r;
        r.step = m_step + 1;
        r.epoch = epoch;
        const double f = m_schedule.factor(m_step);
        for (auto& g : m_groups) {
            g.lr = g.base_lr * f;
            r.lr.emplace_back(g.label, g.lr);
        }
        const double ga = static_cast<double>(m_cfg.gradient_accumulation_steps);
        const bool by_tokens = m_cfg.loss_weighting == "tokens";
        double items = 0.0;
        if (by_tokens) {
            at::Tensor n = at::zeros({1}, at::TensorOptions().dtype(at::kDouble));
            for (const auto& b : window)
                n[0] += static_cast<double>(b.label_tokens());
            m_pg->all_reduce_sum(n, "token count all_reduce");
            items = n[0].item<double>();
            if (items <= 0) items = 1.0;
        }
        double contributed = 0.0;
        std::int64_t tokens = 0;
        for (std::size_t k = 0; k < window.size(); ++k) {
            const auto& b = window[k];
            if (m_sync && k + 1 == window.size()) m_sync->arm();
            loss_parts lp;
            {
                // bf16 compute over the float32 master weights (CUDA autocast); the loss stays float32.
                // The guard restores the previous state even when the forward throws.
                bf16_autocast ac(m_cfg.bf16);
                lp = forward_loss(b);
            }
            at::Tensor scaled = by_tokens ? lp.sum / items * static_cast<double>(m_pg->world_size()) : lp.mean / ga;
            scaled.backward();
            micro_record mr{b.samples, lp.mean.item<double>(), lp.sum.item<double>(), lp.tokens};
            contributed += by_tokens ? lp.sum.item<double>() / items : mr.loss / ga;
            tokens += b.tokens();
            r.micro.push_back(mr);
        }
        if (m_sync) m_sync->finish();
        // Logged loss: the ranks' mean for "mean", their sum for "tokens" (each rank holds a share).
        at::Tensor agg = at::tensor({contributed, static_cast<double>(tokens)}, at::TensorOptions().dtype(at::kDouble));
        m_pg->all_reduce_sum(agg, "loss all_reduce");
        r.loss = by_tokens ? agg[0].item<double>() : agg[0].item<double>() / m_pg->world_size();
        r.tokens = static_cast<std::int64_t>(agg[1].item<double>());
        r.grad_norm = clip_grad_norm(m_trainable, m_cfg.max_grad_norm);
        r.clipped = m_cfg.max_grad_norm > 0 && m_cfg.max_grad_norm / (r.grad_norm + 1e-6) < 1.0;
        for (auto& g : m_groups)
            for (auto& p : g.params) {
                const auto key = p.unsafeGetTensorImpl();
                if (m_owner.at(key) != m_pg->rank() && m_cfg.zero_stage == 1) continue;
                if (!p.grad().defined()) continue;
                adamw_update(p, p.grad(), m_state[key], g.lr, g.weight_decay, m_cfg.optimizer.beta1,
                             m_cfg.optimizer.beta2, m_cfg.optimizer.eps);
            }
        if (m_cfg.zero_stage == 1 && m_pg->distributed()) gather_parameters();
        for (auto& p : m_trainable)
            p.mutable_grad() = at::Tensor(); // zero_grad(set_to_none=True)
        ++m_step;
        r.learning_rate = m_groups.empty() ? 0.0 : m_groups.front().base_lr * m_schedule.factor(m_step);
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        r.tokens_per_s = r.seconds > 0 ? static_cast<double>(r.tokens) / r.seconds : 0.0;
        return r;
    }

    /// Planned total steps for `source` (sets the schedule). Called by `train`.
    void plan(const data_source& source) {
        const std::int64_t ga = m_cfg.gradient_accumulation_steps;
        const std::int64_t fixed = source.fixed_epochs();
        std::int64_t per_epoch = 0;
        if (fixed > 0) {
            m_epochs = fixed;
            std::int64_t total = 0;
            for (std::int64_t e = 0; e < fixed; ++e)
                total += std::max<std::int64_t>(static_cast<std::int64_t>(source.batches(e)) / ga, 1);
            m_total = m_cfg.max_steps > 0 ? std::min(m_cfg.max_steps, total) : total;
        } else {
            per_epoch = std::max<std::int64_t>(static_cast<std::int64_t>(source.batches(0)) / ga, 1);
            if (m_cfg.max_steps > 0) {
                m_total = m_cfg.max_steps;
                m_epochs = m_cfg.max_steps / per_epoch + (m_cfg.max_steps % per_epoch > 0 ? 1 : 0);
            } else {
                m_total = static_cast<std::int64_t>(std::ceil(m_cfg.num_train_epochs * static_cast<double>(per_epoch)));
                m_epochs = static_cast<std::int64_t>(std::ceil(m_cfg.num_train_epochs));
            }
        }
        m_schedule =
            lr_schedule::make(parse_schedule(m_cfg.lr_scheduler_type), m_total, m_cfg.warmup_ratio, m_cfg.warmup_steps);
    }
    std::int64_t total_steps() const noexcept { return m_total; }
    const lr_schedule& schedule() const noexcept { return m_schedule; }

    /// The data source the configuration names.
    std::shared_ptr<data_source> make_source() const {
        if (!m_cfg.micro_batches.empty())
            return std::make_shared<micro_batch_file_source>(m_cfg.micro_batches, m_pg->rank(), m_pg->world_size());
        const std::int64_t pad = m_cfg.pad_token_id >= 0 ? m_cfg.pad_token_id : m_model->config().bos_token_id;
        return std::make_shared<shard_source>(m_cfg.shards, m_cfg.per_device_train_batch_size, m_pg->rank(),
                                              m_pg->world_size(), m_cfg.shuffle, m_cfg.seed, pad);
    }

    /// Writes the model as a Hugging Face checkpoint into `dir` (rank 0): config.json, sharded
    /// safetensors with `model.safetensors.index.json` in the loaded name layout (a tied head omitted),
    /// float32, plus the source's generation / preprocessor / tokenizer files.
    void save_model(const std::string& dir, std::uint64_t max_shard_bytes = 5ull << 30) const {
        if (!rank0()) return;
        fs::create_directories(dir);
        std::vector<at::Tensor> keep;
        std::vector<io::safetensors::tensor_view> views;
        for (const auto& [name, t] : m_named) {
            views.push_back(detail::f32_view(name, t.detach().to(at::kCPU, at::kFloat), keep));
        }
        io::safetensors::write_sharded(dir, views, max_shard_bytes, {{"format", "pt"}});
        copy_side_files(dir);
        const fs::path src(m_cfg.model_name_or_path);
        // config.json: the source's, with the dtype the weights are now stored in.
        std::ifstream in(src / "config.json");
        nlohmann::json cfg = nlohmann::json::parse(in, nullptr, false);
        if (cfg.is_object()) cfg["torch_dtype"] = "float32";
        std::ofstream out(fs::path(dir) / "config.json");
        out << cfg.dump(2) << "\n";
    }

    /// Writes `output_dir/checkpoint-<step>` atomically (a temporary directory renamed when complete):
    /// the model (`save_model`), the optimizer state (`optimizer.safetensors`, or one
    /// `optimizer-rank-R.safetensors` per rank under ZeRO-1) and `trainer_state.json` (step, epoch and
    /// position of the data, configuration). Returns the directory.
    std::string save_checkpoint() {
        const fs::path final_dir = fs::path(m_cfg.output_dir) / ("checkpoint-" + std::to_string(m_step));
        const fs::path tmp = fs::path(m_cfg.output_dir) / (".tmp-checkpoint-" + std::to_string(m_step));
        if (rank0()) {
            std::error_code ec;
            fs::remove_all(tmp, ec);
            fs::create_directories(tmp);
        }
        m_pg->barrier("checkpoint start");
        // Every rank writes its own files into the folder (output_dir must be on a shared file system).
        fs::create_directories(tmp);
        if (m_cfg.lora_enable)
            save_adapter(tmp.string());
        else
            save_model(tmp.string());
        // Optimizer state of the parameters this rank updates.
        {
            std::vector<at::Tensor> keep;
            std::vector<io::safetensors::tensor_view> views;
            std::vector<std::vector<std::int64_t>> steps;
            const auto& trained = trained_parameters();
            steps.reserve(trained.size()); // views point into it: no reallocation
            for (const auto& [name, p] : trained) {
                auto it = m_state.find(p.unsafeGetTensorImpl());
                if (it == m_state.end() || !it->second.exp_avg.defined()) continue;
                views.push_back(detail::f32_view("exp_avg." + name, it->second.exp_avg, keep));
                views.push_back(detail::f32_view("exp_avg_sq." + name, it->second.exp_avg_sq, keep));
                steps.push_back({it->second.step});
                views.push_back(
                    io::safetensors::make_view("step." + name, io::safetensors::dtype::i64, {1}, steps.back()));
            }
            // This rank's CPU generator (LoRA dropout draws from it).
            at::Tensor rng;
            {
                auto gen = at::detail::getDefaultCPUGenerator();
                std::lock_guard<std::mutex> lock(gen.mutex());
                rng = gen.get_state().contiguous();
            }
            io::safetensors::tensor_view rv;
            rv.name = "cpu";
            rv.type = io::safetensors::dtype::u8;
            rv.shape = {rng.numel()};
            rv.data = rng.data_ptr();
            rv.size_bytes = static_cast<std::size_t>(rng.numel());
            io::safetensors::write((tmp / ("rng_state-rank-" + std::to_string(m_pg->rank()) + ".safetensors")).string(),
                                   {rv});
            const bool sharded = m_cfg.zero_stage == 1 && m_pg->distributed();
            if (sharded || rank0())
                io::safetensors::write(
                    (tmp / (sharded ? "optimizer-rank-" + std::to_string(m_pg->rank()) + ".safetensors"
                                    : std::string("optimizer.safetensors")))
                        .string(),
                    views);
        }
        if (rank0()) {
            nlohmann::json st;
            st["global_step"] = m_step;
            st["epoch"] = m_epoch;
            st["position"] = m_position;
            st["total_steps"] = m_total;
            st["world_size"] = m_pg->world_size();
            st["config"] = m_cfg.to_json();
            std::ofstream out(tmp / "trainer_state.json");
            out << st.dump(2) << "\n";
        }
        m_pg->barrier("checkpoint written");
        if (rank0()) {
            std::error_code ec;
            fs::remove_all(final_dir, ec);
            fs::rename(tmp, final_dir);
        }
        m_pg->barrier("checkpoint complete");
        return final_dir.string();
    }

    /// Restores weights, optimizer state and position from a checkpoint directory. Returns the
    /// (epoch, position) to continue from. train_error "bad_checkpoint" naming what does not fit.
    std::pair<std::int64_t, std::size_t> load_state(const std::string& dir) {
        std::ifstream in(fs::path(dir) / "trainer_state.json");
        nlohmann::json st = nlohmann::json::parse(in, nullptr, false);
        if (!st.is_object() || !st.contains("global_step"))
            RSCOVLM_THROW(train_error, "bad_checkpoint", dir + ": trainer_state.json is missing or invalid");
        if (st.value("world_size", 1) != m_pg->world_size())
            RSCOVLM_THROW(train_error, "bad_checkpoint",
                          dir + " was written by " + std::to_string(st.value("world_size", 1)) +
                              " ranks; resume it with as many");
        at::NoGradGuard ng;
        if (m_cfg.lora_enable) {
            auto f = io::safetensors::file::open((fs::path(dir) / "adapter_model.safetensors").string());
            for (auto& [name, p] : m_lora_named) {
                std::string key = name;
                const auto d = key.find(".default");
                if (d != std::string::npos) key.erase(d, 8);
                if (!f.contains(key))
                    RSCOVLM_THROW(train_error, "bad_checkpoint", dir + " lacks adapter weight '" + key + "'");
                std::vector<float> v = io::safetensors::to_f32(f.tensor(key));
                if (static_cast<std::int64_t>(v.size()) != p.numel())
                    RSCOVLM_THROW(train_error, "bad_checkpoint",
                                  dir + ": adapter weight '" + key + "' has another shape");
                p.detach().copy_(at::from_blob(v.data(), p.sizes(), at::TensorOptions().dtype(at::kFloat)));
            }
        }
        const fs::path rng_file = fs::path(dir) / ("rng_state-rank-" + std::to_string(m_pg->rank()) + ".safetensors");
        if (fs::exists(rng_file)) {
            auto f = io::safetensors::file::open(rng_file.string());
            const auto v = f.tensor("cpu");
            at::Tensor st8 = at::empty({static_cast<std::int64_t>(v.size_bytes)}, at::TensorOptions().dtype(at::kByte));
            std::memcpy(st8.data_ptr(), v.data, v.size_bytes);
            auto gen = at::detail::getDefaultCPUGenerator();
            std::lock_guard<std::mutex> lock(gen.mutex());
            gen.set_state(st8);
        }
        std::optional<io::safetensors::checkpoint> full;
        if (!m_cfg.lora_enable) full.emplace(io::safetensors::checkpoint::open(dir));
        for (auto& [name, p] : m_cfg.lora_enable ? std::vector<std::pair<std::string, at::Tensor>>{} : m_named) {
            auto& ck = *full;
            if (!ck.contains(name)) RSCOVLM_THROW(train_error, "bad_checkpoint", dir + " lacks weight '" + name + "'");
            const auto v = ck.tensor(name);
            std::vector<float> f = io::safetensors::to_f32(v);
            if (static_cast<std::int64_t>(f.size()) != p.numel())
                RSCOVLM_THROW(train_error, "bad_checkpoint", dir + ": weight '" + name + "' has another shape");
            p.copy_(at::from_blob(f.data(), p.sizes(), at::TensorOptions().dtype(at::kFloat)));
        }
        for (const auto& e : fs::directory_iterator(dir)) {
            const std::string n = e.path().filename().string();
            if (n.rfind("optimizer", 0) != 0 || e.path().extension() != ".safetensors") continue;
            auto f = io::safetensors::file::open(e.path().string());
            for (auto& [name, p] : trained_parameters()) {
                if (!f.contains("exp_avg." + name)) continue;
                const auto key = p.unsafeGetTensorImpl();
                if (m_cfg.zero_stage == 1 && m_owner.count(key) && m_owner.at(key) != m_pg->rank()) continue;
                adam_state& s = m_state[key];
                auto load = [&](const std::string& k) {
                    if (!f.contains(k))
                        RSCOVLM_THROW(train_error, "bad_checkpoint", e.path().string() + " lacks '" + k + "'");
                    std::vector<float> v = io::safetensors::to_f32(f.tensor(k));
                    if (static_cast<std::int64_t>(v.size()) != p.numel())
                        RSCOVLM_THROW(train_error, "bad_checkpoint",
                                      e.path().string() + ": '" + k + "' does not have the parameter's shape");
                    return at::from_blob(v.data(), p.sizes(), at::TensorOptions().dtype(at::kFloat))
                        .clone()
                        .to(p.device());
                };
                s.exp_avg = load("exp_avg." + name);
                s.exp_avg_sq = load("exp_avg_sq." + name);
                if (!f.contains("step." + name) || f.tensor("step." + name).size_bytes != sizeof(std::int64_t))
                    RSCOVLM_THROW(train_error, "bad_checkpoint", e.path().string() + ": no 8-byte 'step." + name + "'");
                const auto sv = f.tensor("step." + name);
                std::int64_t stepv = 0;
                std::memcpy(&stepv, sv.data, sizeof(stepv));
                s.step = stepv;
            }
        }
        m_step = st["global_step"].get<std::int64_t>();
        m_epoch = st.value("epoch", std::int64_t{0});
        m_position = st.value("position", std::size_t{0});
        return {m_epoch, m_position};
    }

    /// Dropout of the LoRA adapters on (training, the default) or off (evaluation).
    void set_training(bool on) { m_model->text().lora().training = on; }

    /// Writes the PEFT adapter into `dir` (rank 0): `adapter_model.safetensors` (PEFT's key names, the
    /// adapter name removed) and `adapter_config.json`, plus the tokenizer / processor files of the base.
    void save_adapter(const std::string& dir) const {
        if (!rank0()) return;
        fs::create_directories(dir);
        std::vector<at::Tensor> keep;
        std::vector<io::safetensors::tensor_view> views;
        for (const auto& [name, t] : m_lora_named) {
            std::string key = name;
            const auto d = key.find(".default");
            if (d != std::string::npos) key.erase(d, 8);
            views.push_back(detail::f32_view(key, t.detach().to(at::kCPU, at::kFloat), keep));
        }
        io::safetensors::write((fs::path(dir) / "adapter_model.safetensors").string(), views, {{"format", "pt"}});
        nlohmann::ordered_json c;
        c["alpha_pattern"] = nlohmann::json::object();
        c["auto_mapping"] = nullptr;
        c["base_model_name_or_path"] = m_cfg.model_name_or_path;
        c["bias"] = "none";
        c["fan_in_fan_out"] = false;
        c["inference_mode"] = true;
        c["init_lora_weights"] = true;
        c["layers_pattern"] = nullptr;
        c["layers_to_transform"] = nullptr;
        c["lora_alpha"] = m_cfg.lora_alpha;
        c["lora_dropout"] = m_cfg.lora_dropout;
        c["modules_to_save"] = nullptr;
        c["peft_type"] = "LORA";
        c["r"] = m_cfg.lora_rank;
        c["rank_pattern"] = nlohmann::json::object();
        c["revision"] = nullptr;
        c["target_modules"] = m_lora_targets;
        c["task_type"] = nullptr;
        c["use_dora"] = false;
        c["use_rslora"] = false;
        std::ofstream(fs::path(dir) / "adapter_config.json") << c.dump(2) << "\n";
        copy_side_files(dir);
    }

    /// The module names LoRA adapts (checkpoint layout), in module order.
    const std::vector<std::string>& lora_targets() const noexcept { return m_lora_targets; }

    /// Sets LibTorch's intra-op threads to `n` (> 0); 0 keeps LibTorch's choice. (On a 2-core machine with
    /// OpenBLAS, whose GEMMs use every core on their own, 2 ATen threads measured ~20% slower than 1:
    /// see bench_train --threads.)
    static void apply_threads(int n) {
        if (n > 0) at::set_num_threads(n);
    }

private:
    bool rank0() const { return m_pg->rank() == 0; }

    void copy_side_files(const std::string& dir) const {
        const fs::path src(m_cfg.model_name_or_path);
        for (const char* f :
             {"generation_config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json",
              "vocab.json", "merges.txt", "chat_template.json", "special_tokens_map.json", "added_tokens.json"})
            if (fs::exists(src / f) && fs::absolute(src / f) != fs::absolute(fs::path(dir) / f))
                fs::copy_file(src / f, fs::path(dir) / f, fs::copy_options::overwrite_existing);
    }

    /// PEFT `get_peft_model` with RSCoVLM's `find_target_linear_names`: every Linear / Embedding module of
    /// the language model and the head (vision excluded), minus `lora_namespan_exclude`, the last
    /// `num_lora_modules` when positive; every base parameter frozen (PEFT trains adapters only).
    void add_lora() {
        for (const auto& [n, t] : m_named)
            t.requires_grad_(false);
        const auto& cfg = m_model->config();
        const auto dev = m_model->device();
        struct target {
            std::string module; // canonical module name
            int layer;          // -1: embed / head
            int which;          // 0..6 = q k v o gate up down, 7 embed, 8 head
        };
        std::vector<target> all;
        all.push_back({"model.embed_tokens", -1, 7});
        const char* names[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
        // named_modules order: each layer's attention projections, then its MLP.
        for (int i = 0; i < cfg.text.num_hidden_layers; ++i)
            for (int w = 0; w < 7; ++w)
                all.push_back({"model.layers." + std::to_string(i) + "." + names[w], i, w});
        all.push_back({"lm_head", -1, 8});
        std::vector<target> chosen;
        for (const auto& t : all) {
            const std::string shown = checkpoint_name(t.module + ".weight");
            const std::string module = shown.substr(0, shown.size() - 7);
            bool skip = false;
            for (const auto& ex : m_cfg.lora_namespan_exclude)
                skip = skip || module.find(ex) != std::string::npos;
            if (!skip) chosen.push_back(t);
        }
        if (m_cfg.num_lora_modules > 0 && static_cast<std::int64_t>(chosen.size()) > m_cfg.num_lora_modules)
            chosen.erase(chosen.begin(), chosen.end() - m_cfg.num_lora_modules);
        auto& lora = m_model->text().lora();
        lora.layers.assign(static_cast<std::size_t>(cfg.text.num_hidden_layers), layer_lora{});
        lora.training = true;
        const std::int64_t r = m_cfg.lora_rank;
        const double scaling = m_cfg.lora_alpha / static_cast<double>(r);
        auto& layers = m_model->text().layers();
        auto opts = at::TensorOptions().dtype(at::kFloat).device(dev);
        for (const auto& t : chosen) {
            const std::string shown = checkpoint_name(t.module + ".weight");
            const std::string module = shown.substr(0, shown.size() - 7);
            m_lora_targets.push_back(module);
            lora_adapter a;
            a.scaling = scaling;
            std::string a_name, b_name;
            if (t.which == 7) {
                // PEFT Embedding: A zeros [r, vocab], B normal [hidden, r]; no dropout.
                a.A = at::zeros({r, cfg.text.vocab_size}, opts);
                a.B = at::randn({cfg.text.hidden_size, r}, opts);
                a_name = "base_model.model." + module + ".lora_embedding_A.default";
                b_name = "base_model.model." + module + ".lora_embedding_B.default";
            } else {
                const at::Tensor& w = t.which == 8 ? m_model->text().lm_head() : [&]() -> const at::Tensor& {
                    auto& l = layers[static_cast<std::size_t>(t.layer)];
                    const at::Tensor* ws[7] = {&l.q_w, &l.k_w, &l.v_w, &l.o_w, &l.gate_w, &l.up_w, &l.down_w};
                    return *ws[t.which];
                }();
                // PEFT Linear: A kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), B zeros.
                const double bound = 1.0 / std::sqrt(static_cast<double>(w.size(1)));
                a.A = at::empty({r, w.size(1)}, opts).uniform_(-bound, bound);
                a.B = at::zeros({w.size(0), r}, opts);
                a.dropout = m_cfg.lora_dropout;
                a_name = "base_model.model." + module + ".lora_A.default.weight";
                b_name = "base_model.model." + module + ".lora_B.default.weight";
            }
            a.A.requires_grad_(true);
            a.B.requires_grad_(true);
            m_lora_named.emplace_back(a_name, a.A);
            m_lora_named.emplace_back(b_name, a.B);
            if (t.which == 7)
                lora.embed = a;
            else if (t.which == 8)
                lora.head = a;
            else {
                auto& l = lora.layers[static_cast<std::size_t>(t.layer)];
                lora_adapter* slots[7] = {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down};
                *slots[t.which] = a;
            }
        }
    }

    std::string config_fingerprint() const {
        nlohmann::json j = m_cfg.to_json();
        j["trainable"] = static_cast<std::int64_t>(m_trainable.size());
        return j.dump();
    }

    void apply_freezing() {
        // RSCoVLM's train.py order: visual, visual.merger, lm_head, model (the language model).
        auto set = [&](auto pred, bool requires) {
            for (const auto& [canon, t] : m_model->named_parameters())
                if (pred(canon)) t.requires_grad_(requires);
        };
        set([](const std::string& n) { return n.rfind("visual.", 0) == 0; }, !m_cfg.freeze_vision);
        set([](const std::string& n) { return n.rfind("visual.merger.", 0) == 0; }, !m_cfg.freeze_merger);
        set([](const std::string& n) { return n == "lm_head.weight"; }, !m_cfg.freeze_language);
        set([](const std::string& n) { return n.rfind("model.", 0) == 0; }, !m_cfg.freeze_language);
    }

    void assign_owners() {
        // ZeRO-1 partition: contiguous runs of the trainable parameters (group order) of about equal size.
        std::int64_t total = 0;
        for (const auto& p : m_trainable)
            total += p.numel();
        const int w = m_pg->world_size();
        std::int64_t acc = 0;
        for (const auto& p : m_trainable) {
            int owner = static_cast<int>((acc * w) / std::max<std::int64_t>(total, 1));
            owner = std::min(owner, w - 1);
            m_owner[p.unsafeGetTensorImpl()] = m_cfg.zero_stage == 1 ? owner : m_pg->rank();
            acc += p.numel();
        }
    }

    void gather_parameters() {
        at::NoGradGuard ng;
        for (int r = 0; r < m_pg->world_size(); ++r) {
            std::vector<at::Tensor> mine;
            for (const auto& p : m_trainable)
                if (m_owner.at(p.unsafeGetTensorImpl()) == r) mine.push_back(p.detach().reshape({-1}));
            if (mine.empty()) continue;
            at::Tensor flat = at::cat(mine, 0);
            m_pg->broadcast(flat, r, "ZeRO-1 parameter broadcast");
            std::int64_t off = 0;
            for (auto& p : m_trainable)
                if (m_owner.at(p.unsafeGetTensorImpl()) == r) {
                    p.detach().copy_(flat.narrow(0, off, p.numel()).view(p.sizes()));
                    off += p.numel();
                }
        }
    }

    void enable_checkpointing() {
        m_model->text().set_layer_hook(
            [](std::size_t, const at::Tensor& x, const std::function<at::Tensor(const at::Tensor&)>& run) {
                return recompute(run, x);
            });
        bool vision_trains = false;
        for (const auto& [canon, t] : m_model->named_parameters())
            vision_trains = vision_trains || (canon.rfind("visual.blocks.", 0) == 0 && t.requires_grad()) ||
                            (canon.rfind("visual.patch_embed.", 0) == 0 && t.requires_grad());
        if (vision_trains)
            m_model->vision().set_block_hook(
                [](std::size_t, const at::Tensor& x, const std::function<at::Tensor(const at::Tensor&)>& run) {
                    return recompute(run, x);
                });
    }

    void log_step(const step_record& r) {
        if (!rank0() || m_cfg.output_dir.empty()) return;
        std::ofstream out(fs::path(m_cfg.output_dir) / "log.jsonl", std::ios::app);
        out << r.to_json().dump() << "\n";
    }

    /// Drops log lines of steps after `step` (a resumed run rewrites them).
    void trim_log(std::int64_t step) const {
        const fs::path p = fs::path(m_cfg.output_dir) / "log.jsonl";
        if (!fs::exists(p)) return;
        std::vector<std::string> keep;
        {
            std::ifstream in(p);
            std::string line;
            while (std::getline(in, line)) {
                auto j = nlohmann::json::parse(line, nullptr, false);
                if (j.is_object() && j.value("step", std::int64_t{0}) <= step) keep.push_back(line);
            }
        }
        std::ofstream out(p, std::ios::trunc);
        for (const auto& l : keep)
            out << l << "\n";
    }

    /// `output_dir/curves.png`: loss (blue, top) and group 0's learning rate (orange, bottom) per step,
    /// each scaled to its own range, from log.jsonl.
    void write_curves() const {
        const fs::path p = fs::path(m_cfg.output_dir) / "log.jsonl";
        std::vector<double> loss, lr;
        std::ifstream in(p);
        std::string line;
        while (std::getline(in, line)) {
            auto j = nlohmann::ordered_json::parse(line, nullptr, false);
            if (!j.is_object()) continue;
            loss.push_back(j.value("loss", 0.0));
            double v = 0.0;
            if (j.contains("lr") && j["lr"].is_object() && !j["lr"].empty()) v = j["lr"].begin()->get<double>();
            lr.push_back(v);
        }
        image img(640, 480, 3);
        std::fill(img.data.begin(), img.data.end(), std::uint8_t{255});
        auto plot = [&](const std::vector<double>& ys, int top, int bottom, imaging::rgb c) {
            imaging::draw_rect(img, 40, top, 620, bottom, imaging::rgb{200, 200, 200});
            if (ys.empty()) return;
            double lo = ys[0], hi = ys[0];
            for (double y : ys)
                if (std::isfinite(y)) {
                    lo = std::min(lo, y);
                    hi = std::max(hi, y);
                }
            if (!(hi > lo)) hi = lo + 1.0;
            auto px = [&](std::size_t i) {
                return 40.0 + 580.0 * (ys.size() > 1 ? double(i) / double(ys.size() - 1) : 0.5);
            };
            auto py = [&](double y) {
                return bottom - (bottom - top) * ((std::isfinite(y) ? y : lo) - lo) / (hi - lo);
            };
            for (std::size_t i = 1; i < ys.size(); ++i)
                imaging::draw_line(img, px(i - 1), py(ys[i - 1]), px(i), py(ys[i]), c, 2);
            if (ys.size() == 1)
                imaging::fill_rect(img, int(px(0)) - 2, int(py(ys[0])) - 2, int(px(0)) + 3, int(py(ys[0])) + 3, c);
        };
        plot(loss, 20, 300, imaging::rgb{0, 90, 200});
        plot(lr, 330, 460, imaging::rgb{230, 120, 0});
        io::save_png((fs::path(m_cfg.output_dir) / "curves.png").string(), img);
    }

    train_config m_cfg;
    const process_group* m_pg;
    std::unique_ptr<qwen2_5_vl> m_model;
    std::vector<std::pair<std::string, at::Tensor>> m_named;
    std::vector<std::pair<std::string, at::Tensor>> m_lora_named;
    std::vector<std::string> m_lora_targets;
    std::vector<param_group> m_groups;
    std::vector<at::Tensor> m_trainable;
    std::map<const void*, adam_state> m_state;
    std::map<const void*, int> m_owner;
    std::unique_ptr<gradient_sync> m_sync;
    lr_schedule m_schedule;
    std::int64_t m_step = 0, m_total = 0, m_epochs = 0, m_epoch = 0;
    std::size_t m_position = 0;
};

} // namespace rscovlm::torch::train
