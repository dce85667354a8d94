#pragma once
/// \file data/all.hpp
/// Every core header of the data module (the parts over files — DOTA folder splitting, XML and DOTA
/// folder readers, encoding, loader, shards and build — are the engine module, `engine/all.hpp`,
/// over the io/ backends such as `io/xml_annotations.hpp`).

#include <rscovlm/data/builders.hpp>
#include <rscovlm/data/builders/chat.hpp>
#include <rscovlm/data/builders/common.hpp>
#include <rscovlm/data/builders/detection.hpp>
#include <rscovlm/data/builders/grounding.hpp>
#include <rscovlm/data/builders/lrsvqa_zoom.hpp>
#include <rscovlm/data/builtin.hpp>
#include <rscovlm/data/detail/sha256.hpp>
#include <rscovlm/data/dota.hpp>
#include <rscovlm/data/lrsvqa.hpp>
#include <rscovlm/data/packing.hpp>
#include <rscovlm/data/prompts.hpp>
#include <rscovlm/data/readers.hpp>
#include <rscovlm/data/recipe.hpp>
#include <rscovlm/data/records.hpp>
#include <rscovlm/data/split.hpp>
#include <rscovlm/data/synthetic.hpp>
