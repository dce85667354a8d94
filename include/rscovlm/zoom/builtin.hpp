#pragma once
/// \file
/// The `zoom` registry kind (Zoom-in strategies) and the `backend` kind (text generators driven by
/// them), with their built-in catalogs.

#include <string_view>

#include <rscovlm/registry.hpp>
#include <rscovlm/zoom/backend.hpp>
#include <rscovlm/zoom/chain.hpp>
#include <rscovlm/zoom/scripted_backend.hpp>

namespace rscovlm::zoom {

/// Built-in `zoom` components.
using builtin = registry::type_list<tool_call_chain, single_turn_chain>;

/// The `zoom` kind: strategies answering questions about (ultra-high-resolution) images.
struct kind {
    static constexpr std::string_view name = "zoom";
    using interface = chain;
    using builtin_list = builtin;
};

/// Built-in `backend` components (core). The OpenAI-compatible client is `io::backends`
/// (`io/openai_backend.hpp`, with cpp-httplib), the LibTorch model `torch::builtin` (plugin).
using builtin_backends = registry::type_list<scripted_backend>;

/// The `backend` kind: generators over (messages, images) that a zoom controller drives; keys
/// start with "backend.".
struct backend_kind {
    static constexpr std::string_view name = "backend";
    using interface = backend;
    using builtin_list = builtin_backends;
};

} // namespace rscovlm::zoom
