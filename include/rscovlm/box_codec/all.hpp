#pragma once
/// \file
/// Every public header of the box_codec module.

#include <rscovlm/box_codec/builtin.hpp>
#include <rscovlm/box_codec/codec.hpp>
#include <rscovlm/box_codec/florence2.hpp>
#include <rscovlm/box_codec/geochat.hpp>
#include <rscovlm/box_codec/grammar.hpp>
#include <rscovlm/box_codec/json.hpp>
#include <rscovlm/box_codec/json_repair.hpp>
#include <rscovlm/box_codec/labels.hpp>
#include <rscovlm/box_codec/prompts.hpp>
#include <rscovlm/box_codec/qwen2vl.hpp>
#include <rscovlm/box_codec/rscovlm.hpp>
#include <rscovlm/box_codec/scores.hpp>
#include <rscovlm/box_codec/text.hpp>
#include <rscovlm/box_codec/types.hpp>
