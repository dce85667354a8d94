#pragma once
/// \file dota_eval.hpp
/// DOTA Task1 evaluation (per-class AP and mAP) reproducing two references exactly, selectable:
///
/// `dota_protocol::devkit` — DOTA_devkit `dota_evaluation_task1.voc_eval` + `main()`:
///   all detections of a class ranked by `np.argsort(-confidence)` across images; for each, the
///   ground truths of its image whose +1-pixel bounding boxes overlap are compared with
///   `polyiou.iou_poly(GT, det)` (reproduced bit for bit, see reference_iou.hpp); the best one
///   (first on ties, NaN propagating like `np.max`) matches when `IoU > thresh`; difficult GT are
///   excluded from `npos` and detections matching them are ignored; a GT already matched makes
///   the detection FP (no fall-back). `rec = tp / npos` (NaN when npos = 0, so 11-point AP 0 and
///   area AP NaN), `prec = tp / max(tp + fp, eps)`. mAP = sum of the class APs / number of
///   classes. A class whose Task1 file is missing or empty, or names an image outside the image
///   set, makes `voc_eval` raise: that class gets `error` and the mAP is undefined (`map_error`).
///
/// `dota_protocol::mmrotate` — mmrotate 1.x `eval_rbbox_map` as `DOTAMetric` feeds it: images in
///   image-set order; GT with `difficulty > difficulty_threshold` (default 100, i.e. none) are
///   "ignored" GT (dropped altogether in an image without any non-ignored GT, as
///   `get_cls_results` does); boxes are float32, as `rbox` (each quad through `qbox2rbox`, i.e.
///   `cv2.minAreaRect`) compared with mmcv's float32 `box_iou_rotated`, or as `qbox` compared
///   with `box_iou_quadri`; per image, detections are processed in `np.argsort(-score)` order and
///   match the best GT (first on ties) when `IoU >= thresh`; matching an ignored GT makes the
///   detection neither TP nor FP. The per-image TP/FP are concatenated in image order and ranked
///   again with `np.argsort(-score)`; recall float64, precision float32, AP float32 (mmdet
///   `average_precision`), mAP = float32 mean over classes with ground truth.
///
/// `no_scores` sets every score to 1.0 (the score-free "mAP_nc" protocol of RSCoVLM: a VLM gives
/// no confidence); the tie order then decides the ranking (see argsort.hpp).

#include <rscovlm/errors.hpp>
#include <rscovlm/eval/ap.hpp>
#include <rscovlm/eval/argsort.hpp>
#include <rscovlm/eval/dota_io.hpp>
#include <rscovlm/eval/polygon_iou.hpp>
#include <rscovlm/eval/reference_iou.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace rscovlm::eval {

/// Which reference evaluator to reproduce.
enum class dota_protocol { devkit, mmrotate };

/// Box representation of the mmrotate protocol.
enum class mmrotate_box { rbox, qbox };

/// Parses "devkit" / "mmrotate".
inline bool parse_dota_protocol(std::string_view s, dota_protocol& out) noexcept {
    if (s == "devkit" || s == "dota_devkit")
        out = dota_protocol::devkit;
    else if (s == "mmrotate")
        out = dota_protocol::mmrotate;
    else
        return false;
    return true;
}

/// Options of `evaluate_dota`.
struct dota_eval_options {
    dota_protocol protocol = dota_protocol::devkit;
    ap_metric metric = ap_metric::voc07;
    double iou_threshold = 0.5;
    tie_order ties = tie_order::numpy;
    bool no_scores = false;         ///< score every detection 1.0 (mAP_nc)
    int difficulty_threshold = 100; ///< mmrotate `diff_thr`: GT with difficulty above are ignored
    mmrotate_box box = mmrotate_box::rbox;
    std::vector<std::string> classes; ///< empty: DOTA-v1.0's 15 classes
    int threads = 0;                  ///< 0: all cores
    bool keep_curves = false;         ///< fill order / tp / fp / recall / precision per class
};

/// Result for one class.
struct class_result {
    std::string label;
    double ap = 0.0;       ///< NaN where the reference gives NaN (devkit area AP without GT)
    long long num_gts = 0; ///< devkit `npos` / mmrotate `num_gts`
    std::size_t num_dets = 0;
    std::string error;              ///< non-empty when the reference raises for this class
    std::vector<std::size_t> order; ///< ranking (indices into the class's detections), keep_curves
    std::vector<int> tp, fp;        ///< per ranked detection, keep_curves
    std::vector<double> recall, precision;
};

/// Result of an evaluation.
struct dota_eval_result {
    double map = 0.0;      ///< NaN when undefined (see map_error, or NaN class APs)
    std::string map_error; ///< why the reference would not produce an mAP
    std::vector<class_result> classes;
};

namespace detail {

inline std::vector<std::string> eval_classes(const dota_eval_options& opt) {
    return opt.classes.empty() ? dota_v1_classes() : opt.classes;
}

template <class F> inline void parallel_tasks(std::size_t n, int threads, F&& fn) {
    unsigned t = threads > 0 ? static_cast<unsigned>(threads) : std::max(1u, std::thread::hardware_concurrency());
    if (t > n) t = static_cast<unsigned>(n);
    if (t <= 1) {
        for (std::size_t i = 0; i < n; ++i)
            fn(i);
        return;
    }
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
        for (;;) {
            const std::size_t i = next.fetch_add(1);
            if (i >= n) return;
            fn(i);
        }
    };
    std::vector<std::thread> pool;
    for (unsigned k = 1; k < t; ++k)
        pool.emplace_back(worker);
    worker();
    for (auto& th : pool)
        th.join();
}

struct bounds4 {
    double xmin, ymin, xmax, ymax;
};
inline bounds4 quad_bounds(const quad& q) noexcept {
    bounds4 b{q[0].x, q[0].y, q[0].x, q[0].y};
    for (const auto& p : q) {
        // np.min / np.max propagate NaN
        if (std::isnan(p.x) || std::isnan(b.xmin))
            b.xmin = b.xmax = std::nan("");
        else {
            b.xmin = std::min(b.xmin, p.x);
            b.xmax = std::max(b.xmax, p.x);
        }
        if (std::isnan(p.y) || std::isnan(b.ymin))
            b.ymin = b.ymax = std::nan("");
        else {
            b.ymin = std::min(b.ymin, p.y);
            b.ymax = std::max(b.ymax, p.y);
        }
    }
    return b;
}

// voc_eval for one class.
inline class_result devkit_class(const dota_ground_truth& gt, const class_detections& cd, const dota_eval_options& opt,
                                 const std::unordered_map<std::string, std::size_t>& image_index) {
    class_result r;
    r.label = cd.label;
    r.num_dets = cd.dets.size();
    // GT of this class per image (in annotation order), npos counted over the image list.
    struct gt_cls {
        std::vector<quad> boxes;
        std::vector<bounds4> bb;
        std::vector<char> difficult;
        std::vector<char> matched;
    };
    std::vector<gt_cls> per(gt.images.size());
    long long npos = 0;
    for (std::size_t i = 0; i < gt.images.size(); ++i) {
        for (const auto& o : gt.objects[i]) {
            if (o.label != cd.label) continue;
            per[i].boxes.push_back(o.poly);
            per[i].bb.push_back(quad_bounds(o.poly));
            per[i].difficult.push_back(o.difficult != 0);
            per[i].matched.push_back(0);
            if (o.difficult == 0) ++npos;
        }
    }
    r.num_gts = npos;
    if (!cd.file_present) {
        r.error = "FileNotFoundError: Task1_" + cd.label + ".txt does not exist";
        r.ap = std::nan("");
        return r;
    }
    if (cd.dets.empty()) {
        r.error = "IndexError: Task1_" + cd.label + ".txt is empty";
        r.ap = std::nan("");
        return r;
    }
    std::vector<double> conf(cd.dets.size());
    for (std::size_t k = 0; k < cd.dets.size(); ++k)
        conf[k] = opt.no_scores ? 1.0 : cd.dets[k].score;
    const std::vector<std::size_t> order = argsort_desc(conf, opt.ties);
    // Resolve images first: voc_eval raises KeyError at the first unknown image in ranked order.
    std::vector<std::size_t> img(cd.dets.size());
    for (std::size_t k : order) {
        auto it = image_index.find(cd.dets[k].image);
        if (it == image_index.end()) {
            r.error =
                "KeyError: image '" + cd.dets[k].image + "' of Task1_" + cd.label + ".txt is not in the image set";
            r.ap = std::nan("");
            return r;
        }
        img[k] = it->second;
    }
    const std::size_t nd = order.size();
    std::vector<double> tp(nd, 0.0), fp(nd, 0.0);
    std::vector<double> ovs;
    std::vector<std::size_t> keep_idx;
    for (std::size_t d = 0; d < nd; ++d) {
        const detection& det = cd.dets[order[d]];
        gt_cls& R = per[img[order[d]]];
        double ovmax = -std::numeric_limits<double>::infinity();
        std::size_t jmax = 0;
        if (!R.boxes.empty()) {
            const bounds4 b = quad_bounds(det.poly);
            keep_idx.clear();
            for (std::size_t j = 0; j < R.boxes.size(); ++j) {
                const bounds4& g = R.bb[j];
                const double ixmin = std::max(g.xmin, b.xmin), iymin = std::max(g.ymin, b.ymin);
                const double ixmax = std::min(g.xmax, b.xmax), iymax = std::min(g.ymax, b.ymax);
                const double iw = std::max(ixmax - ixmin + 1., 0.);
                const double ih = std::max(iymax - iymin + 1., 0.);
                const double inters = iw * ih;
                const double uni = ((b.xmax - b.xmin + 1.) * (b.ymax - b.ymin + 1.) +
                                    (g.xmax - g.xmin + 1.) * (g.ymax - g.ymin + 1.) - inters);
                if (inters / uni > 0) keep_idx.push_back(j);
            }
            // Shortcut that cannot change the outcome: when the exact IoU of every candidate is
            // below the threshold by more than polyiou's worst rounding error (bounded by
            // ~1e-13 * C^2 on the intersection for coordinates up to C; 1e-12 is used), polyiou
            // cannot exceed the threshold either and the detection is a false positive whichever
            // GT is the argmax. Tiny or degenerate polygons get a huge margin and take the
            // reference path (which is also where polyiou may return NaN).
            bool decided_fp = !keep_idx.empty();
            for (std::size_t j : keep_idx) {
                if (!decided_fp) break;
                const quad& g = R.boxes[j];
                double c = 0.0;
                for (const auto& p : g)
                    c = std::max({c, std::fabs(p.x), std::fabs(p.y)});
                for (const auto& p : det.poly)
                    c = std::max({c, std::fabs(p.x), std::fabs(p.y)});
                const detail::overlap_areas ov = detail::overlap(g, det.poly);
                const double min_area = std::min(ov.area_a, ov.area_b);
                if (!(min_area > 1e-3) || !std::isfinite(c)) {
                    decided_fp = false;
                    break;
                }
                const double margin = (1e-12 * c * c + 1e-9) / min_area + 1e-9;
                if (!(detail::iou_from(ov) + margin < opt.iou_threshold)) decided_fp = false;
            }
            if (decided_fp) keep_idx.clear();
            if (!keep_idx.empty()) {
                ovs.clear();
                for (std::size_t j : keep_idx)
                    ovs.push_back(devkit_polyiou(R.boxes[j], det.poly));
                // np.max / np.argmax: NaN wins (first NaN), else the first maximum.
                std::size_t am = 0;
                for (std::size_t k = 0; k < ovs.size(); ++k) {
                    if (std::isnan(ovs[k])) {
                        am = k;
                        break;
                    }
                    if (ovs[k] > ovs[am]) am = k;
                }
                ovmax = ovs[am];
                jmax = keep_idx[am];
            }
        }
        if (ovmax > opt.iou_threshold) {
            if (!R.difficult[jmax]) {
                if (!R.matched[jmax]) {
                    tp[d] = 1.;
                    R.matched[jmax] = 1;
                } else {
                    fp[d] = 1.;
                }
            }
        } else {
            fp[d] = 1.;
        }
    }
    std::vector<double> rec(nd), prec(nd);
    double ctp = 0, cfp = 0;
    const double eps = std::numeric_limits<double>::epsilon();
    for (std::size_t d = 0; d < nd; ++d) {
        ctp += tp[d];
        cfp += fp[d];
        rec[d] = ctp / static_cast<double>(npos); // 0/0 -> NaN like numpy
        prec[d] = ctp / std::max(ctp + cfp, eps);
    }
    r.ap = voc_ap_devkit(rec, prec, opt.metric);
    if (opt.keep_curves) {
        r.order = order;
        r.tp.assign(tp.begin(), tp.end());
        r.fp.assign(fp.begin(), fp.end());
        r.recall = std::move(rec);
        r.precision = std::move(prec);
    }
    return r;
}

// Prepared boxes of the mmrotate protocol (float32).
struct mm_box {
    std::array<float, 8> q{};
    std::array<float, 5> r{};
};
inline mm_box mm_prepare(const quad& q, mmrotate_box kind) {
    mm_box b;
    if (kind == mmrotate_box::qbox) {
        for (std::size_t i = 0; i < 4; ++i) {
            b.q[2 * i] = static_cast<float>(q[i].x);
            b.q[2 * i + 1] = static_cast<float>(q[i].y);
        }
    } else {
        qbox2rbox_f32(q, b.r);
    }
    return b;
}
inline float mm_iou(const mm_box& det, const mm_box& g, mmrotate_box kind) {
    return kind == mmrotate_box::qbox ? mmcv_iou_quadri_f32(det.q, g.q) : mmcv_iou_rotated_f32(det.r, g.r);
}

// eval_rbbox_map for one class.
inline class_result mmrotate_class(const dota_ground_truth& gt, const std::vector<std::vector<mm_box>>& gt_boxes,
                                   const class_detections& cd, const dota_eval_options& opt,
                                   const std::unordered_map<std::string, std::size_t>& image_index) {
    class_result r;
    r.label = cd.label;
    r.num_dets = cd.dets.size();
    const std::size_t n_img = gt.images.size();
    // Detections per image in Task1 line order.
    std::vector<std::vector<std::size_t>> per_img(n_img);
    for (std::size_t k = 0; k < cd.dets.size(); ++k) {
        auto it = image_index.find(cd.dets[k].image);
        if (it == image_index.end()) {
            r.error = "image '" + cd.dets[k].image + "' of Task1_" + cd.label + ".txt is not in the image set";
            r.ap = std::nan("");
            return r;
        }
        per_img[it->second].push_back(k);
    }
    std::vector<float> all_scores;
    std::vector<float> all_tp, all_fp;
    std::vector<std::size_t> all_idx;
    all_scores.reserve(cd.dets.size());
    long long num_gts = 0;
    for (std::size_t i = 0; i < n_img; ++i) {
        // GT of the class: non-ignored then ignored, each in file order.
        std::vector<std::size_t> g;
        std::size_t n_normal = 0;
        for (std::size_t j = 0; j < gt.objects[i].size(); ++j) {
            const auto& o = gt.objects[i][j];
            if (o.label == cd.label && !(o.difficult > opt.difficulty_threshold)) g.push_back(j);
        }
        n_normal = g.size();
        // get_cls_results: an image without any non-ignored GT (of any class) contributes no
        // ignored GT either (`if len(ann['bboxes']) != 0 ... else: zeros`), so its detections of
        // this class are all false positives.
        bool any_normal = false;
        for (const auto& o : gt.objects[i])
            if (!(o.difficult > opt.difficulty_threshold)) any_normal = true;
        if (any_normal) {
            for (std::size_t j = 0; j < gt.objects[i].size(); ++j) {
                const auto& o = gt.objects[i][j];
                if (o.label == cd.label && o.difficult > opt.difficulty_threshold) g.push_back(j);
            }
        }
        num_gts += static_cast<long long>(n_normal);
        const auto& dk = per_img[i];
        const std::size_t m = dk.size();
        std::vector<float> sc(m), tp(m, 0.f), fp(m, 0.f);
        for (std::size_t a = 0; a < m; ++a)
            sc[a] = opt.no_scores ? 1.0f : static_cast<float>(cd.dets[dk[a]].score);
        if (g.empty()) {
            std::fill(fp.begin(), fp.end(), 1.f);
        } else if (m > 0) {
            std::vector<float> iou_max(m);
            std::vector<std::size_t> iou_arg(m);
            for (std::size_t a = 0; a < m; ++a) {
                const mm_box db = mm_prepare(cd.dets[dk[a]].poly, opt.box);
                float best = 0;
                std::size_t arg = 0;
                for (std::size_t b = 0; b < g.size(); ++b) {
                    const float v = mm_iou(db, gt_boxes[i][g[b]], opt.box);
                    if (b == 0 || v > best || (std::isnan(v) && !std::isnan(best))) {
                        if (!(b > 0 && std::isnan(best))) {
                            best = v;
                            arg = b;
                        }
                    }
                }
                iou_max[a] = best;
                iou_arg[a] = arg;
            }
            const std::vector<std::size_t> sort_inds = argsort_desc(sc, opt.ties);
            std::vector<char> covered(g.size(), 0);
            for (std::size_t a : sort_inds) {
                if (static_cast<double>(iou_max[a]) >= opt.iou_threshold) {
                    const std::size_t mg = iou_arg[a];
                    if (mg < n_normal) {
                        if (!covered[mg]) {
                            covered[mg] = 1;
                            tp[a] = 1.f;
                        } else {
                            fp[a] = 1.f;
                        }
                    }
                } else {
                    fp[a] = 1.f;
                }
            }
        }
        for (std::size_t a = 0; a < m; ++a) {
            all_scores.push_back(sc[a]);
            all_tp.push_back(tp[a]);
            all_fp.push_back(fp[a]);
            all_idx.push_back(dk[a]);
        }
    }
    r.num_gts = num_gts;
    const std::vector<std::size_t> order = argsort_desc(all_scores, opt.ties);
    const std::size_t nd = order.size();
    std::vector<double> recalls(nd);
    std::vector<float> precisions(nd);
    const float eps32 = std::numeric_limits<float>::epsilon();
    const double denom = std::max(static_cast<double>(num_gts), static_cast<double>(eps32));
    float ctp = 0.f, cfp = 0.f;
    for (std::size_t d = 0; d < nd; ++d) {
        ctp += all_tp[order[d]];
        cfp += all_fp[order[d]];
        recalls[d] = static_cast<double>(ctp) / denom;
        precisions[d] = ctp / std::max(ctp + cfp, eps32);
    }
    r.ap = static_cast<double>(average_precision_mmdet(recalls, precisions, opt.metric));
    if (opt.keep_curves) {
        r.order.resize(nd);
        r.tp.resize(nd);
        r.fp.resize(nd);
        for (std::size_t d = 0; d < nd; ++d) {
            r.order[d] = all_idx[order[d]];
            r.tp[d] = static_cast<int>(all_tp[order[d]]);
            r.fp[d] = static_cast<int>(all_fp[order[d]]);
        }
        r.recall = std::move(recalls);
        r.precision.assign(precisions.begin(), precisions.end());
    }
    return r;
}

} // namespace detail

/// Evaluates Task1 detections against DOTA ground truth with the selected protocol.
/// `dets` holds one entry per class (matched by label; classes absent from `dets` count as a
/// missing Task1 file). Throws `eval_error` only for invalid options.
inline dota_eval_result evaluate_dota(const dota_ground_truth& gt, const std::vector<class_detections>& dets,
                                      const dota_eval_options& opt) {
    if (!(opt.iou_threshold >= 0.0) || !(opt.iou_threshold <= 1.0))
        RSCOVLM_THROW(eval_error, "bad_option",
                      "IoU threshold must be in [0, 1], got " + std::to_string(opt.iou_threshold));
    const std::vector<std::string> classes = detail::eval_classes(opt);
    std::unordered_map<std::string, std::size_t> image_index;
    for (std::size_t i = 0; i < gt.images.size(); ++i)
        image_index[gt.images[i]] = i; // last wins (dict)
    std::vector<const class_detections*> by_class(classes.size(), nullptr);
    for (std::size_t c = 0; c < classes.size(); ++c)
        for (const auto& cd : dets)
            if (cd.label == classes[c]) by_class[c] = &cd;
    std::vector<class_detections> missing(classes.size());
    for (std::size_t c = 0; c < classes.size(); ++c) {
        missing[c].label = classes[c];
        missing[c].file_present = false;
    }
    std::vector<std::vector<detail::mm_box>> gt_boxes;
    if (opt.protocol == dota_protocol::mmrotate) {
        gt_boxes.resize(gt.images.size());
        for (std::size_t i = 0; i < gt.images.size(); ++i)
            for (const auto& o : gt.objects[i])
                gt_boxes[i].push_back(detail::mm_prepare(o.poly, opt.box));
    }
    dota_eval_result res;
    res.classes.resize(classes.size());
    detail::parallel_tasks(classes.size(), opt.threads, [&](std::size_t c) {
        const class_detections& cd = by_class[c] ? *by_class[c] : missing[c];
        res.classes[c] = opt.protocol == dota_protocol::devkit
                             ? detail::devkit_class(gt, cd, opt, image_index)
                             : detail::mmrotate_class(gt, gt_boxes, cd, opt, image_index);
    });
    if (opt.protocol == dota_protocol::devkit) {
        double sum = 0.0;
        for (const auto& cr : res.classes) {
            if (!cr.error.empty()) {
                res.map_error = "main() would stop at the first failing class: " + cr.label;
                res.map = std::nan("");
                return res;
            }
            sum = sum + cr.ap;
        }
        res.map = classes.empty() ? std::nan("") : sum / static_cast<double>(classes.size());
    } else {
        std::vector<float> aps;
        for (const auto& cr : res.classes) {
            if (!cr.error.empty()) {
                res.map_error = "class " + cr.label + ": " + cr.error;
                res.map = std::nan("");
                return res;
            }
            if (cr.num_gts > 0) aps.push_back(static_cast<float>(cr.ap));
        }
        if (aps.empty()) {
            res.map = 0.0;
        } else {
            const float s = detail::np_sum(aps);
            res.map = static_cast<double>(static_cast<float>(static_cast<double>(s) / static_cast<double>(aps.size())));
        }
    }
    return res;
}

/// Reads the folders and evaluates: GT `{gt_dir}/{id}.txt` for the ids of `imageset_file` (all
/// GT files, sorted, when empty) and detections `{det_dir}/Task1_{class}.txt`.
inline dota_eval_result evaluate_dota_dirs(const std::string& gt_dir, const std::string& det_dir,
                                           const std::string& imageset_file, const dota_eval_options& opt) {
    std::vector<std::string> images;
    if (!imageset_file.empty()) images = read_imageset(imageset_file);
    const gt_syntax syn = opt.protocol == dota_protocol::devkit ? gt_syntax::devkit : gt_syntax::mmrotate;
    const dota_ground_truth gt = read_dota_gt_dir(gt_dir, std::move(images), syn);
    const auto dets = read_task1_dir(det_dir, detail::eval_classes(opt));
    return evaluate_dota(gt, dets, opt);
}

} // namespace rscovlm::eval
