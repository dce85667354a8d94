#pragma once
/// \file draw.hpp
/// \brief Simple raster drawing for demos and debugging: lines, polygon outlines, rectangles.

#include <rscovlm/image/image.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>

namespace rscovlm::imaging {

/// \brief An RGB colour.
using rgb = std::array<std::uint8_t, 3>;

namespace detail {

// Writes one pixel, clipped to the image. Grey images take the first component; alpha is set opaque.
inline void put_pixel(image& img, int x, int y, const rgb& c) noexcept {
    if (x < 0 || y < 0 || x >= img.width || y >= img.height || img.channels <= 0) return;
    std::uint8_t* p = img.row(y) + static_cast<std::size_t>(x) * static_cast<std::size_t>(img.channels);
    switch (img.channels) {
    case 1:
        p[0] = c[0];
        break;
    case 2:
        p[0] = c[0];
        p[1] = 255;
        break;
    case 3:
        p[0] = c[0];
        p[1] = c[1];
        p[2] = c[2];
        break;
    default:
        p[0] = c[0];
        p[1] = c[1];
        p[2] = c[2];
        p[3] = 255;
        break;
    }
}

// A thickness x thickness square centred on (x, y).
inline void stamp(image& img, int x, int y, const rgb& c, int thickness) noexcept {
    const int lo = -(thickness - 1) / 2, hi = thickness / 2;
    for (int dy = lo; dy <= hi; ++dy)
        for (int dx = lo; dx <= hi; ++dx)
            put_pixel(img, x + dx, y + dy, c);
}

// Coordinates far outside any image are clamped so that the integer walk stays bounded.
inline long clamp_coord(double v, int extent) noexcept {
    const double lim = 4.0 * (static_cast<double>(extent) + 16.0);
    if (!(v == v)) return 0; // NaN
    if (v < -lim) v = -lim;
    if (v > lim) v = lim;
    return std::lround(v);
}

} // namespace detail

/// \brief Draws a line segment (Bresenham) between (x0, y0) and (x1, y1), clipped to the image.
inline void draw_line(image& img, double x0, double y0, double x1, double y1, const rgb& color, int thickness = 1) {
    if (thickness < 1) thickness = 1;
    long ax = detail::clamp_coord(x0, img.width), ay = detail::clamp_coord(y0, img.height);
    const long bx = detail::clamp_coord(x1, img.width), by = detail::clamp_coord(y1, img.height);
    const long dx = std::labs(bx - ax), dy = -std::labs(by - ay);
    const long sx = ax < bx ? 1 : -1, sy = ay < by ? 1 : -1;
    long err = dx + dy;
    for (;;) {
        detail::stamp(img, static_cast<int>(ax), static_cast<int>(ay), color, thickness);
        if (ax == bx && ay == by) break;
        const long e2 = 2 * err;
        if (e2 >= dy) {
            err += dy;
            ax += sx;
        }
        if (e2 <= dx) {
            err += dx;
            ay += sy;
        }
    }
}

/// \brief Draws the closed outline of a polygon given as a range of points with `.x` and `.y` members
/// (e.g. `geometry::quad` or `geometry::polygon`).
template <class Points> void draw_polygon(image& img, const Points& pts, const rgb& color, int thickness = 1) {
    const auto n = static_cast<std::size_t>(std::size(pts));
    if (n == 0) return;
    auto it = std::begin(pts);
    for (std::size_t i = 0; i < n; ++i) {
        const auto& a = *(it + static_cast<std::ptrdiff_t>(i));
        const auto& b = *(it + static_cast<std::ptrdiff_t>((i + 1) % n));
        draw_line(img, static_cast<double>(a.x), static_cast<double>(a.y), static_cast<double>(b.x),
                  static_cast<double>(b.y), color, thickness);
    }
}

/// \brief Draws the outline of the axis-aligned rectangle with corners (x0, y0) and (x1, y1).
inline void draw_rect(image& img, double x0, double y0, double x1, double y1, const rgb& color, int thickness = 1) {
    draw_line(img, x0, y0, x1, y0, color, thickness);
    draw_line(img, x1, y0, x1, y1, color, thickness);
    draw_line(img, x1, y1, x0, y1, color, thickness);
    draw_line(img, x0, y1, x0, y0, color, thickness);
}

/// \brief Fills the axis-aligned rectangle [x0, x1) x [y0, y1) (clipped to the image).
inline void fill_rect(image& img, int x0, int y0, int x1, int y1, const rgb& color) noexcept {
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > img.width) x1 = img.width;
    if (y1 > img.height) y1 = img.height;
    for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x)
            detail::put_pixel(img, x, y, color);
}

} // namespace rscovlm::imaging

namespace rscovlm {
// Found by argument-dependent lookup on rscovlm::image as well as by qualified name.
using imaging::draw_line;
using imaging::draw_polygon;
using imaging::draw_rect;
using imaging::fill_rect;
} // namespace rscovlm
