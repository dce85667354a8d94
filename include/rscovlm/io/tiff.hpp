#pragma once
/// \file
/// Windowed reads of tiled or striped TIFF/BigTIFF through libtiff, for ultra-high-resolution
/// images (LRS-VQA ships `.tif` scenes up to ~27k px): only the tiles (or strips) a window touches
/// are decoded, decoded blocks are kept in a bounded LRU cache, and the downsampled first view is
/// built band by band from the blocks, pixel-identical to resizing a full decode.
///
/// Compiled only when `RSCOVLM_HAS_TIFF` is set (the `rscovlm::io` target defines it when libtiff is
/// found). Supported: 8-bit samples, 1-4 samples per pixel, contiguous or separate planes, grey
/// (min-is-black/white), RGB, palette (Pillow's `value // 256` colour map) and JPEG-in-TIFF YCbCr
/// (libtiff converts it to RGB). Alpha is composited on white (qwen-vl-utils `to_rgb`). Blocks that
/// were never written (offset and byte count 0: GDAL's `SPARSE_OK` files) read as zero, as GDAL reads them.

#if RSCOVLM_HAS_TIFF

#include <algorithm>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <tiffio.h>

#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/limits.hpp>
#include <rscovlm/zoom/source.hpp>

namespace rscovlm::io {

/// Options of tiff_source.
struct tiff_options {
    /// Refuse images whose width*height exceeds this (0 = no limit). Default 2^31 px (~46k x 46k).
    std::uint64_t max_pixels = 1ull << 31;
    /// Refuse a single window read larger than this many pixels (0 = no limit). Default 2^28 (768 MiB RGB).
    std::uint64_t max_region_pixels = 1ull << 28;
    /// Bytes of decoded blocks kept in the LRU cache.
    std::size_t cache_bytes = 256u << 20;
};

/// Counters of the block decoder (for tests and diagnostics).
struct tiff_stats {
    std::size_t blocks_decoded = 0; ///< tiles/strips decoded from the file (cache misses)
    std::size_t cache_hits = 0;
    std::vector<std::uint32_t> decoded; ///< block indices in decode order
};

namespace detail {
inline int tiff_collect_message(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
    char buf[512];
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    auto* s = static_cast<std::string*>(user);
    if (s) *s = (module ? std::string(module) + ": " : std::string()) + buf;
    return 1; // handled: nothing printed
}
inline int tiff_ignore_message(TIFF*, void*, const char*, const char*, va_list) {
    return 1;
}
struct tiff_closer {
    void operator()(TIFF* t) const noexcept {
        if (t) TIFFClose(t);
    }
};
} // namespace detail

/// A windowed image source over a TIFF/BigTIFF file.
class tiff_source : public zoom::image_source {
public:
    /// Opens `path` (first IFD). Raises io_error ("open_failed", "unsupported_tiff") or
    /// limit_error ("image_too_large"; "tile_bytes" for a tile or strip over the `tile_bytes` limit).
    explicit tiff_source(const std::string& path, tiff_options options = {}) : m_path(path), m_opt(options) {
#if defined(TIFFLIB_VERSION) && TIFFLIB_VERSION >= 20221213
        TIFFOpenOptions* oo = TIFFOpenOptionsAlloc();
        TIFFOpenOptionsSetErrorHandlerExtR(oo, &detail::tiff_collect_message, &m_last_error);
        TIFFOpenOptionsSetWarningHandlerExtR(oo, &detail::tiff_ignore_message, nullptr);
        m_handle.reset(TIFFOpenExt(path.c_str(), "r", oo));
        TIFFOpenOptionsFree(oo);
#else
        m_handle.reset(TIFFOpen(path.c_str(), "r"));
#endif
        m_tif = m_handle.get(); // closed by m_handle, also when init() throws
        if (!m_tif) RSCOVLM_THROW(io_error, "open_failed", "cannot open TIFF '" + path + "'" + last_error_suffix());
        init();
    }
    ~tiff_source() override = default;
    tiff_source(const tiff_source&) = delete;
    tiff_source& operator=(const tiff_source&) = delete;

    int width() const override {
        return m_w;
    }
    int height() const override {
        return m_h;
    }
    /// True for a tiled file, false for a striped one.
    bool tiled() const noexcept {
        return m_tiled;
    }
    /// Tile (or strip) size in pixels.
    int block_width() const noexcept {
        return m_bw;
    }
    int block_height() const noexcept {
        return m_bh;
    }
    /// Number of tiles (strips) per row and column.
    int blocks_across() const noexcept {
        return m_nbx;
    }
    int blocks_down() const noexcept {
        return m_nby;
    }
    /// Decoder counters.
    const tiff_stats& stats() const noexcept {
        return m_stats;
    }
    void reset_stats() {
        m_stats = tiff_stats{};
    }
    /// Drops every cached block.
    void clear_cache() {
        m_cache.clear();
        m_lru.clear();
        m_cached_bytes = 0;
    }

    image read(const zoom::pixel_box& box) override {
        if (box.x1 < box.x0 || box.y1 < box.y0)
            RSCOVLM_THROW(zoom_error, "bad_window", "read: inverted window in '" + m_path + "'");
        if (m_opt.max_region_pixels && static_cast<std::uint64_t>(box.area()) > m_opt.max_region_pixels)
            RSCOVLM_THROW(limit_error, "region_too_large",
                          "window " + std::to_string(box.width()) + "x" + std::to_string(box.height()) + " of '" +
                              m_path + "' exceeds max_region_pixels " + std::to_string(m_opt.max_region_pixels));
        image out(box.width(), box.height(), 3);
        const int x0 = std::max(box.x0, 0), x1 = std::min(box.x1, m_w);
        const int y0 = std::max(box.y0, 0), y1 = std::min(box.y1, m_h);
        if (x1 <= x0 || y1 <= y0) return out;
        for (int by = y0 / m_bh; by <= (y1 - 1) / m_bh; ++by) {
            for (int bx = x0 / m_bw; bx <= (x1 - 1) / m_bw; ++bx) {
                const std::vector<std::uint8_t>& blk = block(static_cast<std::uint32_t>(by * m_nbx + bx));
                const int bx0 = bx * m_bw, by0 = by * m_bh;
                const int cx0 = std::max(x0, bx0), cx1 = std::min(x1, bx0 + m_bw);
                const int cy0 = std::max(y0, by0), cy1 = std::min(y1, by0 + m_bh);
                const std::size_t len = static_cast<std::size_t>(cx1 - cx0) * 3;
                for (int y = cy0; y < cy1; ++y) {
                    const std::uint8_t* s =
                        blk.data() + (static_cast<std::size_t>(y - by0) * static_cast<std::size_t>(m_bw) +
                                      static_cast<std::size_t>(cx0 - bx0)) *
                                         3;
                    std::copy(s, s + len, out.row(y - box.y0) + static_cast<std::size_t>(cx0 - box.x0) * 3);
                }
            }
        }
        return out;
    }

protected:
    // Bands aligned to whole tile rows (at least 256 rows) so every block is decoded once per pass.
    int band_rows() const override {
        return m_bh * std::max(1, (256 + m_bh - 1) / m_bh);
    }

private:
    std::string last_error_suffix() const {
        return m_last_error.empty() ? std::string() : ": " + m_last_error;
    }
    [[noreturn]] void unsupported(const std::string& what) const {
        RSCOVLM_THROW(io_error, "unsupported_tiff", "TIFF '" + m_path + "': " + what);
    }

    void init() {
        std::uint32_t w = 0, h = 0;
        std::uint16_t bps = 8, spp = 1, planar = PLANARCONFIG_CONTIG, photometric = PHOTOMETRIC_MINISBLACK, fmt = 1;
        TIFFGetField(m_tif, TIFFTAG_IMAGEWIDTH, &w);
        TIFFGetField(m_tif, TIFFTAG_IMAGELENGTH, &h);
        TIFFGetFieldDefaulted(m_tif, TIFFTAG_BITSPERSAMPLE, &bps);
        TIFFGetFieldDefaulted(m_tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
        TIFFGetFieldDefaulted(m_tif, TIFFTAG_PLANARCONFIG, &planar);
        TIFFGetFieldDefaulted(m_tif, TIFFTAG_SAMPLEFORMAT, &fmt);
        if (!TIFFGetField(m_tif, TIFFTAG_PHOTOMETRIC, &photometric))
            photometric = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
        if (w == 0 || h == 0 || w > 0x7fffffffu || h > 0x7fffffffu) unsupported("bad image size");
        if (m_opt.max_pixels && static_cast<std::uint64_t>(w) * h > m_opt.max_pixels)
            RSCOVLM_THROW(limit_error, "image_too_large",
                          "TIFF '" + m_path + "' is " + std::to_string(w) + "x" + std::to_string(h) +
                              ", over max_pixels " + std::to_string(m_opt.max_pixels));
        if (bps != 8 || fmt != SAMPLEFORMAT_UINT)
            unsupported("only 8-bit unsigned samples are supported (BitsPerSample " + std::to_string(bps) + ")");
        if (spp < 1 || spp > 4) unsupported("SamplesPerPixel " + std::to_string(spp));
        m_w = static_cast<int>(w);
        m_h = static_cast<int>(h);
        m_spp = spp;
        m_separate = planar == PLANARCONFIG_SEPARATE && spp > 1;
        m_photometric = photometric;

        std::uint16_t compression = COMPRESSION_NONE;
        TIFFGetFieldDefaulted(m_tif, TIFFTAG_COMPRESSION, &compression);
        if (photometric == PHOTOMETRIC_YCBCR) {
            if (compression != COMPRESSION_JPEG) unsupported("YCbCr is supported only with JPEG compression");
            TIFFSetField(m_tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
            m_photometric = PHOTOMETRIC_RGB;
        } else if (photometric == PHOTOMETRIC_PALETTE) {
            std::uint16_t *r = nullptr, *g = nullptr, *b = nullptr;
            if (spp != 1 || !TIFFGetField(m_tif, TIFFTAG_COLORMAP, &r, &g, &b))
                unsupported("palette without colour map");
            m_palette.resize(256 * 3);
            for (int i = 0; i < 256; ++i) {
                // Pillow TiffImagePlugin: palette entries are value // 256.
                m_palette[static_cast<std::size_t>(i) * 3 + 0] = static_cast<std::uint8_t>(r[i] >> 8);
                m_palette[static_cast<std::size_t>(i) * 3 + 1] = static_cast<std::uint8_t>(g[i] >> 8);
                m_palette[static_cast<std::size_t>(i) * 3 + 2] = static_cast<std::uint8_t>(b[i] >> 8);
            }
        } else if (photometric != PHOTOMETRIC_MINISBLACK && photometric != PHOTOMETRIC_MINISWHITE &&
                   photometric != PHOTOMETRIC_RGB) {
            unsupported("photometric interpretation " + std::to_string(photometric));
        }
        if (m_photometric == PHOTOMETRIC_RGB && spp < 3) unsupported("RGB with fewer than 3 samples");
        if ((photometric == PHOTOMETRIC_MINISBLACK || photometric == PHOTOMETRIC_MINISWHITE) && spp > 2)
            unsupported("grey with " + std::to_string(spp) + " samples (multi-band data)");
        if (m_photometric == PHOTOMETRIC_RGB && spp == 4) {
            // Pillow: an unassociated alpha sample makes RGBA (composited on white by to_rgb), an
            // unspecified extra sample RGBX (dropped, e.g. RGB + near-infrared); premultiplied alpha
            // is left to GDAL.
            std::uint16_t n = 0;
            std::uint16_t* kinds = nullptr;
            const std::uint16_t kind = TIFFGetField(m_tif, TIFFTAG_EXTRASAMPLES, &n, &kinds) && n >= 1 && kinds
                                           ? kinds[0]
                                           : static_cast<std::uint16_t>(EXTRASAMPLE_UNSPECIFIED);
            if (kind == EXTRASAMPLE_ASSOCALPHA) unsupported("associated (premultiplied) alpha");
            m_rgbx = kind != EXTRASAMPLE_UNASSALPHA;
        }

        m_tiled = TIFFIsTiled(m_tif) != 0;
        if (m_tiled) {
            std::uint32_t tw = 0, th = 0;
            TIFFGetField(m_tif, TIFFTAG_TILEWIDTH, &tw);
            TIFFGetField(m_tif, TIFFTAG_TILELENGTH, &th);
            if (tw == 0 || th == 0 || tw > 65536 || th > 65536) unsupported("bad tile size");
            m_bw = static_cast<int>(tw);
            m_bh = static_cast<int>(th);
        } else {
            std::uint32_t rps = h;
            TIFFGetFieldDefaulted(m_tif, TIFFTAG_ROWSPERSTRIP, &rps);
            if (rps == 0 || rps > h) rps = h;
            m_bw = m_w;
            m_bh = static_cast<int>(rps);
        }
        m_nbx = (m_w + m_bw - 1) / m_bw;
        m_nby = (m_h + m_bh - 1) / m_bh;
        const tmsize_t raw = m_tiled ? TIFFTileSize(m_tif) : TIFFStripSize(m_tif);
        if (raw <= 0) unsupported("cannot size a tile/strip");
        m_raw_block_bytes = static_cast<std::size_t>(raw);
        // block() holds the raw block, its samples and its RGB pixels: bound the largest before any read.
        const std::uint64_t block_px = limits::mul(static_cast<std::uint64_t>(m_bw), static_cast<std::uint64_t>(m_bh));
        limits::check("tile_bytes",
                      std::max(static_cast<std::uint64_t>(m_raw_block_bytes),
                               limits::mul(block_px, static_cast<std::uint64_t>(std::max(m_spp, 3)))),
                      "TIFF '" + m_path + "': one " + (m_tiled ? "tile" : "strip") + " of " + std::to_string(m_bw) +
                          "x" + std::to_string(m_bh) + " pixels");
    }

    // Decodes block `index` (row-major tile or strip index) into an RGB buffer of m_bw x m_bh.
    const std::vector<std::uint8_t>& block(std::uint32_t index) {
        auto it = m_cache.find(index);
        if (it != m_cache.end()) {
            ++m_stats.cache_hits;
            m_lru.splice(m_lru.begin(), m_lru, it->second.second);
            return it->second.first;
        }
        const int bx = static_cast<int>(index % static_cast<std::uint32_t>(m_nbx));
        const int by = static_cast<int>(index / static_cast<std::uint32_t>(m_nbx));
        const std::size_t npx = static_cast<std::size_t>(m_bw) * static_cast<std::size_t>(m_bh);
        const int planes = m_separate ? m_spp : 1;
        const int per_plane = m_separate ? 1 : m_spp;
        std::vector<std::uint8_t> raw(m_raw_block_bytes);
        std::vector<std::uint8_t> px(npx * static_cast<std::size_t>(m_spp), 0);
        for (int p = 0; p < planes; ++p) {
            std::fill(raw.begin(), raw.end(), 0);
            tmsize_t got;
            const std::uint32_t strile =
                m_tiled ? TIFFComputeTile(m_tif, static_cast<std::uint32_t>(bx * m_bw),
                                          static_cast<std::uint32_t>(by * m_bh), 0, static_cast<tsample_t>(p))
                        : TIFFComputeStrip(m_tif, static_cast<std::uint32_t>(by * m_bh), static_cast<tsample_t>(p));
            if (TIFFGetStrileOffset(m_tif, strile) == 0 && TIFFGetStrileByteCount(m_tif, strile) == 0) {
                // A block that was never written (GDAL's SPARSE_OK files): zero, as GDAL reads it.
                got = 0;
            } else if (m_tiled) {
                got = TIFFReadEncodedTile(m_tif, strile, raw.data(), static_cast<tmsize_t>(raw.size()));
            } else {
                got = TIFFReadEncodedStrip(m_tif, strile, raw.data(), static_cast<tmsize_t>(raw.size()));
            }
            if (got < 0)
                RSCOVLM_THROW(io_error, "corrupt_tiff",
                              "TIFF '" + m_path + "': cannot decode " + (m_tiled ? "tile " : "strip ") +
                                  std::to_string(index) + last_error_suffix());
            const std::size_t n = std::min(npx, raw.size() / static_cast<std::size_t>(per_plane));
            if (m_separate) {
                for (std::size_t i = 0; i < n; ++i)
                    px[i * static_cast<std::size_t>(m_spp) + static_cast<std::size_t>(p)] = raw[i];
            } else {
                std::copy(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(n * static_cast<std::size_t>(m_spp)),
                          px.begin());
            }
        }
        ++m_stats.blocks_decoded;
        m_stats.decoded.push_back(index);

        std::vector<std::uint8_t> rgb(npx * 3);
        for (std::size_t i = 0; i < npx; ++i) {
            const std::uint8_t* s = px.data() + i * static_cast<std::size_t>(m_spp);
            std::uint8_t* d = rgb.data() + i * 3;
            if (m_photometric == PHOTOMETRIC_PALETTE) {
                const std::uint8_t* c = m_palette.data() + static_cast<std::size_t>(s[0]) * 3;
                d[0] = c[0];
                d[1] = c[1];
                d[2] = c[2];
            } else if (m_photometric == PHOTOMETRIC_RGB) {
                if (m_spp == 4 && !m_rgbx) {
                    // qwen-vl-utils to_rgb: paste on white through alpha (Pillow DIV255 blend).
                    const unsigned a = s[3];
                    for (int c = 0; c < 3; ++c) {
                        const unsigned t = 255u * (255u - a) + s[c] * a + 128u;
                        d[c] = static_cast<std::uint8_t>(((t >> 8) + t) >> 8);
                    }
                } else {
                    d[0] = s[0];
                    d[1] = s[1];
                    d[2] = s[2];
                }
            } else {
                const std::uint8_t v =
                    m_photometric == PHOTOMETRIC_MINISWHITE ? static_cast<std::uint8_t>(255 - s[0]) : s[0];
                d[0] = d[1] = d[2] = v;
            }
        }
        // Evict least recently used blocks beyond the budget (always keep the new one).
        const std::size_t bytes = rgb.size();
        while (!m_lru.empty() && m_cached_bytes + bytes > m_opt.cache_bytes) {
            std::uint32_t victim = m_lru.back();
            m_lru.pop_back();
            auto v = m_cache.find(victim);
            m_cached_bytes -= v->second.first.size();
            m_cache.erase(v);
        }
        m_lru.push_front(index);
        m_cached_bytes += bytes;
        auto ins = m_cache.emplace(index, std::make_pair(std::move(rgb), m_lru.begin()));
        return ins.first->second.first;
    }

    std::string m_path;
    tiff_options m_opt;
    std::string m_last_error;
    std::unique_ptr<TIFF, detail::tiff_closer> m_handle;
    TIFF* m_tif = nullptr;
    int m_w = 0, m_h = 0, m_spp = 1, m_bw = 0, m_bh = 0, m_nbx = 0, m_nby = 0;
    bool m_tiled = false, m_separate = false;
    std::uint16_t m_photometric = PHOTOMETRIC_MINISBLACK;
    bool m_rgbx = false; ///< RGB + an extra sample that is not alpha (dropped)
    std::vector<std::uint8_t> m_palette;
    std::size_t m_raw_block_bytes = 0;
    std::unordered_map<std::uint32_t, std::pair<std::vector<std::uint8_t>, std::list<std::uint32_t>::iterator>> m_cache;
    std::list<std::uint32_t> m_lru;
    std::size_t m_cached_bytes = 0;
    tiff_stats m_stats;
};

} // namespace rscovlm::io

#endif // RSCOVLM_HAS_TIFF
