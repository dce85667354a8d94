#pragma once
/// \file image.hpp
/// \brief `rscovlm::image`: an 8-bit interleaved (HWC) raster, the value type every module exchanges.

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rscovlm {

/// \brief An 8-bit image with interleaved channels (HWC, row-major, no padding between rows).
///
/// `channels` is 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA). The pixel (x, y) channel c lives at
/// `data[(y * width + x) * channels + c]`. Image operations live in `<rscovlm/imaging/ops.hpp>`
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
          data(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) *
               static_cast<std::size_t>(channels)) {}

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

} // namespace rscovlm

namespace rscovlm::imaging::detail {

// Pixel buffers for the image operations and decoders (defined here, next to the type, so that every
// header of the image operations can use them whichever of them is included first).

/// Resizes `v` to `n` elements. When it has to allocate a large block (>= 8 MiB) on Linux, the fresh block
/// is advised for transparent huge pages before it is first touched: faulting in multi-megabyte image
/// buffers 4 KiB at a time costs more than decoding them on some (virtualised) hosts. Old contents are
/// kept only when no reallocation is needed; callers overwrite every element.
template <class T> inline void grow_buffer(std::vector<T>& v, std::size_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const std::size_t bytes = n * sizeof(T);
    if (v.capacity() < n && bytes >= (std::size_t{8} << 20)) {
        std::vector<T>().swap(v);
        v.reserve(n);
        const std::uintptr_t huge = std::uintptr_t{2} << 20;
        const std::uintptr_t b = reinterpret_cast<std::uintptr_t>(v.data());
        const std::uintptr_t lo = (b + huge - 1) & ~(huge - 1), hi = (b + bytes) & ~(huge - 1);
        if (hi > lo) (void)::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
    }
#endif
    v.resize(n);
}

/// A `w x h x c` image whose buffer comes from `grow_buffer` (zero-filled like `image(w, h, c)`).
inline image make_image(int w, int h, int c) {
    image img;
    img.width = w > 0 ? w : 0;
    img.height = h > 0 ? h : 0;
    img.channels = c > 0 ? c : 0;
    grow_buffer(img.data, img.size_bytes());
    return img;
}

} // namespace rscovlm::imaging::detail

// The operations are part of the image API (image::resize / image::crop are defined there).
#include <rscovlm/imaging/ops.hpp>
