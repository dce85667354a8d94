// Benchmark of the data engine on the synthetic UHR scene (12000x9000 by default):
//   split throughput (patches/s, mmrotate img_split semantics, PNG patches written) beside a
//   decode+encode-only baseline measured in the same run (decode the source PNG, crop and encode
//   the same patches with no window/IoF/annotation work), and build throughput (samples/s with
//   conversation building, tokenization and Qwen2.5-VL preprocessing) on the patches;
//   plus our split time on the img_split fixtures beside mmrotate's recorded reference times;
//   packing: the RSCoVLM packing plan (items/s) beside the Python reference logic timed in the same
//   run (tests/data/packing/bench_reference.py on the same lengths), flattening of encoded samples
//   into packed rows (tokens/s), and a packed build of the patches (samples/s).
// Usage: bench_data [uhr|small|packing] [threads]   (prints numbers; no assertions; "packing" runs
//   only the packing part)
#include "bench_common.hpp"

#include <rscovlm/data/all.hpp>
#include <rscovlm/engine/all.hpp>
#include <rscovlm/engine/split.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;
using namespace rscovlm;

namespace {

/// The lengths bench_reference.py generates (64-bit LCG from 1).
std::vector<std::size_t> bench_lengths(std::size_t n) {
    std::vector<std::size_t> out;
    std::uint64_t x = 1;
    for (std::size_t i = 0; i < n; ++i) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        out.push_back(200 + static_cast<std::size_t>((x >> 33) % 6300));
    }
    return out;
}

/// Seconds the Python reference logic takes for the same plan, or 0 when python3 cannot run it.
double python_plan_seconds(std::size_t n, std::size_t& groups) {
    const std::string script = std::string(RSCOVLM_TEST_DATA_DIR) + "/packing/bench_reference.py";
    const std::string cmd = "python3 '" + script + "' " + std::to_string(n) + " 6144 64 2>/dev/null";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return 0;
    double secs = 0;
    unsigned long g = 0;
    const int got = std::fscanf(p, "%lf %lu", &secs, &g);
    pclose(p);
    groups = g;
    return got == 2 ? secs : 0;
}

void bench_packing() {
    // 1. The plan: binpacking.to_constant_volume rounds of 64 items, capacity 6144.
    const std::size_t n = 100000;
    const auto lengths = bench_lengths(n);
    std::vector<data::packing_item> items;
    for (std::size_t i = 0; i < n; ++i)
        items.push_back({i, lengths[i]});
    std::vector<std::vector<std::size_t>> plan;
    data::packing_options po;
    const double t_plan = bench::time_median([&] { plan = data::plan_packs(items, po); });
    std::size_t py_groups = 0;
    const double t_py = python_plan_seconds(n, py_groups);
    std::size_t tokens = 0;
    for (auto l : lengths)
        tokens += l;
    std::printf("packing plan: %zu items -> %zu packs (fill %.1f%% of 6144)%s\n", n, plan.size(),
                100.0 * static_cast<double>(tokens) / (static_cast<double>(plan.size()) * 6144.0),
                t_py > 0 ? (py_groups == plan.size() ? ", same pack count as the Python reference"
                                                     : ", PACK COUNT DIFFERS from the Python reference")
                         : "");
    bench::report("packing plan (items/s)", static_cast<double>(n) / t_plan, "item/s",
                  t_py > 0 ? static_cast<double>(n) / t_py : 0, "Python reference logic");

    // 2. Flattening encoded samples into packed rows (ids, labels, 3-axis positions, pixels of 1 image).
    std::vector<engine::encoded_sample> samples(256);
    for (std::size_t i = 0; i < samples.size(); ++i) {
        auto& s = samples[i];
        const std::size_t len = lengths[i];
        s.input_ids.assign(len, 7);
        s.labels.assign(len, -100);
        for (auto& a : s.position_ids)
            a.assign(len, 3);
        s.image_grid_thw.push_back({1, 16, 16});
        s.pixel_values.assign(256 * 1176, 0.5f);
        s.pixel_rows = 256;
    }
    std::vector<data::packing_item> its;
    for (std::size_t i = 0; i < samples.size(); ++i)
        its.push_back({i, samples[i].input_ids.size()});
    const auto groups = data::plan_packs(its, po);
    std::size_t flat_tokens = 0;
    const double t_flat = bench::time_median([&] {
        flat_tokens = 0;
        for (const auto& g : groups) {
            std::vector<const engine::encoded_sample*> m;
            for (auto id : g)
                m.push_back(&samples[id]);
            const data::packed_sequence row = data::flatten_pack(m);
            flat_tokens += row.input_ids.size();
            bench::do_not_optimize(row);
        }
    });
    bench::report("flatten packs incl. pixels (tokens/s)", static_cast<double>(flat_tokens) / t_flat, "token/s");
}

} // namespace

int main(int argc, char** argv) {
    const std::string scale = argc > 1 ? argv[1] : "uhr";
    const int threads = argc > 2 ? std::atoi(argv[2]) : 0;
    bench_packing();
    if (scale == "packing") return 0;
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
    bench::report("scene generation (" + std::to_string(so.width) + "x" + std::to_string(so.height) + ")", t_scene,
                  "s");
    const std::string src_png = (tmp / "src" / "images" / "scene.png").string();
    const double t_png = bench::time_once([&] { io::save_png(src_png, sc.image); });
    bench::report("source PNG encode", t_png, "s");
    data::write_dota((tmp / "src" / "annfiles" / "scene.txt").string(), sc.objects);
    std::printf("objects: %zu\n", sc.objects.size());

    // Split.
    engine::split_job job;
    job.image_dirs = {(tmp / "src" / "images").string()};
    job.ann_dirs = {(tmp / "src" / "annfiles").string()};
    job.out_dir = (tmp / "split").string();
    job.options.padding_value_bgr = {104, 116, 124};
    job.threads = threads;
    engine::split_report rep;
    const double t_split = bench::time_once([&] { rep = engine::split_dota(job); });
    const double split_pps = static_cast<double>(rep.patches.size()) / t_split;

    engine::split_job fast = job;
    fast.out_dir = (tmp / "split_fast").string();
    fast.png_compression_level = 1;
    engine::split_report rep_fast;
    const double t_fast = bench::time_once([&] { rep_fast = engine::split_dota(fast); });

    // Baseline: decode + crop + encode the same windows, nothing else.
    const auto windows = data::sliding_windows(sc.image.width, sc.image.height, job.options);
    fs::create_directories(tmp / "baseline");
    const double t_base = bench::time_once([&] {
        const rscovlm::image img = engine::detail::imread_color(src_png);
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
    bench::report("split, PNG zlib level 1 (patches/s)", static_cast<double>(rep_fast.patches.size()) / t_fast,
                  "patch/s", base_pps, "decode+encode baseline");

    // Build: detection conversations of the patches, tokenized and preprocessed.
    const std::string tok_path = std::string(RSCOVLM_TEST_DATA_DIR) + "/tokenizer/qwen/tokenizer.json";
    engine::build_job bj;
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
    engine::build_report br;
    const double t_build = bench::time_once([&] { br = engine::build_dataset(bj); });
    std::printf("build: %zu samples, %zu tokens (%s)\n", br.samples, br.tokens,
                bj.tokenizer_path.empty() ? "no tokenizer: conversations only" : "tokenized + preprocessed");
    bench::report("build (samples/s)", static_cast<double>(br.samples) / t_build, "sample/s");
    if (!bj.tokenizer_path.empty()) {
        engine::build_job pj = bj;
        pj.out_dir = (tmp / "build_packed").string();
        pj.pack = true;
        engine::build_report pr;
        const double t_pack = bench::time_once([&] { pr = engine::build_dataset(pj); });
        std::printf("packed build: %zu samples -> %zu packs of <= %zu tokens\n", pr.samples, pr.packs,
                    pj.encode.max_length);
        bench::report("packed build (samples/s)", static_cast<double>(pr.samples) / t_pack, "sample/s",
                      static_cast<double>(br.samples) / t_build, "unpacked build");
    }

    // Fixtures beside mmrotate's recorded wall time (same 2-core machine class).
    const std::string fx = std::string(RSCOVLM_TEST_DATA_DIR) + "/img_split";
    std::ifstream gf(fx + "/generation.json");
    if (gf) {
        const auto gen = nlohmann::json::parse(gf);
        for (const auto& [name, ref] : gen["reference_seconds"].items()) {
            const std::string fixture = name.substr(0, name.find('/'));
            const int size = name.find("ss1024") != std::string::npos ? 1024 : 512;
            engine::split_job fj;
            fj.image_dirs = {fx + "/" + fixture + "/images"};
            fj.ann_dirs = {fx + "/" + fixture + "/annfiles"};
            fj.out_dir = (tmp / ("fx_" + std::to_string(size))).string();
            fj.options.sizes = {size};
            fj.options.gaps = {size == 1024 ? 200 : 100};
            fj.options.padding_value_bgr = {104, 116, 124};
            fj.threads = 1;
            const double t = bench::time_once([&] { (void)engine::split_dota(fj); });
            bench::report("fixture " + name + " (s, 1 thread)", t, "s", ref.get<double>(), "mmrotate img_split");
        }
    }
    fs::remove_all(tmp);
    return 0;
}
