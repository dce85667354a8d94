#pragma once
/// \file data/split.hpp
/// Offline splitting of large scenes into overlapping patches, exactly as mmrotate's DOTA tool
/// `tools/data/dota/split/img_split.py` does it (the tool RSCoVLM uses to prepare DOTA / DIOR /
/// FAIR1M patches): sliding windows, `img_rate_thr` filtering, object assignment by IoF with
/// truncated objects marked difficulty 2, padding, patch ids `{id}__{size}__{x}___{y}`, and
/// float32 translated annotations. This header works on values; `engine/split.hpp` reads and
/// writes dataset folders with it.

#include <rscovlm/data/dota.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/eval/polygon_iou.hpp>
#include <rscovlm/geometry/types.hpp>
#include <rscovlm/image/image.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace rscovlm::data {

/// Parameters of the splitter; defaults are RSCoVLM's / mmrotate's ss_1024 settings.
struct split_options {
    std::vector<int> sizes{1024};   ///< window sizes (`--sizes`)
    std::vector<int> gaps{200};     ///< overlaps between neighbouring windows (`--gaps`)
    std::vector<double> rates{1.0}; ///< scale rates: each gives sizes int(size / rate), gaps int(gap / rate)
    double img_rate_thr = 0.6;      ///< keep windows whose in-image share exceeds this
    double iof_thr = 0.7;           ///< assign objects with IoF >= this
    bool padding = true;            ///< pad partial windows to the full size (`not --no-padding`)
    /// Padding value in the reference's channel order (BGR, as cv2 arrays are): one value for all
    /// channels, or one per channel. mmrotate's default is 0; RSCoVLM's configs use 104 116 124.
    std::vector<int> padding_value_bgr{0};
};

/// One sliding window [x_start, x_stop) x [y_start, y_stop) (may extend past the image).
struct split_window {
    int x_start = 0, y_start = 0, x_stop = 0, y_stop = 0;
    int size() const noexcept { return x_stop - x_start; }
};

/// The annotations of one patch.
struct patch_annotation {
    std::string id;     ///< "{ori_id}__{size}__{x_start}___{y_start}"
    std::string ori_id; ///< source image id
    split_window window;
    int width = 0; ///< patch size after (optional) padding
    int height = 0;
    /// Objects in patch coordinates (float32 arithmetic, as the reference), difficulty 2 when
    /// the object is truncated by the window (IoF < 1).
    std::vector<dota_object> objects;
    std::vector<double> iofs; ///< IoF of each kept object with the window
};

/// Validates the options (sizes/gaps/rates pairing, thresholds, padding); throws data_error "bad_split_options".
inline void validate(const split_options& o) {
    auto bad = [](const std::string& m) { RSCOVLM_THROW(data_error, "bad_split_options", m); };
    if (o.sizes.empty() || o.sizes.size() != o.gaps.size())
        bad("sizes and gaps must be non-empty lists of equal length");
    if (o.rates.empty()) bad("rates must not be empty");
    if (o.sizes.size() != 1 && o.rates.size() != 1)
        bad("give several sizes or several rates, not both (as img_split.py asserts)");
    for (double r : o.rates)
        if (!(r > 0) || !std::isfinite(r)) bad("rate must be positive, got " + std::to_string(r));
    for (std::size_t i = 0; i < o.sizes.size(); ++i)
        if (o.sizes[i] <= 0 || o.gaps[i] < 0 || o.sizes[i] <= o.gaps[i])
            bad("invalid size/gap pair [" + std::to_string(o.sizes[i]) + " " + std::to_string(o.gaps[i]) +
                "]: need size > gap >= 0");
    if (!(o.iof_thr >= 0 && o.iof_thr <= 1)) bad("iof_thr must be within [0, 1]");
    if (!std::isfinite(o.img_rate_thr)) bad("img_rate_thr must be finite");
    if (o.padding_value_bgr.empty()) bad("padding value must have 1 or one value per channel");
    for (int v : o.padding_value_bgr)
        if (v < 0 || v > 255) bad("padding value " + std::to_string(v) + " is outside [0, 255]");
}

/// The (size, gap) pairs the options expand to: for each rate, int(size / rate) and int(gap / rate)
/// (img_split.py `main`).
inline std::vector<std::pair<int, int>> effective_sizes(const split_options& o) {
    std::vector<std::pair<int, int>> out;
    for (double rate : o.rates)
        for (std::size_t i = 0; i < o.sizes.size(); ++i)
            out.emplace_back(static_cast<int>(o.sizes[i] / rate), static_cast<int>(o.gaps[i] / rate));
    return out;
}

/// The kept sliding windows of a `width` x `height` image, in the reference's order
/// (img_split.py `get_sliding_window`: per size, itertools.product(x_starts, y_starts)).
inline std::vector<split_window> sliding_windows(int width, int height, const split_options& o) {
    validate(o);
    const double eps = 0.01;
    std::vector<split_window> windows;
    for (const auto& sg : effective_sizes(o)) {
        const int size = sg.first, gap = sg.second;
        if (size <= gap)
            RSCOVLM_THROW(data_error, "bad_split_options",
                          "invaild size gap pair [" + std::to_string(size) + " " + std::to_string(gap) + "]");
        const int step = size - gap;
        auto starts = [&](int extent) {
            // n = 1 if extent <= size else ceil((extent - size) / step + 1); the last start is clamped.
            const long n =
                extent <= size ? 1 : static_cast<long>(std::ceil(static_cast<double>(extent - size) / step + 1.0));
            std::vector<int> s;
            for (long i = 0; i < n; ++i)
                s.push_back(static_cast<int>(step * i));
            if (s.size() > 1 && s.back() + size > extent) s.back() = extent - size;
            return s;
        };
        const std::vector<int> xs = starts(width), ys = starts(height);
        for (int x : xs)
            for (int y : ys)
                windows.push_back(split_window{x, y, x + size, y + size});
    }
    // In-image share of each window (float64, as numpy's int64 / int64 true division).
    std::vector<double> rates(windows.size());
    for (std::size_t i = 0; i < windows.size(); ++i) {
        const split_window& w = windows[i];
        const long long cx0 = std::clamp(w.x_start, 0, width), cx1 = std::clamp(w.x_stop, 0, width);
        const long long cy0 = std::clamp(w.y_start, 0, height), cy1 = std::clamp(w.y_stop, 0, height);
        const long long img_area = (cx1 - cx0) * (cy1 - cy0);
        const long long win_area = static_cast<long long>(w.x_stop - w.x_start) * (w.y_stop - w.y_start);
        rates[i] = static_cast<double>(img_area) / static_cast<double>(win_area);
    }
    bool any = false;
    for (double r : rates)
        any = any || r > o.img_rate_thr;
    if (!any && !rates.empty()) {
        // None passes: keep the windows within eps of the best rate.
        const double best = *std::max_element(rates.begin(), rates.end());
        for (double& r : rates)
            if (std::abs(r - best) < eps) r = 1;
    }
    std::vector<split_window> kept;
    for (std::size_t i = 0; i < windows.size(); ++i)
        if (rates[i] > o.img_rate_thr) kept.push_back(windows[i]);
    return kept;
}

namespace detail {

/// GEOS `Area::ofRingSigned` on the closed ring p[0..n-1], p[0] (the formula shapely's
/// `Polygon.area` evaluates): sum over i of (x_i - x_0) * (y_{i-1} - y_{i+1}) / 2.
template <class Points> inline double geos_ring_area(const Points& p) noexcept {
    const std::size_t n = p.size();
    if (n < 3) return 0.0;
    const double x0 = p[0].x;
    double sum = 0.0;
    for (std::size_t i = 1; i < n; ++i) { // closed ring: indices 1..n-1 of the n+1 ring points
        const double x = p[i].x - x0;
        const double y1 = p[(i + 1) % n].y;
        const double y2 = p[i - 1].y;
        sum += x * (y2 - y1);
    }
    return std::abs(sum / 2.0);
}

} // namespace detail

/// IoF of `poly` with `window`, as img_split.py `bbox_overlaps_iof`: 0 unless the object's
/// bounding box overlaps the window with positive area; else area(poly ∩ window) (exact polygon
/// clipping, eval::intersection_area) divided by float32(area(poly)) clipped at 1e-6.
inline double split_iof(const geometry::quad& poly, const split_window& w) {
    const geometry::hbox hb = geometry::bounds(poly);
    const double ow =
        std::max(0.0, std::min(hb.x2, static_cast<double>(w.x_stop)) - std::max(hb.x1, static_cast<double>(w.x_start)));
    const double oh =
        std::max(0.0, std::min(hb.y2, static_cast<double>(w.y_stop)) - std::max(hb.y1, static_cast<double>(w.y_start)));
    if (!(ow * oh != 0.0)) return 0.0;
    // unions = np.array([p.area ...], dtype=np.float32), clipped at eps = 1e-6.
    const double area = detail::geos_ring_area(poly);
    const double unions = std::max(static_cast<double>(detail::to_float32(area)), 1e-6);
    double inter = 0.0;
    if (hb.x1 >= w.x_start && hb.x2 <= w.x_stop && hb.y1 >= w.y_start && hb.y2 <= w.y_stop) {
        inter = area; // fully inside: GEOS returns the polygon itself
    } else {
        const geometry::quad win{geometry::point{static_cast<double>(w.x_start), static_cast<double>(w.y_start)},
                                 geometry::point{static_cast<double>(w.x_stop), static_cast<double>(w.y_start)},
                                 geometry::point{static_cast<double>(w.x_stop), static_cast<double>(w.y_stop)},
                                 geometry::point{static_cast<double>(w.x_start), static_cast<double>(w.y_stop)}};
        inter = eval::intersection_area(poly, win);
    }
    return inter / unions;
}

/// Patch id in img_split.py's format: `{id}__{size}__{x_start}___{y_start}`.
inline std::string patch_id(const std::string& ori_id, const split_window& w) {
    return ori_id + "__" + std::to_string(w.x_stop - w.x_start) + "__" + std::to_string(w.x_start) + "___" +
           std::to_string(w.y_start);
}

/// Windows and per-window annotations of one image (img_split.py `get_sliding_window`,
/// `get_window_obj` and the annotation half of `crop_and_save_img`). Objects are expected with
/// float32-representable coordinates (`dota_dialect::mmrotate` reads them so).
inline std::vector<patch_annotation> split_annotations(const std::string& ori_id, int width, int height,
                                                       const std::vector<dota_object>& objects,
                                                       const split_options& o) {
    const std::vector<split_window> windows = sliding_windows(width, height, o);
    std::vector<patch_annotation> out;
    out.reserve(windows.size());
    for (const split_window& w : windows) {
        patch_annotation p;
        p.id = patch_id(ori_id, w);
        p.ori_id = ori_id;
        p.window = w;
        const int full_w = w.x_stop - w.x_start, full_h = w.y_stop - w.y_start;
        p.width = o.padding ? full_w : std::min(w.x_stop, width) - w.x_start;
        p.height = o.padding ? full_h : std::min(w.y_stop, height) - w.y_start;
        if (!o.padding) {
            p.width = std::max(0, std::min(full_w, p.width));
            p.height = std::max(0, std::min(full_h, p.height));
        }
        // translate(): bboxes + np.array([x, y] * 4, dtype=np.float32), in float32.
        const float dx = static_cast<float>(-w.x_start), dy = static_cast<float>(-w.y_start);
        for (const dota_object& obj : objects) {
            const double iof = split_iof(obj.poly, w);
            if (!(iof >= o.iof_thr)) continue;
            dota_object t;
            for (std::size_t k = 0; k < 4; ++k) {
                t.poly[k].x = static_cast<double>(detail::to_float32(obj.poly[k].x) + dx);
                t.poly[k].y = static_cast<double>(detail::to_float32(obj.poly[k].y) + dy);
            }
            t.label = obj.label;
            t.difficulty = iof < 1 ? 2 : obj.difficulty; // win_ann['trunc'] = iofs < 1 -> '2'
            p.objects.push_back(std::move(t));
            p.iofs.push_back(iof);
        }
        out.push_back(std::move(p));
    }
    return out;
}

/// The text of a patch annotation file, byte for byte as img_split.py writes it: numpy float32
/// `str()` coordinates joined by single spaces, then the label as read (a label read from a
/// 9-field line keeps its newline) and the difficulty; an empty window gives an empty file.
inline std::string format_patch_annotation(const patch_annotation& p) {
    dota_write_options wo;
    wo.numbers = dota_number_format::numpy_float32;
    return format_dota(p.objects, wo);
}

/// Crops the window out of `src` and pads the rest (img_split.py `crop_and_save_img`).
/// `src` holds RGB(A) or grey pixels in rscovlm's channel order (RGB); the BGR padding values are
/// mapped to it: for 3- or 4-channel images the given per-channel values are reversed in the
/// first three channels. The result has the channel count of `src`.
inline rscovlm::image crop_patch(const rscovlm::image& src, const split_window& w, const split_options& o) {
    const int c = src.channels;
    const int x1 = std::clamp(w.x_stop, 0, src.width), y1 = std::clamp(w.y_stop, 0, src.height);
    const int x0 = std::clamp(w.x_start, 0, src.width), y0 = std::clamp(w.y_start, 0, src.height);
    const int cw = std::max(0, x1 - x0), ch = std::max(0, y1 - y0);
    int out_w = cw, out_h = ch;
    const int full_w = w.x_stop - w.x_start, full_h = w.y_stop - w.y_start;
    const bool pad = o.padding && (full_h > ch || full_w > cw);
    if (pad) {
        out_w = full_w;
        out_h = full_h;
    }
    rscovlm::image out(out_w, out_h, c);
    if (pad) {
        const std::vector<int>& pv = o.padding_value_bgr;
        if (pv.size() != 1 && static_cast<int>(pv.size()) != c)
            RSCOVLM_THROW(data_error, "bad_split_options",
                          "padding value has " + std::to_string(pv.size()) + " entries for a " + std::to_string(c) +
                              "-channel image");
        std::vector<std::uint8_t> px(static_cast<std::size_t>(c));
        for (int k = 0; k < c; ++k) {
            int v = pv.size() == 1 ? pv[0] : pv[static_cast<std::size_t>(k)];
            if (pv.size() != 1 && c >= 3 && k < 3) v = pv[static_cast<std::size_t>(2 - k)]; // BGR -> RGB
            px[static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(v);
        }
        std::uint8_t* d = out.data.data();
        const std::size_t n = static_cast<std::size_t>(out_w) * static_cast<std::size_t>(out_h);
        for (std::size_t i = 0; i < n; ++i)
            for (int k = 0; k < c; ++k)
                *d++ = px[static_cast<std::size_t>(k)];
    }
    const std::size_t row_bytes = static_cast<std::size_t>(cw) * static_cast<std::size_t>(c);
    for (int y = 0; y < ch; ++y)
        std::memcpy(out.row(y), src.row(y0 + y) + static_cast<std::size_t>(x0) * static_cast<std::size_t>(c),
                    row_bytes);
    return out;
}

} // namespace rscovlm::data
