#pragma once
/// \file builtin.hpp
/// \brief The `resolution` registry kind and its built-in catalog.

#include <rscovlm/registry.hpp>
#include <rscovlm/resolution/strategy.hpp>

#include <string_view>

namespace rscovlm::resolution {

/// \brief Built-in resolution strategies.
using builtin = registry::type_list<fixed_budget, fixed_square, explicit_size, random_resize>;

/// \brief The `resolution` kind: components implement `resolution::strategy`.
struct kind {
    static constexpr std::string_view name = "resolution";
    using interface = strategy;
    using builtin_list = builtin;
};

} // namespace rscovlm::resolution
