#pragma once
/// \file image.hpp
/// \brief `rscovlm::image`: an 8-bit interleaved (HWC) raster, the value type every module exchanges.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rscovlm {

/// \brief An 8-bit image with interleaved channels (HWC, row-major, no padding between rows).
///
/// `channels` is 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA). The pixel (x, y) channel c lives at
/// `data[(y * width + x) * channels + c]`. Image operations live in `<rscovlm/image/ops.hpp>`
/// (included at the end of this header), namespace `rscovlm::imaging`; `image::resize` and
/// `image::crop` forward to them.
struct image {
    /// \brief Resampling filters of Pillow's `Image.resize` (see `imaging::resize`).
    enum class filter { nearest, bilinear, bicubic, lanczos };

    int width = 0;
    int height = 0;
    int channels = 0;
    std::vector<std::uint8_t> data;

    image() = default;
    /// \brief A zero-filled `w x h` image with `c` channels (negative sizes are treated as 0).
    image(int w, int h, int c)
        : width(w > 0 ? w : 0), height(h > 0 ? h : 0), channels(c > 0 ? c : 0),
          data(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * static_cast<std::size_t>(channels)) {}

    /// \brief Channel `c` of pixel (x, y); no bounds checks.
    std::uint8_t& at(int x, int y, int c = 0) noexcept { return data[offset(x, y, c)]; }
    /// \brief Channel `c` of pixel (x, y); no bounds checks.
    const std::uint8_t& at(int x, int y, int c = 0) const noexcept { return data[offset(x, y, c)]; }
    /// \brief Pointer to the first byte of row `y`.
    std::uint8_t* row(int y) noexcept { return data.data() + offset(0, y, 0); }
    /// \brief Pointer to the first byte of row `y`.
    const std::uint8_t* row(int y) const noexcept { return data.data() + offset(0, y, 0); }
    /// \brief Bytes per row (`width * channels`).
    std::size_t stride() const noexcept { return static_cast<std::size_t>(width) * static_cast<std::size_t>(channels); }
    /// \brief Total bytes (`width * height * channels`).
    std::size_t size_bytes() const noexcept { return stride() * static_cast<std::size_t>(height); }
    /// \brief True when the image has no pixels.
    bool empty() const noexcept { return width <= 0 || height <= 0 || channels <= 0; }

    /// \brief Pillow-exact resize (`Image.resize((w, h), f)`); see `imaging::resize`.
    static image resize(const image& src, int w, int h, filter f = filter::bicubic);
    /// \brief Crop the box [x0, x1) x [y0, y1) (Pillow `Image.crop`: outside pixels are zero); see `imaging::crop`.
    static image crop(const image& src, int x0, int y0, int x1, int y1);

  private:
    std::size_t offset(int x, int y, int c) const noexcept {
        return (static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)) *
                   static_cast<std::size_t>(channels) +
               static_cast<std::size_t>(c);
    }
};

}  // namespace rscovlm

// The operations are part of the image API (image::resize / image::crop are defined there).
#include <rscovlm/image/ops.hpp>
