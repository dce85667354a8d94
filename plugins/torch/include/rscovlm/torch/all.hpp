#pragma once
/// \file
/// Every header of the LibTorch plugin (not part of the core umbrella: it needs LibTorch).

#include <rscovlm/torch/builtin.hpp>
#include <rscovlm/torch/config.hpp>
#include <rscovlm/torch/detect.hpp>
#include <rscovlm/torch/generate.hpp>
#include <rscovlm/torch/model.hpp>
#include <rscovlm/torch/ops.hpp>
#include <rscovlm/torch/text.hpp>
#include <rscovlm/torch/threads.hpp>
#include <rscovlm/torch/tiny.hpp>
#include <rscovlm/torch/vision.hpp>
#include <rscovlm/torch/vlm.hpp>
#include <rscovlm/torch/weight_names.hpp>
