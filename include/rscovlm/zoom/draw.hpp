#pragma once
/// \file
/// Drawing a Zoom-in Chain trace: the zoom boxes of every step over a view of the image.

#include <array>
#include <cstdint>

#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/draw.hpp>
#include <rscovlm/zoom/trace.hpp>

namespace rscovlm::zoom {

/// Colour of step `i` in trace drawings (a fixed, distinguishable cycle).
inline imaging::rgb step_color(int i) noexcept {
    static constexpr std::array<imaging::rgb, 6> colors{
        {{255, 40, 40}, {40, 220, 40}, {40, 120, 255}, {255, 200, 0}, {255, 0, 255}, {0, 230, 230}}};
    return colors[static_cast<std::size_t>(i < 0 ? 0 : i) % colors.size()];
}

/// Draws every zoom box of `t` onto `view`, an image of the whole original at any scale (the box in the
/// original frame is scaled by view.width / original_width). Step i uses step_color(i).
inline void draw_trace(image& view, const trace& t, int thickness = 3) {
    if (t.original_width <= 0 || t.original_height <= 0 || view.empty()) return;
    const double sx = static_cast<double>(view.width) / t.original_width;
    const double sy = static_cast<double>(view.height) / t.original_height;
    for (const auto& s : t.steps)
        for (const auto& z : s.zooms)
            imaging::draw_rect(view, z.bbox_original.x1 * sx, z.bbox_original.y1 * sy, z.bbox_original.x2 * sx,
                               z.bbox_original.y2 * sy, step_color(s.index), thickness);
}

} // namespace rscovlm::zoom
