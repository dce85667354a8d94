// Training: the goldens of tests/data/train (transformers' own Qwen2.5-VL modeling code with the
// reference's optimizer, schedule, clipping, accumulation and collator, see its README) matched through
// the library, plus the properties no golden states: activation checkpointing and packed rows give the
// same gradients, a resumed run equals an uninterrupted one, a saved checkpoint loads back.
// Torch is included before doctest (glog's CHECK would replace doctest's).
#include <rscovlm/torch/model.hpp>
#include <rscovlm/torch/train/trainer.hpp>

#include <rscovlm/io/safetensors.hpp>

#include <torch/types.h>

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace rt = rscovlm::torch;
namespace tr = rscovlm::torch::train;

namespace {

const fs::path train_data = fs::path(RSCOVLM_TEST_DATA_DIR) / "train";

nlohmann::json read_json(const fs::path& p) {
    std::ifstream in(p);
    REQUIRE(in.good());
    return nlohmann::json::parse(in);
}

bool close_rel(double a, double b, double rel, double abs_floor = 0.0) {
    return std::fabs(a - b) <= rel * std::fabs(b) + abs_floor;
}

fs::path scratch(const std::string& name) {
    fs::path p = fs::temp_directory_path() / ("rscovlm_train_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
}

tr::train_config golden_config(const std::string& model, const std::string& run) {
    tr::train_config c;
    c.model_name_or_path = (train_data / "models" / model).string();
    c.micro_batches = (train_data / "data" / "micro_batches.jsonl").string();
    c.optimizer.learning_rate = 1e-3;
    c.optimizer.vision_lr = 5e-4;
    c.optimizer.merger_lr = 2e-3;
    c.optimizer.weight_decay = 0.1;
    c.lr_scheduler_type = "cosine";
    c.warmup_ratio = 0.25;
    c.max_grad_norm = 1.0;
    c.gradient_accumulation_steps = 2;
    c.per_device_train_batch_size = 2;
    c.num_train_epochs = 2;
    c.freeze_merger = false;
    c.save_steps = 0;
    c.resume = false;
    if (run == "freeze_vision") c.freeze_vision = true;
    if (run == "deepspeed_recipe") c.optimizer.groups = tr::group_mode::deepspeed;
    return c;
}

std::pair<double, double> sum_l2(const at::Tensor& t) {
    at::Tensor d = t.detach().to(at::kDouble);
    return {d.sum().item<double>(), d.norm().item<double>()};
}

void check_run(const std::string& model, const std::string& run) {
    const auto want = read_json(train_data / "expected" / model / ("run_" + run + ".json"));
    tr::process_group pg;
    tr::trainer t(golden_config(model, run), pg);
    // Groups: labels, base lrs, weight decay and members exactly.
    const auto& groups = t.groups();
    REQUIRE(groups.size() == want["groups"].size());
    for (std::size_t g = 0; g < groups.size(); ++g) {
        INFO(model << " " << run << " group " << g);
        CHECK(groups[g].base_lr == doctest::Approx(want["groups"][g]["base_lr"].get<double>()).epsilon(1e-12));
        CHECK(groups[g].weight_decay ==
              doctest::Approx(want["groups"][g]["weight_decay"].get<double>()).epsilon(1e-12));
        CHECK(groups[g].names == want["groups"][g]["params"].get<std::vector<std::string>>());
    }
    std::map<std::string, at::Tensor> before;
    for (const auto& [n, p] : t.named_parameters())
        before[n] = p.detach().clone();
    auto res = t.train();
    REQUIRE(res.history.size() == want["steps"].size());
    CHECK(t.total_steps() == want["num_training_steps"].get<std::int64_t>());
    CHECK(t.schedule().warmup == want["num_warmup_steps"].get<std::int64_t>());
    for (std::size_t s = 0; s < res.history.size(); ++s) {
        const auto& got = res.history[s];
        const auto& w = want["steps"][s];
        INFO(model << " " << run << " step " << s + 1);
        CHECK(close_rel(got.loss, w["loss"].get<double>(), 1e-5));
        CHECK(close_rel(got.grad_norm, w["grad_norm"].get<double>(), 1e-4));
        CHECK(got.clipped == w["clipped"].get<bool>());
        REQUIRE(got.lr.size() == w["lr_used"].size());
        for (std::size_t g = 0; g < got.lr.size(); ++g)
            CHECK(got.lr[g].second == doctest::Approx(w["lr_used"][g].get<double>()).epsilon(1e-12));
        REQUIRE(got.micro.size() == w["micro"].size());
        for (std::size_t m = 0; m < got.micro.size(); ++m) {
            CHECK(close_rel(got.micro[m].loss, w["micro"][m]["loss"].get<double>(), 1e-5));
            CHECK(close_rel(got.micro[m].loss_sum, w["micro"][m]["loss_sum"].get<double>(), 1e-5));
            CHECK(got.micro[m].label_tokens == w["micro"][m]["label_tokens"].get<std::int64_t>());
        }
    }
    // Final weights: per-parameter stats, unchanged (frozen) parameters bit-identical.
    std::set<std::string> unchanged;
    for (const auto& n : want["unchanged_parameters"])
        unchanged.insert(n.get<std::string>());
    for (const auto& [n, p] : t.named_parameters()) {
        INFO(model << " " << run << " " << n);
        REQUIRE(want["final_stats"].contains(n));
        const auto st = sum_l2(p);
        const double l2 = want["final_stats"][n][1].get<double>();
        CHECK(std::fabs(st.first - want["final_stats"][n][0].get<double>()) <=
              2e-5 * static_cast<double>(p.numel()) + 1e-6);
        CHECK(close_rel(st.second, l2, 1e-5, 1e-6));
        if (unchanged.count(n)) CHECK(at::equal(before[n], p.detach()));
    }
    if (run == "groups") {
        auto ck =
            rscovlm::io::safetensors::file::open((train_data / "expected" / model / "run_groups.safetensors").string());
        for (const auto& [n, p] : t.named_parameters()) {
            INFO(model << " final weight " << n);
            REQUIRE(ck.contains(n));
            std::vector<float> v = rscovlm::io::safetensors::to_f32(ck.tensor(n));
            at::Tensor ref = at::from_blob(v.data(), p.sizes(), at::TensorOptions().dtype(at::kFloat));
            CHECK((p.detach() - ref).abs().max().item<double>() <= 2e-5);
        }
    }
}

} // namespace

TEST_CASE("train: initial losses of every micro-batch match transformers") {
    for (const std::string model : {"TA", "TB"}) {
        const auto want = read_json(train_data / "expected" / model / "losses_initial.json");
        auto mbs = tr::read_micro_batches((train_data / "data" / "micro_batches.jsonl").string());
        REQUIRE(mbs.size() == want["micro_batches"].size());
        tr::process_group pg;
        tr::trainer t(golden_config(model, "groups"), pg);
        at::NoGradGuard ng;
        for (std::size_t k = 0; k < mbs.size(); ++k) {
            INFO(model << " micro-batch " << k);
            auto lp = t.forward_loss(mbs[k]);
            const auto& w = want["micro_batches"][k];
            CHECK(close_rel(lp.mean.item<double>(), w["loss"].get<double>(), 1e-5));
            CHECK(close_rel(lp.sum.item<double>(), w["loss_sum"].get<double>(), 1e-5));
            CHECK(lp.tokens == w["label_tokens"].get<std::int64_t>());
            CHECK(mbs[k].label_tokens() == w["label_tokens"].get<std::int64_t>());
        }
    }
}

TEST_CASE("train: gradients of micro-batch 0 match transformers, with and without activation checkpointing") {
    for (const std::string model : {"TA", "TB"}) {
        const auto want = read_json(train_data / "expected" / model / "grads_mb0.json");
        auto mbs = tr::read_micro_batches((train_data / "data" / "micro_batches.jsonl").string());
        for (const bool ckpt : {false, true}) {
            auto cfg = golden_config(model, "groups");
            cfg.gradient_checkpointing = ckpt;
            tr::process_group pg;
            tr::trainer t(cfg, pg);
            t.forward_loss(mbs[0]).mean.backward();
            std::vector<at::Tensor> norms;
            for (const auto& [n, p] : t.named_parameters()) {
                INFO(model << (ckpt ? " checkpointed " : " ") << n);
                REQUIRE(p.grad().defined());
                REQUIRE(want["grads"].contains(n));
                const auto st = sum_l2(p.grad());
                const double l2 = want["grads"][n][1].get<double>();
                CHECK(close_rel(st.second, l2, 1e-4, 1e-9));
                CHECK(std::fabs(st.first - want["grads"][n][0].get<double>()) <=
                      1e-4 * l2 * std::sqrt(static_cast<double>(p.numel())) + 1e-9);
                norms.push_back(p.grad().norm());
            }
            CHECK(close_rel(at::stack(norms).norm().item<double>(), want["total_norm"].get<double>(), 1e-4));
        }
    }
}

TEST_CASE("train: 4-step runs match transformers (RSCoVLM groups, freeze_vision, DeepSpeed recipe)") {
    for (const std::string model : {"TA", "TB"})
        for (const std::string run : {"groups", "freeze_vision", "deepspeed_recipe"})
            check_run(model, run);
}

TEST_CASE("train: token-weighted loss option backpropagates loss_sum / num_items_in_batch") {
    const auto want = read_json(train_data / "expected" / "TA" / "run_groups.json");
    auto cfg = golden_config("TA", "groups");
    cfg.loss_weighting = "tokens";
    cfg.max_steps = 1;
    tr::process_group pg;
    tr::trainer t(cfg, pg);
    auto res = t.train();
    REQUIRE(res.history.size() == 1);
    double expect = 0.0;
    for (const auto& m : want["steps"][0]["micro"])
        expect += m["loss_num_items"].get<double>();
    CHECK(close_rel(res.history[0].loss, expect, 1e-5));
}

TEST_CASE("train: a packed row gives the loss sum and gradients of its samples run unpacked") {
    auto mbs = tr::read_micro_batches((train_data / "data" / "micro_batches.jsonl").string());
    const auto& b = mbs[0];
    auto cfg = golden_config("TA", "groups");
    // Unpacked: the collated pair, loss summed.
    tr::process_group pg;
    tr::trainer t(cfg, pg);
    auto lp = t.forward_loss(b);
    lp.sum.backward();
    std::map<std::string, at::Tensor> g1;
    for (const auto& [n, p] : t.named_parameters())
        g1[n] = p.grad().clone();
    const double sum1 = lp.sum.item<double>();
    for (const auto& [n, p] : t.named_parameters())
        p.mutable_grad() = at::Tensor();
    // Packed: both samples (padding removed) in one row, positions restarting, segments 1 and 2.
    std::vector<tr::example> parts;
    for (std::int64_t r = 0; r < 2; ++r) {
        tr::example e;
        const std::int64_t n = b.attention_mask[r].sum().item<std::int64_t>();
        for (std::int64_t i = 0; i < n; ++i) {
            e.input_ids.push_back(static_cast<std::int32_t>(b.input_ids[r][i].item<std::int64_t>()));
            e.labels.push_back(static_cast<std::int32_t>(b.labels[r][i].item<std::int64_t>()));
            for (int ax = 0; ax < 3; ++ax)
                e.position_ids[static_cast<std::size_t>(ax)].push_back(b.position_ids[ax][r][i].item<std::int64_t>());
        }
        parts.push_back(e);
    }
    tr::example packed;
    packed.cu_seqlens = {0};
    for (const auto& e : parts) {
        packed.input_ids.insert(packed.input_ids.end(), e.input_ids.begin(), e.input_ids.end());
        packed.labels.insert(packed.labels.end(), e.labels.begin(), e.labels.end());
        for (int ax = 0; ax < 3; ++ax)
            packed.position_ids[static_cast<std::size_t>(ax)].insert(
                packed.position_ids[static_cast<std::size_t>(ax)].end(),
                e.position_ids[static_cast<std::size_t>(ax)].begin(),
                e.position_ids[static_cast<std::size_t>(ax)].end());
        packed.cu_seqlens.push_back(static_cast<std::int64_t>(packed.input_ids.size()));
    }
    packed.grid_thw = b.grid_thw;
    at::Tensor pv = b.pixel_values.contiguous();
    packed.pixel_values.assign(pv.data_ptr<float>(), pv.data_ptr<float>() + pv.numel());
    tr::micro_batch pb = tr::collate({packed}, 256);
    REQUIRE(pb.segments.defined());
    auto lp2 = t.forward_loss(pb);
    lp2.sum.backward();
    CHECK(close_rel(lp2.sum.item<double>(), sum1, 1e-5));
    for (const auto& [n, p] : t.named_parameters()) {
        INFO(n);
        const double scale = g1[n].abs().max().item<double>();
        CHECK((p.grad() - g1[n]).abs().max().item<double>() <= 1e-4 * scale + 1e-7);
    }
    // Without the segments the two samples would see each other: the loss differs.
    pb.segments = at::Tensor();
    at::NoGradGuard ng;
    CHECK(std::fabs(t.forward_loss(pb).sum.item<double>() - sum1) > 1e-3);
}

TEST_CASE("train: a resumed run equals the uninterrupted one, and its checkpoint loads back") {
    const fs::path out_a = scratch("full"), out_b = scratch("resumed");
    auto cfg = golden_config("TB", "groups");
    cfg.output_dir = out_a.string();
    cfg.save_steps = 2;
    std::map<std::string, at::Tensor> full;
    std::vector<double> full_losses;
    {
        tr::process_group pg;
        tr::trainer t(cfg, pg);
        auto r = t.train();
        for (const auto& s : r.history)
            full_losses.push_back(s.loss);
        for (const auto& [n, p] : t.named_parameters())
            full[n] = p.detach().clone();
    }
    CHECK(fs::exists(out_a / "checkpoint-2" / "trainer_state.json"));
    CHECK(fs::exists(out_a / "model.safetensors.index.json"));
    CHECK(fs::exists(out_a / "curves.png"));
    cfg.output_dir = out_b.string();
    cfg.resume = true;
    {
        tr::process_group pg;
        tr::trainer t(cfg, pg);
        tr::trainer_hooks h;
        h.should_stop = [](std::int64_t step) { return step == 3; }; // "killed" after step 3, saved at 2
        t.train(h);
    }
    CHECK(fs::exists(out_b / "checkpoint-2"));
    CHECK_FALSE(fs::exists(out_b / "checkpoint-3"));
    // A stale temporary directory (a save cut short) is never taken for a checkpoint.
    fs::create_directories(out_b / ".tmp-checkpoint-4");
    CHECK(tr::latest_checkpoint(out_b.string()) == (out_b / "checkpoint-2").string());
    {
        tr::process_group pg;
        tr::trainer t(cfg, pg);
        auto r = t.train();
        CHECK(r.resumed_from == 2);
        REQUIRE(r.history.size() == 2);
        CHECK(r.history[0].loss == doctest::Approx(full_losses[2]).epsilon(1e-6));
        CHECK(r.history[1].loss == doctest::Approx(full_losses[3]).epsilon(1e-6));
        for (const auto& [n, p] : t.named_parameters()) {
            INFO(n);
            CHECK(at::equal(p.detach(), full[n]));
        }
    }
    // log.jsonl: one line per step 1..4 (the resumed run rewrote steps 3 and 4).
    std::ifstream log(out_b / "log.jsonl");
    std::vector<std::int64_t> steps;
    std::string line;
    while (std::getline(log, line)) {
        auto j = nlohmann::json::parse(line);
        steps.push_back(j["step"].get<std::int64_t>());
        CHECK(j.contains("grad_norm"));
        CHECK(j["lr"].size() == 6);
    }
    CHECK(steps == std::vector<std::int64_t>{1, 2, 3, 4});
    // The final model (tied, nested names, float32) loads back and gives the trained weights.
    auto m = rt::qwen2_5_vl::load(out_b.string());
    CHECK(m.tied());
    CHECK(m.layout() == rt::name_layout::nested);
    for (const auto& [canon, p] : m.named_parameters()) {
        const std::string n = rt::layout_name(canon, rt::name_layout::nested);
        INFO(n);
        REQUIRE(full.count(n));
        CHECK(at::equal(p, full[n]));
    }
    fs::remove_all(out_a);
    fs::remove_all(out_b);
}

TEST_CASE("train: configuration errors are typed and name the key") {
    auto expect = [](const nlohmann::json& j, const std::string& needle) {
        bool threw = false;
        try {
            auto c = tr::train_config::from_json(j);
            c.validate();
        } catch (const tr::train_error& e) {
            threw = true;
            CHECK(std::string(e.what()).find(needle) != std::string::npos);
        }
        CHECK(threw);
    };
    expect({{"model_name_or_path", "m"}, {"micro_batches", "x"}, {"learning_rat", 1e-3}}, "learning_rat");
    expect({{"model_name_or_path", "m"}, {"micro_batches", "x"}, {"learning_rate", "fast"}}, "learning_rate");
    expect({{"model_name_or_path", "m"}, {"micro_batches", "x"}, {"optimizer_groups", "zero"}}, "optimizer_groups");
    expect({{"model_name_or_path", "m"}}, "micro_batches");
    expect({{"model_name_or_path", "m"}, {"micro_batches", "x"}, {"warmup_ratio", 2.0}}, "warmup_ratio");
    expect({{"model_name_or_path", "m"}, {"micro_batches", "x"}, {"zero_stage", 3}}, "zero_stage");
    expect({{"model_name_or_path", "m"}, {"micro_batches", "x"}, {"lora_enable", true}}, "lora");
    // A broken micro-batch line names its line.
    const fs::path d = scratch("badmb");
    std::ofstream(d / "mb.jsonl")
        << "{\"input_ids\": [[1,2]], \"labels\": [[1]], \"position_ids\": [[[0,1]],[[0,1]],[[0,1]]]}\n";
    bool threw = false;
    try {
        tr::read_micro_batches((d / "mb.jsonl").string());
    } catch (const tr::train_error& e) {
        threw = true;
        CHECK(std::string(e.what()).find("mb.jsonl:1") != std::string::npos);
    }
    CHECK(threw);
    fs::remove_all(d);
}

TEST_CASE("train: schedule factors follow transformers") {
    // cosine with 1 warmup step of 4: 0, 1, 0.75, 0.25 (the golden's lr_factor sequence)
    auto s = tr::lr_schedule::make(tr::schedule_type::cosine, 4, 0.25, 0);
    CHECK(s.warmup == 1);
    CHECK(s.factor(0) == 0.0);
    CHECK(s.factor(1) == doctest::Approx(1.0));
    CHECK(s.factor(2) == doctest::Approx(0.75));
    CHECK(s.factor(3) == doctest::Approx(0.25));
    // ceil(ratio * total): 0.1 x 15 = 1.5 -> 2 warmup steps
    CHECK(tr::lr_schedule::make(tr::schedule_type::linear, 15, 0.1, 0).warmup == 2);
    auto l = tr::lr_schedule::make(tr::schedule_type::linear, 10, 0.0, 2);
    CHECK(l.factor(1) == doctest::Approx(0.5));
    CHECK(l.factor(6) == doctest::Approx(0.5));
    CHECK(tr::decayed("model.layers.0.mlp.up_proj.weight"));
    CHECK_FALSE(tr::decayed("model.layers.0.input_layernorm.weight"));
    CHECK_FALSE(tr::decayed("visual.blocks.0.attn.qkv.bias"));
    CHECK(tr::decayed("visual.blocks.0.norm1.weight"));
}

TEST_CASE("train: LoRA adapters (PEFT layout) train, resume exactly with dropout, and merge into the weights") {
    auto base_cfg = golden_config("TA", "groups");
    base_cfg.lora_enable = true;
    base_cfg.freeze_language = true;
    base_cfg.lora_rank = 4;
    base_cfg.lora_alpha = 8;
    base_cfg.lora_dropout = 0.05;
    base_cfg.gradient_checkpointing = true;
    auto mbs = tr::read_micro_batches((train_data / "data" / "micro_batches.jsonl").string());
    const auto want = read_json(train_data / "expected" / "TA" / "losses_initial.json");
    // Fresh adapters change nothing (B = 0, embedding A = 0); only adapters train (PEFT freezes the rest).
    {
        tr::process_group pg;
        tr::trainer t(base_cfg, pg);
        const std::size_t layers = 2;
        CHECK(t.lora_targets().size() == 1 + 7 * layers + 1);
        CHECK(t.lora_targets().front() == "model.embed_tokens");
        CHECK(t.lora_targets().back() == "lm_head");
        CHECK(t.trained_parameters().size() == 2 * t.lora_targets().size());
        for (const auto& [n, p] : t.named_parameters())
            CHECK_FALSE(p.requires_grad());
        t.set_training(false);
        at::NoGradGuard ng;
        CHECK(close_rel(t.forward_loss(mbs[0]).mean.item<double>(), want["micro_batches"][0]["loss"].get<double>(),
                        1e-5));
    }
    // Exclusions and the last-N rule.
    {
        auto c = base_cfg;
        c.lora_namespan_exclude = {"embed_tokens", "lm_head"};
        c.num_lora_modules = 3;
        tr::process_group pg;
        tr::trainer t(c, pg);
        CHECK(t.lora_targets() == std::vector<std::string>{"model.layers.1.mlp.gate_proj", "model.layers.1.mlp.up_proj",
                                                           "model.layers.1.mlp.down_proj"});
    }
    const fs::path out_a = scratch("lora_full"), out_b = scratch("lora_resumed");
    auto cfg = base_cfg;
    cfg.output_dir = out_a.string();
    cfg.save_steps = 2;
    cfg.lora_save_merged = true;
    std::map<std::string, at::Tensor> full, base_before;
    double lora_loss = 0.0;
    {
        tr::process_group pg;
        tr::trainer t(cfg, pg);
        for (const auto& [n, p] : t.named_parameters())
            base_before[n] = p.detach().clone();
        auto r = t.train();
        REQUIRE(r.history.size() == 4);
        for (const auto& s : r.history)
            CHECK(std::isfinite(s.loss));
        for (const auto& [n, p] : t.lora_parameters())
            full[n] = p.detach().clone();
        // Every adapter trained: B left zero (Linear) or A left zero (Embedding) would mean no gradient.
        for (const auto& [n, p] : t.lora_parameters()) {
            INFO(n);
            CHECK(p.detach().abs().sum().item<double>() > 0.0);
        }
        // train() merged into the live weights after saving the adapter: the merged model's loss
        // equals the adapter model's, computed again from the saved adapter below.
        t.set_training(false);
        at::NoGradGuard ng;
        lora_loss = t.forward_loss(mbs[1]).mean.item<double>();
    }
    {
        // The adapter on the untouched base, dropout off, gives the merged model's loss.
        auto c = base_cfg;
        c.output_dir = out_a.string();
        tr::process_group pg;
        tr::trainer t(c, pg);
        t.load_state((out_a / "checkpoint-2").string()); // adapter weights of step 2 (then overwritten below)
        auto f = rscovlm::io::safetensors::file::open((out_a / "adapter_model.safetensors").string());
        at::NoGradGuard ng;
        for (const auto& [n, p] : t.lora_parameters()) {
            std::string key = n;
            key.erase(key.find(".default"), 8);
            INFO(key);
            REQUIRE(f.contains(key));
            std::vector<float> v = rscovlm::io::safetensors::to_f32(f.tensor(key));
            p.detach().copy_(at::from_blob(v.data(), p.sizes(), at::TensorOptions().dtype(at::kFloat)));
            CHECK(at::equal(p.detach(), full[n]));
        }
        t.set_training(false);
        CHECK(close_rel(t.forward_loss(mbs[1]).mean.item<double>(), lora_loss, 1e-5));
        // The merged checkpoint loads as a plain model with the same loss.
        auto merged = rt::qwen2_5_vl::load((out_a / "merged").string());
        for (const auto& [canon, p] : merged.named_parameters()) {
            if (canon.rfind("visual.", 0) == 0) CHECK(at::equal(p, base_before[canon]));
        }
        at::Tensor feats = merged.encode_images(mbs[1].pixel_values, mbs[1].grid_thw);
        at::Tensor logits =
            merged.forward(merged.embed(mbs[1].input_ids, feats), mbs[1].position_ids, mbs[1].attention_mask, nullptr);
        CHECK(close_rel(tr::causal_lm_loss(logits, mbs[1].labels).mean.item<double>(), lora_loss, 1e-5));
    }
    auto adapter_cfg = read_json(out_a / "adapter_config.json");
    CHECK(adapter_cfg["peft_type"] == "LORA");
    CHECK(adapter_cfg["r"] == 4);
    CHECK(adapter_cfg["lora_alpha"].get<double>() == 8.0);
    CHECK(adapter_cfg["target_modules"].size() == 16);
    {
        auto f = rscovlm::io::safetensors::file::open((out_a / "adapter_model.safetensors").string());
        CHECK(f.contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
        CHECK(f.contains("base_model.model.lm_head.lora_B.weight"));
        CHECK(f.contains("base_model.model.model.embed_tokens.lora_embedding_A"));
    }
    // Resume with dropout and recomputation: the RNG state travels with the checkpoint.
    cfg.output_dir = out_b.string();
    cfg.resume = true;
    cfg.lora_save_merged = false;
    {
        tr::process_group pg;
        tr::trainer t(cfg, pg);
        tr::trainer_hooks h;
        h.should_stop = [](std::int64_t step) { return step == 3; };
        t.train(h);
    }
    {
        tr::process_group pg;
        tr::trainer t(cfg, pg);
        auto r = t.train();
        CHECK(r.resumed_from == 2);
        for (const auto& [n, p] : t.lora_parameters()) {
            INFO(n);
            CHECK(at::equal(p.detach(), full[n]));
        }
    }
    fs::remove_all(out_a);
    fs::remove_all(out_b);
}
