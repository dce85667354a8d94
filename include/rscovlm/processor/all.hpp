#pragma once
/// \file processor/all.hpp
/// The processor module: the Qwen2.5-VL processor (chat template, resolution plans, preprocessing,
/// pad expansion, tokens, labels, M-RoPE) written once.
#include <rscovlm/processor/processor.hpp>
