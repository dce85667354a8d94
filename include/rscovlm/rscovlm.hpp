#pragma once
/// \file rscovlm.hpp
/// The umbrella header: every core module of rscovlm (no io backends, no LibTorch). This file is
/// also the root of the single-header amalgamation in single_include/.

#include <rscovlm/config.hpp>
#include <rscovlm/detail/py/py.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/limits.hpp>
#include <rscovlm/registry.hpp>
#include <rscovlm/version.hpp>

#include <rscovlm/box_codec/all.hpp>
#include <rscovlm/data/all.hpp>
#include <rscovlm/eval/all.hpp>
#include <rscovlm/geometry/all.hpp>
#include <rscovlm/imaging/all.hpp>
#include <rscovlm/processor/all.hpp>
#include <rscovlm/resolution/all.hpp>
#include <rscovlm/tokenizer/all.hpp>
#include <rscovlm/zoom/all.hpp>

#include <rscovlm/bench/all.hpp>
#include <rscovlm/pipeline/infer.hpp>
#include <rscovlm/pipeline/pipeline.hpp>
#include <rscovlm/pipeline/run.hpp>
#include <rscovlm/pipeline/scene.hpp>
