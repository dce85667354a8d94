#pragma once
/// \file stb_formats.hpp
/// \brief What Pillow 9.4 checks while it decodes the formats that `image_io.hpp` hands to stb_image
/// (BMP, TGA, GIF), and a PNM (P5/P6) decoder that gives Pillow's pixels.
///
/// stb_image reads zeros past the end of its input, so a BMP, TGA or GIF cut short decodes "fine" with
/// a black (or background) tail. Pillow raises instead ("image file is truncated", or "not enough image
/// data"): its decoders must see every byte they need before the end of the file. The checks below walk
/// each format's data as Pillow's decoder does, without decoding pixels, and throw `image_error`
/// "truncated" where Pillow would run out of data and "corrupt" where its decoder reports broken data:
///
/// - BMP, uncompressed or BITFIELDS: Pillow's raw decoder needs every row, padded to 4 bytes, except the
///   padding of the last one, starting at the data offset Pillow computes (`BmpImagePlugin._bitmap`).
///   RLE BMPs are left to stb (which refuses them).
/// - TGA: uncompressed data needs width x height pixels after the header, ID and colour map. RLE data is
///   walked packet by packet as `TgaRleDecode.c` does: a packet is used only when it is complete, and a
///   packet that runs past the end of a scanline is a "buffer overrun" (Pillow refuses it, stb does not).
/// - GIF: the blocks before the first image must be complete; the first image's LZW codes are followed
///   (code sizes, clear codes, the string length of every table entry, `GifDecode.c`'s errors) until the
///   frame's width x height pixels have been produced. A data sub-block is used only when it is complete,
///   and an end code before the frame is full leaves Pillow waiting for data the file does not have.
/// - PNM: Pillow's header tokenizer (comments, 10-character tokens, `0 < maxval < 65536`), then its raw
///   decoder for maxval 255 (and 65535 grey), or `PpmDecoder`'s scaling `min(255, round(v / maxval * 255))`
///   otherwise; 16-bit grey is Pillow mode I, which `convert` clips to 0..255.

#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::io::stb_formats {

namespace detail {

inline std::uint32_t le16(const std::uint8_t* p) noexcept {
    return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8);
}
inline std::uint32_t le32(const std::uint8_t* p) noexcept {
    return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 24);
}
inline std::string where(std::string_view name) {
    return name.empty() ? std::string("image") : "'" + std::string(name) + "'";
}
[[noreturn]] inline void truncated(std::string_view name, std::string_view format, std::string_view what) {
    RSCOVLM_THROW(image_error, "truncated",
                  where(name) + ": " + std::string(format) + " data is truncated (" + std::string(what) + ")");
}
[[noreturn]] inline void corrupt(std::string_view name, std::string_view format, std::string_view what) {
    RSCOVLM_THROW(image_error, "corrupt",
                  where(name) + ": bad " + std::string(format) + " data (" + std::string(what) + ")");
}

// Whether `rows` rows of `stride` bytes, the last one only `last` bytes long, fit in `avail` bytes.
inline bool rows_fit(std::uint64_t rows, std::uint64_t stride, std::uint64_t last, std::uint64_t avail) noexcept {
    if (rows == 0) return true;
    if (last > avail) return false;
    avail -= last;
    return stride == 0 || rows - 1 <= avail / stride;
}

} // namespace detail

/// \brief Throws "truncated" when the file ends inside the BMP headers Pillow reads (its open fails).
inline void check_bmp_header(const std::uint8_t* p, std::size_t n, std::string_view name = {}) {
    if (n < 18) detail::truncated(name, "BMP", "the file ends inside its headers");
    const std::uint32_t hs = detail::le32(p + 14);
    if ((hs == 12 || hs == 40 || hs == 64 || hs == 108 || hs == 124) && n < 14 + std::size_t{hs})
        detail::truncated(name, "BMP", "the file ends inside its headers");
}

/// \brief Throws when Pillow's raw BMP decoder would run out of data. Headers Pillow does not read
/// (other sizes, RLE or other compressions, other bit depths) are left to the caller's decoder.
inline void check_bmp(const std::uint8_t* p, std::size_t n, std::string_view name = {}) {
    using detail::le16;
    using detail::le32;
    check_bmp_header(p, n, name);
    const std::uint64_t offset = le32(p + 10);
    const std::uint32_t hs = le32(p + 14);
    std::uint64_t w = 0, h = 0, bits = 0, compression = 0, colors = 0, masks = 0;
    std::uint64_t palette_entry = 4;
    if (hs == 12) {
        w = le16(p + 18);
        h = le16(p + 20);
        bits = le16(p + 24);
        palette_entry = 3;
    } else if (hs == 40 || hs == 64 || hs == 108 || hs == 124) {
        w = le32(p + 18);
        const std::uint32_t hv = le32(p + 22);
        h = p[25] == 0xFF ? (std::uint64_t{1} << 32) - hv : hv; // top-down: Pillow's 2**32 - height
        bits = le16(p + 28);
        compression = le32(p + 30);
        colors = le32(p + 46);
        if (compression == 3 && hs < 52) masks = 12; // the three masks follow a 40-byte header
    } else {
        return;
    }
    if (compression != 0 && compression != 3) return;
    if (bits != 1 && bits != 2 && bits != 4 && bits != 8 && bits != 16 && bits != 24 && bits != 32) return;
    if (colors == 0) colors = std::uint64_t{1} << bits;
    std::uint64_t start = offset;
    if (offset == 14 + std::uint64_t{hs} && bits <= 8) start += 4 * colors; // as Pillow computes it
    if (offset == 0) start = 14 + std::uint64_t{hs} + masks + (bits <= 8 ? palette_entry * colors : 0);
    if (w == 0 || h == 0) return;
    const std::uint64_t row = (w * bits + 7) / 8;
    const std::uint64_t stride = ((w * bits + 31) >> 3) & ~std::uint64_t{3};
    if (start > n || !detail::rows_fit(h, stride, row, n - start))
        detail::truncated(name, "BMP", "pixel rows end before the last one");
}

/// \brief Throws when Pillow's TGA decoder (raw or `TgaRleDecode.c`) would run out of data or overrun a
/// scanline. Headers Pillow refuses or cannot decode are left to the caller's decoder.
inline void check_tga(const std::uint8_t* p, std::size_t n, std::string_view name = {}) {
    if (n < 18) return;
    const std::uint32_t id_len = p[0], cmap_type = p[1], type = p[2];
    const std::uint64_t w = detail::le16(p + 12), h = detail::le16(p + 14);
    const std::uint32_t depth = p[16];
    if (cmap_type > 1 || w == 0 || h == 0) return;
    const std::uint32_t kind = type & 7u;
    // Pillow's MODES table: (1, 8) P, (3, 1) 1, (3, 8) L, (3, 16) LA, (2, 16/24/32) BGR;5 / BGR / BGRA.
    const bool decodable = (kind == 1 && depth == 8) || (kind == 3 && (depth == 1 || depth == 8 || depth == 16)) ||
                           (kind == 2 && (depth == 16 || depth == 24 || depth == 32));
    if (!decodable || (type & ~std::uint32_t{8 | 7}) != 0) return;
    std::uint64_t pos = 18 + std::uint64_t{id_len};
    if (cmap_type == 1) {
        const std::uint32_t map_depth = p[7];
        if (map_depth == 16 || map_depth == 24 || map_depth == 32) pos += (map_depth / 8) * detail::le16(p + 5);
    }
    const std::uint64_t row = (w * depth + 7) / 8;
    if ((type & 8) == 0) {
        if (pos > n || !detail::rows_fit(h, row, row, n - pos))
            detail::truncated(name, "TGA", "pixel rows end before the last one");
        return;
    }
    const std::uint64_t pixel = depth / 8;
    if (pixel == 0) return;
    std::uint64_t x = 0, rows = 0;
    while (rows < h) {
        if (pos >= n) detail::truncated(name, "TGA", "RLE packets end before the last row");
        const std::uint8_t head = p[pos];
        const std::uint64_t bytes = pixel * ((head & 0x7Fu) + 1);
        const std::uint64_t need = 1 + ((head & 0x80u) ? pixel : bytes);
        if (n - pos < need) detail::truncated(name, "TGA", "an RLE packet is cut short");
        if (x + bytes > row) detail::corrupt(name, "TGA", "an RLE packet runs past the end of a scanline");
        pos += need;
        x += bytes;
        if (x >= row) {
            x = 0;
            ++rows;
        }
    }
}

/// \brief Throws when Pillow would fail to read the first frame of a GIF: the file ends before the
/// frame (Pillow's open fails) or before its LZW data gives width x height pixels (its load fails), or
/// the codes are broken as `GifDecode.c` defines it.
inline void check_gif(const std::uint8_t* p, std::size_t n, std::string_view name = {}) {
    const std::string_view fmt = "GIF";
    if (n < 13) detail::truncated(name, fmt, "the file ends inside its header");
    std::size_t pos = 13;
    if (p[10] & 0x80u) pos += std::size_t{3} << ((p[10] & 7u) + 1);
    // Skips the data sub-blocks at `pos` (Pillow reads them even when cut short; the file then ends
    // before an image descriptor is found).
    auto skip_sub_blocks = [&] {
        while (pos < n && p[pos] != 0)
            pos += 1 + std::size_t{p[pos]};
        ++pos;
    };
    std::uint64_t w = 0, h = 0;
    for (;;) {
        if (pos >= n) detail::truncated(name, fmt, "no image descriptor before the end of the file");
        const std::uint8_t b = p[pos++];
        if (b == ';') detail::truncated(name, fmt, "no image before the trailer");
        if (b == '!') {
            ++pos; // label
            skip_sub_blocks();
        } else if (b == ',') {
            if (n - pos < 9) detail::truncated(name, fmt, "the file ends inside an image descriptor");
            w = detail::le16(p + pos + 4);
            h = detail::le16(p + pos + 6);
            const std::uint8_t flags = p[pos + 8];
            pos += 9;
            if (flags & 0x80u) pos += std::size_t{3} << ((flags & 7u) + 1);
            break;
        }
        // any other byte is skipped, as Pillow does
    }
    if (pos >= n) detail::truncated(name, fmt, "the file ends before the LZW code size");
    const int bits = p[pos++];
    if (bits > 12) detail::corrupt(name, fmt, "LZW code size above 12");
    const std::uint64_t total = w * h;
    if (total == 0) return;
    // GifDecode.c, counting pixels: each table entry's string length instead of its bytes.
    constexpr int table = 4096;
    std::vector<std::uint16_t> length(table, 1);
    const int clear = 1 << bits, end = clear + 1;
    int next = clear + 2, codesize = bits + 1, codemask = (1 << codesize) - 1;
    int state = 2, lastcode = 0; // 2: first code after a clear; 3: decoding
    std::uint32_t bitbuffer = 0;
    int bitcount = 0;
    std::size_t blocksize = 0;
    std::uint64_t produced = 0;
    for (;;) {
        while (bitcount < codesize) {
            if (blocksize > 0) {
                bitbuffer |= std::uint32_t{p[pos++]} << bitcount;
                bitcount += 8;
                --blocksize;
            } else {
                // a sub-block is used only when the file holds all of it
                if (pos >= n || n - pos < std::size_t{1} + p[pos])
                    detail::truncated(name, fmt, "LZW data ends before the image is complete");
                blocksize = p[pos++];
            }
        }
        const int c = static_cast<int>(bitbuffer & static_cast<std::uint32_t>(codemask));
        bitbuffer >>= codesize;
        bitcount -= codesize;
        if (c == clear) {
            if (state != 2) {
                state = 2;
                next = clear + 2;
                codesize = bits + 1;
                codemask = (1 << codesize) - 1;
            }
            continue;
        }
        if (c == end) detail::truncated(name, fmt, "LZW end code before the image is complete");
        std::uint64_t out = 1;
        if (state == 2) {
            if (c > clear) detail::corrupt(name, fmt, "first LZW code after a clear code is not a literal");
            lastcode = c;
            state = 3;
        } else {
            if (c > next) detail::corrupt(name, fmt, "LZW code beyond the table");
            const int base = c == next ? lastcode : c;
            if (base >= table) detail::corrupt(name, fmt, "LZW code beyond the table");
            out = (base >= clear ? length[static_cast<std::size_t>(base)] : 1) + (c == next ? 1 : 0);
            if (next < table) {
                const std::uint16_t prev = lastcode >= clear ? length[static_cast<std::size_t>(lastcode)] : 1;
                length[static_cast<std::size_t>(next)] = static_cast<std::uint16_t>(prev + 1);
                if (next == codemask && codesize < 12) {
                    ++codesize;
                    codemask = (1 << codesize) - 1;
                }
                ++next;
            }
            lastcode = c;
        }
        produced += out;
        if (produced >= total) return;
    }
}

/// \brief A PNM (P5/P6) header as Pillow's `PpmImageFile` reads it.
struct pnm_header {
    int width = 0;
    int height = 0;
    int channels = 0; ///< 1 (P5: Pillow mode L, or I when maxval > 255) or 3 (P6: RGB)
    int maxval = 0;
    std::size_t data_offset = 0;
};

/// \brief Reads a P5/P6 header: throws `image_error` "truncated" when the file ends inside it, "corrupt"
/// for what Pillow refuses (unknown magic, tokens longer than 10 characters or not integers, maxval
/// outside 1..65535) and "zero_size" for a size that is not positive.
inline pnm_header read_pnm_header(const std::uint8_t* p, std::size_t n, std::string_view name = {}) {
    const std::string_view fmt = "PNM";
    auto space = [](std::uint8_t c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
    };
    std::size_t pos = 0;
    std::string magic;
    while (pos < n && magic.size() < 6) {
        const std::uint8_t c = p[pos++];
        if (space(c)) break;
        magic.push_back(static_cast<char>(c));
    }
    if (magic != "P5" && magic != "P6") detail::corrupt(name, fmt, "not a P5 or P6 magic number");
    auto token = [&]() -> long long {
        std::string t;
        while (t.size() <= 10) {
            if (pos >= n) break;
            const std::uint8_t c = p[pos++];
            if (space(c)) {
                if (t.empty()) continue;
                break;
            }
            if (c == '#') { // the rest of the line is a comment
                while (pos < n && p[pos] != '\r' && p[pos] != '\n')
                    ++pos;
                if (pos < n) ++pos;
                continue;
            }
            t.push_back(static_cast<char>(c));
        }
        if (t.empty()) detail::truncated(name, fmt, "the file ends inside its header");
        if (t.size() > 10) detail::corrupt(name, fmt, "header token longer than 10 characters");
        // Python's int(): an optional sign, then digits with single underscores between them.
        std::size_t i = 0;
        const bool negative = t[0] == '-';
        if (t[0] == '+' || t[0] == '-') i = 1;
        long long v = 0;
        bool digit_before = false;
        for (; i < t.size(); ++i) {
            if (t[i] >= '0' && t[i] <= '9') {
                v = v * 10 + (t[i] - '0');
                digit_before = true;
            } else if (t[i] == '_' && digit_before && i + 1 < t.size() && t[i + 1] >= '0' && t[i + 1] <= '9') {
                digit_before = false;
            } else {
                detail::corrupt(name, fmt, "header token '" + t + "' is not an integer");
            }
        }
        if (!digit_before) detail::corrupt(name, fmt, "header token '" + t + "' is not an integer");
        return negative ? -v : v;
    };
    pnm_header hd;
    const long long w = token();
    const long long h = token();
    const long long maxval = token();
    if (maxval <= 0 || maxval >= 65536)
        detail::corrupt(name, fmt, "maxval " + std::to_string(maxval) + " is not in 1..65535");
    if (w <= 0 || h <= 0)
        RSCOVLM_THROW(image_error, "zero_size",
                      detail::where(name) + " declares a " + std::to_string(w) + "x" + std::to_string(h) + " image");
    if (w > 0x7fffffffLL || h > 0x7fffffffLL)
        RSCOVLM_THROW(limit_error, "too_many_pixels", detail::where(name) + ": the declared PNM size is too large");
    hd.width = static_cast<int>(w);
    hd.height = static_cast<int>(h);
    hd.channels = magic == "P6" ? 3 : 1;
    hd.maxval = static_cast<int>(maxval);
    hd.data_offset = pos;
    return hd;
}

/// \brief Decodes a P5/P6 file as Pillow 9.4 does (8-bit result, one or three channels): maxval 255 raw;
/// 16-bit grey (Pillow mode I) clipped to 0..255 as `convert` does; other maxvals scaled by
/// `PpmDecoder`. The caller checks the pixel limit on `read_pnm_header`'s size first.
inline image decode_pnm(const std::uint8_t* p, std::size_t n, std::string_view name = {}) {
    const pnm_header hd = read_pnm_header(p, n, name);
    const std::uint64_t samples = static_cast<std::uint64_t>(hd.width) * static_cast<std::uint64_t>(hd.height) *
                                  static_cast<std::uint64_t>(hd.channels);
    const std::uint64_t in_bytes = hd.maxval < 256 ? 1 : 2;
    const std::uint64_t avail = n - hd.data_offset;
    if (samples > avail / in_bytes) detail::truncated(name, "PNM", "pixel data ends before the last pixel");
    image out(hd.width, hd.height, hd.channels);
    const std::uint8_t* s = p + hd.data_offset;
    std::uint8_t* d = out.data.data();
    const bool mode_i = hd.channels == 1 && hd.maxval > 255; // Pillow mode I (32-bit), clipped by convert
    if (hd.maxval == 255) {
        for (std::uint64_t i = 0; i < samples; ++i)
            d[i] = s[i];
    } else if (hd.maxval == 65535 && mode_i) {
        for (std::uint64_t i = 0; i < samples; ++i) {
            const std::uint32_t v = (std::uint32_t{s[2 * i]} << 8) | s[2 * i + 1];
            d[i] = static_cast<std::uint8_t>(v > 255 ? 255 : v);
        }
    } else {
        const double out_max = mode_i ? 65535.0 : 255.0;
        const double maxval = static_cast<double>(hd.maxval);
        for (std::uint64_t i = 0; i < samples; ++i) {
            const std::uint32_t v = in_bytes == 1 ? std::uint32_t{s[i]} : (std::uint32_t{s[2 * i]} << 8) | s[2 * i + 1];
            // Python's round(): to nearest, ties to even (the default floating-point rounding mode).
            double x = std::nearbyint(static_cast<double>(v) / maxval * out_max);
            if (x > out_max) x = out_max;
            d[i] = static_cast<std::uint8_t>(x > 255.0 ? 255.0 : x);
        }
    }
    return out;
}

} // namespace rscovlm::io::stb_formats
