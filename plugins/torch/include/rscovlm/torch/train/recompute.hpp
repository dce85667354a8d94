#pragma once
/// \file
/// Activation checkpointing (`torch.utils.checkpoint`, reentrant variant) for LibTorch: the forward of
/// a block runs without building its graph and keeps only its input; backward runs the block again
/// with grad enabled and back-propagates through that copy, which accumulates the parameters'
/// gradients directly and returns the input's. As `preserve_rng_state=True` does, the CPU generator's
/// state is saved before the forward and restored around the recomputation, so dropout inside the block
/// (LoRA's) draws the same masks twice.

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/types.h>

#include <functional>
#include <mutex>
#include <utility>

namespace rscovlm::torch::train {

namespace detail {

struct recompute_holder : ::torch::CustomClassHolder {
    std::function<at::Tensor(const at::Tensor&)> fn;
};

struct recompute_function : ::torch::autograd::Function<recompute_function> {
    static at::Tensor forward(::torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                              c10::intrusive_ptr<recompute_holder> holder) {
        ctx->save_for_backward({x});
        {
            auto gen = at::detail::getDefaultCPUGenerator();
            std::lock_guard<std::mutex> lock(gen.mutex());
            ctx->saved_data["rng"] = gen.get_state();
        }
        at::Tensor y = holder->fn(x);
        ctx->saved_data["fn"] = c10::IValue::make_capsule(std::move(holder));
        return y;
    }

    static ::torch::autograd::variable_list backward(::torch::autograd::AutogradContext* ctx,
                                                     ::torch::autograd::variable_list grad_out) {
        auto saved = ctx->get_saved_variables();
        auto holder = c10::static_intrusive_pointer_cast<recompute_holder>(ctx->saved_data["fn"].toCapsule());
        at::Tensor x = saved[0].detach().requires_grad_(saved[0].requires_grad());
        at::Tensor y;
        auto gen = at::detail::getDefaultCPUGenerator();
        at::Tensor now;
        {
            std::lock_guard<std::mutex> lock(gen.mutex());
            now = gen.get_state();
            gen.set_state(ctx->saved_data["rng"].toTensor());
        }
        {
            at::AutoGradMode enable(true);
            y = holder->fn(x);
        }
        {
            std::lock_guard<std::mutex> lock(gen.mutex());
            gen.set_state(now);
        }
        if (y.requires_grad()) ::torch::autograd::backward({y}, {grad_out[0]});
        return {x.requires_grad() ? x.grad() : at::Tensor(), at::Tensor()};
    }
};

} // namespace detail

/// `fn(x)` with its activations recomputed in backward instead of stored. Outside grad mode (or when
/// neither `x` nor anything `fn` uses requires grad) it is a plain call.
inline at::Tensor recompute(const std::function<at::Tensor(const at::Tensor&)>& fn, const at::Tensor& x) {
    if (!at::GradMode::is_enabled()) return fn(x);
    auto holder = c10::make_intrusive<detail::recompute_holder>();
    holder->fn = fn;
    // The input must require grad for the engine to call backward even when only parameters inside
    // `fn` do (the reference's reentrant checkpoint has the same requirement: its first block input is
    // the embedding output, which requires grad when the embeddings train).
    at::Tensor in = x.requires_grad() ? x : x.detach().requires_grad_(true);
    return detail::recompute_function::apply(in, holder);
}

} // namespace rscovlm::torch::train
