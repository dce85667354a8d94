#pragma once
/// \file pipeline/kinds.hpp
/// The list of every core registry kind with its built-in catalog. Plugins append their own
/// entries (`registry::append_t<pipeline::core_kinds, kind_entry<...>>`).

#include <rscovlm/registry.hpp>

#include <rscovlm/bench/builtin.hpp>
#include <rscovlm/box_codec/builtin.hpp>
#include <rscovlm/data/builtin.hpp>
#include <rscovlm/eval/builtin.hpp>
#include <rscovlm/resolution/builtin.hpp>
#include <rscovlm/tokenizer/builtin.hpp>
#include <rscovlm/zoom/builtin.hpp>

namespace rscovlm::pipeline {

/// A registry kind paired with the catalog used to resolve its keys.
template <class Kind, class Catalog = typename Kind::builtin_list> struct kind_entry {
    using kind = Kind;
    using catalog = Catalog;
};

/// Every core kind, in pipeline order.
using core_kinds =
    registry::type_list<kind_entry<tokenizer::kind>, kind_entry<tokenizer::template_kind>, kind_entry<resolution::kind>,
                        kind_entry<box_codec::kind>, kind_entry<zoom::kind>, kind_entry<eval::kind>,
                        kind_entry<data::reader_kind>, kind_entry<data::builder_kind>, kind_entry<zoom::backend_kind>,
                        kind_entry<bench::kind>>;

} // namespace rscovlm::pipeline
