#pragma once
/// \file
/// The LibTorch plugin's registry catalog (`rscovlm::torch::builtin`) and its kind.

#include <rscovlm/registry.hpp>
#include <rscovlm/torch/vlm.hpp>
#include <rscovlm/zoom/backend.hpp>

#include <string_view>

namespace rscovlm::torch {

/// Components contributed by the LibTorch plugin.
using builtin = registry::type_list<qwen2_5_vl_backend>;

/// The plugin's registry kind: text generators over (messages, images), i.e. `zoom::backend`s.
struct backend_kind {
    static constexpr std::string_view name = "backend";
    using interface = zoom::backend;
    using builtin_list = builtin;
};

} // namespace rscovlm::torch
