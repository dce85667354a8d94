// Benchmark of the Qwen2.5-VL image path (decode, resize, normalize+patchify, total) on a 1920x1080 and a
// 4000x4000 PNG under the RSCoVLM multi-task budget, single- and multi-threaded, beside a plain memory
// copy of the output size. With --ref (JSON written by resolution_ref.py, Pillow + numpy on the same
// files) it prints the ratios. Run both through tests/bench/run_resolution.sh.
//
//   bench_resolution --write-images DIR      write the benchmark images (PNG) into DIR
//   bench_resolution --images DIR [--ref F]  time rscovlm on DIR/*.png, compare with F
#include "bench_common.hpp"

#include <rscovlm/io/image_io.hpp>
#include <rscovlm/resolution/preprocess.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

using namespace rscovlm;

namespace {

struct bench_image {
    std::string name;
    int width, height;
};
const bench_image images[] = {{"fhd_1920x1080", 1920, 1080}, {"sq_4000x4000", 4000, 4000}};

// An aerial-looking test pattern: smooth gradients, a grid of "roads" and deterministic noise.
image make_pattern(int w, int h) {
    image im(w, h, 3);
    std::uint32_t s = 12345;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            s = s * 1664525u + 1013904223u;
            const int n = static_cast<int>((s >> 24) & 31) - 16;
            const bool road = (x % 257) < 6 || (y % 199) < 5;
            const int base[3] = {road ? 180 : 60 + (x * 90) / w, road ? 180 : 90 + (y * 80) / h, road ? 170 : 50 + ((x + y) % 64)};
            for (int c = 0; c < 3; ++c) {
                const int v = base[c] + n;
                im.at(x, y, c) = static_cast<std::uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    return im;
}

std::vector<std::uint8_t> read_all(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace

int main(int argc, char** argv) {
    std::string write_dir, image_dir, ref_path;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i];
        if (a == "--write-images") write_dir = argv[i + 1];
        else if (a == "--images") image_dir = argv[i + 1];
        else if (a == "--ref") ref_path = argv[i + 1];
    }
    if (!write_dir.empty()) {
        for (const auto& b : images) io::save_png(write_dir + "/" + b.name + ".png", make_pattern(b.width, b.height));
        return 0;
    }
    if (image_dir.empty()) {
        std::cerr << "usage: bench_resolution --write-images DIR | --images DIR [--ref ref.json]\n";
        return 2;
    }
    nlohmann::json ref;
    if (!ref_path.empty()) ref = nlohmann::json::parse(std::ifstream(ref_path));
    const int hw = static_cast<int>(std::thread::hardware_concurrency());
    std::printf("rscovlm resolution benchmark (multi-task budget 64..1296 tokens), %d hardware threads\n", hw);
    for (const auto& b : images) {
        const std::string path = image_dir + "/" + b.name + ".png";
        const auto bytes = read_all(path);
        const nlohmann::json r = ref.contains(b.name) ? ref[b.name] : nlohmann::json::object();
        auto refv = [&](const char* k) { return r.contains(k) ? r[k].get<double>() * 1e3 : 0.0; };
        std::printf("\n%s (%zu bytes PNG)\n", b.name.c_str(), bytes.size());
        for (int threads : {1, 0}) {
            resolution::preprocess_options o;
            o.min_pixels = 64LL * 28 * 28;
            o.max_pixels = 1296LL * 28 * 28;
            o.threads = threads;
            const std::string tag = threads == 1 ? " [1 thread]" : " [all threads]";
            image decoded;
            const double t_dec = bench::time_median([&] { decoded = io::decode_image(bytes); }, 3, 0.5) * 1e3;
            const auto target = resolution::smart_resize(decoded.height, decoded.width, 28, o.min_pixels, o.max_pixels);
            imaging::resize_options ro;
            ro.threads = threads;
            image resized;
            const double t_res = bench::time_median([&] { resized = imaging::resize(decoded, target.width, target.height, imaging::filter::bicubic, ro); }, 3, 0.5) * 1e3;
            std::vector<float> pv;
            resolution::normalize_patchify(resized, pv, o);
            std::vector<float> copy_dst(pv.size()), copy_src(pv);
            // Interleaved runs, so that both see the same machine load; medians of each.
            std::vector<double> tn, tc;
            for (int k = 0; k < 15; ++k) {
                tn.push_back(bench::time_once([&] { resolution::normalize_patchify(resized, pv, o); }));
                tc.push_back(bench::time_once([&] {
                    std::memcpy(copy_dst.data(), copy_src.data(), copy_src.size() * sizeof(float));
                    bench::do_not_optimize(copy_dst);
                }));
            }
            std::sort(tn.begin(), tn.end());
            std::sort(tc.begin(), tc.end());
            const double t_norm = tn[tn.size() / 2] * 1e3, t_copy = tc[tc.size() / 2] * 1e3;
            const double t_total = bench::time_median([&] {
                const image im = io::decode_image(bytes);
                const auto res = resolution::preprocess(im, o);
                bench::do_not_optimize(res);
            }, 3, 0.5) * 1e3;
            std::printf("  -> %dx%d, pixel_values [%zu, 1176]%s\n", target.width, target.height, pv.size() / 1176, tag.c_str());
            bench::report("  decode (stb_image)" + tag, t_dec, "ms", refv("decode"), "Pillow");
            bench::report("  resize bicubic (Pillow-exact)" + tag, t_res, "ms", refv("resize"), "Pillow");
            bench::report("  normalize+patchify" + tag, t_norm, "ms", refv("normalize_patchify"), "numpy");
            bench::report("  memcpy of the output size" + tag, t_copy, "ms");
            std::printf("  %-44s %14.2fx (target <= 2x)\n", ("normalize+patchify / memcpy" + tag).c_str(), t_norm / t_copy);
            bench::report("  total (decode+to_rgb+resize+patchify)" + tag, t_total, "ms", refv("total"), "Pillow+numpy");
            if (refv("total") > 0)
                std::printf("  %-44s %14.1fx (target >= 10x)\n", ("speed-up vs Pillow+numpy" + tag).c_str(), refv("total") / t_total);
        }
    }
    return 0;
}
