#pragma once
/// \file
/// The `zoom` registry kind and its built-in catalog.

#include <string_view>

#include <rscovlm/registry.hpp>
#include <rscovlm/zoom/chain.hpp>

namespace rscovlm::zoom {

/// Built-in `zoom` components.
using builtin = registry::type_list<tool_call_chain, single_turn_chain>;

/// The `zoom` kind: strategies answering questions about (ultra-high-resolution) images.
struct kind {
    static constexpr std::string_view name = "zoom";
    using interface = chain;
    using builtin_list = builtin;
};

} // namespace rscovlm::zoom
