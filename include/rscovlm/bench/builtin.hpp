#pragma once
/// \file bench/builtin.hpp
/// The `benchmark` registry kind and its built-in catalog.

#include <rscovlm/bench/benchmark.hpp>
#include <rscovlm/bench/caption.hpp>
#include <rscovlm/bench/detection.hpp>
#include <rscovlm/bench/grounding.hpp>
#include <rscovlm/bench/large_image.hpp>
#include <rscovlm/bench/vqa.hpp>
#include <rscovlm/registry.hpp>

#include <string_view>

namespace rscovlm::bench {

/// Built-in `benchmark` components.
using builtin =
    registry::type_list<dota_detection_bench, dior_detection_bench, hrsc_detection_bench, fair1m_detection_bench,
                        grounding_bench, vqa_bench, caption_bench, lrsvqa_bench, mme_realworld_rs_bench>;

/// The `benchmark` kind: data sets answered by a model and scored into a results table
/// (`rscovlm bench run`); keys start with "bench.".
struct kind {
    static constexpr std::string_view name = "benchmark";
    using interface = benchmark;
    using builtin_list = builtin;
};

} // namespace rscovlm::bench
