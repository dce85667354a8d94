#pragma once
/// \file version.hpp
/// rscovlm version numbers.

#define RSCOVLM_VERSION_MAJOR 0
#define RSCOVLM_VERSION_MINOR 1
#define RSCOVLM_VERSION_PATCH 0
#define RSCOVLM_VERSION_STRING "0.1.0"

namespace rscovlm {
/// The library version as "major.minor.patch".
inline constexpr const char* version_string = RSCOVLM_VERSION_STRING;
} // namespace rscovlm
