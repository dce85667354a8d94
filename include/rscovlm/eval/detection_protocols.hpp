#pragma once
/// \file detection_protocols.hpp
/// RSCoVLM's score-free detection protocol and the tools around it:
/// - `apply_score_threshold`: keep detections with `score > t` and set their score to 1.0
///   (RSCoVLM `export_new_submission.py` / `eval_mmrotate_detector_mapnc.py`);
/// - `sweep_score_thresholds`: evaluate mAP_nc for thresholds 0, 0.05, ..., 0.95 (`i / 20`) on
///   a labelled split and report the best one (first maximum);
/// - `mf1`: LMMRotate's confusion-matrix F1 (background row/column, mean precision and recall over
///   all K + 1 rows including background, `F1 = 2PR / (P + R)`, averaged over score thresholds);
/// - `parse_patch_name` / `merge_patches`: map detections of split patches
///   (`P0000__1024__{x}___{y}`) back to the original image and run class-wise NMS (0.1).

#include <rscovlm/eval/dota_eval.hpp>
#include <rscovlm/eval/nms.hpp>
#include <rscovlm/eval/reference_iou.hpp>

#include <cctype>
#include <cstddef>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rscovlm::eval {

/// Keeps the detections with `score > threshold` and scores them 1.0 (all classes).
inline std::vector<class_detections> apply_score_threshold(const std::vector<class_detections>& in, double threshold) {
    std::vector<class_detections> out;
    out.reserve(in.size());
    for (const auto& c : in) {
        class_detections k;
        k.label = c.label;
        k.file_present = c.file_present;
        for (const auto& d : c.dets) {
            if (d.score > threshold) {
                detection e = d;
                e.score = 1.0;
                k.dets.push_back(std::move(e));
            }
        }
        out.push_back(std::move(k));
    }
    return out;
}

/// One point of a threshold sweep.
struct sweep_point {
    double threshold = 0.0;
    double map = 0.0;
    std::size_t kept = 0; ///< detections left after thresholding
};

/// Result of `sweep_score_thresholds`.
struct sweep_result {
    std::vector<sweep_point> points;
    double best_threshold = 0.0;
    double best_map = 0.0;
};

/// The default sweep: 0, 0.05, ..., 0.95 (`i / 20` for i in 0..19).
inline std::vector<double> default_sweep_thresholds() {
    std::vector<double> t;
    for (int i = 0; i < 20; ++i)
        t.push_back(static_cast<double>(i) / 20.0);
    return t;
}

/// Evaluates mAP_nc after `apply_score_threshold` for each threshold; `opt.no_scores` is implied.
/// The best threshold is the first with the highest mAP (NaN mAPs never win).
inline sweep_result sweep_score_thresholds(const dota_ground_truth& gt, const std::vector<class_detections>& dets,
                                           dota_eval_options opt, std::vector<double> thresholds = {}) {
    if (thresholds.empty()) thresholds = default_sweep_thresholds();
    opt.keep_curves = false;
    sweep_result r;
    bool have = false;
    for (double t : thresholds) {
        const auto kept = apply_score_threshold(dets, t);
        std::size_t n = 0;
        for (const auto& c : kept)
            n += c.dets.size();
        const dota_eval_result e = evaluate_dota(gt, kept, opt);
        r.points.push_back({t, e.map, n});
        if (!std::isnan(e.map) && (!have || e.map > r.best_map)) {
            r.best_map = e.map;
            r.best_threshold = t;
            have = true;
        }
    }
    if (!have) r.best_map = std::nan("");
    return r;
}

/// mF1 at one score threshold.
struct mf1_point {
    double score_threshold = 0.0;
    double precision = 0.0; ///< mean over the K classes and background
    double recall = 0.0;
    double f1 = 0.0;                            ///< 0 when precision + recall is 0
    std::vector<std::vector<double>> confusion; ///< (K+1) x (K+1), last row/column = background
};

/// Result of `mf1`.
struct mf1_result {
    std::vector<mf1_point> points;
    double mean_f1 = 0.0;
};

/// LMMRotate `calculate_confusion_matrix` + `confusion_matrix_to_ap_ar_f1` (no NMS). IoUs are
/// mmcv's float32 rotated IoU between `qbox2rbox` boxes (as `rbbox_overlaps`); a detection with
/// `score >= threshold` adds one count for every GT (any class) with `IoU >= iou_threshold`
/// (TP when the labels agree), or a background FP when none; a GT without a same-class match
/// is a false negative. K is the number of `classes` (the reference uses the largest GT label
/// + 1, the same when the last class occurs in the GT). Default thresholds: 0, 0.1, ..., 0.9.
inline mf1_result mf1(const dota_ground_truth& gt, const std::vector<class_detections>& dets,
                      const std::vector<std::string>& classes, std::vector<double> score_thresholds = {},
                      double iou_threshold = 0.5) {
    if (score_thresholds.empty())
        for (int i = 0; i < 10; ++i)
            score_thresholds.push_back(static_cast<double>(i) * 0.1);
    const std::size_t K = classes.size();
    std::unordered_map<std::string, std::size_t> cls_index, img_index;
    for (std::size_t c = 0; c < K; ++c)
        cls_index[classes[c]] = c;
    for (std::size_t i = 0; i < gt.images.size(); ++i)
        img_index[gt.images[i]] = i;
    // Per image: GT rboxes and labels; detections (rbox, label, score).
    struct det_rec {
        std::array<float, 5> r;
        std::size_t label;
        double score;
    };
    std::vector<std::vector<std::array<float, 5>>> gboxes(gt.images.size());
    std::vector<std::vector<std::size_t>> glabels(gt.images.size());
    for (std::size_t i = 0; i < gt.images.size(); ++i)
        for (const auto& o : gt.objects[i]) {
            auto it = cls_index.find(o.label);
            if (it == cls_index.end()) continue;
            std::array<float, 5> r{};
            qbox2rbox_f32(o.poly, r);
            gboxes[i].push_back(r);
            glabels[i].push_back(it->second);
        }
    std::vector<std::vector<det_rec>> dimg(gt.images.size());
    for (const auto& c : dets) {
        auto ci = cls_index.find(c.label);
        if (ci == cls_index.end()) continue;
        for (const auto& d : c.dets) {
            auto ii = img_index.find(d.image);
            if (ii == img_index.end()) continue;
            det_rec rec{};
            qbox2rbox_f32(d.poly, rec.r);
            rec.label = ci->second;
            rec.score = d.score;
            dimg[ii->second].push_back(rec);
        }
    }
    // IoU >= threshold flags, computed once.
    std::vector<std::vector<std::vector<char>>> hit(gt.images.size());
    for (std::size_t i = 0; i < gt.images.size(); ++i) {
        hit[i].resize(dimg[i].size());
        for (std::size_t a = 0; a < dimg[i].size(); ++a) {
            hit[i][a].resize(gboxes[i].size());
            for (std::size_t b = 0; b < gboxes[i].size(); ++b)
                hit[i][a][b] = static_cast<double>(mmcv_iou_rotated_f32(dimg[i][a].r, gboxes[i][b])) >= iou_threshold;
        }
    }
    mf1_result res;
    double f1_sum = 0.0;
    for (double thr : score_thresholds) {
        mf1_point p;
        p.score_threshold = thr;
        p.confusion.assign(K + 1, std::vector<double>(K + 1, 0.0));
        auto& cm = p.confusion;
        for (std::size_t i = 0; i < gt.images.size(); ++i) {
            std::vector<int> true_pos(glabels[i].size(), 0);
            for (std::size_t a = 0; a < dimg[i].size(); ++a) {
                const det_rec& d = dimg[i][a];
                if (!(d.score >= thr)) continue;
                int matches = 0;
                for (std::size_t b = 0; b < glabels[i].size(); ++b) {
                    if (!hit[i][a][b]) continue;
                    ++matches;
                    if (glabels[i][b] == d.label) ++true_pos[b];
                    cm[glabels[i][b]][d.label] += 1;
                }
                if (matches == 0) cm[K][d.label] += 1;
            }
            for (std::size_t b = 0; b < glabels[i].size(); ++b)
                if (true_pos[b] == 0) cm[glabels[i][b]][K] += 1;
        }
        double psum = 0, rsum = 0;
        for (std::size_t c = 0; c <= K; ++c) {
            double col = 0, row = 0;
            for (std::size_t k = 0; k <= K; ++k) {
                col += cm[k][c];
                row += cm[c][k];
            }
            const double tp = cm[c][c];
            const double fp = col - tp, fn = row - tp;
            psum += tp / (tp + fp == 0 ? 1.0 : tp + fp);
            rsum += tp / (tp + fn == 0 ? 1.0 : tp + fn);
        }
        p.precision = psum / static_cast<double>(K + 1);
        p.recall = rsum / static_cast<double>(K + 1);
        p.f1 = (p.precision + p.recall) > 0 ? 2 * p.precision * p.recall / (p.precision + p.recall) : 0.0;
        f1_sum += p.f1;
        res.points.push_back(std::move(p));
    }
    res.mean_f1 = res.points.empty() ? 0.0 : f1_sum / static_cast<double>(res.points.size());
    return res;
}

/// Where a patch sits in its original image.
struct patch_origin {
    std::string image; ///< the original image id (the name up to the first "__")
    long long x = 0;
    long long y = 0;
};

/// Parses `P0000__1024__{x}___{y}` style names like DOTA_devkit / mmrotate's merge:
/// base = `name.split('__')[0]`, offsets = the two numbers of the first `__\d+___\d+` match.
/// Returns nullopt when there is no such match; throws eval_error "bad_patch_name" when an offset
/// does not fit a 64-bit integer (rather than a saturated or cut offset).
inline std::optional<patch_origin> parse_patch_name(std::string_view name) {
    for (std::size_t p = 0; p + 2 <= name.size(); ++p) {
        if (name[p] != '_' || name[p + 1] != '_') continue;
        std::size_t i = p + 2, b1 = i;
        while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])))
            ++i;
        if (i == b1 || name.substr(i, 3) != "___") continue;
        const std::size_t e1 = i;
        i += 3;
        const std::size_t b2 = i;
        while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])))
            ++i;
        if (i == b2) continue;
        auto offset = [&](std::string_view digits) {
            long long v = 0;
            for (char c : digits) {
                const int d = c - '0';
                if (v > (std::numeric_limits<long long>::max() - d) / 10)
                    RSCOVLM_THROW(eval_error, "bad_patch_name",
                                  "patch name '" + std::string(name) + "': offset " + std::string(digits) +
                                      " does not fit a 64-bit integer");
                v = v * 10 + d;
            }
            return v;
        };
        patch_origin o;
        const std::size_t cut = name.find("__");
        o.image = std::string(name.substr(0, cut));
        o.x = offset(name.substr(b1, e1 - b1));
        o.y = offset(name.substr(b2, i - b2));
        return o;
    }
    return std::nullopt;
}

/// Report of `merge_patches`.
struct merge_report {
    std::size_t input = 0;
    std::size_t kept = 0;
    std::vector<std::string> unparsed; ///< image names without patch offsets (kept as they are)
};

/// Moves patch detections to their original images (adding the patch offsets) and runs NMS per
/// original image and class (DOTA_devkit merge: `py_cpu_nms_poly_fast`, threshold 0.1).
/// Images keep their first-appearance order; detections of an image come out in keep order.
inline std::vector<class_detections> merge_patches(const std::vector<class_detections>& in,
                                                   const nms_options& nms = {0.1, nms_method::devkit_fast,
                                                                             tie_order::numpy},
                                                   merge_report* report = nullptr) {
    std::vector<class_detections> out;
    merge_report rep;
    for (const auto& c : in) {
        std::vector<std::string> order;
        std::map<std::string, std::vector<detection>> groups;
        for (const auto& d : c.dets) {
            ++rep.input;
            detection m = d;
            if (auto o = parse_patch_name(d.image)) {
                m.image = o->image;
                for (auto& p : m.poly) {
                    p.x += static_cast<double>(o->x);
                    p.y += static_cast<double>(o->y);
                }
            } else {
                rep.unparsed.push_back(d.image);
            }
            auto it = groups.find(m.image);
            if (it == groups.end()) {
                order.push_back(m.image);
                it = groups.emplace(m.image, std::vector<detection>{}).first;
            }
            it->second.push_back(std::move(m));
        }
        class_detections k;
        k.label = c.label;
        k.file_present = c.file_present;
        for (const auto& img : order) {
            const auto& g = groups[img];
            std::vector<quad> boxes;
            std::vector<double> scores;
            for (const auto& d : g) {
                boxes.push_back(d.poly);
                scores.push_back(d.score);
            }
            for (std::size_t i : nms_quads(boxes, scores, nms))
                k.dets.push_back(g[i]);
        }
        rep.kept += k.dets.size();
        out.push_back(std::move(k));
    }
    if (report) *report = std::move(rep);
    return out;
}

} // namespace rscovlm::eval
