// Fuzz target: the DOTA ground-truth readers (both syntaxes) and the Task1 reader on arbitrary
// text (errors must be reported as rscovlm errors, never crash), then the exact IoU, the devkit
// polyiou port and a small evaluation on whatever parsed (no NaN from the exact IoU).
#include <rscovlm/eval/all.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace ev = rscovlm::eval;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    const std::uint8_t mode = data[0];
    std::vector<ev::gt_object> gt;
    std::vector<ev::detection> dets;
    auto g = rscovlm::try_call([&] {
        return ev::parse_dota_gt(text, (mode & 1) ? ev::gt_syntax::mmrotate : ev::gt_syntax::devkit, "fuzz.txt");
    });
    if (g) gt = g.value();
    auto d = rscovlm::try_call([&] { return ev::parse_task1(text, "Task1_fuzz.txt"); });
    if (d) dets = d.value();
    // Geometry on the parsed polygons: exact IoU is finite and in [0, 1] for finite input.
    std::vector<rscovlm::geometry::quad> polys;
    for (const auto& o : gt)
        polys.push_back(o.poly);
    for (const auto& x : dets)
        polys.push_back(x.poly);
    if (polys.size() > 64) polys.resize(64);
    for (std::size_t i = 0; i + 1 < polys.size(); ++i) {
        const double v = ev::quad_iou(polys[i], polys[i + 1]);
        if (!(v >= 0.0 && v <= 1.0)) std::abort();
        (void)ev::devkit_polyiou(polys[i], polys[i + 1]);
        std::array<float, 8> a{}, b{};
        for (std::size_t k = 0; k < 4; ++k) {
            a[2 * k] = static_cast<float>(polys[i][k].x);
            a[2 * k + 1] = static_cast<float>(polys[i][k].y);
            b[2 * k] = static_cast<float>(polys[i + 1][k].x);
            b[2 * k + 1] = static_cast<float>(polys[i + 1][k].y);
        }
        (void)ev::mmcv_iou_quadri_f32(a, b);
    }
    // A one-image evaluation of the parsed detections against the parsed ground truth.
    if (!gt.empty() || !dets.empty()) {
        ev::dota_ground_truth data_gt;
        data_gt.images.push_back(dets.empty() ? std::string("img") : dets[0].image);
        data_gt.objects.push_back(gt);
        std::vector<std::string> classes;
        for (const auto& o : gt)
            classes.push_back(o.label);
        if (classes.empty()) classes.push_back("plane");
        if (classes.size() > 8) classes.resize(8);
        std::vector<ev::class_detections> cd;
        for (const auto& c : classes)
            cd.push_back(ev::class_detections{
                c, true, dets.size() > 256 ? std::vector<ev::detection>(dets.begin(), dets.begin() + 256) : dets});
        ev::dota_eval_options o;
        o.classes = classes;
        o.threads = 1;
        o.protocol = (mode & 2) ? ev::dota_protocol::mmrotate : ev::dota_protocol::devkit;
        o.metric = (mode & 4) ? ev::ap_metric::area : ev::ap_metric::voc07;
        o.ties = (mode & 8) ? ev::tie_order::stable : ev::tie_order::numpy;
        auto r = rscovlm::try_call([&] { return ev::evaluate_dota(data_gt, cd, o); });
        (void)r;
    }
    return 0;
}
