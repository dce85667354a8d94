// Benchmark of the data engine on the synthetic UHR scene (12000x9000 by default):
//   split throughput (patches/s, mmrotate img_split semantics, PNG patches written) beside a
//   decode+encode-only baseline measured in the same run (decode the source PNG, crop and encode
//   the same patches with no window/IoF/annotation work), and build throughput (samples/s with
//   conversation building, tokenization and Qwen2.5-VL preprocessing) on the patches;
//   plus our split time on the img_split fixtures beside mmrotate's recorded reference times.
// Usage: bench_data [uhr|small] [threads]   (prints numbers; no assertions)
#include "bench_common.hpp"

#include <rscovlm/data/all.hpp>
#include <rscovlm/io/data_engine.hpp>
#include <rscovlm/io/dota_split.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;
using namespace rscovlm;

int main(int argc, char** argv) {
    const std::string scale = argc > 1 ? argv[1] : "uhr";
    const int threads = argc > 2 ? std::atoi(argv[2]) : 0;
    const fs::path tmp = fs::temp_directory_path() / "rscovlm_bench_data";
    fs::remove_all(tmp);
    fs::create_directories(tmp / "src" / "images");
    fs::create_directories(tmp / "src" / "annfiles");

    data::scene_options so = scale == "small" ? data::scene_options::normal(1) : data::scene_options::uhr(1);
    if (scale == "small") {
        so.width = 3000;
        so.height = 2000;
    }
    data::scene sc;
    const double t_scene = bench::time_once([&] { sc = data::make_scene(so); });
    bench::report("scene generation (" + std::to_string(so.width) + "x" + std::to_string(so.height) + ")", t_scene, "s");
    const std::string src_png = (tmp / "src" / "images" / "scene.png").string();
    const double t_png = bench::time_once([&] { io::save_png(src_png, sc.image); });
    bench::report("source PNG encode", t_png, "s");
    data::write_dota((tmp / "src" / "annfiles" / "scene.txt").string(), sc.objects);
    std::printf("objects: %zu\n", sc.objects.size());

    // Split.
    io::split_job job;
    job.image_dirs = {(tmp / "src" / "images").string()};
    job.ann_dirs = {(tmp / "src" / "annfiles").string()};
    job.out_dir = (tmp / "split").string();
    job.options.padding_value_bgr = {104, 116, 124};
    job.threads = threads;
    io::split_report rep;
    const double t_split = bench::time_once([&] { rep = io::split_dota(job); });
    const double split_pps = static_cast<double>(rep.patches.size()) / t_split;

    io::split_job fast = job;
    fast.out_dir = (tmp / "split_fast").string();
    fast.png_compression_level = 1;
    io::split_report rep_fast;
    const double t_fast = bench::time_once([&] { rep_fast = io::split_dota(fast); });

    // Baseline: decode + crop + encode the same windows, nothing else.
    const auto windows = data::sliding_windows(sc.image.width, sc.image.height, job.options);
    fs::create_directories(tmp / "baseline");
    const double t_base = bench::time_once([&] {
        const rscovlm::image img = io::detail::imread_color(src_png);
        imaging::parallel_for(windows.size(), threads, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) {
                const rscovlm::image p = data::crop_patch(img, windows[i], job.options);
                io::save_png((tmp / "baseline" / (std::to_string(i) + ".png")).string(), p);
            }
        });
    });
    const double base_pps = static_cast<double>(windows.size()) / t_base;
    std::printf("split: %zu patches of 1024 (gap 200)\n", rep.patches.size());
    bench::report("split (patches/s)", split_pps, "patch/s", base_pps, "decode+encode baseline");
    bench::report("decode+encode-only baseline (patches/s)", base_pps, "patch/s");
    bench::report("split, PNG zlib level 1 (patches/s)", static_cast<double>(rep_fast.patches.size()) / t_fast, "patch/s",
                  base_pps, "decode+encode baseline");

    // Build: detection conversations of the patches, tokenized and preprocessed.
    const std::string tok_path = std::string(RSCOVLM_TEST_DATA_DIR) + "/tokenizer/qwen/tokenizer.json";
    io::build_job bj;
    data::dataset_config cfg;
    cfg.annotation_path = (tmp / "split" / "annfiles").string();
    cfg.data_path = (tmp / "split" / "images").string();
    cfg.dataset_type = "dense_det";
    cfg.reader = "reader.dota";
    bj.catalog.add("uhr_patches", {cfg});
    bj.recipe = nlohmann::json::array({"uhr_patches"});
    bj.out_dir = (tmp / "build").string();
    bj.tokenizer_path = fs::exists(tok_path) ? tok_path : std::string();
    bj.limit = scale == "small" ? 24 : 60;
    bj.threads = threads > 0 ? threads : 2;
    io::build_report br;
    const double t_build = bench::time_once([&] { br = io::build_dataset(bj); });
    std::printf("build: %zu samples, %zu tokens (%s)\n", br.samples, br.tokens,
                bj.tokenizer_path.empty() ? "no tokenizer: conversations only" : "tokenized + preprocessed");
    bench::report("build (samples/s)", static_cast<double>(br.samples) / t_build, "sample/s");

    // Fixtures beside mmrotate's recorded wall time (same 2-core machine class).
    const std::string fx = std::string(RSCOVLM_TEST_DATA_DIR) + "/img_split";
    std::ifstream gf(fx + "/generation.json");
    if (gf) {
        const auto gen = nlohmann::json::parse(gf);
        for (const auto& [name, ref] : gen["reference_seconds"].items()) {
            const std::string fixture = name.substr(0, name.find('/'));
            const int size = name.find("ss1024") != std::string::npos ? 1024 : 512;
            io::split_job fj;
            fj.image_dirs = {fx + "/" + fixture + "/images"};
            fj.ann_dirs = {fx + "/" + fixture + "/annfiles"};
            fj.out_dir = (tmp / ("fx_" + std::to_string(size))).string();
            fj.options.sizes = {size};
            fj.options.gaps = {size == 1024 ? 200 : 100};
            fj.options.padding_value_bgr = {104, 116, 124};
            fj.threads = 1;
            const double t = bench::time_once([&] { (void)io::split_dota(fj); });
            bench::report("fixture " + name + " (s, 1 thread)", t, "s", ref.get<double>(), "mmrotate img_split");
        }
    }
    fs::remove_all(tmp);
    return 0;
}
