#pragma once
/// \file
/// The LibTorch plugin's registry catalog (`rscovlm::torch::builtin`) and its kind.

#include <rscovlm/registry.hpp>
#include <rscovlm/torch/vlm.hpp>
#include <rscovlm/zoom/backend.hpp>
#include <rscovlm/zoom/builtin.hpp>

#include <string_view>

namespace rscovlm::torch {

/// Components contributed by the LibTorch plugin.
using builtin = registry::type_list<qwen2_5_vl_backend>;

/// The core `backend` kind (`zoom::backend_kind`: text generators over (messages, images)) resolved in
/// the plugin's catalog. Catalogs compose: `registry::concat_t<io::all_backends, torch::builtin>`.
struct backend_kind : zoom::backend_kind {
    using builtin_list = builtin;
};

} // namespace rscovlm::torch
