#pragma once
/// \file bench/all.hpp
/// Benchmarks: the `benchmark` registry kind (detection on DOTA-layout folders, grounding, VQA),
/// resumable and shardable runs, result tables and pictures.

#include <rscovlm/bench/answers.hpp>
#include <rscovlm/bench/benchmark.hpp>
#include <rscovlm/bench/builtin.hpp>
#include <rscovlm/bench/caption.hpp>
#include <rscovlm/bench/charts.hpp>
#include <rscovlm/bench/detection.hpp>
#include <rscovlm/bench/grounding.hpp>
#include <rscovlm/bench/large_image.hpp>
#include <rscovlm/bench/run.hpp>
#include <rscovlm/bench/vqa.hpp>
