#pragma once
/// \file png.hpp
/// \brief rscovlm's own PNG decoder (libdeflate whole-buffer inflate, zlib as fallback), producing the
/// 8-bit pixels Pillow 9.4's `Image.open` gives, in the Pillow mode's channel layout.
///
/// Mirrors Pillow 9.4 PngImagePlugin + ZipDecode + Unpack for every colour type and bit depth:
///  - grey 1/2/4/8 bit: mode "1"/"L" (samples scaled to 0..255: x255, x85, x17); grey 16 bit: mode "I"
///    (the 16-bit value), which `convert("RGB")`/`convert("L")` clip to 255 (Pillow Convert.c i2rgb) —
///    so a 16-bit grey PNG is white wherever its value is >= 255. That quirk is reproduced.
///  - RGB 8/16, RGBA 8/16: 16-bit samples keep their high byte (Pillow unpacker "RGB;16B"/"RGBA;16B").
///  - grey+alpha 8 bit: mode "LA" (2 channels); grey+alpha 16 bit: Pillow opens it as **RGBA** (unpacker
///    "LA;16B": L,L,L,A high bytes), so qwen-vl-utils' `to_rgb` composites it on white. Reproduced.
///  - paletted 1/2/4/8 bit: mode "P" expanded through PLTE to RGB; tRNS is ignored (Pillow keeps it in
///    `info` and `convert("RGB")` drops it); indices past the end of PLTE read the grey ramp (i, i, i) that
///    Pillow's palette holds beyond the PLTE entries.
///  - tRNS on grey/RGB images is ignored (Pillow does not make them LA/RGBA).
///  - any non-zero interlace byte means Adam7 (Pillow); compression/filter method must be 0.
///
/// CRC policy (Pillow's with `LOAD_TRUNCATED_IMAGES = False`): the CRC of every chunk before the first
/// IDAT is verified (a mismatch is "bad_crc"; Pillow: "cannot identify image file"); IDAT CRCs and
/// everything after the image data are not checked, and a missing IEND is accepted when the image data
/// is complete. IDAT data may span any number of chunks. The zlib stream must be valid including its
/// Adler-32 trailer. Data that ends before the image is complete is "truncated"; an undecodable stream or
/// an unknown row filter type (Pillow: "unrecognized data stream contents") is "corrupt".
/// The declared size is checked against the pixel limit from IHDR, before anything is inflated.

#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>

#if defined(RSCOVLM_HAS_LIBDEFLATE)
#include <libdeflate.h>
#endif
#if defined(RSCOVLM_HAS_ZLIB)
#include <zlib.h>
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#if defined(RSCOVLM_HAS_LIBDEFLATE) || defined(RSCOVLM_HAS_ZLIB)
#define RSCOVLM_HAS_PNG_DECODER 1
#endif

namespace rscovlm::io {

/// \brief IHDR fields of a PNG, plus the Pillow mode it opens as.
struct png_header {
    std::uint32_t width = 0;
    std::uint32_t height = 0;
    int bit_depth = 0;
    int color_type = 0;
    bool interlaced = false;
    /// Pillow mode name ("1", "L", "I", "RGB", "P", "LA", "RGBA").
    std::string_view mode;
    /// Channels of the 8-bit image `decode_png` returns (1, 2, 3 or 4).
    int channels = 0;
};

namespace png_detail {

inline std::uint32_t be32(const std::uint8_t* p) noexcept {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

inline std::string label(std::string_view name) {
    return name.empty() ? std::string("PNG") : "'" + std::string(name) + "'";
}

// CRC-32 (ISO-HDLC), slicing-by-one table built once.
inline std::uint32_t crc32(const std::uint8_t* p, std::size_t n, std::uint32_t crc = 0) noexcept {
    struct table_t {
        std::uint32_t t[256];
        table_t() noexcept {
            for (std::uint32_t i = 0; i < 256; ++i) {
                std::uint32_t c = i;
                for (int k = 0; k < 8; ++k)
                    c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                t[i] = c;
            }
        }
    };
    static const table_t table;
    crc = ~crc;
    for (std::size_t i = 0; i < n; ++i)
        crc = table.t[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

// Pillow PngImagePlugin _MODES: (bit depth, colour type) -> mode.
inline bool pillow_mode(int bits, int ct, std::string_view& mode, int& channels) noexcept {
    switch (ct) {
    case 0:
        if (bits == 1) {
            mode = "1";
            channels = 1;
            return true;
        }
        if (bits == 2 || bits == 4 || bits == 8) {
            mode = "L";
            channels = 1;
            return true;
        }
        if (bits == 16) {
            mode = "I";
            channels = 1;
            return true;
        }
        return false;
    case 2:
        if (bits == 8 || bits == 16) {
            mode = "RGB";
            channels = 3;
            return true;
        }
        return false;
    case 3:
        if (bits == 1 || bits == 2 || bits == 4 || bits == 8) {
            mode = "P";
            channels = 3;
            return true;
        }
        return false;
    case 4:
        if (bits == 8) {
            mode = "LA";
            channels = 2;
            return true;
        }
        if (bits == 16) {
            mode = "RGBA";
            channels = 4;
            return true;
        } // Pillow: "LA;16B" -> RGBA
        return false;
    case 6:
        if (bits == 8 || bits == 16) {
            mode = "RGBA";
            channels = 4;
            return true;
        }
        return false;
    default:
        return false;
    }
}

inline int samples_per_pixel(int ct) noexcept {
    return ct == 2 ? 3 : ct == 4 ? 2 : ct == 6 ? 4 : 1;
}

// Bytes of one filtered row (without the filter byte) of `w` pixels.
inline std::uint64_t row_bytes(std::uint64_t w, int bits, int ct) noexcept {
    return (w * static_cast<std::uint64_t>(bits) * static_cast<std::uint64_t>(samples_per_pixel(ct)) + 7) / 8;
}

struct adam7_pass {
    int x0, y0, dx, dy;
};
inline constexpr adam7_pass adam7[7] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                        {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};

inline std::uint64_t pass_extent(std::uint64_t size, int start, int step) noexcept {
    return size > static_cast<std::uint64_t>(start)
               ? (size - static_cast<std::uint64_t>(start) + static_cast<std::uint64_t>(step) - 1) /
                     static_cast<std::uint64_t>(step)
               : 0;
}

// Size of the whole inflated stream (filter bytes included).
inline std::uint64_t inflated_size(const png_header& h) noexcept {
    if (!h.interlaced) return (row_bytes(h.width, h.bit_depth, h.color_type) + 1) * h.height;
    std::uint64_t total = 0;
    for (const auto& p : adam7) {
        const std::uint64_t pw = pass_extent(h.width, p.x0, p.dx), ph = pass_extent(h.height, p.y0, p.dy);
        if (pw == 0 || ph == 0) continue;
        total += (row_bytes(pw, h.bit_depth, h.color_type) + 1) * ph;
    }
    return total;
}

enum class inflate_status { ok, short_data, bad_data, too_much };

#if defined(RSCOVLM_HAS_ZLIB)
// Streaming zlib over the IDAT pieces; stops as soon as `out` is full (extra data is ignored, as in Pillow).
inline inflate_status inflate_zlib(const std::vector<std::pair<const std::uint8_t*, std::size_t>>& parts,
                                   std::uint8_t* out, std::size_t out_n) {
    z_stream zs{};
    if (inflateInit(&zs) != Z_OK) return inflate_status::bad_data;
    struct guard {
        z_stream* z;
        ~guard() { inflateEnd(z); }
    } g{&zs};
    std::size_t produced = 0;
    for (const auto& part : parts) {
        const std::uint8_t* in = part.first;
        std::size_t left = part.second;
        while (left > 0 && produced < out_n) {
            const uInt in_chunk = static_cast<uInt>(std::min<std::size_t>(left, 1u << 30));
            const uInt out_chunk = static_cast<uInt>(std::min<std::size_t>(out_n - produced, 1u << 30));
            zs.next_in = const_cast<Bytef*>(in);
            zs.avail_in = in_chunk;
            zs.next_out = out + produced;
            zs.avail_out = out_chunk;
            const int rc = inflate(&zs, Z_NO_FLUSH);
            const std::size_t used = in_chunk - zs.avail_in;
            produced += out_chunk - zs.avail_out;
            in += used;
            left -= used;
            if (rc == Z_STREAM_END) return produced == out_n ? inflate_status::ok : inflate_status::short_data;
            if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR || rc == Z_MEM_ERROR || rc == Z_STREAM_ERROR)
                return inflate_status::bad_data;
            if (rc == Z_BUF_ERROR && used == 0 && produced < out_n) break;
        }
        if (produced == out_n) return inflate_status::ok;
    }
    return produced == out_n ? inflate_status::ok : inflate_status::short_data;
}
#endif

#if defined(RSCOVLM_HAS_LIBDEFLATE)
inline inflate_status inflate_libdeflate(const std::uint8_t* in, std::size_t n, std::uint8_t* out, std::size_t out_n) {
    struct deleter {
        void operator()(libdeflate_decompressor* d) const noexcept { libdeflate_free_decompressor(d); }
    };
    // One decompressor per thread (about 10 KiB), reused across images.
    thread_local std::unique_ptr<libdeflate_decompressor, deleter> dec(libdeflate_alloc_decompressor());
    if (!dec) return inflate_status::bad_data;
    std::size_t in_used = 0, out_got = 0;
    const libdeflate_result r = libdeflate_zlib_decompress_ex(dec.get(), in, n, out, out_n, &in_used, &out_got);
    if (r == LIBDEFLATE_SUCCESS) return out_got == out_n ? inflate_status::ok : inflate_status::short_data;
    if (r == LIBDEFLATE_INSUFFICIENT_SPACE) return inflate_status::too_much;
    return inflate_status::bad_data;
}
#endif

// --- unfiltering (PNG spec 9.2), on bytes; `prev` is the previous unfiltered row or zeros. `n` is a
// multiple of BPP. The left neighbours (a, c) are carried in registers, one lane per byte of a pixel,
// instead of being re-read from the row just written (that store-to-load chain made Sub/Average/Paeth
// several times slower).
template <int BPP> inline void unfilter_row_t(int ft, const std::uint8_t* src, const std::uint8_t* prev,
                                              std::uint8_t* dst, std::size_t n) noexcept {
    switch (ft) {
    case 0:
        std::memmove(dst, src, n);
        break; // may overlap: the in-place path writes just before it reads
    case 1: {
        unsigned a[BPP] = {};
        for (std::size_t i = 0; i < n; i += BPP)
            for (int k = 0; k < BPP; ++k) {
                a[k] = (src[i + k] + a[k]) & 0xFFu;
                dst[i + k] = static_cast<std::uint8_t>(a[k]);
            }
        break;
    }
    case 2:
        for (std::size_t i = 0; i < n; ++i)
            dst[i] = static_cast<std::uint8_t>(src[i] + prev[i]);
        break;
    case 3: {
        unsigned a[BPP] = {};
        for (std::size_t i = 0; i < n; i += BPP)
            for (int k = 0; k < BPP; ++k) {
                a[k] = (src[i + k] + ((a[k] + prev[i + k]) >> 1)) & 0xFFu;
                dst[i + k] = static_cast<std::uint8_t>(a[k]);
            }
        break;
    }
    default: { // 4: Paeth
        int a[BPP] = {}, c[BPP] = {};
        for (std::size_t i = 0; i < n; i += BPP)
            for (int k = 0; k < BPP; ++k) {
                const int b = prev[i + k];
                const int pa = std::abs(b - c[k]), pb = std::abs(a[k] - c[k]), pc = std::abs(a[k] + b - 2 * c[k]);
                int pred = pb <= pc ? b : c[k];
                pred = (pa <= pb && pa <= pc) ? a[k] : pred;
                a[k] = (src[i + k] + pred) & 0xFF;
                c[k] = b;
                dst[i + k] = static_cast<std::uint8_t>(a[k]);
            }
        break;
    }
    }
}

inline void unfilter_row(int ft, int bpp, const std::uint8_t* src, const std::uint8_t* prev, std::uint8_t* dst,
                         std::size_t n) noexcept {
    switch (bpp) {
    case 1:
        unfilter_row_t<1>(ft, src, prev, dst, n);
        break;
    case 2:
        unfilter_row_t<2>(ft, src, prev, dst, n);
        break;
    case 3:
        unfilter_row_t<3>(ft, src, prev, dst, n);
        break;
    case 4:
        unfilter_row_t<4>(ft, src, prev, dst, n);
        break;
    case 6:
        unfilter_row_t<6>(ft, src, prev, dst, n);
        break;
    default:
        unfilter_row_t<8>(ft, src, prev, dst, n);
        break;
    }
}

// One unfiltered row of `w` pixels -> `w` pixels of the Pillow mode, 8-bit (see the file comment).
inline void expand_row(const png_header& h, const std::uint8_t* palette, const std::uint8_t* src, std::uint8_t* dst,
                       std::size_t w) noexcept {
    const int bits = h.bit_depth;
    switch (h.color_type) {
    case 0:
        if (bits == 8) {
            std::memcpy(dst, src, w);
        } else if (bits == 16) {
            for (std::size_t x = 0; x < w; ++x) { // mode I, clipped to 8 bits by convert (i2rgb / i2l)
                const unsigned v = (static_cast<unsigned>(src[2 * x]) << 8) | src[2 * x + 1];
                dst[x] = static_cast<std::uint8_t>(v > 255u ? 255u : v);
            }
        } else {
            const unsigned scale = bits == 1 ? 255u : bits == 2 ? 85u : 17u;
            const unsigned mask = (1u << bits) - 1u;
            const int per = 8 / bits;
            for (std::size_t x = 0; x < w; ++x) {
                const unsigned byte = src[x / static_cast<std::size_t>(per)];
                const int shift = 8 - bits * (1 + static_cast<int>(x % static_cast<std::size_t>(per)));
                dst[x] = static_cast<std::uint8_t>(((byte >> shift) & mask) * scale);
            }
        }
        break;
    case 2:
        if (bits == 8)
            std::memcpy(dst, src, w * 3);
        else
            for (std::size_t i = 0; i < w * 3; ++i)
                dst[i] = src[2 * i];
        break;
    case 3: {
        const unsigned mask = (1u << bits) - 1u;
        const int per = 8 / bits;
        for (std::size_t x = 0; x < w; ++x) {
            unsigned idx;
            if (bits == 8) {
                idx = src[x];
            } else {
                const int shift = 8 - bits * (1 + static_cast<int>(x % static_cast<std::size_t>(per)));
                idx = (static_cast<unsigned>(src[x / static_cast<std::size_t>(per)]) >> shift) & mask;
            }
            std::memcpy(dst + 3 * x, palette + 3 * idx, 3);
        }
        break;
    }
    case 4:
        if (bits == 8) {
            std::memcpy(dst, src, w * 2);
        } else { // "LA;16B" -> RGBA
            for (std::size_t x = 0; x < w; ++x) {
                dst[4 * x] = dst[4 * x + 1] = dst[4 * x + 2] = src[4 * x];
                dst[4 * x + 3] = src[4 * x + 2];
            }
        }
        break;
    default:
        if (bits == 8)
            std::memcpy(dst, src, w * 4);
        else
            for (std::size_t i = 0; i < w * 4; ++i)
                dst[i] = src[2 * i];
        break;
    }
}

inline bool fast_copy_layout(const png_header& h) noexcept {
    return h.bit_depth == 8 && h.color_type != 3;
}

} // namespace png_detail

/// \brief Parses a PNG's signature and IHDR (with its CRC). Throws `image_error` "unknown_format" (no PNG
/// signature), "truncated", "bad_crc", "corrupt" (malformed IHDR), "unsupported_mode" (a bit depth /
/// colour type pair Pillow does not open), "zero_size".
inline png_header read_png_header(const std::uint8_t* p, std::size_t n, std::string_view name = {}) {
    using namespace png_detail;
    static const std::uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n < 8 || std::memcmp(p, sig, 8) != 0)
        RSCOVLM_THROW(image_error, "unknown_format", label(name) + " is not a PNG file");
    if (n < 8 + 8 + 13 + 4) RSCOVLM_THROW(image_error, "truncated", label(name) + ": file ends inside the PNG header");
    if (be32(p + 8) != 13 || std::memcmp(p + 12, "IHDR", 4) != 0)
        RSCOVLM_THROW(image_error, "corrupt", label(name) + ": the first PNG chunk is not a 13-byte IHDR");
    if (crc32(p + 12, 17) != be32(p + 29))
        RSCOVLM_THROW(image_error, "bad_crc", label(name) + ": bad CRC in the IHDR chunk");
    png_header h;
    h.width = be32(p + 16);
    h.height = be32(p + 20);
    h.bit_depth = p[24];
    h.color_type = p[25];
    if (h.width == 0 || h.height == 0)
        RSCOVLM_THROW(image_error, "zero_size",
                      label(name) + " declares a " + std::to_string(h.width) + "x" + std::to_string(h.height) +
                          " image");
    if (h.width > 0x7fffffffu || h.height > 0x7fffffffu)
        RSCOVLM_THROW(image_error, "corrupt", label(name) + ": IHDR size exceeds 2^31-1");
    if (p[26] != 0)
        RSCOVLM_THROW(image_error, "corrupt",
                      label(name) + ": unknown PNG compression method " + std::to_string(p[26]));
    if (p[27] != 0)
        RSCOVLM_THROW(image_error, "corrupt", label(name) + ": unknown PNG filter method " + std::to_string(p[27]));
    h.interlaced = p[28] != 0; // Pillow: any non-zero value means Adam7
    if (!pillow_mode(h.bit_depth, h.color_type, h.mode, h.channels))
        RSCOVLM_THROW(image_error, "unsupported_mode",
                      label(name) + ": bit depth " + std::to_string(h.bit_depth) + " with colour type " +
                          std::to_string(h.color_type) + " is not a valid PNG mode");
    return h;
}

/// \brief Decodes a PNG to the 8-bit pixels of its Pillow mode (see the file comment), refusing a declared
/// `width*height` above `max_pixels` (0 = no limit) with `limit_error` "too_many_pixels" before inflating.
#if defined(RSCOVLM_HAS_PNG_DECODER)
inline image decode_png(const std::uint8_t* p, std::size_t n, std::uint64_t max_pixels, std::string_view name = {},
                        png_header* header_out = nullptr) {
    using namespace png_detail;
    const png_header h = read_png_header(p, n, name);
    if (header_out) *header_out = h;
    const std::uint64_t pixels = std::uint64_t{h.width} * h.height;
    if (max_pixels != 0 && pixels > max_pixels)
        RSCOVLM_THROW(limit_error, "too_many_pixels",
                      label(name) + " declares " + std::to_string(h.width) + "x" + std::to_string(h.height) + " = " +
                          std::to_string(pixels) + " pixels, over the limit of " + std::to_string(max_pixels));
    const std::uint64_t out_bytes = pixels * static_cast<std::uint64_t>(h.channels);
    const std::uint64_t raw_n = inflated_size(h);
    if (out_bytes > (std::uint64_t{1} << 40) || raw_n > (std::uint64_t{1} << 40) ||
        static_cast<std::uint64_t>(static_cast<std::size_t>(raw_n)) != raw_n)
        RSCOVLM_THROW(limit_error, "too_many_pixels", label(name) + ": the declared PNG size is too large to decode");

    // Walk the chunks: CRC-check everything before the first IDAT (Pillow), gather IDAT pieces.
    // Entries past the PLTE data keep Pillow's initial palette, the grey ramp (i, i, i) (ImagingPaletteNew).
    std::uint8_t palette[256 * 3];
    for (int i = 0; i < 256; ++i)
        palette[3 * i] = palette[3 * i + 1] = palette[3 * i + 2] = static_cast<std::uint8_t>(i);
    bool have_plte = false;
    std::vector<std::pair<const std::uint8_t*, std::size_t>> idat;
    bool seen_iend = false, in_idat_run = false, idat_done = false;
    std::size_t pos = 8 + 25;
    while (pos < n) {
        if (n - pos < 8) break; // trailing bytes too short for a chunk header: the file was cut
        const std::uint32_t len = be32(p + pos);
        const std::uint8_t* type = p + pos + 4;
        if (len > 0x7fffffffu) RSCOVLM_THROW(image_error, "corrupt", label(name) + ": PNG chunk length exceeds 2^31-1");
        const bool is_idat = std::memcmp(type, "IDAT", 4) == 0;
        const std::size_t avail = n - pos - 8;
        if (is_idat) {
            if (idat_done) { // IDAT after other chunks that followed the image data: Pillow stops at the first run
                pos += 8 + std::min<std::size_t>(len, avail) + 4;
                continue;
            }
            in_idat_run = true;
            idat.emplace_back(p + pos + 8, std::min<std::size_t>(len, avail));
            if (len + std::size_t{4} > avail) break; // cut inside the chunk (its CRC is never checked)
            pos += 8 + std::size_t{len} + 4;
            continue;
        }
        if (in_idat_run) {
            idat_done = true; // chunks after the image data are not checked (Pillow load_end)
            if (std::memcmp(type, "IEND", 4) == 0) {
                seen_iend = true;
                break;
            }
            if (len + std::size_t{4} > avail) break;
            pos += 8 + std::size_t{len} + 4;
            continue;
        }
        if (len + std::size_t{4} > avail)
            RSCOVLM_THROW(image_error, "truncated",
                          label(name) + ": file ends inside a PNG chunk before the image data");
        if (crc32(type, std::size_t{len} + 4) != be32(p + pos + 8 + len))
            RSCOVLM_THROW(image_error, "bad_crc",
                          label(name) + ": bad CRC in the '" + std::string(reinterpret_cast<const char*>(type), 4) +
                              "' chunk");
        if (std::memcmp(type, "IEND", 4) == 0) {
            seen_iend = true;
            break;
        }
        if (std::memcmp(type, "PLTE", 4) == 0 && !have_plte) {
            // Pillow reads up to 256 entries and does not require a multiple of 3 beyond what it uses.
            std::memcpy(palette, p + pos + 8, std::min<std::size_t>(len, sizeof palette) / 3 * 3);
            have_plte = true;
        }
        pos += 8 + std::size_t{len} + 4;
    }
    if (idat.empty())
        RSCOVLM_THROW(image_error, seen_iend ? "corrupt" : "truncated",
                      label(name) + ": no image data (IDAT) in the PNG");
    if (h.color_type == 3 && !have_plte)
        RSCOVLM_THROW(image_error, "corrupt", label(name) + ": paletted PNG without a PLTE chunk");
    // (a stream that is cut short has no IEND)
    const bool file_complete = seen_iend;
    // Deflate expands at most ~1032:1; a stream too short for the declared size is cut (or lies about the
    // size): refuse it before allocating the output (this bounds memory when max_pixels is 0).
    std::uint64_t idat_total = 0;
    for (const auto& part : idat)
        idat_total += part.second;
    if (raw_n / 1032 > idat_total + 64)
        RSCOVLM_THROW(image_error, "truncated",
                      label(name) + ": " + std::to_string(idat_total) +
                          " bytes of PNG image data cannot hold the declared " + std::to_string(h.width) + "x" +
                          std::to_string(h.height) + " image");

    // 8-bit non-paletted, non-interlaced images (the common case) inflate straight into the output
    // buffer and are unfiltered in place (each row moves left by its filter byte and the bytes of the
    // rows before it): one buffer, one pass. Other layouts inflate into a scratch buffer first.
    const bool in_place = !h.interlaced && fast_copy_layout(h);
    image out;
    std::unique_ptr<std::uint8_t[]> raw_buf;
    struct raw_view {
        std::uint8_t* p;
        std::size_t n;
        std::uint8_t* data() const noexcept { return p; }
        std::size_t size() const noexcept { return n; }
    } raw{nullptr, static_cast<std::size_t>(raw_n)};
    if (in_place) {
        out.width = static_cast<int>(h.width);
        out.height = static_cast<int>(h.height);
        out.channels = h.channels;
        imaging::detail::grow_buffer(out.data, static_cast<std::size_t>(raw_n));
        raw.p = out.data.data();
    } else {
        out = imaging::detail::make_image(static_cast<int>(h.width), static_cast<int>(h.height), h.channels);
        // Not zero-filled: every byte is written by a successful inflate, anything else is an error.
        raw_buf.reset(new std::uint8_t[static_cast<std::size_t>(raw_n)]);
        raw.p = raw_buf.get();
    }
    inflate_status st = inflate_status::bad_data;
#if defined(RSCOVLM_HAS_LIBDEFLATE)
    {
        const std::uint8_t* zin = idat[0].first;
        std::size_t zn = idat[0].second;
        std::vector<std::uint8_t> joined;
        if (idat.size() > 1) {
            std::size_t total = 0;
            for (const auto& part : idat)
                total += part.second;
            joined.resize(total);
            std::size_t o = 0;
            for (const auto& part : idat) {
                std::memcpy(joined.data() + o, part.first, part.second);
                o += part.second;
            }
            zin = joined.data();
            zn = total;
        }
        st = inflate_libdeflate(zin, zn, raw.data(), raw.size());
    }
#if defined(RSCOVLM_HAS_ZLIB)
    // A stream holding more data than the image needs (Pillow ignores the rest), or a cut one: zlib
    // tells exactly how far it got.
    if (st == inflate_status::too_much || st == inflate_status::bad_data)
        st = inflate_zlib(idat, raw.data(), raw.size());
#endif
#else
    st = inflate_zlib(idat, raw.data(), raw.size());
#endif
    if (st == inflate_status::too_much)
        RSCOVLM_THROW(image_error, "corrupt", label(name) + ": the PNG data stream holds more data than the image");
    if (st == inflate_status::short_data)
        RSCOVLM_THROW(image_error, "truncated", label(name) + ": PNG image data ends before the image is complete");
    if (st == inflate_status::bad_data)
        RSCOVLM_THROW(image_error, file_complete ? "corrupt" : "truncated",
                      label(name) +
                          (file_complete ? ": corrupt PNG data stream" : ": PNG data is cut short or damaged"));

    const int bits_pp = h.bit_depth * samples_per_pixel(h.color_type);
    const int bpp = bits_pp < 8 ? 1 : bits_pp / 8;
    auto bad_filter = [&](int ft) {
        RSCOVLM_THROW(image_error, "corrupt", label(name) + ": unknown PNG row filter type " + std::to_string(ft));
    };
    const std::uint8_t* s = raw.data();
    if (!h.interlaced) {
        const std::size_t rb = static_cast<std::size_t>(row_bytes(h.width, h.bit_depth, h.color_type));
        if (in_place) {
            // Row y's filtered bytes start at y*(rb+1)+1 and its pixels go to y*rb: the destination trails
            // the source, so reading each byte before writing it is safe (rows ahead are untouched).
            std::vector<std::uint8_t> zeros(rb, 0);
            const std::uint8_t* prev = zeros.data();
            std::uint8_t* base = out.data.data();
            for (std::uint32_t y = 0; y < h.height; ++y) {
                const std::uint8_t* row = base + static_cast<std::size_t>(y) * (rb + 1);
                const int ft = row[0];
                if (ft > 4) bad_filter(ft);
                std::uint8_t* dst = base + static_cast<std::size_t>(y) * rb;
                unfilter_row(ft, bpp, row + 1, prev, dst, rb);
                prev = dst;
            }
            out.data.resize(out.size_bytes());
        } else {
            std::vector<std::uint8_t> rows(2 * rb, 0);
            std::uint8_t* prev = rows.data();
            std::uint8_t* cur = rows.data() + rb;
            for (std::uint32_t y = 0; y < h.height; ++y, s += rb + 1) {
                if (s[0] > 4) bad_filter(s[0]);
                unfilter_row(s[0], bpp, s + 1, prev, cur, rb);
                expand_row(h, palette, cur, out.row(static_cast<int>(y)), h.width);
                std::swap(prev, cur);
            }
        }
        return out;
    }
    const std::size_t nc = static_cast<std::size_t>(h.channels);
    const std::size_t max_rb = static_cast<std::size_t>(row_bytes(h.width, h.bit_depth, h.color_type));
    std::vector<std::uint8_t> rows(2 * max_rb + 1, 0), px(static_cast<std::size_t>(h.width) * nc);
    for (const auto& pass : adam7) {
        const std::size_t pw = static_cast<std::size_t>(pass_extent(h.width, pass.x0, pass.dx));
        const std::size_t ph = static_cast<std::size_t>(pass_extent(h.height, pass.y0, pass.dy));
        if (pw == 0 || ph == 0) continue;
        const std::size_t rb = static_cast<std::size_t>(row_bytes(pw, h.bit_depth, h.color_type));
        std::uint8_t* prev = rows.data();
        std::uint8_t* cur = rows.data() + max_rb;
        std::fill(prev, prev + rb, std::uint8_t{0});
        for (std::size_t r = 0; r < ph; ++r, s += rb + 1) {
            if (s[0] > 4) bad_filter(s[0]);
            unfilter_row(s[0], bpp, s + 1, prev, cur, rb);
            expand_row(h, palette, cur, px.data(), pw);
            std::uint8_t* dst =
                out.row(static_cast<int>(static_cast<std::size_t>(pass.y0) + r * static_cast<std::size_t>(pass.dy)));
            for (std::size_t i = 0; i < pw; ++i)
                std::memcpy(dst + (static_cast<std::size_t>(pass.x0) + i * static_cast<std::size_t>(pass.dx)) * nc,
                            px.data() + i * nc, nc);
            std::swap(prev, cur);
        }
    }
    return out;
}
#endif

} // namespace rscovlm::io
