#pragma once
/// \file pipeline/kinds.hpp
/// The list of every core registry kind with its built-in catalog. Plugins append their own
/// entries (`registry::append_t<pipeline::core_kinds, kind_entry<...>>`).

#include <rscovlm/registry.hpp>

// (module catalogs are wired in below as the modules land)

namespace rscovlm::pipeline {

/// A registry kind paired with the catalog used to resolve its keys.
template <class Kind, class Catalog = typename Kind::builtin_list> struct kind_entry {
    using kind = Kind;
    using catalog = Catalog;
};

/// Every core kind, in pipeline order.
using core_kinds = registry::type_list<>;

} // namespace rscovlm::pipeline
