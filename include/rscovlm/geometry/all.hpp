#pragma once
/// \file
/// Every public header of the geometry module.

#include <rscovlm/geometry/convert.hpp>
#include <rscovlm/geometry/min_area_rect.hpp>
#include <rscovlm/geometry/obb.hpp>
#include <rscovlm/geometry/ops.hpp>
#include <rscovlm/geometry/types.hpp>
