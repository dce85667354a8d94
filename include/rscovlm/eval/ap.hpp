#pragma once
/// \file ap.hpp
/// Average precision from recall/precision curves, as the two DOTA references compute it.
///
/// - `voc_ap_devkit`: DOTA_devkit `voc_ap` (float64). 11-point: `for t in np.arange(0., 1.1, 0.1)`,
///   `p = max(prec[rec >= t])` or 0, `ap += p / 11.`; the thresholds are numpy's `arange` values
///   `i * 0.1`, so 0.30000000000000004, 0.6000000000000001 and 0.7000000000000001 are not reached
///   by a recall of exactly 0.3/0.6/0.7. Area: precision envelope, sum of recall steps times
///   precision (numpy pairwise summation). NaN recalls (no ground truth) give 11-point AP 0 and
///   area AP NaN, like the reference.
/// - `average_precision_mmdet`: mmdet 3.x `average_precision` as mmrotate 1.x calls it: float32
///   accumulation for 11 points (`ap += prec` in float32, then `ap /= 11`), float64 sum stored
///   as float32 for area.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string_view>
#include <vector>

namespace rscovlm::eval {

/// AP integration mode.
enum class ap_metric {
    voc07, ///< VOC2007 11-point interpolation (use_07_metric=True, mmdet "11points")
    area   ///< all-points area under the precision envelope (use_07_metric=False, "area")
};

/// Parses "voc07"/"11points" and "area".
inline bool parse_ap_metric(std::string_view s, ap_metric& out) noexcept {
    if (s == "voc07" || s == "11points" || s == "11point")
        out = ap_metric::voc07;
    else if (s == "area" || s == "all")
        out = ap_metric::area;
    else
        return false;
    return true;
}

namespace detail {

/// numpy's pairwise summation (`np.add.reduce` on a contiguous float64/float32 array):
/// blocks of at most 128 elements are summed with 8 interleaved accumulators.
template <class T> inline T pairwise_sum(const T* a, std::size_t n) noexcept {
    if (n < 8) {
        T res = T(0);
        for (std::size_t i = 0; i < n; ++i)
            res += a[i];
        return res;
    }
    if (n <= 128) {
        T r[8];
        for (std::size_t k = 0; k < 8; ++k)
            r[k] = a[k];
        std::size_t i = 8;
        for (; i < n - (n % 8); i += 8)
            for (std::size_t k = 0; k < 8; ++k)
                r[k] += a[i + k];
        T res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; ++i)
            res += a[i];
        return res;
    }
    std::size_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

/// `np.sum(x)`: the reduction starts from the identity 0 and adds the pairwise sum.
template <class T> inline T np_sum(const std::vector<T>& x) noexcept {
    return T(0) + pairwise_sum(x.data(), x.size());
}

/// The 11 thresholds of `np.arange(0., 1.1, 0.1)` / `np.arange(0, 1 + 1e-3, 0.1)`.
inline double arange_tenth(int i) noexcept {
    return static_cast<double>(i) * 0.1;
}

} // namespace detail

/// DOTA_devkit `voc_ap(rec, prec, use_07_metric)` (float64).
inline double voc_ap_devkit(const std::vector<double>& rec, const std::vector<double>& prec, ap_metric metric) {
    if (metric == ap_metric::voc07) {
        double ap = 0.0;
        for (int k = 0; k < 11; ++k) {
            const double t = detail::arange_tenth(k);
            bool any = false;
            double p = 0.0;
            for (std::size_t i = 0; i < rec.size(); ++i) {
                if (rec[i] >= t) {
                    if (!any || prec[i] > p) p = prec[i]; // precisions are finite here
                    any = true;
                }
            }
            ap = ap + (any ? p : 0.0) / 11.;
        }
        return ap;
    }
    const std::size_t n = rec.size();
    std::vector<double> mrec, mpre;
    mrec.reserve(n + 2);
    mpre.reserve(n + 2);
    mrec.push_back(0.0);
    mpre.push_back(0.0);
    for (double v : rec)
        mrec.push_back(v);
    for (double v : prec)
        mpre.push_back(v);
    mrec.push_back(1.0);
    mpre.push_back(0.0);
    for (std::size_t i = mpre.size() - 1; i > 0; --i)
        mpre[i - 1] = std::fmax(mpre[i - 1], mpre[i]);
    // np.maximum propagates NaN; fmax does not, but precisions are never NaN here.
    std::vector<double> terms;
    terms.reserve(n + 1);
    for (std::size_t i = 0; i + 1 < mrec.size(); ++i)
        if (mrec[i + 1] != mrec[i]) terms.push_back((mrec[i + 1] - mrec[i]) * mpre[i + 1]);
    return detail::np_sum(terms);
}

/// mmdet `average_precision(recalls, precisions, mode)` for one scale, returned as the float32
/// value it stores (recalls float64, precisions float32 as in eval_rbbox_map).
inline float average_precision_mmdet(const std::vector<double>& recalls, const std::vector<float>& precisions,
                                     ap_metric metric) {
    if (metric == ap_metric::voc07) {
        float ap = 0.0f;
        for (int k = 0; k < 11; ++k) {
            const double thr = detail::arange_tenth(k);
            bool any = false;
            float p = 0.0f;
            for (std::size_t i = 0; i < recalls.size(); ++i) {
                if (recalls[i] >= thr) {
                    if (!any || precisions[i] > p) p = precisions[i];
                    any = true;
                }
            }
            ap += any ? p : 0.0f;
        }
        ap /= 11;
        return ap;
    }
    const std::size_t n = recalls.size();
    std::vector<double> mrec, mpre;
    mrec.reserve(n + 2);
    mpre.reserve(n + 2);
    mrec.push_back(0.0);
    mpre.push_back(0.0);
    for (double v : recalls)
        mrec.push_back(v);
    for (float v : precisions)
        mpre.push_back(static_cast<double>(v));
    mrec.push_back(1.0);
    mpre.push_back(0.0);
    for (std::size_t i = mpre.size() - 1; i > 0; --i)
        mpre[i - 1] = std::max(mpre[i - 1], mpre[i]);
    std::vector<double> terms;
    terms.reserve(n + 1);
    for (std::size_t i = 0; i + 1 < mrec.size(); ++i)
        if (mrec[i + 1] != mrec[i]) terms.push_back((mrec[i + 1] - mrec[i]) * mpre[i + 1]);
    return static_cast<float>(detail::np_sum(terms));
}

} // namespace rscovlm::eval
