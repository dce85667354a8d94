// One concept: the data engine, from raw annotated images to training samples. A synthetic
// DOTA-style dataset (one 1024x1024 image and its annotation file) is written to a temporary
// folder, split into 512 px patches with mmrotate's img_split rules, turned into RSCoVLM detection
// conversations (hbb, obb and polygon answers per patch), and encoded by the Qwen2.5-VL processor
// into safetensors shards, which are read back and checked against the conversations.
#include <rscovlm/data/dota.hpp>
#include <rscovlm/data/synthetic.hpp>
#include <rscovlm/engine/build.hpp>
#include <rscovlm/engine/shard_reader.hpp>
#include <rscovlm/engine/split.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/tokenizer/bpe.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;
using namespace rscovlm;

static int failed(const std::string& what) {
    std::printf("FAILED: %s\n", what.c_str());
    return 1;
}

static int run(const fs::path& dir) {
    const data::scene s = data::make_scene(data::scene_options::normal(0));
    fs::create_directories(dir / "raw" / "images");
    fs::create_directories(dir / "raw" / "annfiles");
    io::save_png((dir / "raw" / "images" / "P0000.png").string(), s.image);
    data::write_dota((dir / "raw" / "annfiles" / "P0000.txt").string(), s.objects);
    std::printf("dataset: P0000.png %dx%d with %zu objects\n", s.image.width, s.image.height, s.objects.size());

    // Split: 512 px windows overlapping by 128 (step 384). Along a 1024 px side mmrotate places
    // ceil((1024 - 512) / 384 + 1) = 3 windows at 0, 384 and, moved back inside, 1024 - 512 = 512.
    engine::split_job sj;
    sj.image_dirs = {(dir / "raw" / "images").string()};
    sj.ann_dirs = {(dir / "raw" / "annfiles").string()};
    sj.out_dir = (dir / "split").string();
    sj.options.sizes = {512};
    sj.options.gaps = {128};
    sj.options.padding_value_bgr = {104, 116, 124}; // RSCoVLM's configs
    sj.png_compression_level = 1;
    const engine::split_report sr = engine::split_dota(sj);
    std::size_t kept = 0;
    for (const auto& p : sr.patches) {
        std::printf("  %s: %zu objects\n", p.id.c_str(), p.objects);
        kept += p.objects;
        const bool start_ok = (p.x_start == 0 || p.x_start == 384 || p.x_start == 512) &&
                              (p.y_start == 0 || p.y_start == 384 || p.y_start == 512);
        if (!start_ok || p.width != 512 || p.height != 512 ||
            p.id != "P0000__512__" + std::to_string(p.x_start) + "___" + std::to_string(p.y_start))
            return failed("unexpected window " + p.id);
    }
    if (sr.patches.size() != 9) return failed("expected 3 x 3 windows");
    std::printf("split into %zu patches, %zu object instances kept\n", sr.patches.size(), kept);

    // Conversations and their encoding: a dense detection dataset over the patches.
    engine::build_job job;
    data::dataset_config cfg;
    cfg.annotation_path = (dir / "split" / "annfiles").string();
    cfg.data_path = (dir / "split" / "images").string();
    cfg.dataset_type = "dense_det";
    cfg.reader = "reader.dota";
    job.catalog.add("synthetic_patches", {cfg});
    job.recipe = nlohmann::json::array({"synthetic_patches*1"});
    job.out_dir = (dir / "samples").string();
    job.tokenizer_path = std::string(RSCOVLM_EXAMPLE_DATA_DIR) + "/tokenizer/qwen/tokenizer.json";
    job.limit = 6;
    job.threads = 1;
    const engine::build_report br = engine::build_dataset(job);
    std::printf("mixture of %zu samples; built %zu: %zu tokens, %zu supervised, shards %s\n", br.dataset_size,
                br.samples, br.tokens, br.supervised_tokens, br.shards.dump().c_str());
    if (br.samples != 6 || br.shards.size() != 1) return failed("expected 6 samples in one shard");

    // Every shard sample is its conversation: one image block of grid_h * grid_w / 4 pads, and the
    // supervised tokens decode to the assistant's answer followed by <|im_end|>.
    std::map<std::int64_t, nlohmann::json> convs;
    std::ifstream jl(fs::path(job.out_dir) / "conversations.jsonl");
    for (std::string line; std::getline(jl, line);) {
        auto j = nlohmann::json::parse(line);
        convs[j["index"].get<std::int64_t>()] = j;
    }
    const auto tok = tokenizer::bpe_tokenizer::from_file(job.tokenizer_path);
    const auto shard =
        engine::shard_reader::open((fs::path(job.out_dir) / br.shards[0]["file"].get<std::string>()).string());
    const std::int32_t pad = tok.require_special_token_id("<|image_pad|>");
    for (std::size_t i = 0; i < br.samples; ++i) {
        const engine::shard_sample smp = shard.sample(i, false);
        const nlohmann::json& c = convs.at(smp.index);
        std::vector<std::int32_t> sup;
        std::size_t pads = 0;
        for (std::size_t t = 0; t < smp.input_ids.size(); ++t) {
            pads += smp.input_ids[t] == pad;
            if (smp.labels[t] != -100) sup.push_back(smp.labels[t]);
        }
        const std::string answer = c["messages"].back()["content"].get<std::string>();
        std::printf("sample %lld (%s, %s): %zu tokens, image grid [%d, %d, %d], first answer line: %s\n",
                    static_cast<long long>(smp.index), c["task"].get<std::string>().c_str(),
                    fs::path(c["images"][0]["path"].get<std::string>()).filename().string().c_str(),
                    smp.input_ids.size(), smp.grid_thw[0][0], smp.grid_thw[0][1], smp.grid_thw[0][2],
                    answer.substr(0, answer.find('\n')).c_str());
        if (smp.grid_thw.size() != 1 || pads != static_cast<std::size_t>(smp.grid_thw[0][1]) * smp.grid_thw[0][2] / 4)
            return failed("image pads do not match the grid");
        if (tok.decode(sup) != answer + "<|im_end|>") return failed("supervised tokens are not the answer");
    }
    std::printf("ok\n");
    return 0;
}

int main() {
    const fs::path dir = fs::temp_directory_path() / ("rscovlm-build-samples-" + std::to_string(::getpid()));
    int rc = 1;
    try {
        rc = run(dir);
    } catch (const std::exception& e) {
        std::printf("FAILED: %s\n", e.what());
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
    return rc;
}
