#pragma once
/// \file engine/all.hpp
/// The engine module: orchestration over files (dataset readers, sample encoding, the prefetching
/// loader, shard writers and reader, dataset build, splitting). It uses the io/ backends, so like
/// them it is not part of the core umbrella or the single header.

#include <rscovlm/engine/build.hpp>
#include <rscovlm/engine/encode.hpp>
#include <rscovlm/engine/loader.hpp>
#include <rscovlm/engine/readers.hpp>
#include <rscovlm/engine/shard_reader.hpp>
#include <rscovlm/engine/shards.hpp>
#include <rscovlm/engine/split.hpp>
