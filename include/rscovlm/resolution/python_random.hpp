#pragma once
/// \file python_random.hpp
/// \brief The CPython-compatible `random.Random` under its resolution-module name (see
/// detail/py/random.hpp).

#include <rscovlm/detail/py/random.hpp>

namespace rscovlm::resolution {

/// \brief CPython-compatible `random.Random` (`detail::py::python_random`).
using python_random = ::rscovlm::detail::py::python_random;

} // namespace rscovlm::resolution
