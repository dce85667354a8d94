#pragma once
/// \file all.hpp
/// \brief Every core header of the image module: the `rscovlm::image` value type, Pillow-exact
/// operations, drawing and the fork-join parallel_for. Decoding/encoding lives in `<rscovlm/io/image_io.hpp>`.

#include <rscovlm/image/draw.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/image/ops.hpp>
#include <rscovlm/image/parallel.hpp>
#include <rscovlm/image/resample.hpp>
#include <rscovlm/image/torch_resize.hpp>
