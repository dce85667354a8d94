#pragma once
/// \file io/text.hpp
/// ASCII text on images (chart titles, axis values, legends, sample captions) with stb_easy_font, the
/// public-domain segment font of Debian's libstb-dev: each character is a few axis-aligned
/// rectangles on a 6-pixel advance and about 7 pixels of height, drawn `scale` times larger.
/// Characters outside printable ASCII are drawn as '?'.

#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/draw.hpp>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wcast-qual"
#pragma GCC diagnostic ignored "-Wuseless-cast"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#endif
#include <stb/stb_easy_font.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace rscovlm::io {

namespace detail {
inline std::string printable(const std::string& text) {
    std::string s = text;
    for (char& c : s)
        if (c != '\n' && (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) > 126)) c = '?';
    return s;
}
} // namespace detail

/// Width in pixels of `text` drawn at `scale`.
inline int text_width(const std::string& text, int scale = 1) {
    std::string s = detail::printable(text);
    return stb_easy_font_width(s.data()) * std::max(1, scale);
}

/// Draws `text` with its top-left corner at (x, y) in `color`; pixels outside `img` are skipped.
/// Returns the width drawn.
inline int draw_text(image& img, int x, int y, const std::string& text, const imaging::rgb& color, int scale = 1) {
    scale = std::max(1, scale);
    std::string s = detail::printable(text);
    if (s.empty()) return 0;
    // About 270 bytes per character (stb_easy_font's documentation); 16-byte vertices, 4 per quad.
    std::vector<char> buf(s.size() * 300 + 64);
    const int quads = stb_easy_font_print(0, 0, s.data(), nullptr, buf.data(), static_cast<int>(buf.size()));
    for (int q = 0; q < quads; ++q) {
        float x0 = 1e9f, y0 = 1e9f, x1 = -1e9f, y1 = -1e9f;
        for (int v = 0; v < 4; ++v) {
            const float* p = reinterpret_cast<const float*>(buf.data() + (static_cast<std::size_t>(q) * 4 + v) * 16);
            x0 = std::min(x0, p[0]);
            x1 = std::max(x1, p[0]);
            y0 = std::min(y0, p[1]);
            y1 = std::max(y1, p[1]);
        }
        imaging::fill_rect(img, x + static_cast<int>(std::lround(x0 * scale)),
                           y + static_cast<int>(std::lround(y0 * scale)), x + static_cast<int>(std::lround(x1 * scale)),
                           y + static_cast<int>(std::lround(y1 * scale)), color);
    }
    return stb_easy_font_width(s.data()) * scale;
}

} // namespace rscovlm::io
