#pragma once
/// \file
/// Every core header of the zoom module (the io backends are in `<rscovlm/io/...>`).

#include <rscovlm/zoom/backend.hpp>
#include <rscovlm/zoom/builtin.hpp>
#include <rscovlm/zoom/chain.hpp>
#include <rscovlm/zoom/controller.hpp>
#include <rscovlm/zoom/draw.hpp>
#include <rscovlm/zoom/lrsvqa.hpp>
#include <rscovlm/zoom/protocol.hpp>
#include <rscovlm/zoom/region.hpp>
#include <rscovlm/zoom/scripted_backend.hpp>
#include <rscovlm/zoom/source.hpp>
#include <rscovlm/zoom/token_trie.hpp>
#include <rscovlm/zoom/tool_call.hpp>
#include <rscovlm/zoom/trace.hpp>
