#pragma once
/// \file
/// Activation checkpointing (`torch.utils.checkpoint`, reentrant variant) for LibTorch: the forward of
/// a block runs without building its graph and keeps only its input; backward runs the block again
/// with grad enabled and back-propagates through that copy, which accumulates the parameters'
/// gradients directly and returns the input's. As `preserve_rng_state=True` does, the CPU generator's
/// state (and the CUDA generator's of the input's device) is saved before the forward and restored
/// around the recomputation, so dropout inside the block (LoRA's) draws the same masks twice; the
/// recomputation runs under the forward's CUDA autocast state, as `torch.utils.checkpoint` does.

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/types.h>
#include <torch/version.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>

namespace rscovlm::torch::train {

namespace detail {

inline bool cuda_autocast_enabled() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    return at::autocast::is_autocast_enabled(at::kCUDA);
#else
    return at::autocast::is_enabled();
#endif
}
inline at::ScalarType cuda_autocast_dtype() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    return at::autocast::get_autocast_dtype(at::kCUDA);
#else
    return at::autocast::get_autocast_gpu_dtype();
#endif
}
inline void set_cuda_autocast(bool on, at::ScalarType dtype) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_dtype(at::kCUDA, dtype);
    at::autocast::set_autocast_enabled(at::kCUDA, on);
#else
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(on);
#endif
}

/// Swaps a generator's state in for a scope and puts the previous one back (exceptions included).
class generator_state_swap {
public:
    generator_state_swap(at::Generator gen, const at::Tensor& state) : m_gen(std::move(gen)) {
        std::lock_guard<std::mutex> lock(m_gen.mutex());
        m_saved = m_gen.get_state();
        m_gen.set_state(state);
    }
    ~generator_state_swap() {
        std::lock_guard<std::mutex> lock(m_gen.mutex());
        m_gen.set_state(m_saved);
    }
    generator_state_swap(const generator_state_swap&) = delete;
    generator_state_swap& operator=(const generator_state_swap&) = delete;

private:
    at::Generator m_gen;
    at::Tensor m_saved;
};

/// Sets CUDA autocast for a scope and restores the previous setting.
class autocast_swap {
public:
    autocast_swap(bool on, at::ScalarType dtype) : m_was(cuda_autocast_enabled()), m_dtype(cuda_autocast_dtype()) {
        set_cuda_autocast(on, dtype);
    }
    ~autocast_swap() { set_cuda_autocast(m_was, m_dtype); }
    autocast_swap(const autocast_swap&) = delete;
    autocast_swap& operator=(const autocast_swap&) = delete;

private:
    bool m_was;
    at::ScalarType m_dtype;
};

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
        if (x.is_cuda()) {
            auto gen = at::globalContext().defaultGenerator(x.device());
            std::lock_guard<std::mutex> lock(gen.mutex());
            ctx->saved_data["cuda_rng"] = gen.get_state();
        }
        ctx->saved_data["autocast"] = cuda_autocast_enabled();
        ctx->saved_data["autocast_dtype"] = static_cast<std::int64_t>(cuda_autocast_dtype());
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
        {
            generator_state_swap cpu(at::detail::getDefaultCPUGenerator(), ctx->saved_data["rng"].toTensor());
            std::unique_ptr<generator_state_swap> cuda;
            if (ctx->saved_data.count("cuda_rng"))
                cuda = std::make_unique<generator_state_swap>(at::globalContext().defaultGenerator(saved[0].device()),
                                                              ctx->saved_data["cuda_rng"].toTensor());
            autocast_swap ac(ctx->saved_data["autocast"].toBool(),
                             static_cast<at::ScalarType>(ctx->saved_data["autocast_dtype"].toInt()));
            at::AutoGradMode enable(true);
            y = holder->fn(x);
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
