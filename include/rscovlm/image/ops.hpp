#pragma once
/// \file image/ops.hpp
/// Former path of `<rscovlm/imaging/ops.hpp>`: the image operations (namespace `rscovlm::imaging`)
/// live in include/rscovlm/imaging/. Kept so that code which still includes this path compiles;
/// include the imaging/ header in new code.

#include <rscovlm/imaging/ops.hpp>
