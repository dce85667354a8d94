// Benchmark of the eval module: IoU pairs/s (exact clipping on one thread and on all cores, the
// DOTA_devkit polyiou port, mmcv float32 kernels) and a DOTA-val-sized Task1 evaluation
// (458 images, 15 classes, ~1e6 detections, synthetic) end to end, reading the files included.
//
// Usage:
//   bench_eval write DIR [detections]           write the synthetic data set (GT + Task1 files)
//   bench_eval run DIR [ref_shapely_pps ref_devkit_pps ref_eval_seconds]
//                                               time everything; print ratios against the reference
//                                               numbers measured by eval_ref.py (run_eval.sh)
#include "bench_common.hpp"

#include <rscovlm/eval/all.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace ev = rscovlm::eval;
namespace geo = rscovlm::geometry;

namespace {

struct rng {
    std::uint64_t s;
    std::uint64_t next() {
        std::uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    double uni() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
    double uni(double a, double b) { return a + (b - a) * uni(); }
};

std::vector<std::pair<geo::quad, geo::quad>> load_pairs(const std::string& path) {
    std::ifstream f(path);
    std::vector<std::pair<geo::quad, geo::quad>> out;
    std::string line;
    while (std::getline(f, line)) {
        if (line.empty()) continue;
        const auto j = nlohmann::json::parse(line);
        geo::quad a{}, b{};
        for (std::size_t i = 0; i < 4; ++i) {
            a[i] = {j["quad1"][2 * i].get<double>(), j["quad1"][2 * i + 1].get<double>()};
            b[i] = {j["quad2"][2 * i].get<double>(), j["quad2"][2 * i + 1].get<double>()};
        }
        out.emplace_back(a, b);
    }
    return out;
}

// Writes a DOTA-val-sized synthetic set: 458 images of 4000x4000, ~60 objects each, every object
// detected several times (jittered, random scores), plus misses and random false positives, so that
// the total is about `n_det` detections.
void write_dataset(const std::string& dir, std::size_t n_det) {
    namespace fs = std::filesystem;
    fs::create_directories(fs::path(dir) / "annotations");
    fs::create_directories(fs::path(dir) / "detections");
    const auto& classes = ev::dota_v1_classes();
    rng r{20260427};
    const int n_img = 458, per_img = 60;
    const double dets_per_obj = static_cast<double>(n_det) / (n_img * per_img) * 0.9;
    std::vector<std::ofstream> task1;
    for (const auto& c : classes)
        task1.emplace_back(fs::path(dir) / "detections" / ("Task1_" + c + ".txt"));
    std::ofstream imageset(fs::path(dir) / "imageset.txt");
    char buf[256];
    for (int i = 0; i < n_img; ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "P%04d", i);
        imageset << name << "\n";
        std::ofstream gt(fs::path(dir) / "annotations" / (std::string(name) + ".txt"));
        gt << "imagesource:GoogleEarth\ngsd:0.15\n";
        for (int k = 0; k < per_img; ++k) {
            const std::size_t c = static_cast<std::size_t>(r.next() % classes.size());
            const geo::rbox b{r.uni(50, 3950), r.uni(50, 3950), r.uni(10, 120), r.uni(8, 60), r.uni(-1.6, 1.6)};
            const auto q = ev::rbox_corners(b);
            const int diff = r.uni() < 0.1 ? 1 : 0;
            std::snprintf(buf, sizeof buf, "%.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %s %d\n", q[0].x, q[0].y, q[1].x,
                          q[1].y, q[2].x, q[2].y, q[3].x, q[3].y, classes[c].c_str(), diff);
            gt << buf;
            const int n = static_cast<int>(dets_per_obj * r.uni(0.0, 2.0) + 0.5);
            for (int m = 0; m < n; ++m) {
                const double jit = m == 0 ? 0.05 : 0.3;
                const geo::rbox d{b.cx + r.uni(-jit, jit) * b.w, b.cy + r.uni(-jit, jit) * b.h,
                                  b.w * r.uni(1 - jit, 1 + jit), b.h * r.uni(1 - jit, 1 + jit),
                                  b.theta + r.uni(-jit, jit)};
                const auto dq = ev::rbox_corners(d);
                std::snprintf(buf, sizeof buf, "%s %.2f %.2f %.2f %.2f %.2f %.2f %.2f %.2f %.2f\n", name,
                              r.uni(0.05, 1.0), dq[0].x, dq[0].y, dq[1].x, dq[1].y, dq[2].x, dq[2].y, dq[3].x, dq[3].y);
                task1[c] << buf;
            }
        }
        // false positives: 10 % of the detections
        const int fps = static_cast<int>(per_img * dets_per_obj / 9.0);
        for (int m = 0; m < fps; ++m) {
            const std::size_t c = static_cast<std::size_t>(r.next() % classes.size());
            const auto dq =
                ev::rbox_corners({r.uni(50, 3950), r.uni(50, 3950), r.uni(10, 120), r.uni(8, 60), r.uni(-1.6, 1.6)});
            std::snprintf(buf, sizeof buf, "%s %.2f %.2f %.2f %.2f %.2f %.2f %.2f %.2f %.2f\n", name, r.uni(0.05, 0.6),
                          dq[0].x, dq[0].y, dq[1].x, dq[1].y, dq[2].x, dq[2].y, dq[3].x, dq[3].y);
            task1[c] << buf;
        }
    }
}

template <class F> double pairs_per_second(const std::vector<std::pair<geo::quad, geo::quad>>& pairs, F&& f) {
    double sink = 0;
    const int reps = 20;
    const double s = rscovlm::bench::time_median([&] {
        for (int k = 0; k < reps; ++k)
            for (const auto& p : pairs)
                sink += f(p.first, p.second);
    });
    rscovlm::bench::do_not_optimize(sink);
    return static_cast<double>(pairs.size()) * reps / s;
}

} // namespace

int main(int argc, char** argv) {
    if (argc >= 3 && std::string(argv[1]) == "write") {
        const std::size_t n = argc >= 4 ? static_cast<std::size_t>(std::atof(argv[3])) : 1000000;
        write_dataset(argv[2], n);
        return 0;
    }
    if (argc < 3 || std::string(argv[1]) != "run") {
        std::fprintf(stderr,
                     "usage: bench_eval write DIR [detections] | bench_eval run DIR [shapely_pps devkit_pps eval_s]\n");
        return 2;
    }
    const std::string dir = argv[2];
    const double ref_shapely = argc > 3 ? std::atof(argv[3]) : 0, ref_devkit = argc > 4 ? std::atof(argv[4]) : 0;
    const double ref_eval = argc > 5 ? std::atof(argv[5]) : 0;
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());

    const auto pairs = load_pairs(std::string(RSCOVLM_TEST_DATA_DIR) + "/iou/pairs.jsonl");
    std::printf("IoU on %zu golden pairs (tests/data/iou/pairs.jsonl)\n", pairs.size());
    const double exact1 =
        pairs_per_second(pairs, [](const geo::quad& a, const geo::quad& b) { return ev::quad_iou(a, b); });
    rscovlm::bench::report("exact quad IoU, 1 thread", exact1, "pairs/s", ref_shapely, "shapely");
    if (ref_devkit > 0)
        rscovlm::bench::report("exact quad IoU, 1 thread", exact1, "pairs/s", ref_devkit, "devkit polyiou");
    {
        // all cores: the same pairs split over `cores` threads
        std::vector<geo::quad> qa, qb;
        for (const auto& p : pairs) {
            qa.push_back(p.first);
            qb.push_back(p.second);
        }
        std::vector<double> out(pairs.size());
        const int reps = 20;
        const double s = rscovlm::bench::time_median([&] {
            ev::detail::parallel_rows(pairs.size() * reps, static_cast<int>(cores), [&](std::size_t b, std::size_t e) {
                for (std::size_t i = b; i < e; ++i)
                    out[i % pairs.size()] = ev::quad_iou(qa[i % qa.size()], qb[i % qb.size()]);
            });
        });
        const double pps = static_cast<double>(pairs.size()) * reps / s;
        char name[64];
        std::snprintf(name, sizeof name, "exact quad IoU, %u threads", cores);
        rscovlm::bench::report(name, pps, "pairs/s", ref_shapely, "shapely");
    }
    const double dk = pairs_per_second(pairs, [](const geo::quad& a, const geo::quad& b) {
        const double v = ev::devkit_polyiou(a, b);
        return std::isnan(v) ? 0.0 : v;
    });
    rscovlm::bench::report("devkit polyiou port, 1 thread", dk, "pairs/s", ref_devkit, "devkit polyiou");
    const double mq = pairs_per_second(pairs, [](const geo::quad& a, const geo::quad& b) {
        std::array<float, 8> x{}, y{};
        for (std::size_t i = 0; i < 4; ++i) {
            x[2 * i] = static_cast<float>(a[i].x);
            x[2 * i + 1] = static_cast<float>(a[i].y);
            y[2 * i] = static_cast<float>(b[i].x);
            y[2 * i + 1] = static_cast<float>(b[i].y);
        }
        return static_cast<double>(ev::mmcv_iou_quadri_f32(x, y));
    });
    rscovlm::bench::report("mmcv box_iou_quadri port (f32), 1 thread", mq, "pairs/s");

    std::printf("\nDOTA Task1 evaluation of %s (reading files included)\n", dir.c_str());
    std::size_t n_det = 0;
    for (const auto& c : ev::read_task1_dir(dir + "/detections", ev::dota_v1_classes()))
        n_det += c.dets.size();
    std::printf("%zu detections\n", n_det);
    for (const auto& [name, proto, threads] :
         {std::tuple<const char*, ev::dota_protocol, int>{"devkit protocol, all cores", ev::dota_protocol::devkit, 0},
          {"devkit protocol, 1 thread", ev::dota_protocol::devkit, 1},
          {"mmrotate protocol (rbox), all cores", ev::dota_protocol::mmrotate, 0}}) {
        ev::dota_eval_options o;
        o.protocol = proto;
        o.threads = threads;
        double map = 0;
        if (proto == ev::dota_protocol::mmrotate) {
            // mmrotate's DOTADataset rejects the header lines: evaluate without them
            const auto gt = ev::read_dota_gt_dir(dir + "/annotations", ev::read_imageset(dir + "/imageset.txt"),
                                                 ev::gt_syntax::devkit);
            const double s = rscovlm::bench::time_once([&] {
                map = ev::evaluate_dota(gt, ev::read_task1_dir(dir + "/detections", ev::dota_v1_classes()), o).map;
            });
            rscovlm::bench::report(std::string(name) + " [s]", s, "s");
        } else {
            const double s = rscovlm::bench::time_once([&] {
                map = ev::evaluate_dota_dirs(dir + "/annotations", dir + "/detections", dir + "/imageset.txt", o).map;
            });
            rscovlm::bench::report(std::string(name) + " [s]", s, "s");
            if (ref_eval > 0) std::printf("%-44s %14.1fx faster than the devkit's Python voc_eval\n", "", ref_eval / s);
        }
        std::printf("%-44s mAP %.6f\n", "", map);
    }
    return 0;
}
