#pragma once
/// \file jpeg.hpp
/// \brief JPEG decoding through libjpeg-turbo with Pillow 9.4's decoder settings, so that the pixels are
/// bit-identical to `Image.open(f).convert("RGB")` when both use the same libjpeg-turbo (Debian 12: 2.1.5).
///
/// Mirrors Pillow JpegImagePlugin + JpegDecode.c: the mode follows the component count (1 "L", 3 "RGB",
/// 4 "CMYK"; other counts are refused like Pillow's "cannot handle N-layer images"), the output colour
/// space is requested explicitly (GRAYSCALE, RGB, CMYK — libjpeg converts YCbCr and YCCK), libjpeg's
/// default decoding (JDCT_ISLOW, fancy upsampling, no scaling) is kept, and every 4-component image is
/// read as inverted Adobe CMYK ("CMYK;I", unconditionally, as Pillow does) and then converted to RGB with
/// Pillow's `cmyk2rgb` (`255-K - (C*(255-K))/255` with Pillow's rounding). EXIF orientation is not applied
/// (Pillow's `open` does not). libjpeg warnings (e.g. extraneous bytes) are ignored as in Pillow; fatal
/// libjpeg errors become `image_error` "corrupt", and data ending before the image is complete becomes
/// "truncated" (Pillow: "image file is truncated"), through a setjmp/longjmp error manager (no exit()).

#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>

#if defined(RSCOVLM_HAS_LIBJPEG)
#include <csetjmp>
#include <cstdio> // jpeglib.h needs FILE and size_t declared first
extern "C" {
#include <jpeglib.h>
}
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace rscovlm::io {

#if defined(RSCOVLM_HAS_LIBJPEG)

namespace jpeg_detail {

inline std::string label(std::string_view name) {
    return name.empty() ? std::string("JPEG") : "'" + std::string(name) + "'";
}

struct error_state {
    jpeg_error_mgr pub; // first member: libjpeg casts cinfo->err to this
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    bool truncated;
};

inline void on_error_exit(j_common_ptr c) {
    auto* e = reinterpret_cast<error_state*>(c->err);
    (*c->err->format_message)(c, e->message);
    std::longjmp(e->jump, 1);
}
inline void on_emit_message(j_common_ptr c, int level) {
    if (level < 0) ++c->err->num_warnings; // warnings are ignored, as in Pillow
}
inline void on_output_message(j_common_ptr) {}

// In-memory source: the whole file is given at once, so a refill request means the data ended.
inline void src_init(j_decompress_ptr) {}
inline boolean src_fill(j_decompress_ptr c) {
    auto* e = reinterpret_cast<error_state*>(c->err);
    e->truncated = true;
    std::strcpy(e->message, "data ends before the image is complete");
    std::longjmp(e->jump, 1);
}
inline void src_skip(j_decompress_ptr c, long n) {
    if (n <= 0) return;
    if (static_cast<std::size_t>(n) > c->src->bytes_in_buffer) src_fill(c);
    c->src->next_input_byte += n;
    c->src->bytes_in_buffer -= static_cast<std::size_t>(n);
}
inline void src_term(j_decompress_ptr) {}

struct session {
    jpeg_decompress_struct cinfo;
    error_state err;
    jpeg_source_mgr src;
    bool created = false;
    session() noexcept {
        std::memset(&cinfo, 0, sizeof cinfo);
        std::memset(&err, 0, sizeof err);
        std::memset(&src, 0, sizeof src);
    }
    ~session() {
        if (created) jpeg_destroy_decompress(&cinfo);
    }
    session(const session&) = delete;
    session& operator=(const session&) = delete;
};

// Header stage: returns false after a libjpeg error (message in s.err). Only trivially destructible locals
// live in the frames that longjmp unwinds.
inline bool read_header(session& s, const std::uint8_t* p, std::size_t n) {
    s.cinfo.err = jpeg_std_error(&s.err.pub);
    s.err.pub.error_exit = &on_error_exit;
    s.err.pub.emit_message = &on_emit_message;
    s.err.pub.output_message = &on_output_message;
    if (setjmp(s.err.jump)) return false;
    jpeg_create_decompress(&s.cinfo);
    s.created = true;
    s.src.init_source = &src_init;
    s.src.fill_input_buffer = &src_fill;
    s.src.skip_input_data = &src_skip;
    s.src.resync_to_restart = &jpeg_resync_to_restart;
    s.src.term_source = &src_term;
    s.src.next_input_byte = p;
    s.src.bytes_in_buffer = n;
    s.cinfo.src = &s.src;
    jpeg_read_header(&s.cinfo, TRUE);
    return true;
}

// Decoding stage into `out` (rows of `row_bytes`, already allocated by the caller).
inline bool read_pixels(session& s, std::uint8_t* out, std::size_t row_bytes) {
    if (setjmp(s.err.jump)) return false;
    jpeg_start_decompress(&s.cinfo);
    while (s.cinfo.output_scanline < s.cinfo.output_height) {
        JSAMPROW row = out + static_cast<std::size_t>(s.cinfo.output_scanline) * row_bytes;
        jpeg_read_scanlines(&s.cinfo, &row, 1);
    }
    jpeg_finish_decompress(&s.cinfo);
    return true;
}

[[noreturn]] inline void raise(const session& s, std::string_view name) {
    if (s.err.truncated)
        RSCOVLM_THROW(image_error, "truncated",
                      label(name) + ": image file is truncated (" + std::string(s.err.message) + ")");
    RSCOVLM_THROW(image_error, "corrupt",
                  label(name) + ": broken JPEG data stream (" + std::string(s.err.message) + ")");
}

// Pillow Convert.c cmyk2rgb after the "CMYK;I" unpacker (each sample inverted), in place on 4->3 channels.
inline void inverted_cmyk_to_rgb(const std::uint8_t* cmyk, std::uint8_t* rgb, std::size_t pixels) noexcept {
    for (std::size_t i = 0; i < pixels; ++i, cmyk += 4, rgb += 3) {
        const int nk = 255 - (255 - cmyk[3]);
        for (int c = 0; c < 3; ++c) {
            const int v = 255 - cmyk[c];
            const int t = v * nk + 128;
            const int r = nk - (((t >> 8) + t) >> 8);
            rgb[c] = static_cast<std::uint8_t>(r < 0 ? 0 : (r > 255 ? 255 : r));
        }
    }
}

} // namespace jpeg_detail

/// \brief Size and Pillow-mode component count of a JPEG, from its header (decodes no pixels).
/// `channels` is 1 ("L") or 3 ("RGB", and "CMYK", which `decode_jpeg` converts to RGB).
struct jpeg_header {
    int width = 0;
    int height = 0;
    int components = 0;
    int channels = 0;
};

/// \brief Reads a JPEG's header. Throws `image_error` "corrupt"/"truncated"/"unsupported_mode"/"zero_size".
inline jpeg_header read_jpeg_header(const std::uint8_t* p, std::size_t n, std::string_view name = {}) {
    jpeg_detail::session s;
    if (!jpeg_detail::read_header(s, p, n)) jpeg_detail::raise(s, name);
    jpeg_header h;
    h.width = static_cast<int>(s.cinfo.image_width);
    h.height = static_cast<int>(s.cinfo.image_height);
    h.components = s.cinfo.num_components;
    if (h.width <= 0 || h.height <= 0)
        RSCOVLM_THROW(image_error, "zero_size",
                      jpeg_detail::label(name) + " declares a " + std::to_string(h.width) + "x" +
                          std::to_string(h.height) + " image");
    if (h.components != 1 && h.components != 3 && h.components != 4)
        RSCOVLM_THROW(image_error, "unsupported_mode",
                      jpeg_detail::label(name) + ": cannot handle " + std::to_string(h.components) +
                          "-layer JPEG images");
    h.channels = h.components == 1 ? 1 : 3;
    return h;
}

/// \brief Decodes a JPEG exactly as Pillow 9.4 does (see the file comment): 1 channel for grey, else RGB.
/// Refuses a declared `width*height` above `max_pixels` (0 = no limit) with `limit_error` "too_many_pixels"
/// before decoding any pixel.
inline image decode_jpeg(const std::uint8_t* p, std::size_t n, std::uint64_t max_pixels, std::string_view name = {}) {
    jpeg_detail::session s;
    if (!jpeg_detail::read_header(s, p, n)) jpeg_detail::raise(s, name);
    const int w = static_cast<int>(s.cinfo.image_width), h = static_cast<int>(s.cinfo.image_height);
    const int comps = s.cinfo.num_components;
    if (w <= 0 || h <= 0)
        RSCOVLM_THROW(image_error, "zero_size",
                      jpeg_detail::label(name) + " declares a " + std::to_string(w) + "x" + std::to_string(h) +
                          " image");
    if (comps != 1 && comps != 3 && comps != 4)
        RSCOVLM_THROW(image_error, "unsupported_mode",
                      jpeg_detail::label(name) + ": cannot handle " + std::to_string(comps) + "-layer JPEG images");
    const std::uint64_t pixels = static_cast<std::uint64_t>(w) * static_cast<std::uint64_t>(h);
    if (max_pixels != 0 && pixels > max_pixels)
        RSCOVLM_THROW(limit_error, "too_many_pixels",
                      jpeg_detail::label(name) + " declares " + std::to_string(w) + "x" + std::to_string(h) + " = " +
                          std::to_string(pixels) + " pixels, over the limit of " + std::to_string(max_pixels));
    // Pillow rawmode "L" / "RGB" (RGBX: same values) / "CMYK;I" -> JCS_GRAYSCALE / JCS_RGB / JCS_CMYK.
    s.cinfo.out_color_space = comps == 1 ? JCS_GRAYSCALE : comps == 3 ? JCS_RGB : JCS_CMYK;
    image out = imaging::detail::make_image(w, h, comps == 1 ? 1 : 3);
    if (comps == 4) {
        image cmyk = imaging::detail::make_image(w, h, 4);
        if (!jpeg_detail::read_pixels(s, cmyk.data.data(), cmyk.stride())) jpeg_detail::raise(s, name);
        jpeg_detail::inverted_cmyk_to_rgb(cmyk.data.data(), out.data.data(), static_cast<std::size_t>(pixels));
        return out;
    }
    if (!jpeg_detail::read_pixels(s, out.data.data(), out.stride())) jpeg_detail::raise(s, name);
    return out;
}

#endif // RSCOVLM_HAS_LIBJPEG

} // namespace rscovlm::io
