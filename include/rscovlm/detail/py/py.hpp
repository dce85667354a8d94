#pragma once
/// \file detail/py/py.hpp
/// The layer that reproduces Python's behaviour, namespace `rscovlm::detail::py`, one concept per
/// header. Every module calls these instead of keeping its own copy.
/// - str.hpp: `str.strip/lstrip/rstrip/split/splitlines/replace/lower` (one whitespace set: `str.isspace`)
/// - int.hpp: `int(float)` truncation and `int(str)` parsing
/// - math.hpp: float `%` and `round()`
/// - format.hpp: `repr(float)`, `'%.nf' % x`, `float(str)`, numpy float32 rounding
/// - json.hpp: `json.dumps` with Python's defaults
/// - random.hpp: CPython's `random` (Mersenne Twister, choice, sample, shuffle)
/// - utf8.hpp: `bytes.decode("utf-8", "replace")`
/// - float16.hpp: torch's float32 <-> bfloat16 / float16 conversions
/// - file.hpp: `open(path, "rb").read()`

#include <rscovlm/detail/py/file.hpp>
#include <rscovlm/detail/py/float16.hpp>
#include <rscovlm/detail/py/format.hpp>
#include <rscovlm/detail/py/int.hpp>
#include <rscovlm/detail/py/json.hpp>
#include <rscovlm/detail/py/math.hpp>
#include <rscovlm/detail/py/random.hpp>
#include <rscovlm/detail/py/str.hpp>
#include <rscovlm/detail/py/utf8.hpp>
