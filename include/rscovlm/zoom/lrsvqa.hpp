#pragma once
/// \file zoom/lrsvqa.hpp
/// LRS-VQA on the zoom side: which benchmark questions are asked with the Zoom-in prompt.
///
/// Reference (RSCoVLM): `rscovlm/eval/data/large_image_bench.py` get_qa_message / prepare_lrsvqa:
/// Zoom-in prompt for every category but "count".
///
/// The benchmark's metrics are in `<rscovlm/eval/lrsvqa.hpp>` (`eval::lrsvqa`) and the LRS-VQA-Zoom
/// record adapter in `<rscovlm/data/lrsvqa.hpp>` (`data::lrsvqa`); both headers also declare their
/// names in `zoom::lrsvqa`, where they were first.

#include <string_view>

namespace rscovlm::zoom::lrsvqa {

/// Whether the benchmark asks this category with the Zoom-in prompt (prepare_lrsvqa: all but "count").
inline bool uses_zoom(std::string_view category) {
    return category != "count";
}

} // namespace rscovlm::zoom::lrsvqa
