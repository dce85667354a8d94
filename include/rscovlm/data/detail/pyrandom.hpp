#pragma once
/// \file data/detail/pyrandom.hpp
/// The CPython `random.Random` methods the data code calls, under their data-module names (see
/// detail/py/random.hpp).

#include <rscovlm/detail/py/random.hpp>

namespace rscovlm::data::detail {

using ::rscovlm::detail::py::choice_index;
using ::rscovlm::detail::py::getrandbits;
using ::rscovlm::detail::py::python_random;
using ::rscovlm::detail::py::randbelow;
using ::rscovlm::detail::py::sample_indices;
using ::rscovlm::detail::py::shuffle;

} // namespace rscovlm::data::detail
