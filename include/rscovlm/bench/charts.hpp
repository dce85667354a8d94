#pragma once
/// \file bench/charts.hpp
/// The pictures of a benchmark run, drawn with the imaging primitives: a precision/recall curve, a
/// bar chart of accuracies, and a page of sample images with ground-truth (green) and predicted
/// (red) boxes. Their text (titles, axis values, legends, captions) is drawn by a `text_painter`
/// (`io::draw_text`, stb_easy_font, in programs that link rscovlm::io); without one a chart carries
/// no text and its values are only in the results table.

#include <rscovlm/geometry/types.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/draw.hpp>
#include <rscovlm/imaging/ops.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace rscovlm::bench {

/// Draws ASCII text with its top-left corner at (x, y), font pixels `scale` wide, and returns the
/// width drawn (`io::draw_text`).
using text_painter =
    std::function<int(image& img, int x, int y, const std::string& text, const imaging::rgb& color, int scale)>;

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
inline std::string fixed2(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", v);
    return b;
}
/// Tick values 0, 0.5 and 1 on the y axis of `a` (and on the x axis when it has a name), and the
/// axis names.
inline void axis_text(image& img, const plot_area& a, const text_painter& text, const std::string& x_name,
                      const std::string& y_name) {
    if (!text) return;
    const imaging::rgb ink{60, 60, 60};
    for (double v : {0.0, 0.5, 1.0}) {
        const std::string t = v == 0.5 ? "0.5" : v == 0 ? "0" : "1";
        if (!x_name.empty()) text(img, static_cast<int>(a.px(v)) - 3, a.y1 + 5, t, ink, 1);
        text(img, a.x0 - 22, static_cast<int>(a.py(v)) - 3, t, ink, 1);
    }
    if (!x_name.empty()) text(img, (a.x0 + a.x1) / 2 - 3 * static_cast<int>(x_name.size()), a.y1 + 16, x_name, ink, 1);
    if (!y_name.empty()) text(img, 2, a.y0 - 14, y_name, ink, 1);
}
} // namespace detail

/// A precision (y) over recall (x) curve, both in [0, 1], drawn as the step function of the ranked
/// detections, on a 400 x 400 chart with grid lines at quarters; with `text`, `title` above it and
/// the axes' values and names.
inline image pr_curve_chart(const std::vector<double>& recall, const std::vector<double>& precision,
                            const text_painter& text = {}, const std::string& title = {}) {
    image img = detail::blank(400, 400);
    const detail::plot_area a = detail::axes(img, 40);
    detail::axis_text(img, a, text, "recall", "precision");
    if (text && !title.empty()) text(img, a.x0 + 60, 4, title, {0, 0, 0}, 1);
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
/// lines at quarters. With `text`: each bar's value above it and its number below, and a legend
/// under the chart naming each number with its label in `labels` (when given) and its value.
inline image bar_chart(const std::vector<double>& values, const text_painter& text = {},
                       const std::vector<std::string>& labels = {}) {
    const int bar = 32, gap = 12, line = 12;
    const int legend = text ? static_cast<int>(values.size()) * line + 8 : 0;
    int w = std::max(240, 60 + static_cast<int>(values.size()) * (bar + gap));
    if (text)
        for (std::size_t i = 0; i < values.size(); ++i)
            w = std::max(w, 60 + 6 * static_cast<int>((i < labels.size() ? labels[i].size() : 0) + 16));
    image img = detail::blank(w, 320);
    const detail::plot_area a = detail::axes(img, 40);
    if (legend) { // the plot keeps its 320-pixel frame; the legend takes the rows below
        image full = detail::blank(w, 320 + legend);
        std::copy(img.data.begin(), img.data.end(), full.data.begin());
        img = std::move(full);
    }
    detail::axis_text(img, a, text, "", "accuracy");
    static const imaging::rgb palette[] = {{0, 130, 200},  {60, 180, 75}, {245, 130, 48},
                                           {145, 30, 180}, {230, 25, 75}, {70, 140, 140}};
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (!std::isfinite(values[i])) continue;
        const int x = a.x0 + gap + static_cast<int>(i) * (bar + gap);
        const int top = static_cast<int>(std::lround(a.py(std::clamp(values[i], 0.0, 1.0))));
        imaging::fill_rect(img, x, top, x + bar, a.y1, palette[i % 6]);
        if (text) text(img, x + 2, top - 10, detail::fixed2(values[i]), {0, 0, 0}, 1);
    }
    if (text)
        for (std::size_t i = 0; i < values.size(); ++i) {
            const std::string n = std::to_string(i + 1);
            const int x = a.x0 + gap + static_cast<int>(i) * (bar + gap);
            text(img, x + bar / 2 - 3 * static_cast<int>(n.size()), a.y1 + 5, n, {60, 60, 60}, 1);
            const std::string v = std::isfinite(values[i]) ? detail::fixed2(values[i]) : std::string("-");
            text(img, 10, 326 + static_cast<int>(i) * line,
                 n + "  " + (i < labels.size() ? labels[i] + "  " : std::string()) + v, palette[i % 6], 1);
        }
    return img;
}

/// One image of a sample page with its boxes (original frame).
struct sample_view {
    std::string caption; ///< drawn over the picture's top-left corner when the page has a text painter
    image picture;
    std::vector<geometry::quad> truth;
    std::vector<geometry::quad> predicted;
};

/// The samples side by side, two per row, each scaled to fit 480 x 480, ground truth in green under
/// the predictions in red, each captioned when `text` is given.
inline image sample_page(const std::vector<sample_view>& samples, const text_painter& text = {}) {
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
        if (text && !s.caption.empty()) {
            imaging::fill_rect(page, ox, oy, ox + std::min(cell, 8 + 6 * static_cast<int>(s.caption.size())), oy + 14,
                               {255, 255, 255});
            text(page, ox + 4, oy + 3, s.caption, {0, 0, 0}, 1);
        }
    }
    return page;
}

} // namespace rscovlm::bench
