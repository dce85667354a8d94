#pragma once
/// \file nms.hpp
/// Non-maximum suppression for quadrilaterals / rotated boxes.
///
/// `nms_method::devkit` and `devkit_fast` reproduce DOTA_devkit `py_cpu_nms_poly` and
/// `py_cpu_nms_poly_fast` (ResultMerge_multi_process.py): order = `scores.argsort()[::-1]`
/// (numpy introsort, see argsort.hpp), keep the first, compute `polyiou.iou_poly(kept, other)`
/// for the rest and keep those with `iou <= thresh` (so a NaN IoU, produced by two zero-area
/// boxes, suppresses). `devkit_fast` only computes the IoU for boxes whose axis-aligned bounds
/// overlap with positive area (`w * h > 0`, no +1) and treats the others as IoU 0; DOTA_devkit's
/// patch merge uses it with thresh 0.1. `nms_method::exact` uses the exact polygon IoU
/// (polygon_iou.hpp) with the same `iou <= thresh` keep rule; `mmcv` reproduces mmcv's CPU
/// `nms_rotated` (float32 kernel on the rotated boxes, suppress when `iou >= thresh`, order by
/// descending score; ties keep input order).

#include <rscovlm/eval/argsort.hpp>
#include <rscovlm/eval/polygon_iou.hpp>
#include <rscovlm/eval/reference_iou.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::eval {

/// Which IoU and keep rule the NMS uses.
enum class nms_method {
    devkit,      ///< DOTA_devkit py_cpu_nms_poly (polyiou, keep iou <= t)
    devkit_fast, ///< DOTA_devkit py_cpu_nms_poly_fast (bbox prefilter, then polyiou)
    exact,       ///< exact polygon IoU, keep iou <= t
    mmcv         ///< mmcv nms_rotated on float32 rotated boxes, suppress iou >= t (quads: qbox2rbox)
};

/// Parses "devkit" / "devkit_fast" / "exact" / "mmcv".
inline bool parse_nms_method(std::string_view s, nms_method& out) noexcept {
    if (s == "devkit")
        out = nms_method::devkit;
    else if (s == "devkit_fast" || s == "devkit-fast")
        out = nms_method::devkit_fast;
    else if (s == "exact")
        out = nms_method::exact;
    else if (s == "mmcv")
        out = nms_method::mmcv;
    else
        return false;
    return true;
}

/// NMS options.
struct nms_options {
    double iou_threshold = 0.5;
    nms_method method = nms_method::devkit;
    tie_order ties = tie_order::numpy;
};

/// Indices of the kept quads, in keep order (highest score first).
inline std::vector<std::size_t> nms_quads(const std::vector<quad>& boxes, const std::vector<double>& scores,
                                          const nms_options& opt = {}) {
    const std::size_t n = std::min(boxes.size(), scores.size());
    std::vector<std::size_t> keep;
    if (n == 0) return keep;
    std::vector<double> sc(scores.begin(), scores.begin() + static_cast<std::ptrdiff_t>(n));
    if (opt.method == nms_method::mmcv) {
        // mmcv nms_rotated_cpu_kernel: descending sort, suppression flags, `ovr >= thr` in float.
        std::vector<std::size_t> order(n);
        for (std::size_t i = 0; i < n; ++i)
            order[i] = i;
        std::stable_sort(order.begin(), order.end(), [&sc](std::size_t a, std::size_t b) { return sc[a] > sc[b]; });
        // mmrotate converts quads with qbox2rbox (cv2.minAreaRect on float32 points).
        std::vector<std::array<float, 5>> rb(n);
        for (std::size_t i = 0; i < n; ++i)
            qbox2rbox_f32(boxes[i], rb[i]);
        const float thr = static_cast<float>(opt.iou_threshold);
        std::vector<char> suppressed(n, 0);
        for (std::size_t a = 0; a < n; ++a) {
            const std::size_t i = order[a];
            if (suppressed[i]) continue;
            keep.push_back(i);
            for (std::size_t b = a + 1; b < n; ++b) {
                const std::size_t j = order[b];
                if (suppressed[j]) continue;
                if (mmcv_iou_rotated_f32(rb[i], rb[j]) >= thr) suppressed[j] = 1;
            }
        }
        return keep;
    }
    std::vector<std::size_t> order = argsort_rev(sc, opt.ties);
    std::vector<hbox> bb;
    if (opt.method == nms_method::devkit_fast) {
        bb.resize(n);
        for (std::size_t i = 0; i < n; ++i)
            bb[i] = geometry::bounds(boxes[i]);
    }
    std::vector<std::size_t> rest;
    rest.reserve(n);
    while (!order.empty()) {
        const std::size_t i = order[0];
        keep.push_back(i);
        rest.clear();
        for (std::size_t k = 1; k < order.size(); ++k) {
            const std::size_t j = order[k];
            double ovr;
            if (opt.method == nms_method::devkit_fast) {
                const double w = std::max(0.0, std::min(bb[i].x2, bb[j].x2) - std::max(bb[i].x1, bb[j].x1));
                const double h = std::max(0.0, std::min(bb[i].y2, bb[j].y2) - std::max(bb[i].y1, bb[j].y1));
                ovr = (w * h > 0) ? devkit_polyiou(boxes[i], boxes[j]) : 0.0;
            } else if (opt.method == nms_method::devkit) {
                ovr = devkit_polyiou(boxes[i], boxes[j]);
            } else {
                ovr = quad_iou(boxes[i], boxes[j]);
            }
            if (ovr <= opt.iou_threshold) rest.push_back(j); // NaN fails the test: suppressed
        }
        order.swap(rest);
    }
    return keep;
}

/// NMS on rotated boxes (through their `rbox_corners`; `mmcv` uses the boxes directly).
inline std::vector<std::size_t> nms_rboxes(const std::vector<rbox>& boxes, const std::vector<double>& scores,
                                           const nms_options& opt = {}) {
    if (opt.method == nms_method::mmcv) {
        const std::size_t n = std::min(boxes.size(), scores.size());
        std::vector<std::size_t> order(n), keep;
        for (std::size_t i = 0; i < n; ++i)
            order[i] = i;
        std::stable_sort(order.begin(), order.end(),
                         [&scores](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
        std::vector<std::array<float, 5>> rb(n);
        for (std::size_t i = 0; i < n; ++i)
            rb[i] = {static_cast<float>(boxes[i].cx), static_cast<float>(boxes[i].cy), static_cast<float>(boxes[i].w),
                     static_cast<float>(boxes[i].h), static_cast<float>(boxes[i].theta)};
        const float thr = static_cast<float>(opt.iou_threshold);
        std::vector<char> suppressed(n, 0);
        for (std::size_t a = 0; a < n; ++a) {
            const std::size_t i = order[a];
            if (suppressed[i]) continue;
            keep.push_back(i);
            for (std::size_t b = a + 1; b < n; ++b) {
                const std::size_t j = order[b];
                if (!suppressed[j] && mmcv_iou_rotated_f32(rb[i], rb[j]) >= thr) suppressed[j] = 1;
            }
        }
        return keep;
    }
    std::vector<quad> q(boxes.size());
    for (std::size_t i = 0; i < boxes.size(); ++i)
        q[i] = rbox_corners(boxes[i]);
    return nms_quads(q, scores, opt);
}

/// Class-wise NMS: boxes of different labels never suppress each other. Returns the kept indices
/// ordered by descending score (ties: input order), like mmcv's `batched_nms`.
template <class Label>
inline std::vector<std::size_t> batched_nms_quads(const std::vector<quad>& boxes, const std::vector<double>& scores,
                                                  const std::vector<Label>& labels, const nms_options& opt = {}) {
    const std::size_t n = std::min({boxes.size(), scores.size(), labels.size()});
    std::map<Label, std::vector<std::size_t>> groups;
    for (std::size_t i = 0; i < n; ++i)
        groups[labels[i]].push_back(i);
    std::vector<std::size_t> keep;
    for (const auto& [label, idx] : groups) {
        std::vector<quad> b;
        std::vector<double> s;
        b.reserve(idx.size());
        s.reserve(idx.size());
        for (std::size_t i : idx) {
            b.push_back(boxes[i]);
            s.push_back(scores[i]);
        }
        for (std::size_t k : nms_quads(b, s, opt))
            keep.push_back(idx[k]);
    }
    std::stable_sort(keep.begin(), keep.end(), [&scores](std::size_t a, std::size_t b) {
        return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
    });
    return keep;
}

} // namespace rscovlm::eval
