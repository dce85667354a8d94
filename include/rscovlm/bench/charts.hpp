#pragma once
/// \file bench/charts.hpp
/// The pictures of a benchmark run, drawn with the imaging primitives: a precision/recall curve, a
/// bar chart of accuracies, and a page of sample images with ground-truth (green) and predicted
/// (red) boxes. Charts carry no text; their titles and values are in the results table.

#include <rscovlm/geometry/types.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/draw.hpp>
#include <rscovlm/imaging/ops.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace rscovlm::bench {

namespace detail {
inline image blank(int w, int h) {
    image img(w, h, 3);
    std::fill(img.data.begin(), img.data.end(), std::uint8_t{255});
    return img;
}
/// Plot area [x0, x1] x [y0, y1] of a chart with grid lines at quarters of [0, 1].
struct plot_area {
    int x0, y0, x1, y1;
    double px(double v) const { return x0 + v * (x1 - x0); }
    double py(double v) const { return y1 - v * (y1 - y0); }
};
inline plot_area axes(image& img, int margin) {
    plot_area a{margin, margin / 2, img.width - margin / 2, img.height - margin};
    const imaging::rgb grid{220, 220, 220}, axis{0, 0, 0};
    for (int k = 1; k <= 4; ++k) {
        const double v = k / 4.0;
        imaging::draw_line(img, a.x0, a.py(v), a.x1, a.py(v), grid);
        imaging::draw_line(img, a.px(v), a.y0, a.px(v), a.y1, grid);
    }
    imaging::draw_line(img, a.x0, a.y1, a.x1, a.y1, axis, 2);
    imaging::draw_line(img, a.x0, a.y0, a.x0, a.y1, axis, 2);
    return a;
}
} // namespace detail

/// A precision (y) over recall (x) curve, both in [0, 1], drawn as the step function of the ranked
/// detections, on a 400 x 400 chart with grid lines at quarters.
inline image pr_curve_chart(const std::vector<double>& recall, const std::vector<double>& precision) {
    image img = detail::blank(400, 400);
    const detail::plot_area a = detail::axes(img, 40);
    const imaging::rgb line{0, 90, 200};
    double r0 = 0, p0 = precision.empty() || !std::isfinite(precision.front()) ? 0 : precision.front();
    for (std::size_t i = 0; i < std::min(recall.size(), precision.size()); ++i) {
        const double r = std::isfinite(recall[i]) ? std::clamp(recall[i], 0.0, 1.0) : 0.0;
        const double p = std::isfinite(precision[i]) ? std::clamp(precision[i], 0.0, 1.0) : 0.0;
        imaging::draw_line(img, a.px(r0), a.py(p0), a.px(r), a.py(p0), line, 2);
        imaging::draw_line(img, a.px(r), a.py(p0), a.px(r), a.py(p), line, 2);
        r0 = r;
        p0 = p;
    }
    return img;
}

/// Bars of `values` (each clamped to [0, 1]; NaN draws nothing), left to right, on a chart with grid
/// lines at quarters.
inline image bar_chart(const std::vector<double>& values) {
    const int bar = 32, gap = 12;
    const int w = std::max(240, 60 + static_cast<int>(values.size()) * (bar + gap));
    image img = detail::blank(w, 320);
    const detail::plot_area a = detail::axes(img, 40);
    static const imaging::rgb palette[] = {{0, 130, 200},  {60, 180, 75}, {245, 130, 48},
                                           {145, 30, 180}, {230, 25, 75}, {70, 140, 140}};
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (!std::isfinite(values[i])) continue;
        const int x = a.x0 + gap + static_cast<int>(i) * (bar + gap);
        const int top = static_cast<int>(std::lround(a.py(std::clamp(values[i], 0.0, 1.0))));
        imaging::fill_rect(img, x, top, x + bar, a.y1, palette[i % 6]);
    }
    return img;
}

/// One image of a sample page with its boxes (original frame).
struct sample_view {
    image picture;
    std::vector<geometry::quad> truth;
    std::vector<geometry::quad> predicted;
};

/// The samples side by side, two per row, each scaled to fit 480 x 480, ground truth in green under
/// the predictions in red.
inline image sample_page(const std::vector<sample_view>& samples) {
    const int cell = 480, pad = 8, cols = samples.size() > 1 ? 2 : 1;
    const int rows = static_cast<int>((samples.size() + 1) / 2);
    image page = detail::blank(cols * (cell + pad) + pad, std::max(1, rows) * (cell + pad) + pad);
    for (std::size_t i = 0; i < samples.size(); ++i) {
        const sample_view& s = samples[i];
        if (s.picture.empty()) continue;
        const double k = std::min(
            1.0, std::min(static_cast<double>(cell) / s.picture.width, static_cast<double>(cell) / s.picture.height));
        const int w = std::max(1, static_cast<int>(s.picture.width * k));
        const int h = std::max(1, static_cast<int>(s.picture.height * k));
        image view = imaging::to_rgb(s.picture, imaging::rgb_mode::convert);
        if (w != view.width || h != view.height) view = imaging::resize(view, w, h, image::filter::bilinear);
        auto draw = [&](const std::vector<geometry::quad>& qs, const imaging::rgb& c) {
            for (const auto& q : qs) {
                geometry::quad sq = q;
                for (auto& p : sq)
                    p = geometry::point{p.x * k, p.y * k};
                imaging::draw_polygon(view, sq, c, 2);
            }
        };
        draw(s.truth, {40, 200, 60});
        draw(s.predicted, {230, 30, 30});
        const int ox = pad + static_cast<int>(i % 2) * (cell + pad), oy = pad + static_cast<int>(i / 2) * (cell + pad);
        for (int y = 0; y < h; ++y)
            std::copy(view.row(y), view.row(y) + static_cast<std::size_t>(w) * 3,
                      page.row(oy + y) + static_cast<std::size_t>(ox) * 3);
    }
    return page;
}

} // namespace rscovlm::bench
