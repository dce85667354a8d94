#pragma once
/// \file imaging/all.hpp
/// \brief Every core header of the image module: the `rscovlm::image` value type (image/image.hpp),
/// the image operations of namespace `rscovlm::imaging` (imaging/: Pillow-exact resampling, crop,
/// to_rgb, torchvision's antialiased resize, drawing, the fork-join parallel_for). Decoding/encoding
/// lives in `<rscovlm/io/image_io.hpp>`.

#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/antialias_resize.hpp>
#include <rscovlm/imaging/draw.hpp>
#include <rscovlm/imaging/ops.hpp>
#include <rscovlm/imaging/parallel.hpp>
#include <rscovlm/imaging/resample.hpp>
