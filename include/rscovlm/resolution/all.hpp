#pragma once
/// \file all.hpp
/// \brief Every core header of the resolution module (and the image value type and operations it uses).
/// Image I/O (`<rscovlm/io/image_io.hpp>`, `<rscovlm/io/npy.hpp>`) is not included: it needs the io target.

#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/draw.hpp>
#include <rscovlm/imaging/ops.hpp>
#include <rscovlm/imaging/parallel.hpp>
#include <rscovlm/resolution/builtin.hpp>
#include <rscovlm/resolution/preprocess.hpp>
#include <rscovlm/resolution/python_random.hpp>
#include <rscovlm/resolution/rope_index.hpp>
#include <rscovlm/resolution/smart_resize.hpp>
#include <rscovlm/resolution/strategy.hpp>
#include <rscovlm/resolution/video.hpp>
