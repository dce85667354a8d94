#pragma once
/// \file
/// Windowed access to a (possibly ultra-high-resolution) image for the Zoom-in Chain.
///
/// The controller never needs the whole original in memory: it asks a source for the full view
/// resized to the resolution budget and for crops of the original resized likewise. An in-memory
/// source (an image decoded once) lives here; a tiled/striped TIFF source that reads only the tiles
/// a window touches lives in `<rscovlm/io/tiff.hpp>`, and `<rscovlm/io/image_source.hpp>` opens
/// either from a file.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/limits.hpp>

namespace rscovlm::zoom {

/// An integer pixel window [x0, x1) x [y0, y1) of the original image.
struct pixel_box {
    int x0 = 0;
    int y0 = 0;
    int x1 = 0;
    int y1 = 0;
    int width() const noexcept { return x1 - x0; }
    int height() const noexcept { return y1 - y0; }
    long long area() const noexcept {
        return static_cast<long long>(std::max(0, width())) * static_cast<long long>(std::max(0, height()));
    }
};

/// A random-access RGB image of known size whose pixels are read window by window.
class image_source {
public:
    virtual ~image_source() = default;
    /// Width of the original image in pixels.
    virtual int width() const = 0;
    /// Height of the original image in pixels.
    virtual int height() const = 0;

    /// The RGB pixels of `box` (Pillow `Image.crop` semantics: parts outside the image are zero).
    /// Raises `rscovlm.limit.region_too_large` when the window exceeds the source's pixel limit.
    virtual image read(const pixel_box& box) = 0;

    /// `box` resized to `out_w` x `out_h`, pixel-identical to `image::resize(read(box), out_w, out_h, f)`.
    /// The default reads the window in horizontal bands and resamples each band horizontally before the
    /// vertical pass, so peak memory is one band plus an `out_w`-wide intermediate (Pillow resamples
    /// horizontally first into an 8-bit image, then vertically, so the result is identical).
    virtual image read_resized(const pixel_box& box, int out_w, int out_h, image::filter f) {
        return read_resized_banded(box, out_w, out_h, f, band_rows());
    }

protected:
    /// Rows per band used by the default `read_resized` (sources align it to their tile height).
    virtual int band_rows() const { return 512; }

    /// Banded implementation of read_resized (see above).
    image read_resized_banded(const pixel_box& box, int out_w, int out_h, image::filter f, int rows) {
        if (out_w <= 0 || out_h <= 0 || box.width() <= 0 || box.height() <= 0)
            RSCOVLM_THROW(zoom_error, "bad_window",
                          "read_resized: empty window or target (" + std::to_string(box.width()) + "x" +
                              std::to_string(box.height()) + " -> " + std::to_string(out_w) + "x" +
                              std::to_string(out_h) + ")");
        const bool nearest = f == image::filter::nearest;
        if (nearest || out_w == box.width() || box.height() <= rows) return image::resize(read(box), out_w, out_h, f);
        rows = std::max(1, rows);
        limits::check("output_pixels",
                      limits::mul(static_cast<std::uint64_t>(out_w), static_cast<std::uint64_t>(box.height())),
                      "read_resized: the " + std::to_string(out_w) + "x" + std::to_string(box.height()) +
                          " horizontal pass of a " + std::to_string(box.width()) + "x" + std::to_string(box.height()) +
                          " window");
        image mid(out_w, box.height(), 3);
        for (int y = box.y0; y < box.y1; y += rows) {
            const int y1 = std::min(box.y1, y + rows);
            image band = read(pixel_box{box.x0, y, box.x1, y1});
            image h = image::resize(band, out_w, band.height, f); // horizontal pass only
            std::copy(h.data.begin(), h.data.end(), mid.row(y - box.y0));
        }
        return image::resize(mid, out_w, out_h, f); // vertical pass only
    }
};

/// An image source over an image already in memory (decoded once), converted to RGB.
class memory_source : public image_source {
public:
    /// Takes `img` (1..4 channels; alpha composited on white like qwen-vl-utils `to_rgb`).
    explicit memory_source(image img)
        : m_img(std::make_shared<const image>(img.channels == 3 ? std::move(img) : imaging::to_rgb(img))) {}
    /// Reads `img` in place without copying; it must be 3-channel RGB and outlive the source.
    static memory_source borrow(const image& img) {
        if (img.channels != 3)
            RSCOVLM_THROW(zoom_error, "bad_channels",
                          "memory_source::borrow needs an RGB image, got " + std::to_string(img.channels) +
                              " channels");
        return memory_source(std::shared_ptr<const image>(&img, [](const image*) {}));
    }
    int width() const override { return m_img->width; }
    int height() const override { return m_img->height; }
    image read(const pixel_box& box) override {
        if (box.x1 < box.x0 || box.y1 < box.y0) RSCOVLM_THROW(zoom_error, "bad_window", "read: inverted window");
        return image::crop(*m_img, box.x0, box.y0, box.x1, box.y1);
    }
    image read_resized(const pixel_box& box, int out_w, int out_h, image::filter f) override {
        if (box.x0 == 0 && box.y0 == 0 && box.x1 == m_img->width && box.y1 == m_img->height)
            return image::resize(*m_img, out_w, out_h, f);
        return image::resize(read(box), out_w, out_h, f);
    }
    /// The decoded RGB image.
    const image& pixels() const noexcept { return *m_img; }

private:
    explicit memory_source(std::shared_ptr<const image> p) : m_img(std::move(p)) {}
    std::shared_ptr<const image> m_img;
};

} // namespace rscovlm::zoom
