#pragma once
/// \file
/// Opening a windowed image source from a file: TIFF/BigTIFF through libtiff (tile by tile, when
/// built with `RSCOVLM_HAS_TIFF`), every other format (PNG, JPEG, BMP, ...) decoded once into memory.

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include <rscovlm/errors.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/zoom/source.hpp>
#if RSCOVLM_HAS_TIFF
#include <rscovlm/io/tiff.hpp>
#endif

namespace rscovlm::io {

/// Options of open_image_source.
struct image_source_options {
    /// Decoding options of in-memory formats (pixel limit, RGBA handling).
    load_options load;
    /// Refuse TIFF images over this many pixels (0 = no limit).
    std::uint64_t tiff_max_pixels = 1ull << 31;
    /// Refuse single TIFF window reads over this many pixels (0 = no limit).
    std::uint64_t tiff_max_region_pixels = 1ull << 28;
    /// Decoded-tile cache of TIFF sources, in bytes.
    std::size_t tiff_cache_bytes = 256u << 20;
};

/// True when the file starts with a TIFF ("II*\0", "MM\0*") or BigTIFF ("II+\0", "MM\0+") header.
inline bool is_tiff_file(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    unsigned char h[4] = {0, 0, 0, 0};
    const std::size_t n = std::fread(h, 1, 4, f);
    std::fclose(f);
    if (n < 4) return false;
    return (h[0] == 'I' && h[1] == 'I' && (h[2] == 42 || h[2] == 43) && h[3] == 0) ||
           (h[0] == 'M' && h[1] == 'M' && h[2] == 0 && (h[3] == 42 || h[3] == 43));
}

/// Opens `path` as an image source. TIFF files are read window by window (io_error
/// "tiff_unsupported" when built without libtiff); other formats are decoded once with load_image.
inline std::unique_ptr<zoom::image_source> open_image_source(const std::string& path,
                                                             const image_source_options& options = {}) {
    if (is_tiff_file(path)) {
#if RSCOVLM_HAS_TIFF
        tiff_options t;
        t.max_pixels = options.tiff_max_pixels;
        t.max_region_pixels = options.tiff_max_region_pixels;
        t.cache_bytes = options.tiff_cache_bytes;
        return std::make_unique<tiff_source>(path, t);
#else
        RSCOVLM_THROW(io_error, "tiff_unsupported", "'" + path + "' is a TIFF and rscovlm was built without libtiff");
#endif
    }
    load_options lo = options.load;
    lo.to_rgb = true;
    return std::make_unique<zoom::memory_source>(load_image(path, lo));
}

/// `open_image_source` returning a result instead of throwing.
inline result<std::unique_ptr<zoom::image_source>> try_open_image_source(const std::string& path,
                                                                         const image_source_options& options = {}) {
    return try_call([&] { return open_image_source(path, options); });
}

} // namespace rscovlm::io
