#pragma once
/// \file
/// Geospatial rasters through GDAL (Debian's libgdal-dev; compiled only when `RSCOVLM_HAS_GDAL` is
/// set, which the `rscovlm::io` target defines when GDAL is found at configure time):
///
/// - `gdal_source`: an image source over any raster GDAL opens (GeoTIFF / Cloud-Optimized GeoTIFF,
///   JPEG2000, NITF, VRT, ...), read window by window, with band selection, the scaling rule for
///   data that is not 8-bit, nodata, the affine geotransform and the CRS, and (opt-in) reads from the
///   coarsest overview that still gives the pixels a resize asks for;
/// - `geotiff_writer` / `write_geotiff`: tiled, compressed GeoTIFFs with a geotransform, a CRS and
///   internal overviews (the synthetic scenes);
/// - `geo_transformer`, `write_geojson`, `write_geopackage`: scene detections as RFC 7946 GeoJSON
///   (WGS84 longitude/latitude, reprojected with PROJ through OGR) and as a GeoPackage layer in the
///   scene's CRS.
///
/// ## Band rule (documented defaults)
/// - `bands` given (1-based): one band is shown as grey (replicated to R, G and B), three bands as R,
///   G, B in the order given.
/// - otherwise: the bands whose colour interpretation is red, green and blue, when all three exist;
///   a single palette band is expanded through its colour table; else bands 1, 2, 3 when there are at
///   least three (4-band imagery without colour interpretation, e.g. RGB+NIR, shows bands 1-3: give
///   `bands = {3, 2, 1}` for B,G,R,NIR sensor order); else band 1 as grey.
/// - an alpha band (colour interpretation alpha) of 8-bit data is composited on white, as qwen-vl-utils
///   `to_rgb` does (`imaging::to_rgb`).
///
/// ## Scaling rule for data that is not 8-bit (UInt16, Int16, UInt32, Float32, ...)
/// Each band maps linearly from its range [lo, hi] to [0, 255]: `v' = floor((v - lo) * 255 / (hi - lo)
/// + 0.5)`, clamped to [0, 255] (`hi == lo` gives 0). The range is `scale_range` when given (the same
/// for every band), else the band's `STATISTICS_MINIMUM/MAXIMUM` metadata when the file carries it,
/// else its exact minimum and maximum (nodata excluded), computed once when the source opens (one
/// pass over the band, block by block). `scaling::clip` keeps the values as they are, clamped to
/// [0, 255] after rounding half up. 8-bit data is never scaled unless `scale_range` is given.
///
/// ## Nodata
/// A pixel is nodata when any selected band holds that band's nodata value; it is written as
/// `nodata_rgb` (default black, the split's padding colour), before scaling can touch it.
///
/// ## Overviews
/// With `use_overviews` off (the default) every read is at full resolution and `read_resized` is
/// pixel-identical to resizing a full decode (the reference decodes everything). With it on,
/// `read_resized` reads the window from the coarsest overview level at which the window still has at
/// least `out_w` x `out_h` pixels (the window's edges snapped outwards to that level's pixel grid),
/// then resizes that to the target exactly as before. The result differs from the reference's full
/// decode by the overview's own resampling (GDAL's, e.g. AVERAGE) and the edge snapping (under one
/// overview pixel); the chain's geometry (window boxes, original frame) is unchanged. `stats()` counts
/// the pixels read at each level, so the saving is measurable.

#if RSCOVLM_HAS_GDAL

#include <rscovlm/errors.hpp>
#include <rscovlm/geometry/types.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/ops.hpp>
#include <rscovlm/limits.hpp>
#include <rscovlm/zoom/source.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <gdal_priv.h>
#include <ogr_spatialref.h>
#include <ogrsf_frmts.h>

namespace rscovlm::io {

namespace detail {

/// Registers GDAL's drivers once.
inline void gdal_init() {
    static std::once_flag once;
    std::call_once(once, [] { GDALAllRegister(); });
}

/// Silences GDAL's error printing for a scope (errors are read back with last_message()).
class gdal_quiet {
public:
    gdal_quiet() {
        CPLErrorReset();
        CPLPushErrorHandler(CPLQuietErrorHandler);
    }
    gdal_quiet(const gdal_quiet&) = delete;
    gdal_quiet& operator=(const gdal_quiet&) = delete;
    ~gdal_quiet() { CPLPopErrorHandler(); }
    static std::string last_message() {
        const char* m = CPLGetLastErrorMsg();
        return m && *m ? std::string(": ") + m : std::string();
    }
};

struct gdal_closer {
    void operator()(GDALDataset* d) const noexcept {
        if (d) GDALClose(GDALDataset::ToHandle(d));
    }
};
using dataset_ptr = std::unique_ptr<GDALDataset, gdal_closer>;

inline std::uint8_t scale_u8(double v, double lo, double hi) noexcept {
    if (std::isnan(v) || !(hi > lo)) return 0;
    if (std::isinf(v)) return v > 0 ? 255 : 0;
    const double s = std::floor((v - lo) * 255.0 / (hi - lo) + 0.5);
    return static_cast<std::uint8_t>(std::clamp(s, 0.0, 255.0));
}
inline std::uint8_t clip_u8(double v) noexcept {
    if (std::isnan(v)) return 0;
    if (std::isinf(v)) return v > 0 ? 255 : 0;
    return static_cast<std::uint8_t>(std::clamp(std::floor(v + 0.5), 0.0, 255.0));
}

} // namespace detail

/// The affine georeferencing of a raster: map = (gt[0] + x*gt[1] + y*gt[2], gt[3] + x*gt[4] + y*gt[5])
/// for pixel/line (x, y), (0, 0) being the top-left corner of the top-left pixel.
struct georef {
    bool has_transform = false;
    std::array<double, 6> transform{0.0, 1.0, 0.0, 0.0, 0.0, 1.0};
    std::string wkt;  ///< the CRS as WKT (empty: none)
    std::string epsg; ///< "EPSG:32633" when the CRS has an EPSG code, else empty

    /// True when pixels can be placed on the earth (a transform and a CRS).
    bool georeferenced() const noexcept { return has_transform && !wkt.empty(); }
    /// Map coordinates of pixel/line (x, y).
    geometry::point to_map(double x, double y) const noexcept {
        const auto& g = transform;
        return {g[0] + x * g[1] + y * g[2], g[3] + x * g[4] + y * g[5]};
    }
};

/// A georeference from an EPSG code and a north-up transform (origin = map coordinates of the
/// top-left corner, `pixel` = ground size of a pixel). Raises io_error "bad_crs" for unknown codes.
inline georef make_georef(int epsg, double origin_x, double origin_y, double pixel) {
    detail::gdal_init();
    detail::gdal_quiet q;
    OGRSpatialReference srs;
    if (srs.importFromEPSG(epsg) != OGRERR_NONE)
        RSCOVLM_THROW(io_error, "bad_crs", "unknown EPSG code " + std::to_string(epsg) + q.last_message());
    char* wkt = nullptr;
    srs.exportToWkt(&wkt);
    georef g;
    g.has_transform = true;
    g.transform = {origin_x, pixel, 0.0, origin_y, 0.0, -pixel};
    g.wkt = wkt ? wkt : "";
    CPLFree(wkt);
    g.epsg = "EPSG:" + std::to_string(epsg);
    return g;
}

namespace detail {
inline georef georef_of(GDALDataset& ds) {
    georef g;
    double gt[6];
    if (ds.GetGeoTransform(gt) == CE_None) {
        g.has_transform = true;
        std::copy(gt, gt + 6, g.transform.begin());
    }
    if (const OGRSpatialReference* srs = ds.GetSpatialRef()) {
        char* wkt = nullptr;
        if (srs->exportToWkt(&wkt) == OGRERR_NONE && wkt) g.wkt = wkt;
        CPLFree(wkt);
        const char* name = srs->GetAuthorityName(nullptr);
        const char* code = srs->GetAuthorityCode(nullptr);
        if (name && code && std::string(name) == "EPSG") g.epsg = std::string("EPSG:") + code;
    }
    return g;
}

/// Raises io_error "write_failed" when GDAL recorded an error since the last CPLErrorReset.
inline void check_gdal_write(const std::string& path, const char* what) {
    if (CPLGetLastErrorType() >= CE_Failure)
        RSCOVLM_THROW(io_error, "write_failed", std::string(what) + " '" + path + "' failed: " + CPLGetLastErrorMsg());
}
} // namespace detail

/// The georeferencing of the raster at `path` as GDAL reads it (geotransform and CRS only; no pixels
/// are read), e.g. to place detections made on pixels another reader decoded. Raises io_error
/// "open_failed" when GDAL cannot open it.
inline georef read_georef(const std::string& path) {
    detail::gdal_init();
    detail::gdal_quiet q;
    detail::dataset_ptr ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY));
    if (!ds) RSCOVLM_THROW(io_error, "open_failed", "GDAL cannot open '" + path + "' as a raster" + q.last_message());
    return detail::georef_of(*ds);
}

/// How gdal_source maps samples that are not 8-bit to 0..255 (see the file comment).
enum class gdal_scaling { stretch, clip };

/// Options of gdal_source.
struct gdal_options {
    std::vector<int> bands;                           ///< 1-based bands (1 or 3); empty = the default rule
    gdal_scaling scaling = gdal_scaling::stretch;     ///< rule for samples that are not 8-bit
    std::optional<std::array<double, 2>> scale_range; ///< [lo, hi] for every band (also for 8-bit data)
    std::array<std::uint8_t, 3> nodata_rgb{0, 0, 0};  ///< colour of nodata pixels
    bool use_overviews = false;                       ///< read_resized from overviews (not reference-exact)
    std::uint64_t max_pixels = 1ull << 34;            ///< refuse larger rasters (0 = no limit)
    std::uint64_t max_region_pixels = 1ull << 28;     ///< refuse larger single window reads (0 = no limit)
    /// Lowers GDAL's block cache (process-wide; GDAL's default is 5% of the memory) to this many bytes
    /// when it is above it, so that walking a large scene stays within a known footprint (0 = leave it).
    std::int64_t cache_bytes = 256ll << 20;
};

/// Counters of a gdal_source (for reports and tests).
struct gdal_stats {
    std::uint64_t reads = 0;       ///< window reads
    std::uint64_t pixels_read = 0; ///< pixels read over every level
    std::uint64_t overview_reads = 0;
    int last_level = 0;   ///< level of the last read (0 = full resolution, k = overview k)
    double seconds = 0.0; ///< time spent reading
};

/// A windowed image source over a raster GDAL opens (see the file comment).
class gdal_source : public zoom::image_source {
public:
    /// Opens `path`. Raises io_error ("open_failed", "bad_bands", "unsupported_raster") or
    /// limit_error ("image_too_large").
    explicit gdal_source(const std::string& path, gdal_options options = {}) : m_path(path), m_opt(std::move(options)) {
        detail::gdal_init();
        if (m_opt.cache_bytes > 0 && GDALGetCacheMax64() > m_opt.cache_bytes) GDALSetCacheMax64(m_opt.cache_bytes);
        detail::gdal_quiet q;
        m_ds.reset(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY));
        if (!m_ds)
            RSCOVLM_THROW(io_error, "open_failed", "GDAL cannot open '" + path + "' as a raster" + q.last_message());
        m_width = m_ds->GetRasterXSize();
        m_height = m_ds->GetRasterYSize();
        const int count = m_ds->GetRasterCount();
        if (m_width <= 0 || m_height <= 0 || count <= 0)
            RSCOVLM_THROW(io_error, "unsupported_raster", "'" + path + "' has no raster bands or no pixels");
        if (m_opt.max_pixels != 0 &&
            static_cast<std::uint64_t>(m_width) * static_cast<std::uint64_t>(m_height) > m_opt.max_pixels)
            RSCOVLM_THROW(limit_error, "image_too_large",
                          "'" + path + "' is " + std::to_string(m_width) + "x" + std::to_string(m_height) +
                              ", over the limit of " + std::to_string(m_opt.max_pixels) + " pixels");
        choose_bands(count);
        read_georef();
        prepare_ranges();
    }

    int width() const override { return m_width; }
    int height() const override { return m_height; }

    /// Number of bands of the raster.
    int band_count() const { return m_ds->GetRasterCount(); }
    /// The 1-based bands shown as R, G, B (one entry: grey).
    const std::vector<int>& bands() const noexcept { return m_bands; }
    /// The alpha band composited on white (0 = none).
    int alpha_band() const noexcept { return m_alpha; }
    /// GDAL's name of the data type of the first selected band ("Byte", "UInt16", ...).
    std::string data_type() const { return GDALGetDataTypeName(band(m_bands.front())->GetRasterDataType()); }
    /// The [lo, hi] range each selected band is stretched from (empty for 8-bit data shown as is).
    const std::vector<std::array<double, 2>>& ranges() const noexcept { return m_ranges; }
    /// Georeferencing of the raster.
    const georef& geo() const noexcept { return m_geo; }
    /// GDAL's driver short name ("GTiff", "JP2OpenJPEG", "NITF", ...).
    std::string driver() const { return m_ds->GetDriver() ? m_ds->GetDriver()->GetDescription() : ""; }
    /// Sizes (width, height) of the overview levels, finest first (level k is entry k-1).
    std::vector<std::pair<int, int>> overviews() const {
        std::vector<std::pair<int, int>> out;
        GDALRasterBand* b = band(m_bands.front());
        for (int i = 0; i < b->GetOverviewCount(); ++i)
            if (GDALRasterBand* o = b->GetOverview(i)) out.emplace_back(o->GetXSize(), o->GetYSize());
        return out;
    }
    /// Read counters.
    const gdal_stats& stats() const noexcept { return m_stats; }
    void reset_stats() noexcept { m_stats = {}; }

    /// Full-resolution pixels of `box` (Pillow crop semantics: outside the raster is zero).
    image read(const zoom::pixel_box& box) override { return read_level(0, box); }

    image read_resized(const zoom::pixel_box& box, int out_w, int out_h, image::filter f) override {
        if (!m_opt.use_overviews || f == image::filter::nearest)
            return read_resized_banded(box, out_w, out_h, f, band_rows());
        if (out_w <= 0 || out_h <= 0 || box.width() <= 0 || box.height() <= 0)
            RSCOVLM_THROW(zoom_error, "bad_window", "read_resized: empty window or target");
        const int level = overview_level(box, out_w, out_h);
        if (level == 0) return read_resized_banded(box, out_w, out_h, f, band_rows());
        const zoom::pixel_box lb = level_box(level, box);
        image img = read_level(level, lb);
        return image::resize(img, out_w, out_h, f);
    }

    /// The level read_resized uses for `box` -> out_w x out_h with overviews on: the coarsest one at
    /// which the snapped window is at least out_w x out_h (0 = full resolution).
    int overview_level(const zoom::pixel_box& box, int out_w, int out_h) const {
        const auto ovs = overviews();
        int best = 0;
        std::uint64_t best_px = static_cast<std::uint64_t>(box.area());
        for (std::size_t i = 0; i < ovs.size(); ++i) {
            const int level = static_cast<int>(i) + 1;
            const zoom::pixel_box lb = level_box(level, box);
            if (lb.width() < out_w || lb.height() < out_h) continue;
            const auto px = static_cast<std::uint64_t>(lb.area());
            if (px < best_px) {
                best = level;
                best_px = px;
            }
        }
        return best;
    }

protected:
    int band_rows() const override {
        // About 16 Mi pixels a band, in whole block rows.
        int bx = 0, by = 0;
        band(m_bands.front())->GetBlockSize(&bx, &by);
        const int rows = std::max(16, static_cast<int>((16ll << 20) / std::max(1, m_width)));
        if (by <= 1 || by > rows) return std::min(rows, 512);
        return std::max(by, std::min(512, rows) / by * by);
    }

private:
    GDALRasterBand* band(int b) const { return m_ds->GetRasterBand(b); }
    GDALRasterBand* level_band(int b, int level) const {
        GDALRasterBand* base = band(b);
        return level == 0 ? base : base->GetOverview(level - 1);
    }

    /// `box` in the pixel grid of overview `level`, edges snapped outwards.
    zoom::pixel_box level_box(int level, const zoom::pixel_box& box) const {
        if (level == 0) return box;
        GDALRasterBand* o = level_band(m_bands.front(), level);
        const double sx = static_cast<double>(o->GetXSize()) / m_width;
        const double sy = static_cast<double>(o->GetYSize()) / m_height;
        return zoom::pixel_box{static_cast<int>(std::floor(box.x0 * sx)), static_cast<int>(std::floor(box.y0 * sy)),
                               static_cast<int>(std::ceil(box.x1 * sx)), static_cast<int>(std::ceil(box.y1 * sy))};
    }

    void choose_bands(int count) {
        auto interp = [&](int b) { return band(b)->GetColorInterpretation(); };
        if (!m_opt.bands.empty()) {
            if (m_opt.bands.size() != 1 && m_opt.bands.size() != 3)
                RSCOVLM_THROW(io_error, "bad_bands",
                              "give 1 band (grey) or 3 bands (R, G, B), got " + std::to_string(m_opt.bands.size()));
            for (int b : m_opt.bands)
                if (b < 1 || b > count)
                    RSCOVLM_THROW(io_error, "bad_bands",
                                  "band " + std::to_string(b) + " is not in '" + m_path + "' (bands 1.." +
                                      std::to_string(count) + ")");
            m_bands = m_opt.bands;
        } else {
            int r = 0, g = 0, bl = 0;
            for (int b = 1; b <= count; ++b) {
                const GDALColorInterp ci = interp(b);
                if (ci == GCI_RedBand && !r) r = b;
                if (ci == GCI_GreenBand && !g) g = b;
                if (ci == GCI_BlueBand && !bl) bl = b;
                if (ci == GCI_AlphaBand && !m_alpha) m_alpha = b;
            }
            if (r && g && bl) {
                m_bands = {r, g, bl};
            } else if (count == 1 && interp(1) == GCI_PaletteIndex && band(1)->GetColorTable()) {
                m_bands = {1};
                m_palette = true;
            } else if (count >= 3) {
                m_bands = {1, 2, 3};
            } else {
                m_bands = {1};
            }
        }
        if (m_alpha && band(m_alpha)->GetRasterDataType() != GDT_Byte) m_alpha = 0;
        if (std::find(m_bands.begin(), m_bands.end(), m_alpha) != m_bands.end()) m_alpha = 0;
        if (m_palette) {
            const GDALColorTable* ct = band(1)->GetColorTable();
            m_lut.assign(256 * 3, 0);
            const int n = std::min(256, ct->GetColorEntryCount());
            for (int i = 0; i < n; ++i) {
                const GDALColorEntry* e = ct->GetColorEntry(i);
                m_lut[3 * i] = static_cast<std::uint8_t>(std::clamp<int>(e->c1, 0, 255));
                m_lut[3 * i + 1] = static_cast<std::uint8_t>(std::clamp<int>(e->c2, 0, 255));
                m_lut[3 * i + 2] = static_cast<std::uint8_t>(std::clamp<int>(e->c3, 0, 255));
            }
        }
        for (int b : m_bands) {
            int has = 0;
            const double nd = band(b)->GetNoDataValue(&has);
            m_nodata.push_back(has ? std::optional<double>(nd) : std::nullopt);
        }
    }

    void read_georef() { m_geo = detail::georef_of(*m_ds); }

    void prepare_ranges() {
        const bool byte = band(m_bands.front())->GetRasterDataType() == GDT_Byte;
        for (int b : m_bands)
            if ((band(b)->GetRasterDataType() == GDT_Byte) != byte)
                RSCOVLM_THROW(io_error, "unsupported_raster", "'" + m_path + "': the selected bands mix data types");
        m_byte = byte;
        if (m_palette) {
            if (!byte)
                RSCOVLM_THROW(io_error, "unsupported_raster", "'" + m_path + "': a palette band that is not 8-bit");
            return;
        }
        m_scaled = m_opt.scale_range.has_value() || (!byte && m_opt.scaling == gdal_scaling::stretch);
        if (!m_scaled) return;
        detail::gdal_quiet q;
        for (int b : m_bands) {
            std::array<double, 2> r{0.0, 0.0};
            const char* from = "scale_range";
            GDALRasterBand* rb = band(b);
            const char* smin = rb->GetMetadataItem("STATISTICS_MINIMUM");
            const char* smax = rb->GetMetadataItem("STATISTICS_MAXIMUM");
            if (m_opt.scale_range) {
                r = *m_opt.scale_range;
            } else if (smin && smax) {
                r = {CPLAtof(smin), CPLAtof(smax)};
                from = "STATISTICS_MINIMUM/MAXIMUM";
            } else {
                r = finite_range(rb, b, q);
                from = "the band's values";
            }
            if (!std::isfinite(r[0]) || !std::isfinite(r[1]) || r[1] < r[0])
                RSCOVLM_THROW(io_error, "bad_range",
                              "'" + m_path + "' band " + std::to_string(b) + ": the range [" + std::to_string(r[0]) +
                                  ", " + std::to_string(r[1]) + "] from " + from + " is not a finite interval");
            m_ranges.push_back(r);
        }
    }

    /// The smallest and largest finite values of band `b` (nodata excluded), one pass block by block.
    std::array<double, 2> finite_range(GDALRasterBand* rb, int b, detail::gdal_quiet& q) {
        int has_nd = 0;
        const double nd = rb->GetNoDataValue(&has_nd);
        int bx = 0, by = 0;
        rb->GetBlockSize(&bx, &by);
        const int rows =
            std::max(1, std::min(m_height, std::max(by, static_cast<int>((4ll << 20) / std::max(1, m_width)))));
        std::vector<double> buf(static_cast<std::size_t>(m_width) * static_cast<std::size_t>(rows));
        double lo = std::numeric_limits<double>::infinity(), hi = -lo;
        for (int y = 0; y < m_height; y += rows) {
            const int h = std::min(rows, m_height - y);
            if (rb->RasterIO(GF_Read, 0, y, m_width, h, buf.data(), m_width, h, GDT_Float64, 0, 0, nullptr) != CE_None)
                RSCOVLM_THROW(io_error, "read_failed",
                              "'" + m_path + "': cannot read band " + std::to_string(b) + q.last_message());
            const std::size_t n = static_cast<std::size_t>(m_width) * static_cast<std::size_t>(h);
            for (std::size_t i = 0; i < n; ++i) {
                const double v = buf[i];
                if (!std::isfinite(v) || (has_nd && (v == nd || (std::isnan(nd) && std::isnan(v))))) continue;
                lo = std::min(lo, v);
                hi = std::max(hi, v);
            }
        }
        if (lo > hi)
            RSCOVLM_THROW(io_error, "bad_range",
                          "'" + m_path + "' band " + std::to_string(b) + " has no finite value that is not nodata");
        return {lo, hi};
    }

    /// Pixels of `box` (in the grid of `level`), zero outside, as RGB.
    image read_level(int level, const zoom::pixel_box& box) {
        if (box.x1 < box.x0 || box.y1 < box.y0) RSCOVLM_THROW(zoom_error, "bad_window", "read: inverted window");
        const std::uint64_t px = static_cast<std::uint64_t>(box.area());
        if (m_opt.max_region_pixels != 0 && px > m_opt.max_region_pixels)
            RSCOVLM_THROW(limit_error, "region_too_large",
                          "a " + std::to_string(box.width()) + "x" + std::to_string(box.height()) + " window of '" +
                              m_path + "' is over the limit of " + std::to_string(m_opt.max_region_pixels) + " pixels");
        limits::check("image_pixels", px, "a window of '" + m_path + "'");
        const auto t0 = std::chrono::steady_clock::now();
        image out(box.width(), box.height(), 3);
        GDALRasterBand* first = level_band(m_bands.front(), level);
        const int LW = first->GetXSize(), LH = first->GetYSize();
        const int x0 = std::clamp(box.x0, 0, LW), y0 = std::clamp(box.y0, 0, LH);
        const int x1 = std::clamp(box.x1, 0, LW), y1 = std::clamp(box.y1, 0, LH);
        const int w = x1 - x0, h = y1 - y0;
        if (w > 0 && h > 0) {
            const std::size_t n = static_cast<std::size_t>(w) * static_cast<std::size_t>(h);
            image win(w, h, m_alpha ? 4 : 3);
            const int c = win.channels;
            std::vector<std::uint8_t> nodata(n, 0);
            std::vector<double> vals;
            detail::gdal_quiet q;
            // Band by band: 8-bit samples shown as they are go straight into their channel; the others
            // through one band of doubles, scaled.
            for (std::size_t k = 0; k < m_bands.size(); ++k) {
                GDALRasterBand* b = level_band(m_bands[k], level);
                std::uint8_t* dst = win.data.data() + k;
                const bool direct = m_byte && !m_scaled;
                CPLErr err = CE_Failure;
                if (b && direct)
                    err = b->RasterIO(GF_Read, x0, y0, w, h, dst, w, h, GDT_Byte, c, static_cast<GSpacing>(c) * w,
                                      nullptr);
                else if (b) {
                    vals.resize(n);
                    err = b->RasterIO(GF_Read, x0, y0, w, h, vals.data(), w, h, GDT_Float64, 0, 0, nullptr);
                }
                if (err != CE_None)
                    RSCOVLM_THROW(io_error, "read_failed",
                                  "'" + m_path + "': cannot read band " + std::to_string(m_bands[k]) +
                                      q.last_message());
                const std::optional<double>& nd = m_nodata[k];
                for (std::size_t i = 0; i < n; ++i) {
                    std::uint8_t& d = dst[i * static_cast<std::size_t>(c)];
                    const double v = direct ? static_cast<double>(d) : vals[i];
                    if (nd && (v == *nd || (std::isnan(*nd) && std::isnan(v)))) nodata[i] = 1;
                    if (!direct)
                        d = m_scaled ? detail::scale_u8(v, m_ranges[k][0], m_ranges[k][1]) : detail::clip_u8(v);
                }
            }
            if (m_alpha) {
                GDALRasterBand* a = level_band(m_alpha, level);
                if (!a || a->RasterIO(GF_Read, x0, y0, w, h, win.data.data() + 3, w, h, GDT_Byte, c,
                                      static_cast<GSpacing>(c) * w, nullptr) != CE_None)
                    RSCOVLM_THROW(io_error, "read_failed",
                                  "'" + m_path + "': cannot read the alpha band" + q.last_message());
            }
            for (std::size_t i = 0; i < n; ++i) {
                std::uint8_t* d = win.data.data() + i * static_cast<std::size_t>(c);
                if (nodata[i]) {
                    d[0] = m_opt.nodata_rgb[0];
                    d[1] = m_opt.nodata_rgb[1];
                    d[2] = m_opt.nodata_rgb[2];
                    if (m_alpha) d[3] = 255;
                } else if (m_palette) {
                    std::copy_n(m_lut.data() + 3 * static_cast<std::size_t>(d[0]), 3, d);
                } else if (m_bands.size() == 1) {
                    d[1] = d[2] = d[0];
                }
            }
            if (m_alpha) win = imaging::to_rgb(win);
            for (int y = 0; y < h; ++y)
                std::copy_n(win.row(y), static_cast<std::size_t>(w) * 3,
                            out.row(y0 - box.y0 + y) + static_cast<std::size_t>(x0 - box.x0) * 3);
            m_stats.pixels_read += n;
        }
        ++m_stats.reads;
        if (level > 0) ++m_stats.overview_reads;
        m_stats.last_level = level;
        m_stats.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return out;
    }

    std::string m_path;
    gdal_options m_opt;
    detail::dataset_ptr m_ds;
    int m_width = 0, m_height = 0;
    std::vector<int> m_bands;
    int m_alpha = 0;
    bool m_palette = false;
    bool m_scaled = false;
    bool m_byte = true;
    std::vector<std::uint8_t> m_lut;
    std::vector<std::optional<double>> m_nodata;
    std::vector<std::array<double, 2>> m_ranges;
    georef m_geo;
    gdal_stats m_stats;
};

/// Options of geotiff_writer.
struct geotiff_options {
    int tile = 256;                              ///< tile width and height (a multiple of 16)
    std::string compress = "DEFLATE";            ///< GTiff COMPRESS option ("NONE", "DEFLATE", "LZW", "JPEG", ...)
    bool sparse = false;                         ///< leave unwritten tiles out of the file (read as zero)
    std::vector<int> overviews;                  ///< overview factors (e.g. 2, 4, 8); empty = none
    std::string overview_resampling = "AVERAGE"; ///< GDAL resampling of the overviews ("NONE": empty levels)
};

/// Writes a tiled RGB GeoTIFF window by window (BigTIFF when needed), then builds its overviews.
class geotiff_writer {
public:
    /// Creates `path` (w x h, 3 bands, 8-bit). Raises io_error "write_failed".
    geotiff_writer(const std::string& path, int w, int h, const georef& geo, geotiff_options o = {})
        : m_path(path), m_opt(std::move(o)) {
        detail::gdal_init();
        detail::gdal_quiet q;
        GDALDriver* drv = GetGDALDriverManager()->GetDriverByName("GTiff");
        if (!drv) RSCOVLM_THROW(io_error, "write_failed", "GDAL has no GTiff driver");
        CPLStringList opts;
        opts.SetNameValue("TILED", "YES");
        opts.SetNameValue("BLOCKXSIZE", std::to_string(m_opt.tile).c_str());
        opts.SetNameValue("BLOCKYSIZE", std::to_string(m_opt.tile).c_str());
        opts.SetNameValue("COMPRESS", m_opt.compress.c_str());
        opts.SetNameValue("PHOTOMETRIC", "RGB");
        opts.SetNameValue("INTERLEAVE", "PIXEL");
        opts.SetNameValue("BIGTIFF", "IF_SAFER");
        if (m_opt.sparse) opts.SetNameValue("SPARSE_OK", "TRUE");
        m_ds.reset(drv->Create(path.c_str(), w, h, 3, GDT_Byte, opts.List()));
        if (!m_ds) RSCOVLM_THROW(io_error, "write_failed", "cannot create GeoTIFF '" + path + "'" + q.last_message());
        if (geo.has_transform) {
            double gt[6];
            std::copy(geo.transform.begin(), geo.transform.end(), gt);
            m_ds->SetGeoTransform(gt);
        }
        if (!geo.wkt.empty()) m_ds->SetProjection(geo.wkt.c_str());
    }

    /// Writes RGB `img` with its top-left corner at (x, y).
    void write(int x, int y, const image& img) {
        if (img.channels != 3) RSCOVLM_THROW(io_error, "write_failed", "geotiff_writer writes RGB images");
        detail::gdal_quiet q;
        auto* data = const_cast<std::uint8_t*>(img.data.data());
        if (m_ds->RasterIO(GF_Write, x, y, img.width, img.height, data, img.width, img.height, GDT_Byte, 3, nullptr, 3,
                           static_cast<GSpacing>(img.width) * 3, 1, nullptr) != CE_None)
            RSCOVLM_THROW(io_error, "write_failed", "cannot write to '" + m_path + "'" + q.last_message());
    }

    /// Builds the overviews, flushes and closes the file; raises io_error "write_failed" when GDAL
    /// reports an error on the way (a full disk shows up here, not in write()).
    void close() {
        if (!m_ds) return;
        detail::gdal_quiet q;
        if (!m_opt.overviews.empty()) {
            m_ds->FlushCache(false);
            detail::check_gdal_write(m_path, "writing");
            if (m_ds->BuildOverviews(m_opt.overview_resampling.c_str(), static_cast<int>(m_opt.overviews.size()),
                                     m_opt.overviews.data(), 0, nullptr, nullptr, nullptr) != CE_None)
                RSCOVLM_THROW(io_error, "write_failed",
                              "cannot build the overviews of '" + m_path + "'" + q.last_message());
        }
        m_ds->FlushCache(false);
        detail::check_gdal_write(m_path, "writing");
        m_ds.reset();
        detail::check_gdal_write(m_path, "closing");
    }
    /// Closes without raising (an unfinished file is left as GDAL leaves it); call close() to know.
    ~geotiff_writer() {
        if (m_ds) {
            detail::gdal_quiet q;
            m_ds.reset();
        }
    }
    geotiff_writer(const geotiff_writer&) = delete;
    geotiff_writer& operator=(const geotiff_writer&) = delete;

    /// The dataset being written (e.g. to fill an overview level directly).
    GDALDataset* dataset() noexcept { return m_ds.get(); }

private:
    std::string m_path;
    geotiff_options m_opt;
    detail::dataset_ptr m_ds;
};

/// Overview factors 2, 4, 8, ... until the coarsest level's longer side is at most `smallest` pixels.
inline std::vector<int> overview_factors(int w, int h, int smallest = 256) {
    std::vector<int> f;
    for (int k = 2; std::max(w, h) / (k / 2) > smallest && k <= (1 << 20); k *= 2)
        f.push_back(k);
    return f;
}

/// Writes `img` (RGB) as a tiled GeoTIFF with `geo` and overviews.
inline void write_geotiff(const std::string& path, const image& img, const georef& geo, geotiff_options o = {}) {
    const image rgb = img.channels == 3 ? image() : imaging::to_rgb(img);
    const image& src = img.channels == 3 ? img : rgb;
    geotiff_writer w(path, src.width, src.height, geo, std::move(o));
    w.write(0, 0, src);
    w.close();
}

/// Transforms pixel/line coordinates of a georeferenced raster to WGS84 longitude/latitude (PROJ
/// through OGR, traditional GIS axis order: x = longitude, y = latitude).
class geo_transformer {
public:
    explicit geo_transformer(const georef& g) : m_geo(g) {
        if (!g.georeferenced())
            RSCOVLM_THROW(io_error, "not_georeferenced", "the raster has no geotransform or no CRS");
        detail::gdal_init();
        detail::gdal_quiet q;
        m_src.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
        m_wgs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
        if (m_src.importFromWkt(g.wkt.c_str()) != OGRERR_NONE)
            RSCOVLM_THROW(io_error, "bad_crs", "cannot read the raster's CRS" + q.last_message());
        m_wgs.SetWellKnownGeogCS("WGS84");
        m_ct.reset(OGRCreateCoordinateTransformation(&m_src, &m_wgs));
        if (!m_ct)
            RSCOVLM_THROW(io_error, "bad_crs", "no transformation from the raster's CRS to WGS84" + q.last_message());
    }
    /// Map coordinates (the raster's CRS) of pixel (x, y).
    geometry::point to_map(double x, double y) const noexcept { return m_geo.to_map(x, y); }
    /// (longitude, latitude) of pixel (x, y).
    geometry::point to_lonlat(double x, double y) const {
        geometry::point m = to_map(x, y);
        detail::gdal_quiet q;
        if (!m_ct->Transform(1, &m.x, &m.y))
            RSCOVLM_THROW(io_error, "transform_failed", "cannot reproject a point to WGS84" + q.last_message());
        return m;
    }
    const OGRSpatialReference& crs() const noexcept { return m_src; }

private:
    struct ct_deleter {
        void operator()(OGRCoordinateTransformation* c) const noexcept { OGRCoordinateTransformation::DestroyCT(c); }
    };
    georef m_geo;
    OGRSpatialReference m_src, m_wgs;
    std::unique_ptr<OGRCoordinateTransformation, ct_deleter> m_ct;
};

/// One detection to write as a feature: a pixel polygon and its properties.
struct geo_feature {
    std::vector<geometry::point> pixels; ///< polygon corners in pixel/line coordinates (not closed)
    nlohmann::json properties = nlohmann::json::object();
};

namespace detail {
/// Twice the signed area of a ring (positive = counter-clockwise with y up).
inline double ring_area2(const std::vector<geometry::point>& r) {
    double a = 0.0;
    for (std::size_t i = 0; i < r.size(); ++i) {
        const auto& p = r[i];
        const auto& q = r[(i + 1) % r.size()];
        a += p.x * q.y - q.x * p.y;
    }
    return a;
}
} // namespace detail

/// Writes `features` as an RFC 7946 GeoJSON FeatureCollection: polygons in WGS84 longitude/latitude,
/// exterior rings counter-clockwise and closed, no "crs" member. A feature whose corners cannot be
/// reprojected (outside the CRS's domain) is left out; the number left out is returned. Polygons
/// that cross the antimeridian are not cut. Raises io_error "write_failed".
inline std::size_t write_geojson(const std::string& path, const std::vector<geo_feature>& features,
                                 const geo_transformer& t) {
    nlohmann::json fc = {{"type", "FeatureCollection"}, {"features", nlohmann::json::array()}};
    std::size_t skipped = 0;
    for (const auto& f : features) {
        std::vector<geometry::point> ring;
        bool ok = !f.pixels.empty();
        for (const auto& p : f.pixels) {
            if (!ok) break;
            const auto r = try_call([&] { return t.to_lonlat(p.x, p.y); });
            ok = r.ok() && std::isfinite(r.value().x) && std::isfinite(r.value().y);
            if (ok) ring.push_back(r.value());
        }
        if (!ok) {
            ++skipped;
            continue;
        }
        if (detail::ring_area2(ring) < 0) std::reverse(ring.begin(), ring.end());
        nlohmann::json coords = nlohmann::json::array();
        for (const auto& p : ring)
            coords.push_back({p.x, p.y});
        coords.push_back({ring.front().x, ring.front().y});
        fc["features"].push_back({{"type", "Feature"},
                                  {"geometry", {{"type", "Polygon"}, {"coordinates", nlohmann::json::array({coords})}}},
                                  {"properties", f.properties}});
    }
    std::ofstream out(path, std::ios::binary);
    if (!out) RSCOVLM_THROW(io_error, "write_failed", "cannot write '" + path + "'");
    out << fc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    out.flush();
    if (!out) RSCOVLM_THROW(io_error, "write_failed", "error while writing '" + path + "'");
    return skipped;
}

/// Writes `features` as the layer `layer` of a new GeoPackage `path` (replaced if it exists), polygons
/// in the raster's CRS (map coordinates through `geo`'s transform; no reprojection, so any CRS works).
/// Every property key becomes a field: integer when all its values are integers, real when all are
/// numbers, text otherwise (other JSON values are written as JSON text). Raises io_error "write_failed".
inline void write_geopackage(const std::string& path, const std::vector<geo_feature>& features, const georef& geo,
                             const std::string& layer = "detections") {
    detail::gdal_init();
    detail::gdal_quiet q;
    GDALDriver* drv = GetGDALDriverManager()->GetDriverByName("GPKG");
    if (!drv) RSCOVLM_THROW(io_error, "write_failed", "GDAL has no GPKG driver");
    std::remove(path.c_str());
    detail::dataset_ptr ds(drv->Create(path.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
    if (!ds) RSCOVLM_THROW(io_error, "write_failed", "cannot create '" + path + "'" + q.last_message());
    OGRSpatialReference srs;
    srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    const bool has_srs = !geo.wkt.empty() && srs.importFromWkt(geo.wkt.c_str()) == OGRERR_NONE;
    OGRLayer* lyr = ds->CreateLayer(layer.c_str(), has_srs ? &srs : nullptr, wkbPolygon, nullptr);
    if (!lyr) RSCOVLM_THROW(io_error, "write_failed", "cannot create layer '" + layer + "'" + q.last_message());
    // Field types over every feature, in first-appearance order.
    std::vector<std::pair<std::string, OGRFieldType>> fields;
    for (const auto& f : features)
        for (auto it = f.properties.begin(); it != f.properties.end(); ++it) {
            const OGRFieldType t = it.value().is_number_integer() ? OFTInteger64
                                   : it.value().is_number()       ? OFTReal
                                                                  : OFTString;
            auto found = std::find_if(fields.begin(), fields.end(), [&](const auto& e) { return e.first == it.key(); });
            if (found == fields.end()) {
                fields.emplace_back(it.key(), t);
            } else if (found->second != t) {
                const bool numbers = found->second != OFTString && t != OFTString;
                found->second = numbers ? OFTReal : OFTString;
            }
        }
    for (const auto& [key, type] : fields) {
        OGRFieldDefn fd(key.c_str(), type);
        if (lyr->CreateField(&fd) != OGRERR_NONE)
            RSCOVLM_THROW(io_error, "write_failed", "cannot add field '" + key + "'" + q.last_message());
    }
    if (lyr->StartTransaction() != OGRERR_NONE)
        RSCOVLM_THROW(io_error, "write_failed", "cannot write '" + path + "'" + q.last_message());
    for (const auto& f : features) {
        std::unique_ptr<OGRFeature, void (*)(OGRFeature*)> feat(OGRFeature::CreateFeature(lyr->GetLayerDefn()),
                                                                &OGRFeature::DestroyFeature);
        for (const auto& [key, type] : fields) {
            if (!f.properties.contains(key)) continue;
            const nlohmann::json& v = f.properties.at(key);
            if (type == OFTInteger64)
                feat->SetField(key.c_str(), static_cast<GIntBig>(v.get<long long>()));
            else if (type == OFTReal)
                feat->SetField(key.c_str(), v.get<double>());
            else
                feat->SetField(key.c_str(),
                               v.is_string()
                                   ? v.get<std::string>().c_str()
                                   : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        }
        OGRLinearRing ring;
        for (const auto& p : f.pixels) {
            const geometry::point m = geo.to_map(p.x, p.y);
            ring.addPoint(m.x, m.y);
        }
        ring.closeRings();
        OGRPolygon poly;
        poly.addRing(&ring);
        feat->SetGeometry(&poly);
        if (lyr->CreateFeature(feat.get()) != OGRERR_NONE)
            RSCOVLM_THROW(io_error, "write_failed", "cannot add a feature to '" + path + "'" + q.last_message());
    }
    if (lyr->CommitTransaction() != OGRERR_NONE)
        RSCOVLM_THROW(io_error, "write_failed", "cannot write '" + path + "'" + q.last_message());
    ds.reset();
    detail::check_gdal_write(path, "closing");
}

} // namespace rscovlm::io

#endif // RSCOVLM_HAS_GDAL
