#pragma once
/// \file detail/xtensor.hpp
/// The only place rscovlm includes xtensor. Debian 12 ships xtensor 0.24 with flat include paths
/// (`<xtensor/xarray.hpp>`); xtensor 0.25+ keeps the same paths, 0.26 moved some under
/// `xtensor/containers/`. Include this header instead of xtensor's own.

#if defined(__GNUC__)
#pragma GCC system_header
#endif

#if __has_include(<xtensor/containers/xarray.hpp>)
#include <xtensor/containers/xadapt.hpp>
#include <xtensor/containers/xarray.hpp>
#include <xtensor/containers/xtensor.hpp>
#include <xtensor/views/xview.hpp>
#else
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>
#endif
