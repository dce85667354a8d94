// One concept: DOTA detection evaluation, score-free (mAP_nc: a VLM gives no confidence, every
// detection scores 1.0). A synthetic scene's objects are the ground truth; detections derived from
// them are scored with the DOTA_devkit protocol and with mmrotate's, which differ on difficult
// objects (the devkit ignores them, mmrotate by default counts them).
#include <rscovlm/data/synthetic.hpp>
#include <rscovlm/eval/dota_eval.hpp>
#include <rscovlm/eval/report.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

using namespace rscovlm;

static int failed(const char* what) {
    std::printf("FAILED: %s\n", what);
    return 1;
}

int main() {
    const data::scene s = data::make_scene(data::scene_options::normal(3));
    eval::dota_ground_truth gt{{s.name}, {{}}};
    std::vector<std::string> classes;
    std::size_t difficult = 0;
    for (const auto& o : s.objects) {
        gt.objects[0].push_back(eval::gt_object{o.poly, o.label, o.difficulty});
        difficult += o.difficulty != 0;
        if (std::find(classes.begin(), classes.end(), o.label) == classes.end()) classes.push_back(o.label);
    }
    std::sort(classes.begin(), classes.end());
    std::printf("%s: %zu objects (%zu difficult) of %zu classes\n", s.name.c_str(), s.objects.size(), difficult,
                classes.size());

    // Detections: each object's quad through `f` (nothing kept when it returns false).
    auto detect = [&](const std::function<bool(std::size_t, geometry::quad&)>& f) {
        std::vector<eval::class_detections> dets;
        for (const auto& c : classes)
            dets.push_back({c, true, {}});
        for (std::size_t i = 0; i < s.objects.size(); ++i) {
            geometry::quad q = s.objects[i].poly;
            const auto c = std::find(classes.begin(), classes.end(), s.objects[i].label) - classes.begin();
            if (f(i, q)) dets[static_cast<std::size_t>(c)].dets.push_back({s.name, 1.0, q});
        }
        return dets;
    };
    eval::dota_eval_options devkit, mmrotate;
    devkit.classes = mmrotate.classes = classes;
    devkit.no_scores = mmrotate.no_scores = true;
    devkit.protocol = eval::dota_protocol::devkit;
    mmrotate.protocol = eval::dota_protocol::mmrotate;
    auto both = [&](const char* what, const std::vector<eval::class_detections>& d) {
        const double a = eval::evaluate_dota(gt, d, devkit).map, b = eval::evaluate_dota(gt, d, mmrotate).map;
        std::printf("%-40s mAP_nc devkit %.4f, mmrotate %.4f\n", what, a, b);
        return std::make_pair(a, b);
    };

    // 1. The ground truth itself scores 1 under both protocols (up to the float rounding of the
    //    reference's sums: eleven 1/11 steps per class).
    auto one = [](double v) { return std::fabs(v - 1.0) < 1e-9; };
    const auto exact = both("identical detections", detect([](std::size_t, geometry::quad&) { return true; }));
    if (!one(exact.first) || !one(exact.second)) return failed("identical detections must give mAP 1");

    // 2. Missing the difficult objects costs nothing in the devkit, recall in mmrotate.
    const auto easy = both("difficult objects missed",
                           detect([&](std::size_t i, geometry::quad&) { return s.objects[i].difficulty == 0; }));
    if (difficult == 0 || !one(easy.first) || !(easy.second < 0.999)) return failed("difficult objects");

    // 3. VLM-like detections: every quad shifted by 10% of its extent (still IoU > 0.5), every
    //    fifth one by 70% (a false positive and a miss), every seventh one answered twice.
    auto shifted = detect([&](std::size_t i, geometry::quad& q) {
        double x0 = q[0].x, x1 = q[0].x;
        for (const auto& p : q)
            x0 = std::min(x0, p.x), x1 = std::max(x1, p.x);
        for (auto& p : q)
            p.x += (i % 5 == 4 ? 0.7 : 0.1) * (x1 - x0);
        return true;
    });
    for (auto& c : shifted)
        for (std::size_t k = 0, n = c.dets.size(); k < n; k += 7)
            c.dets.push_back(c.dets[k]);
    const auto vlm = both("shifted, missed and duplicated", shifted);
    if (!(vlm.first > 0.2 && vlm.first < 1.0 && vlm.second > 0.2 && vlm.second < 1.0))
        return failed("perturbed detections must score between 0.2 and 1");
    std::printf("%s", eval::to_table(eval::evaluate_dota(gt, shifted, mmrotate), "mmrotate protocol").c_str());

    // 4. A known value: only the first k easy objects of the largest class detected (precision 1,
    //    recall k/n) gives the VOC07 11-point AP (1 + floor(10 k / n)) / 11 for that class.
    const std::string big = *std::max_element(classes.begin(), classes.end(), [&](const auto& a, const auto& b) {
        auto n = [&](const std::string& l) {
            return std::count_if(s.objects.begin(), s.objects.end(), [&](const auto& o) { return o.label == l; });
        };
        return n(a) < n(b);
    });
    std::vector<std::size_t> easy_ids;
    for (std::size_t i = 0; i < s.objects.size(); ++i)
        if (s.objects[i].label == big && s.objects[i].difficulty == 0) easy_ids.push_back(i);
    const std::size_t n = easy_ids.size();
    std::size_t k = n / 2;
    while (k > 1 && (10 * k) % n == 0) // stay off the 0.1 grid (the reference's arange is inexact there)
        --k;
    devkit.classes = {big};
    const auto partial = detect([&](std::size_t i, geometry::quad&) {
        return std::find(easy_ids.begin(), easy_ids.begin() + static_cast<long>(k), i) !=
               easy_ids.begin() + static_cast<long>(k);
    });
    const double ap = eval::evaluate_dota(gt, partial, devkit).map;
    const double want = (1.0 + std::floor(10.0 * static_cast<double>(k) / static_cast<double>(n))) / 11.0;
    std::printf("%s: %zu of %zu detected -> AP %.6f (expected %.6f)\n", big.c_str(), k, n, ap, want);
    if (std::fabs(ap - want) > 1e-12) return failed("11-point AP");
    std::printf("ok\n");
    return 0;
}
