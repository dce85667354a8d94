#pragma once
/// \file image_io.hpp
/// \brief Image decoding and encoding: PNG through rscovlm's own decoder (`io/png.hpp`, libdeflate or zlib),
/// JPEG through libjpeg-turbo (`io/jpeg.hpp`), PNM (P5/P6) through `io/stb_formats.hpp`, BMP/TGA/GIF through
/// stb_image after `io/stb_formats.hpp` has checked that Pillow would find all the data it needs (stb reads
/// zeros past the end of a file cut short; Pillow raises); encoding through stb_image_write.
///
/// Decoding gives what Qwen2.5-VL's Python pipeline gets from Pillow 9.4: 8-bit samples in the channel
/// layout of the mode Pillow opens the file as (paletted, grey and RGB PNGs with a tRNS chunk are *not*
/// RGBA in Pillow, so their alpha is dropped; a 16-bit grey+alpha PNG *is* RGBA), then `imaging::to_rgb`
/// (RGBA composited on white by default). PNG and JPEG pixels are bit-identical to Pillow's (see the two
/// headers for the modes, 16-bit handling, CRC policy, CMYK and error mapping). The declared size is
/// checked against a pixel limit before any pixel is decoded.
///
/// Optional backends: `RSCOVLM_HAS_LIBDEFLATE` / `RSCOVLM_HAS_ZLIB` enable the PNG decoder and
/// `RSCOVLM_HAS_LIBJPEG` the JPEG one (the `rscovlm::io` target defines them when the libraries are found).
/// Without them PNG/JPEG fall back to stb_image, which is 8-bit only (16-bit grey PNGs are then refused)
/// and whose JPEG IDCT/upsampling differs from libjpeg-turbo by a few levels.
///
/// Link with `rscovlm::io` (Debian's libstb provides the stb implementations; do not define
/// STB_IMAGE_IMPLEMENTATION).

#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/ops.hpp>
#include <rscovlm/io/jpeg.hpp>
#include <rscovlm/io/png.hpp>
#include <rscovlm/io/stb_formats.hpp>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::io {

/// \brief Pillow's decompression-bomb error threshold (2 x `Image.MAX_IMAGE_PIXELS`).
inline constexpr std::uint64_t default_max_image_pixels = 2ull * 89478485ull;

/// \brief Options of `load_image` / `decode_image`.
struct load_options {
    /// Convert to 3-channel RGB (the Qwen2.5-VL input); false keeps the Pillow-mode channel count (1..4).
    bool to_rgb = true;
    /// How RGBA becomes RGB: white composite (qwen-vl-utils `to_rgb`, default) or plain `convert("RGB")`.
    imaging::rgb_mode rgb = imaging::rgb_mode::composite;
    /// Refuse images whose declared width*height exceeds this, before decoding (0 = no limit).
    std::uint64_t max_pixels = default_max_image_pixels;
};

/// \brief Size and channel count of an encoded image, read from its header only.
struct image_info {
    int width = 0;
    int height = 0;
    /// Channels of the decoded image in its Pillow mode (1 "1"/L/I, 2 LA, 3 RGB/P, 4 RGBA); a CMYK JPEG
    /// reports 3 (the decoder converts it to RGB as Pillow's `convert("RGB")`; the image type has no CMYK).
    int channels = 0;
    /// "png", "jpeg", "bmp", "tga", "gif" or "pnm".
    std::string format;
};

namespace image_detail {

// Reads the file, or only its first `limit` bytes (sets *complete to whether the whole file was read).
inline std::vector<std::uint8_t> read_file(const std::string& path, std::size_t limit = static_cast<std::size_t>(-1),
                                           bool* complete = nullptr) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) RSCOVLM_THROW(io_error, "open_failed", "cannot open '" + path + "' for reading");
    std::vector<std::uint8_t> buf;
    std::uint8_t chunk[65536];
    bool eof = false;
    while (buf.size() < limit) {
        const std::size_t want = std::min<std::size_t>(sizeof chunk, limit - buf.size());
        const std::size_t n = std::fread(chunk, 1, want, f);
        buf.insert(buf.end(), chunk, chunk + n);
        if (n < want) {
            eof = true;
            break;
        }
    }
    if (!eof && buf.size() >= limit) eof = std::fgetc(f) == EOF;
    if (complete) *complete = eof;
    const bool bad = std::ferror(f) != 0;
    std::fclose(f);
    if (bad) RSCOVLM_THROW(io_error, "read_failed", "error while reading '" + path + "'");
    return buf;
}

inline bool starts_with(const std::uint8_t* p, std::size_t n, std::string_view magic) noexcept {
    if (n < magic.size()) return false;
    for (std::size_t i = 0; i < magic.size(); ++i)
        if (p[i] != static_cast<std::uint8_t>(magic[i])) return false;
    return true;
}

inline std::uint32_t be32(const std::uint8_t* p) noexcept {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

struct header {
    std::string format; // empty when unknown
    int png_color_type = -1;
    int png_bit_depth = 0;
};

inline header sniff(const std::uint8_t* p, std::size_t n) {
    header h;
    if (starts_with(p, n, "\x89PNG\r\n\x1a\n")) {
        h.format = "png";
        if (n >= 26 && starts_with(p + 12, n - 12, "IHDR")) {
            h.png_bit_depth = p[24];
            h.png_color_type = p[25];
        }
    } else if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) {
        h.format = "jpeg";
    } else if (starts_with(p, n, "BM")) {
        h.format = "bmp";
    } else if (starts_with(p, n, "GIF8")) {
        h.format = "gif";
    } else if (n >= 2 && p[0] == 'P' && (p[1] == '5' || p[1] == '6')) {
        h.format = "pnm";
    } else if (starts_with(p, n, "8BPS") || starts_with(p, n, "#?RADIANCE") || starts_with(p, n, "#?RGBE") ||
               starts_with(p, n, "\x53\x80\xF6\x34")) {
        h.format = "unsupported";
    } else {
        h.format = "tga"; // TGA has no signature; stb_image decides
    }
    return h;
}

// Channels of the Pillow mode for what stb reports.
inline int pillow_channels(const header& h, int stb_comp) noexcept {
    if (h.format == "png") {
        switch (h.png_color_type) {
        case 0:
            return 1; // L (tRNS does not make it LA)
        case 2:
            return 3; // RGB
        case 3:
            return 3; // P -> convert("RGB") ignores the palette's transparency
        case 4:
            return 2; // LA
        case 6:
            return 4; // RGBA
        default:
            break;
        }
    }
    if (h.format == "gif") return 3; // P
    if (h.format == "jpeg") return stb_comp == 1 ? 1 : 3;
    return stb_comp;
}

inline std::string where(std::string_view name) {
    return name.empty() ? std::string("image") : "'" + std::string(name) + "'";
}

// A JPEG whose last scan is not followed by an EOI marker was cut short (Pillow: "image file is truncated").
inline bool jpeg_truncated(const std::uint8_t* p, std::size_t n) noexcept {
    std::size_t last_sos = 0;
    for (std::size_t i = 0; i + 1 < n; ++i)
        if (p[i] == 0xFF && p[i + 1] == 0xDA) last_sos = i;
    if (last_sos == 0) return true;
    for (std::size_t i = last_sos + 2; i + 1 < n; ++i)
        if (p[i] == 0xFF && p[i + 1] == 0xD9) return false;
    return true;
}

inline image_info probe(const std::uint8_t* p, std::size_t n, std::string_view name) {
    if (n == 0) RSCOVLM_THROW(image_error, "empty_file", where(name) + " is empty");
    if (n > static_cast<std::size_t>(0x7fffffff))
        RSCOVLM_THROW(limit_error, "too_many_bytes", where(name) + " is larger than 2 GiB");
    const header h = sniff(p, n);
    if (h.format == "unsupported")
        RSCOVLM_THROW(image_error, "unsupported_format", where(name) + " is a PSD/HDR/PIC file (not supported)");
#if defined(RSCOVLM_HAS_PNG_DECODER)
    if (h.format == "png") {
        const png_header ph = read_png_header(p, n, name);
        image_info info;
        info.width = static_cast<int>(ph.width);
        info.height = static_cast<int>(ph.height);
        info.channels = ph.channels;
        info.format = "png";
        return info;
    }
#endif
#if defined(RSCOVLM_HAS_LIBJPEG)
    if (h.format == "jpeg") {
        const jpeg_header jh = read_jpeg_header(p, n, name);
        image_info info;
        info.width = jh.width;
        info.height = jh.height;
        info.channels = jh.channels;
        info.format = "jpeg";
        return info;
    }
#endif
    if (h.format == "bmp") stb_formats::check_bmp_header(p, n, name);
    if (h.format == "pnm") {
        const stb_formats::pnm_header ph = stb_formats::read_pnm_header(p, n, name);
        image_info info;
        info.width = ph.width;
        info.height = ph.height;
        info.channels = ph.channels;
        info.format = "pnm";
        return info;
    }
    if (h.format == "png" && n >= 24 && (be32(p + 16) == 0 || be32(p + 20) == 0))
        RSCOVLM_THROW(image_error, "zero_size",
                      where(name) + " declares a " + std::to_string(be32(p + 16)) + "x" + std::to_string(be32(p + 20)) +
                          " image");
    int w = 0, hh = 0, comp = 0;
    if (!stbi_info_from_memory(p, static_cast<int>(n), &w, &hh, &comp)) {
        const std::string reason = stbi_failure_reason() ? stbi_failure_reason() : "unknown";
        if (h.format == "png" && h.png_color_type >= 0) {
            // stb refuses very large PNGs in its header check (and then reports a generic reason);
            // report the size IHDR declares so that the pixel limit, checked by the caller before
            // decoding, names it. A damaged file still fails in the decoder with its own error.
            image_info big;
            big.width = static_cast<int>(std::min<std::uint32_t>(be32(p + 16), 0x7fffffffu));
            big.height = static_cast<int>(std::min<std::uint32_t>(be32(p + 20), 0x7fffffffu));
            big.channels = pillow_channels(h, h.png_color_type == 6   ? 4
                                              : h.png_color_type == 4 ? 2
                                              : h.png_color_type == 0 ? 1
                                                                      : 3);
            big.format = h.format;
            return big;
        }
        if (reason.find("large") != std::string::npos)
            RSCOVLM_THROW(limit_error, "too_many_pixels",
                          where(name) + ": the declared " + h.format + " size is too large to decode");
        if (h.format == "tga")
            RSCOVLM_THROW(image_error, "unknown_format",
                          where(name) + " is not a PNG, JPEG, BMP, TGA, GIF or PNM image");
        RSCOVLM_THROW(image_error, "corrupt", where(name) + ": bad " + h.format + " header (" + reason + ")");
    }
    if (w <= 0 || hh <= 0)
        RSCOVLM_THROW(image_error, "zero_size",
                      where(name) + " declares a " + std::to_string(w) + "x" + std::to_string(hh) + " image");
    image_info info;
    info.width = w;
    info.height = hh;
    info.channels = pillow_channels(h, comp);
    info.format = h.format;
    return info;
}

} // namespace image_detail

/// \brief Reads size, Pillow-mode channel count and format from the header of an encoded image.
/// Throws `image_error` ("empty_file", "unknown_format", "unsupported_format", "corrupt", "zero_size").
inline image_info probe_image_memory(const std::uint8_t* bytes, std::size_t size, std::string_view name = {}) {
    return image_detail::probe(bytes, size, name);
}

/// \brief Reads size, channels and format of an image file without decoding its pixels.
inline image_info probe_image(const std::string& path) {
    // Headers sit at the start; a JPEG's frame header may follow large metadata, so retry with the whole file.
    bool complete = false;
    const auto head = image_detail::read_file(path, std::size_t{1} << 20, &complete);
    if (!complete) {
        auto r = try_call([&] { return image_detail::probe(head.data(), head.size(), path); });
        if (r.ok()) return r.value();
    }
    const auto buf = complete ? head : image_detail::read_file(path);
    return image_detail::probe(buf.data(), buf.size(), path);
}

/// \brief `probe_image` returning a `result`.
inline result<image_info> try_probe_image(const std::string& path) {
    return try_call([&] { return probe_image(path); });
}

/// \brief Decodes an encoded image held in memory. `name` only labels error messages.
///
/// Throws `limit_error` "too_many_pixels" when the declared size exceeds `opt.max_pixels` (checked
/// before decoding), `image_error` "corrupt"/"truncated" for damaged data, and the `probe` errors.
inline image decode_image(const std::uint8_t* bytes, std::size_t size, const load_options& opt = {},
                          std::string_view name = {}) {
#if defined(RSCOVLM_HAS_PNG_DECODER) || defined(RSCOVLM_HAS_LIBJPEG)
    if (size > 0) {
        const image_detail::header sn = image_detail::sniff(bytes, size);
#if defined(RSCOVLM_HAS_PNG_DECODER)
        if (sn.format == "png") {
            image raw = decode_png(bytes, size, opt.max_pixels, name);
            if (!opt.to_rgb || raw.channels == 3) return raw; // moved, not copied (no ?: here)
            return imaging::to_rgb(raw, opt.rgb);
        }
#endif
#if defined(RSCOVLM_HAS_LIBJPEG)
        if (sn.format == "jpeg") {
            image raw = decode_jpeg(bytes, size, opt.max_pixels, name);
            if (!opt.to_rgb || raw.channels == 3) return raw; // moved, not copied (no ?: here)
            return imaging::to_rgb(raw, opt.rgb);
        }
#endif
    }
#endif
    const image_info info = image_detail::probe(bytes, size, name);
    const std::uint64_t pixels = static_cast<std::uint64_t>(info.width) * static_cast<std::uint64_t>(info.height);
    if (opt.max_pixels != 0 && pixels > opt.max_pixels)
        RSCOVLM_THROW(limit_error, "too_many_pixels",
                      image_detail::where(name) + " declares " + std::to_string(info.width) + "x" +
                          std::to_string(info.height) + " = " + std::to_string(pixels) + " pixels, over the limit of " +
                          std::to_string(opt.max_pixels));
    const image_detail::header h = image_detail::sniff(bytes, size);
    if (h.format == "png" && h.png_bit_depth == 16 && (h.png_color_type == 0 || h.png_color_type == 4))
        RSCOVLM_THROW(image_error, "unsupported_depth",
                      image_detail::where(name) + " is a 16-bit grey PNG (Pillow mode I;16), not an 8-bit image");
    if (h.format == "jpeg" && image_detail::jpeg_truncated(bytes, size))
        RSCOVLM_THROW(image_error, "truncated",
                      image_detail::where(name) + ": JPEG data ends before its end-of-image marker");
    // stb_image reads zeros past the end of its input: check what Pillow's decoders need first.
    if (h.format == "pnm") {
        image raw = stb_formats::decode_pnm(bytes, size, name);
        if (!opt.to_rgb || raw.channels == 3) return raw;
        return imaging::to_rgb(raw, opt.rgb);
    }
    if (h.format == "bmp") stb_formats::check_bmp(bytes, size, name);
    if (h.format == "tga") stb_formats::check_tga(bytes, size, name);
    if (h.format == "gif") stb_formats::check_gif(bytes, size, name);
    int w = 0, hh = 0, comp = 0;
    stbi_uc* px = stbi_load_from_memory(bytes, static_cast<int>(size), &w, &hh, &comp, 0);
    if (!px) {
        const std::string reason = stbi_failure_reason() ? stbi_failure_reason() : "unknown";
        if (reason.find("large") != std::string::npos)
            RSCOVLM_THROW(limit_error, "too_many_pixels",
                          image_detail::where(name) + ": " + info.format + " too large for the decoder (" + reason +
                              ")");
        const bool short_data =
            reason.find("outofdata") != std::string::npos || reason.find("no IEND") != std::string::npos ||
            reason.find("bad size") != std::string::npos || reason.find("corrupt") != std::string::npos;
        if (short_data)
            RSCOVLM_THROW(image_error, "truncated",
                          image_detail::where(name) + ": " + info.format + " data is truncated or damaged (" + reason +
                              ")");
        RSCOVLM_THROW(image_error, "corrupt",
                      image_detail::where(name) + ": cannot decode " + info.format + " (" + reason + ")");
    }
    image raw(w, hh, comp);
    std::memcpy(raw.data.data(), px, raw.size_bytes());
    stbi_image_free(px);
    // Drop an alpha channel that Pillow's mode does not have (tRNS on L/RGB/P PNGs, GIF transparency).
    const int want = image_detail::pillow_channels(h, comp);
    if (want != comp && (comp == 2 || comp == 4) && want == comp - 1) {
        image stripped(w, hh, want);
        const std::size_t n = static_cast<std::size_t>(w) * static_cast<std::size_t>(hh);
        const std::uint8_t* s = raw.data.data();
        std::uint8_t* d = stripped.data.data();
        for (std::size_t i = 0; i < n; ++i, s += comp, d += want)
            std::memcpy(d, s, static_cast<std::size_t>(want));
        raw = std::move(stripped);
    }
    if (!opt.to_rgb || raw.channels == 3) return raw;
    return imaging::to_rgb(raw, opt.rgb);
}

/// \brief Decodes an encoded image held in a byte vector.
inline image decode_image(const std::vector<std::uint8_t>& bytes, const load_options& opt = {},
                          std::string_view name = {}) {
    return decode_image(bytes.data(), bytes.size(), opt, name);
}

/// \brief Loads an image file (see `decode_image`); throws `io_error` "open_failed" when it cannot be read.
inline image load_image(const std::string& path, const load_options& opt = {}) {
    const auto buf = image_detail::read_file(path);
    return decode_image(buf.data(), buf.size(), opt, path);
}

/// \brief `load_image` returning a `result`.
inline result<image> try_load_image(const std::string& path, const load_options& opt = {}) {
    return try_call([&] { return load_image(path, opt); });
}

/// \brief `decode_image` returning a `result`.
inline result<image> try_decode_image(const std::uint8_t* bytes, std::size_t size, const load_options& opt = {}) {
    return try_call([&] { return decode_image(bytes, size, opt); });
}

namespace image_detail {
inline void check_writable(const image& img, std::string_view what) {
    if (img.empty() || img.channels > 4)
        RSCOVLM_THROW(image_error, "bad_image",
                      std::string(what) + ": image must have 1..4 channels and a non-zero size");
    if (img.data.size() != img.size_bytes())
        RSCOVLM_THROW(image_error, "bad_buffer",
                      std::string(what) + ": data size does not match width*height*channels");
    if (img.stride() > 0x7fffffffu)
        RSCOVLM_THROW(limit_error, "too_wide", std::string(what) + ": row too large to encode");
}
inline void append_bytes(void* ctx, void* data, int size) {
    auto* out = static_cast<std::vector<std::uint8_t>*>(ctx);
    const auto* p = static_cast<const std::uint8_t*>(data);
    out->insert(out->end(), p, p + size);
}
} // namespace image_detail

/// \brief Encodes an image as PNG in memory.
inline std::vector<std::uint8_t> encode_png(const image& img) {
    image_detail::check_writable(img, "encode_png");
    std::vector<std::uint8_t> out;
    if (!stbi_write_png_to_func(&image_detail::append_bytes, &out, img.width, img.height, img.channels, img.data.data(),
                                static_cast<int>(img.stride())))
        RSCOVLM_THROW(io_error, "encode_failed", "encode_png: stb_image_write failed");
    return out;
}

/// \brief Writes an image as PNG; throws `io_error` "write_failed".
inline void save_png(const std::string& path, const image& img) {
    image_detail::check_writable(img, "save_png");
    if (!stbi_write_png(path.c_str(), img.width, img.height, img.channels, img.data.data(),
                        static_cast<int>(img.stride())))
        RSCOVLM_THROW(io_error, "write_failed", "cannot write PNG '" + path + "'");
}

/// \brief Writes an image as baseline JPEG with `quality` in [1, 100]; alpha is ignored by stb.
inline void save_jpeg(const std::string& path, const image& img, int quality = 90) {
    image_detail::check_writable(img, "save_jpeg");
    if (quality < 1 || quality > 100)
        RSCOVLM_THROW(image_error, "bad_quality",
                      "save_jpeg: quality " + std::to_string(quality) + " is outside [1, 100]");
    if (!stbi_write_jpg(path.c_str(), img.width, img.height, img.channels, img.data.data(), quality))
        RSCOVLM_THROW(io_error, "write_failed", "cannot write JPEG '" + path + "'");
}

} // namespace rscovlm::io
