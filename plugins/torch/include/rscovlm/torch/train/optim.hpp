#pragma once
/// \file
/// The optimizer side of RSCoVLM's training step: parameter groups (RSCoVLM's `CustomTrainer` groups
/// or the DeepSpeed recipe's single group), AdamW with torch's semantics, the Hugging Face
/// cosine-with-warmup schedule and `clip_grad_norm_`.

#include <rscovlm/torch/train/batch.hpp>

#include <torch/types.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rscovlm::torch::train {

/// How parameters are grouped.
enum class group_mode {
    /// `CustomTrainer.create_optimizer`: vision tower without the merger (`vision_lr`), the merger
    /// (`merger_lr`), the rest (`learning_rate`); each split into decay / no-decay.
    custom,
    /// The released recipes' DeepSpeed config: its own AdamW block makes one group of every trainable
    /// parameter at `learning_rate` with `weight_decay` on all of them (biases and norms too).
    deepspeed,
};

inline group_mode parse_group_mode(const std::string& s) {
    if (s == "custom") return group_mode::custom;
    if (s == "deepspeed") return group_mode::deepspeed;
    RSCOVLM_THROW(train_error, "bad_config", "optimizer_groups must be 'custom' or 'deepspeed', not '" + s + "'");
}

/// Learning rates and AdamW constants.
struct optimizer_options {
    double learning_rate = 5e-5; ///< transformers' default
    std::optional<double> vision_lr, merger_lr;
    double weight_decay = 0.0;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    group_mode groups = group_mode::custom;
};

/// One parameter group.
struct param_group {
    std::string label;
    double base_lr = 0.0;
    double lr = 0.0; ///< the current learning rate (set by the schedule)
    double weight_decay = 0.0;
    std::vector<std::string> names; ///< checkpoint names
    std::vector<at::Tensor> params;
};

/// transformers 4.51 `Trainer.get_decay_parameter_names` for this model: decayed unless the lower-cased
/// name contains "bias", "layernorm" or "rmsnorm" (Qwen2.5-VL has no `nn.LayerNorm` module).
inline bool decayed(const std::string& name) {
    std::string l = name;
    std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return l.find("bias") == std::string::npos && l.find("layernorm") == std::string::npos &&
           l.find("rmsnorm") == std::string::npos;
}

/// Groups the trainable parameters `named` (checkpoint names, module order; frozen ones are skipped).
/// Custom mode: six groups in the reference's order (vision decay / no-decay, merger decay / no-decay,
/// other decay / no-decay), empty groups kept; membership by substring ("visual" and not "merger";
/// "merger"), so both checkpoint name layouts land alike.
inline std::vector<param_group> make_groups(const std::vector<std::pair<std::string, at::Tensor>>& named,
                                            const optimizer_options& o) {
    std::vector<param_group> g;
    if (o.groups == group_mode::deepspeed) {
        g.push_back({"all", o.learning_rate, o.learning_rate, o.weight_decay, {}, {}});
        for (const auto& [n, p] : named)
            if (p.requires_grad()) {
                g[0].names.push_back(n);
                g[0].params.push_back(p);
            }
        return g;
    }
    const double vlr = o.vision_lr.value_or(o.learning_rate), mlr = o.merger_lr.value_or(o.learning_rate);
    g.push_back({"vision_decay", vlr, vlr, o.weight_decay, {}, {}});
    g.push_back({"vision_no_decay", vlr, vlr, 0.0, {}, {}});
    g.push_back({"merger_decay", mlr, mlr, o.weight_decay, {}, {}});
    g.push_back({"merger_no_decay", mlr, mlr, 0.0, {}, {}});
    g.push_back({"other_decay", o.learning_rate, o.learning_rate, o.weight_decay, {}, {}});
    g.push_back({"other_no_decay", o.learning_rate, o.learning_rate, 0.0, {}, {}});
    for (const auto& [n, p] : named) {
        if (!p.requires_grad()) continue;
        std::size_t base = 4;
        if (n.find("visual") != std::string::npos && n.find("merger") == std::string::npos)
            base = 0;
        else if (n.find("merger") != std::string::npos)
            base = 2;
        auto& grp = g[base + (decayed(n) ? 0 : 1)];
        grp.names.push_back(n);
        grp.params.push_back(p);
    }
    return g;
}

/// State of one parameter (torch's AdamW state: `step`, `exp_avg`, `exp_avg_sq`).
struct adam_state {
    std::int64_t step = 0;
    at::Tensor exp_avg, exp_avg_sq;
};

/// One AdamW update of `p` with gradient `g` (torch 1.13 `_single_tensor_adamw`, not amsgrad, not
/// maximize, operation for operation): decoupled decay, moments, bias corrections, `addcdiv`. The
/// update runs with lr 0 too: the moments and `step` still advance. `p` is updated in place under
/// no-grad.
inline void adamw_update(at::Tensor& p, const at::Tensor& g, adam_state& s, double lr, double weight_decay,
                         double beta1, double beta2, double eps) {
    at::NoGradGuard ng;
    if (!s.exp_avg.defined()) {
        s.exp_avg = at::zeros_like(p, at::MemoryFormat::Preserve);
        s.exp_avg_sq = at::zeros_like(p, at::MemoryFormat::Preserve);
    }
    s.step += 1;
    p.mul_(1.0 - lr * weight_decay);
    s.exp_avg.mul_(beta1).add_(g, 1.0 - beta1);
    s.exp_avg_sq.mul_(beta2).addcmul_(g, g, 1.0 - beta2);
    const double step = static_cast<double>(s.step);
    const double bc1 = 1.0 - std::pow(beta1, step);
    const double bc2 = 1.0 - std::pow(beta2, step);
    const double step_size = lr / bc1;
    const double bc2_sqrt = std::sqrt(bc2);
    at::Tensor denom = (s.exp_avg_sq.sqrt() / bc2_sqrt).add_(eps);
    p.addcdiv_(s.exp_avg, denom, -step_size);
}

/// `transformers.get_cosine_schedule_with_warmup` (half cycle): the factor of schedule step `s`
/// (0-based: optimizer step k uses `factor(k - 1)`, so the first step of a warmup runs at lr 0).
inline double cosine_factor(std::int64_t s, std::int64_t warmup, std::int64_t total, double num_cycles = 0.5) {
    if (s < warmup) return static_cast<double>(s) / static_cast<double>(std::max<std::int64_t>(1, warmup));
    const double progress =
        static_cast<double>(s - warmup) / static_cast<double>(std::max<std::int64_t>(1, total - warmup));
    const double pi = 3.14159265358979323846;
    return std::max(0.0, 0.5 * (1.0 + std::cos(pi * num_cycles * 2.0 * progress)));
}

/// `get_linear_schedule_with_warmup`.
inline double linear_factor(std::int64_t s, std::int64_t warmup, std::int64_t total) {
    if (s < warmup) return static_cast<double>(s) / static_cast<double>(std::max<std::int64_t>(1, warmup));
    return std::max(0.0,
                    static_cast<double>(total - s) / static_cast<double>(std::max<std::int64_t>(1, total - warmup)));
}

/// `get_constant_schedule_with_warmup`.
inline double constant_factor(std::int64_t s, std::int64_t warmup) {
    if (s < warmup)
        return static_cast<double>(s) / static_cast<double>(std::max<double>(1.0, static_cast<double>(warmup)));
    return 1.0;
}

/// The schedule types the reference's `lr_scheduler_type` names that this trainer offers.
enum class schedule_type { cosine, linear, constant_with_warmup, constant };

inline schedule_type parse_schedule(const std::string& s) {
    if (s == "cosine") return schedule_type::cosine;
    if (s == "linear") return schedule_type::linear;
    if (s == "constant_with_warmup") return schedule_type::constant_with_warmup;
    if (s == "constant") return schedule_type::constant;
    RSCOVLM_THROW(train_error, "bad_config",
                  "lr_scheduler_type '" + s + "' is not supported (cosine, linear, constant_with_warmup, constant)");
}

/// Learning-rate schedule: `TrainingArguments.get_warmup_steps` (`warmup_steps` when positive, else
/// ceil(`warmup_ratio` x total)) and the chosen decay.
struct lr_schedule {
    schedule_type type = schedule_type::cosine;
    std::int64_t total = 1;
    std::int64_t warmup = 0;

    static lr_schedule make(schedule_type t, std::int64_t total_steps, double warmup_ratio, std::int64_t warmup_steps) {
        lr_schedule s;
        s.type = t;
        s.total = total_steps;
        s.warmup = warmup_steps > 0
                       ? warmup_steps
                       : static_cast<std::int64_t>(std::ceil(static_cast<double>(total_steps) * warmup_ratio));
        return s;
    }
    /// Factor of schedule step `s` (0-based).
    double factor(std::int64_t s) const {
        switch (type) {
        case schedule_type::cosine:
            return cosine_factor(s, warmup, total);
        case schedule_type::linear:
            return linear_factor(s, warmup, total);
        case schedule_type::constant_with_warmup:
            return constant_factor(s, warmup);
        case schedule_type::constant:
            return 1.0;
        }
        return 1.0;
    }
};

/// `torch.nn.utils.clip_grad_norm_` (L2): the total norm is the norm of the per-parameter norms;
/// the gradients are multiplied by `min(max_norm / (total + 1e-6), 1)`. Returns the total before
/// clipping. Parameters without a gradient are skipped. `max_norm` <= 0 only measures.
inline double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
    at::NoGradGuard ng;
    std::vector<at::Tensor> norms;
    for (const auto& p : params)
        if (p.grad().defined()) norms.push_back(at::norm(p.grad(), 2));
    if (norms.empty()) return 0.0;
    at::Tensor total = at::norm(at::stack(norms), 2);
    if (max_norm > 0.0) {
        at::Tensor coef = at::clamp(max_norm / (total + 1e-6), c10::nullopt, 1.0);
        for (const auto& p : params)
            if (p.grad().defined()) p.grad().mul_(coef);
    }
    return total.item<double>();
}

} // namespace rscovlm::torch::train
