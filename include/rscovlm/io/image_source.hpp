#pragma once
/// \file
/// Opening a windowed image source from a file: TIFF/BigTIFF through libtiff (tile by tile, when
/// built with `RSCOVLM_HAS_TIFF`), the formats image_io decodes (PNG, JPEG, BMP, GIF, PNM) decoded
/// once into memory, and every other raster (JPEG2000, NITF, VRT, 16-bit or multi-band GeoTIFFs that
/// libtiff's 8-bit reader refuses, ...) through GDAL when built with `RSCOVLM_HAS_GDAL`. Overview
/// reads and band selection are GDAL's and ask for it.

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <rscovlm/errors.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/zoom/source.hpp>
#if RSCOVLM_HAS_TIFF
#include <rscovlm/io/tiff.hpp>
#endif
#if RSCOVLM_HAS_GDAL
#include <rscovlm/io/gdal.hpp>
#endif
#include <vector>

namespace rscovlm::io {

/// Options of open_image_source.
struct image_source_options {
    /// Decoding options of in-memory formats (pixel limit, RGBA handling).
    load_options load;
    /// Refuse TIFF images over this many pixels (0 = no limit).
    std::uint64_t tiff_max_pixels = 1ull << 31;
    /// Refuse single TIFF window reads over this many pixels (0 = no limit).
    std::uint64_t tiff_max_region_pixels = 1ull << 28;
    /// Decoded-tile cache of TIFF sources, in bytes (GDAL sources: the most GDAL's block cache may hold).
    std::size_t tiff_cache_bytes = 256u << 20;
    /// Which reader opens the file: "auto" (see open_image_source), "libtiff", "gdal" or "memory".
    std::string reader = "auto";
    /// GDAL: read resized views from the coarsest sufficient overview (not reference-exact).
    bool overviews = false;
    /// GDAL: 1-based bands shown as grey (one) or R, G, B (three); empty = GDAL source's default rule.
    std::vector<int> bands;
    /// GDAL: refuse rasters over this many pixels (0 = no limit); default 2^34 (131072 x 131072).
    std::uint64_t gdal_max_pixels = 1ull << 34;
};

/// True when open_image_source can use GDAL (built with it).
inline constexpr bool has_gdal() noexcept {
#if RSCOVLM_HAS_GDAL
    return true;
#else
    return false;
#endif
}

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

namespace detail {
/// True when the file starts with the signature of a format image_io decodes itself (image_io's own
/// sniffing; TGA has no signature and is left to GDAL here).
inline bool is_decoded_format(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    std::uint8_t h[32] = {};
    const std::size_t n = std::fread(h, 1, sizeof h, f);
    std::fclose(f);
    const std::string format = image_detail::sniff(h, n).format;
    return format == "png" || format == "jpeg" || format == "bmp" || format == "gif" || format == "pnm";
}

#if RSCOVLM_HAS_GDAL
inline std::unique_ptr<zoom::image_source> open_gdal(const std::string& path, const image_source_options& o) {
    gdal_options g;
    g.bands = o.bands;
    g.use_overviews = o.overviews;
    g.max_pixels = o.gdal_max_pixels;
    g.max_region_pixels = o.tiff_max_region_pixels;
    g.cache_bytes = static_cast<std::int64_t>(o.tiff_cache_bytes);
    return std::make_unique<gdal_source>(path, g);
}
#endif
} // namespace detail

/// Opens `path` as an image source. With `reader` "auto": overviews or bands ask for GDAL; a TIFF goes
/// to libtiff (reference-exact 8-bit decode; one that libtiff's reader refuses, e.g. 16-bit or 4-band
/// data, falls back to GDAL); PNG, JPEG, BMP, GIF and PNM are decoded once in memory; anything else
/// goes to GDAL when built with it (else to the in-memory decoder, which names the format it lacks).
/// io_error "tiff_unsupported" / "gdal_unsupported" when the chosen reader was not built.
inline std::unique_ptr<zoom::image_source> open_image_source(const std::string& path,
                                                             const image_source_options& options = {}) {
    const std::string& r = options.reader;
    if (r != "auto" && r != "libtiff" && r != "gdal" && r != "memory")
        RSCOVLM_THROW(usage_error, "bad_reader", "unknown image reader '" + r + "' (auto, libtiff, gdal, memory)");
    const bool gdal_features = options.overviews || !options.bands.empty();
    if (r == "gdal" || (r == "auto" && gdal_features)) {
#if RSCOVLM_HAS_GDAL
        return detail::open_gdal(path, options);
#else
        RSCOVLM_THROW(io_error, "gdal_unsupported",
                      "'" + path +
                          "': " + (gdal_features ? "overviews and band selection need" : "reader 'gdal' needs") +
                          " GDAL, and rscovlm was built without it");
#endif
    }
    if (gdal_features)
        RSCOVLM_THROW(usage_error, "bad_reader", "overviews and band selection need the GDAL reader, not '" + r + "'");
    if (r == "libtiff" || (r == "auto" && is_tiff_file(path))) {
#if RSCOVLM_HAS_TIFF
        tiff_options t;
        t.max_pixels = options.tiff_max_pixels;
        t.max_region_pixels = options.tiff_max_region_pixels;
        t.cache_bytes = options.tiff_cache_bytes;
#if RSCOVLM_HAS_GDAL && RSCOVLM_HAS_EXCEPTIONS
        if (r == "auto") {
            try {
                return std::make_unique<tiff_source>(path, t);
            } catch (const io_error& e) {
                if (e.id() != "rscovlm.io.unsupported_tiff") throw;
            }
            return detail::open_gdal(path, options);
        }
#endif
        return std::make_unique<tiff_source>(path, t);
#else
#if RSCOVLM_HAS_GDAL
        if (r == "auto") return detail::open_gdal(path, options);
#endif
        RSCOVLM_THROW(io_error, "tiff_unsupported", "'" + path + "' is a TIFF and rscovlm was built without libtiff");
#endif
    }
#if RSCOVLM_HAS_GDAL
    std::error_code ec;
    if (r == "auto" && !detail::is_decoded_format(path) && std::filesystem::exists(path, ec))
        return detail::open_gdal(path, options);
#endif
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
