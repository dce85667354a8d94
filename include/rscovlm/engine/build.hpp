#pragma once
/// \file engine/build.hpp
/// A whole build: recipe -> readers -> builders -> encoding (prefetching loader) -> JSONL and shards.

#include <rscovlm/data/builtin.hpp>
#include <rscovlm/data/dota.hpp>
#include <rscovlm/data/packing.hpp>
#include <rscovlm/data/recipe.hpp>
#include <rscovlm/engine/encode.hpp>
#include <rscovlm/engine/loader.hpp>
#include <rscovlm/engine/readers.hpp>
#include <rscovlm/engine/shards.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/ops.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/io/safetensors.hpp>
#include <rscovlm/io/video_source.hpp>
#include <rscovlm/io/xml_annotations.hpp>
#include <rscovlm/processor/processor.hpp>
#include <rscovlm/registry.hpp>
#include <rscovlm/resolution/preprocess.hpp>
#include <rscovlm/resolution/rope_index.hpp>
#include <rscovlm/tokenizer/bpe.hpp>
#include <rscovlm/tokenizer/encoding.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace rscovlm::engine {

// ------------------------------------------------------------------------------------------ build

/// A co-training build: recipe -> mixture -> this rank's samples -> conversations (+ shards).
struct build_job {
    nlohmann::json recipe;         ///< RSCoVLM recipe (name, all%P, or list)
    data::dataset_catalog catalog; ///< registered datasets
    std::string base_dir;          ///< relative paths of custom recipe entries are resolved here
    /// Every dataset refuses record image paths that leave its `data_path` (data_error
    /// "path_outside_root"); by default they are joined like the reference's `os.path.join`.
    bool confine_to_root = false;
    data::build_options build;
    std::uint64_t seed = 0; ///< sampler and per-sample generator seed
    std::uint64_t epoch = 0;
    std::size_t rank = 0, world_size = 1;
    bool shuffle = true;
    bool balanced = false;
    std::size_t limit = 0; ///< build at most this many samples of this rank (0 = all)
    std::string out_dir;
    std::string tokenizer_path; ///< empty: conversations only
    sample_encode_options encode;
    std::size_t samples_per_shard = 512;
    /// Pack samples like RSCoVLM's `--packing_data` (`data/packing.hpp`): shards hold packed rows
    /// (`pack-*.safetensors`, `packed_shard_writer`); samples are encoded untruncated and each row is
    /// cut to the pack length, as the reference's flattened collator does. `samples_per_shard`
    /// then counts packs.
    bool pack = false;
    std::size_t pack_length = 0;       ///< bin capacity and row limit; 0 = `encode.max_length`
    std::size_t packing_interval = 64; ///< RSCoVLM's default `--packing_interval`
    /// Resume: skip the first `resume_position` samples of this rank's epoch (a manifest's
    /// `sampler_state.position`).
    std::size_t resume_position = 0;
    int threads = 2; ///< encoding threads (prefetching loader)
    /// Pixels of an image reference (default: `load_image_ref`, which applies the crop and `prefetched`).
    std::function<rscovlm::image(const data::image_ref&)> image_loader;
};

/// What a build produced.
struct build_report {
    std::size_t dataset_size = 0;      ///< samples in the whole mixture
    std::size_t samples = 0;           ///< samples built by this rank
    std::size_t tokens = 0;            ///< tokens written (packed: in the packed rows)
    std::size_t supervised_tokens = 0; ///< labels != -100 written (packed: in the packed rows)
    std::size_t truncated = 0;         ///< truncated samples (packed: truncated packs)
    std::size_t packs = 0;             ///< packed rows written (packing only)
    std::vector<std::size_t> part_sizes;
    nlohmann::json shards = nlohmann::json::array();
    double seconds = 0;
};

/// Runs a build: writes `conversations.jsonl`, shards and `manifest.json` into `out_dir`.
inline build_report build_dataset(const build_job& job,
                                  const std::function<void(std::size_t, std::size_t)>& progress = {}) {
    namespace fs = std::filesystem;
    const auto t0 = std::chrono::steady_clock::now();
    data::dataset_catalog catalog = job.catalog;
    std::vector<data::dataset_config> configs = data::resolve_recipe(job.recipe, catalog, job.base_dir);
    if (job.confine_to_root)
        for (auto& c : configs)
            c.confine_to_root = true;
    const data::mixture mix = data::load_mixture(
        configs, [](const std::string& k) { return make_any_reader(k); }, job.balanced, job.epoch,
        job.build.prob_open_end_prompts, job.seed);
    data::distributed_sampler sampler(mix.size(), job.world_size, job.rank, job.shuffle, job.seed);
    sampler.set_epoch(job.epoch);
    sampler.restore(data::sampler_state{job.epoch, job.resume_position});
    std::vector<std::size_t> order = sampler.remaining();
    if (job.limit > 0 && order.size() > job.limit) order.resize(job.limit);
    data::build_options bo = job.build;
    if (!bo.image_size) bo.image_size = image_size_of;
    if (!bo.load_image)
        bo.load_image = [](const std::string& p) {
            return io::load_image(p, io::load_options{false, imaging::rgb_mode::composite, 0});
        };

    build_report rep;
    rep.dataset_size = mix.size();
    for (const auto& p : mix.parts)
        rep.part_sizes.push_back(p.size());
    fs::create_directories(job.out_dir);
    std::ofstream jsonl((fs::path(job.out_dir) / "conversations.jsonl").string(), std::ios::binary | std::ios::trunc);
    if (!jsonl)
        RSCOVLM_THROW(io_error, "write_failed",
                      "cannot write " + (fs::path(job.out_dir) / "conversations.jsonl").string());

    std::optional<tokenizer::bpe_tokenizer> tok;
    if (!job.tokenizer_path.empty()) tok = tokenizer::bpe_tokenizer::from_file(job.tokenizer_path);
    struct item {
        data::conversation conv;
        std::optional<encoded_sample> enc;
    };
    const std::size_t pack_length = job.pack_length > 0 ? job.pack_length : job.encode.max_length;
    if (job.pack && pack_length == 0)
        RSCOVLM_THROW(data_error, "bad_packing", "packing needs a pack length: set pack_length or max_length > 0");
    sample_encode_options enc_opts = job.encode;
    // The reference measures and encodes pack members untruncated; the pack row is cut instead.
    if (job.pack) enc_opts.max_length = 0;
    auto produce = [&](std::size_t k) {
        item it;
        it.conv = mix.build(order[k], bo, job.seed);
        if (tok) it.enc = encode_sample(it.conv, *tok, enc_opts, job.image_loader);
        return it;
    };
    shard_writer shards((fs::path(job.out_dir)).string(), job.samples_per_shard);
    std::optional<packed_shard_writer> pack_shards;
    std::optional<sample_packer> packer;
    std::size_t truncated_packs = 0, packed_supervised = 0;
    if (job.pack && tok) {
        pack_shards.emplace(fs::path(job.out_dir).string(), job.samples_per_shard);
        data::packing_options po;
        po.max_length = pack_length;
        po.packing_interval = job.packing_interval;
        data::flatten_options fo;
        fo.max_length = pack_length;
        packer.emplace(po, fo, [&](const data::packed_sequence& row, const std::vector<std::size_t>& members) {
            truncated_packs += row.truncated ? 1 : 0;
            for (auto l : row.labels)
                packed_supervised += l != data::ignore_index;
            pack_shards->add(row, members);
        });
    }
    {
        prefetch_loader<item> loader(order.size(), produce, 8, job.threads);
        std::size_t k = 0;
        while (auto it = loader.next()) {
            jsonl
                << conversation_json(it->conv, order[k]).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                << "\n";
            if (it->enc) {
                rep.tokens += it->enc->input_ids.size();
                for (std::size_t t = 0; t < it->enc->labels.size(); ++t)
                    rep.supervised_tokens += it->enc->labels[t] != -100;
                rep.truncated += it->enc->truncated ? 1 : 0;
                if (packer)
                    packer->add(std::move(*it->enc), order[k]);
                else
                    shards.add(*it->enc, order[k]);
            }
            ++k;
            ++rep.samples;
            if (progress) progress(k, order.size());
        }
    }
    shards.flush();
    rep.shards = shards.files();
    if (packer) {
        packer->finish();
        pack_shards->flush();
        rep.shards = pack_shards->files();
        rep.packs = pack_shards->packs();
        rep.truncated = truncated_packs;
        // What the packed rows hold (after the pack-length cut and the first-label masking).
        rep.tokens = pack_shards->tokens();
        rep.supervised_tokens = packed_supervised;
    }
    nlohmann::ordered_json manifest;
    manifest["format"] = packer ? "rscovlm.packed_shard.v1" : "rscovlm.shard.v1";
    manifest["recipe"] = job.recipe;
    manifest["dataset_size"] = rep.dataset_size;
    manifest["rank"] = job.rank;
    manifest["world_size"] = job.world_size;
    manifest["epoch"] = job.epoch;
    manifest["seed"] = job.seed;
    manifest["sampler_state"] = {{"epoch", job.epoch}, {"position", job.resume_position + rep.samples}};
    manifest["max_length"] = job.encode.max_length;
    manifest["tokenizer"] = job.tokenizer_path;
    manifest["samples"] = rep.samples;
    manifest["tokens"] = rep.tokens;
    manifest["supervised_tokens"] = rep.supervised_tokens;
    manifest["truncated"] = rep.truncated;
    manifest["parts"] = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < mix.parts.size(); ++i)
        manifest["parts"].push_back({{"dataset_type", mix.parts[i].dataset_type},
                                     {"builder", mix.parts[i].builder_key},
                                     {"samples", mix.parts[i].size()}});
    manifest["shards"] = rep.shards;
    manifest["conversations"] = "conversations.jsonl";
    if (packer) {
        manifest["packing"] = {{"algorithm", "binpacking.to_constant_volume"},
                               {"pack_length", pack_length},
                               {"packing_interval", job.packing_interval},
                               {"packs", rep.packs},
                               {"truncated_packs", truncated_packs}};
        manifest["packs"] = packer->groups();
    }
    std::ofstream mf((fs::path(job.out_dir) / "manifest.json").string(), std::ios::binary | std::ios::trunc);
    mf << manifest.dump(2) << "\n";
    if (!mf) RSCOVLM_THROW(io_error, "write_failed", "cannot write manifest.json in " + job.out_dir);
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return rep;
}

} // namespace rscovlm::engine
