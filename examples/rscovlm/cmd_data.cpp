// Subcommands of the data module: `rscovlm data sample-scene|split|build|inspect`, and its demo step.
#include "cli.hpp"

#include <rscovlm/data/all.hpp>
#include <rscovlm/detail/py/file.hpp>
#include <rscovlm/engine/all.hpp>
#include <rscovlm/engine/shard_reader.hpp>
#include <rscovlm/engine/split.hpp>
#include <rscovlm/imaging/ops.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/io/image_source.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

namespace rscovlm::cli {

namespace {

namespace fs = std::filesystem;

/// Writes `<dir>/<stem>.png` (when `png`) and `<dir>/<stem>.txt` (DOTA) for a scene.
void write_scene(const data::scene& s, const std::string& dir, const std::string& stem, bool png,
                 const std::string& txt_dir = {}) {
    fs::create_directories(dir);
    if (png) io::save_png((fs::path(dir) / (stem + ".png")).string(), s.image);
    data::dota_write_options wo;
    wo.image_source = "rscovlm-synthetic";
    wo.gsd = 0.5;
    const std::string td = txt_dir.empty() ? dir : txt_dir;
    fs::create_directories(td);
    data::write_dota((fs::path(td) / (stem + ".txt")).string(), s.objects, wo);
}

std::string class_summary(const std::vector<data::dota_object>& objs) {
    std::map<std::string, int> counts;
    for (const auto& o : objs)
        ++counts[o.label];
    std::string out;
    for (const auto& kv : counts)
        out += (out.empty() ? "" : ", ") + kv.first + " " + std::to_string(kv.second);
    return out;
}

std::string default_tokenizer(const std::string& data_dir) {
    const fs::path p = fs::path(data_dir) / "tokenizer" / "qwen" / "tokenizer.json";
    return fs::exists(p) ? p.string() : std::string();
}

std::string read_text(const std::string& path) {
    return ::rscovlm::detail::py::read_file_or_throw(path, "open_failed", "cannot open " + path);
}

/// Tokens [b, e) rendered for humans: `<|image_pad|>` runs collapsed to `<|image_pad|>*N`,
/// supervised spans (label != -100) wrapped in [[...]] (green on a terminal).
std::string render_tokens(const std::vector<std::int32_t>& ids, const std::vector<std::int32_t>& labels, std::size_t b,
                          std::size_t e, const tokenizer::bpe_tokenizer& tok, bool color, std::size_t& supervised) {
    const auto pad = tok.token_to_id("<|image_pad|>");
    const std::string on = color ? "\x1b[32m" : "[[", off = color ? "\x1b[0m" : "]]";
    std::string text;
    std::size_t k = b;
    while (k < e) {
        const bool sup = labels[k] != -100;
        std::vector<std::int32_t> run;
        std::size_t pads = 0;
        std::string chunk;
        while (k < e && (labels[k] != -100) == sup) {
            const std::int32_t id = ids[k];
            if (pad && id == *pad) {
                ++pads;
            } else {
                if (pads) {
                    chunk += tok.decode(run) + "<|image_pad|>*" + std::to_string(pads);
                    run.clear();
                    pads = 0;
                }
                run.push_back(id);
            }
            if (sup) ++supervised;
            ++k;
        }
        if (pads) {
            chunk += tok.decode(run) + "<|image_pad|>*" + std::to_string(pads);
            run.clear();
        }
        chunk += tok.decode(run);
        text += sup ? on + chunk + off : chunk;
    }
    return text;
}

/// A shard sample rendered for humans: special runs collapsed, supervised spans marked.
struct rendered_sample {
    std::string text;
    std::size_t tokens = 0, supervised = 0;
    nlohmann::json grids = nlohmann::json::array();
    nlohmann::json input_ids, labels;
    bool truncated = false;
    std::int64_t index = 0;
};

rendered_sample render_shard_sample(const engine::shard_reader& shard, std::size_t i,
                                    const tokenizer::bpe_tokenizer& tok, bool color) {
    const engine::shard_sample s = shard.sample(i, false);
    rendered_sample r;
    r.tokens = s.input_ids.size();
    r.index = s.index;
    r.truncated = s.truncated;
    for (const auto& g : s.grid_thw)
        r.grids.push_back(g);
    r.text = render_tokens(s.input_ids, s.labels, 0, s.input_ids.size(), tok, color, r.supervised);
    r.input_ids = s.input_ids;
    r.labels = s.labels;
    return r;
}

/// One pack of a packed shard (`pack-*.safetensors`), member by member.
nlohmann::json render_pack(const engine::shard_reader& shard, std::size_t i, const tokenizer::bpe_tokenizer& tok,
                           bool color) {
    const engine::shard_pack p = shard.pack(i, false);
    nlohmann::json j;
    j["pack"] = i;
    j["tokens"] = p.input_ids.size();
    j["truncated"] = p.truncated;
    j["cu_seqlens"] = p.cu_seqlens;
    nlohmann::json grids = nlohmann::json::array();
    for (const auto& g : p.grid_thw)
        grids.push_back(g);
    j["grids"] = grids;
    nlohmann::json samples = nlohmann::json::array();
    std::size_t supervised = 0;
    for (const auto& m : p.members) {
        nlohmann::json s;
        s["index"] = m.index;
        s["length"] = m.length;
        // A member past the cut has no boundary left.
        if (m.span) {
            const auto sb = static_cast<std::size_t>(m.span->first), se = static_cast<std::size_t>(m.span->second);
            std::size_t sup = 0;
            s["begin"] = sb;
            s["end"] = se;
            s["text"] = render_tokens(p.input_ids, p.labels, sb, se, tok, color, sup);
            s["supervised_tokens"] = sup;
            supervised += sup;
        }
        samples.push_back(s);
    }
    j["supervised_tokens"] = supervised;
    j["samples"] = samples;
    j["input_ids"] = p.input_ids;
    j["labels"] = p.labels;
    return j;
}

void register_sample_scene(CLI::App& group, context& ctx) {
    struct args_t {
        std::string out = ".";
        std::string name;
        std::uint64_t seed = 0;
        int width = 1024, height = 1024;
        bool uhr = false;
        double density = -1;
        std::vector<std::string> classes;
        bool geotiff = false;
        int epsg = 32633, tile = 256;
        std::vector<double> origin{399960.0, 5400000.0};
        double gsd = 0.5;
    };
    auto a = std::make_shared<args_t>();
    auto* cmd = group.add_subcommand(
        "sample-scene", "Generate a deterministic synthetic aerial scene (PNG or tiled GeoTIFF + DOTA txt)");
    cmd->add_option("--out", a->out, "Output directory")->capture_default_str();
    cmd->add_option("--name", a->name, "File stem (default synthetic_<seed>_<W>x<H>)");
    cmd->add_option("--seed", a->seed, "Random seed")->capture_default_str();
    cmd->add_option("--width", a->width, "Width in pixels")->capture_default_str();
    cmd->add_option("--height", a->height, "Height in pixels")->capture_default_str();
    cmd->add_flag("--uhr", a->uhr, "Ultra-high-resolution preset (12000x9000)");
    cmd->add_option("--density", a->density, "Objects per megapixel");
    cmd->add_option("--classes", a->classes, "Classes to draw (default: the 15 DOTA-v1.0 classes)")->delimiter(',');
    cmd->add_flag("--geotiff", a->geotiff,
                  "Write a tiled, deflate-compressed GeoTIFF with internal overviews (2, 4, ... down to 256 px) and "
                  "a north-up geotransform instead of the PNG (needs GDAL)");
    cmd->add_option("--epsg", a->epsg, "GeoTIFF: EPSG code of the CRS (default UTM zone 33N)")->capture_default_str();
    cmd->add_option("--origin", a->origin, "GeoTIFF: map coordinates X,Y of the top-left corner")
        ->delimiter(',')
        ->expected(2)
        ->capture_default_str();
    cmd->add_option("--gsd", a->gsd, "GeoTIFF: ground size of a pixel in CRS units")->capture_default_str();
    cmd->add_option("--tile", a->tile, "GeoTIFF: tile size")->capture_default_str();
    cmd->callback([&ctx, a] {
#if !RSCOVLM_HAS_GDAL
        if (a->geotiff)
            RSCOVLM_THROW(io_error, "gdal_unsupported", "--geotiff needs GDAL, and rscovlm was built without it");
#endif
        data::scene_options o = a->uhr ? data::scene_options::uhr(a->seed) : data::scene_options::normal(a->seed);
        if (!a->uhr) {
            o.width = a->width;
            o.height = a->height;
        }
        if (a->density >= 0) o.objects_per_megapixel = a->density;
        o.classes = a->classes;
        const data::scene s = data::make_scene(o);
        const std::string stem = a->name.empty() ? s.name : a->name;
        write_scene(s, a->out, stem, !a->geotiff);
        std::string image_path = (fs::path(a->out) / (stem + ".png")).string();
#if RSCOVLM_HAS_GDAL
        if (a->geotiff) {
            image_path = (fs::path(a->out) / (stem + ".tif")).string();
            io::geotiff_options go;
            go.tile = a->tile;
            go.overviews = io::overview_factors(s.image.width, s.image.height);
            io::write_geotiff(image_path, s.image, io::make_georef(a->epsg, a->origin[0], a->origin[1], a->gsd), go);
        }
#endif
        (*ctx.out) << nlohmann::json{{"image", image_path},
                                     {"annotations", (fs::path(a->out) / (stem + ".txt")).string()},
                                     {"width", s.image.width},
                                     {"height", s.image.height},
                                     {"objects", s.objects.size()}}
                          .dump()
                   << "\n";
    });
}

void register_split(CLI::App& group, context& ctx) {
    struct args_t {
        std::vector<std::string> images, annotations;
        std::string out, manifest, coco, ext = ".png";
        std::vector<int> sizes{1024}, gaps{200};
        std::vector<double> rates{1.0};
        double img_rate_thr = 0.6, iof_thr = 0.7;
        std::vector<int> pad{0};
        bool no_padding = false;
        int threads = 0;
        int png_level = -1;
    };
    auto a = std::make_shared<args_t>();
    auto* cmd = group.add_subcommand(
        "split", "Split DOTA-layout images + annfiles into patches exactly like mmrotate's img_split.py");
    cmd->add_option("--images", a->images, "Image folder(s) (--img-dirs)")->required();
    cmd->add_option("--annotations", a->annotations, "DOTA annotation folder(s), one per image folder (--ann-dirs)");
    cmd->add_option("--out", a->out, "Output folder; OUT/images and OUT/annfiles are created")->required();
    cmd->add_option("--size", a->sizes, "Window size(s)")->capture_default_str();
    cmd->add_option("--gap", a->gaps, "Overlap(s) between windows, one per size")->capture_default_str();
    cmd->add_option("--rates", a->rates, "Scale rate(s): windows of int(size / rate)")->capture_default_str();
    cmd->add_option("--img-rate-thr", a->img_rate_thr, "Minimal in-image share of a window")->capture_default_str();
    cmd->add_option("--iof-thr", a->iof_thr, "Minimal IoF of an object with a window")->capture_default_str();
    cmd->add_option("--pad", a->pad, "Padding value, one or one per channel in BGR order (mmrotate's --padding-value)")
        ->delimiter(',')
        ->capture_default_str();
    cmd->add_flag("--no-padding", a->no_padding, "Do not pad border patches to the window size");
    cmd->add_option("--ext", a->ext, "Patch image extension: .png or .jpg")->capture_default_str();
    cmd->add_option("--threads", a->threads, "Worker threads (0 = all cores)")->capture_default_str();
    cmd->add_option("--png-level", a->png_level, "PNG zlib level 0-9 (-1: encoder default); pixels are unaffected")
        ->capture_default_str();
    cmd->add_option("--manifest", a->manifest,
                    "Also write one JSON line per patch (id, window, size, sha256 of the RGB pixels)");
    cmd->add_option("--coco", a->coco, "Also write a COCO json of the patches (quad segmentations)");
    cmd->callback([&ctx, a] {
        engine::split_job job;
        job.image_dirs = a->images;
        job.ann_dirs = a->annotations;
        job.out_dir = a->out;
        job.options.sizes = a->sizes;
        job.options.gaps = a->gaps;
        job.options.rates = a->rates;
        job.options.img_rate_thr = a->img_rate_thr;
        job.options.iof_thr = a->iof_thr;
        job.options.padding = !a->no_padding;
        job.options.padding_value_bgr = a->pad;
        job.save_ext = a->ext;
        job.threads = a->threads;
        job.png_compression_level = a->png_level;
        job.hash_pixels = !a->manifest.empty();
        job.coco_json = a->coco;
        std::unique_ptr<progress> pb;
        const engine::split_report rep = engine::split_dota(job, [&](std::size_t, std::size_t total, std::size_t) {
            if (!pb) pb = std::make_unique<progress>(ctx, "split", total);
            pb->tick();
        });
        if (pb) pb->done();
        if (!a->manifest.empty()) {
            std::ofstream m(a->manifest, std::ios::binary | std::ios::trunc);
            for (const auto& p : rep.patches)
                m << nlohmann::json{{"name", p.file},
                                    {"id", p.id},
                                    {"ori_id", p.ori_id},
                                    {"window_size", p.window_size},
                                    {"x_start", p.x_start},
                                    {"y_start", p.y_start},
                                    {"width", p.width},
                                    {"height", p.height},
                                    {"channels", p.channels},
                                    {"objects", p.objects},
                                    {"sha256_rgb", p.sha256_rgb}}
                         .dump()
                  << "\n";
            if (!m) RSCOVLM_THROW(io_error, "write_failed", "cannot write manifest " + a->manifest);
        }
        (*ctx.out) << nlohmann::json{{"images", rep.images},
                                     {"patches", rep.patches.size()},
                                     {"objects", rep.objects},
                                     {"missing_annotations", rep.missing_annotations},
                                     {"skipped_lines", rep.skipped_lines},
                                     {"seconds", rep.seconds}}
                          .dump()
                   << "\n";
    });
}

void register_build(CLI::App& group, context& ctx) {
    struct args_t {
        std::string recipe, catalog, out, tokenizer, resolution, answer_codec;
        std::size_t rank = 0, world_size = 1, limit = 0, shard_size = 512, max_length = 6144, pack_length = 0,
                    packing_interval = 64, resume_position = 0;
        std::uint64_t seed = 0, epoch = 0;
        long long min_pixels = resolution::budget_multitask.min_pixels,
                  max_pixels = resolution::budget_multitask.max_pixels;
        double prob_random_resize = 0.0, prob_plain = 0.5, prob_proxy = 0.5, prob_open_end = 0.0;
        bool no_encode = false, balanced = false, no_shuffle = false, pixels = false, disable_visual_cot = false,
             pack = false, confine_to_root = false;
        int threads = 2;
    };
    auto a = std::make_shared<args_t>();
    auto* cmd = group.add_subcommand(
        "build", "Build co-training samples from a recipe: conversations (JSON Lines) and token shards");
    cmd->add_option(
           "--recipe", a->recipe,
           "Recipe JSON: a list like RSCoVLM's ([\"name*2\", \"name%50\", {custom config}]), a name, \"all%P\", "
           "or {\"recipe\": ..., \"catalog\": {...}}")
        ->required();
    cmd->add_option("--catalog", a->catalog, "Dataset catalog JSON {name: {annotation_path, data_path, dataset_type}}");
    cmd->add_flag("--confine-to-root", a->confine_to_root,
                  "Refuse (rscovlm.data.path_outside_root) record image paths that leave their dataset's data_path "
                  "after normalisation, '..' and symbolic links included (LLaVA, LLaVA-OneVision, LRS-VQA)");
    cmd->add_option("--out", a->out, "Output folder (conversations.jsonl, shard-*.safetensors, manifest.json)")
        ->required();
    cmd->add_option("--rank", a->rank, "This rank (DistributedSampler)")->capture_default_str();
    cmd->add_option("--world-size", a->world_size, "Number of ranks")->capture_default_str();
    cmd->add_option("--seed", a->seed, "Sampler / prompt seed")->capture_default_str();
    cmd->add_option("--epoch", a->epoch, "Sampler epoch")->capture_default_str();
    cmd->add_option("--limit", a->limit, "Build at most N samples of this rank (0 = all)")->capture_default_str();
    cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.json or model folder (default: the bundled one)");
    cmd->add_flag("--no-encode", a->no_encode, "Write conversations only (no tokenization, no shards)");
    cmd->add_option("--max-length", a->max_length, "Truncate samples to this many tokens (0 = never)")
        ->capture_default_str();
    cmd->add_option("--min-pixels", a->min_pixels, "Image budget: min pixels")->capture_default_str();
    cmd->add_option("--max-pixels", a->max_pixels, "Image budget: max pixels")->capture_default_str();
    cmd->add_option("--prob-random-resize", a->prob_random_resize, "RSCoVLM random-resize probability")
        ->capture_default_str();
    cmd->add_option("--prob-plain-text-prompt", a->prob_plain, "Probability of plain-text targets")
        ->capture_default_str();
    cmd->add_option("--prob-proxy-prompt", a->prob_proxy, "Probability of proxy prompt templates")
        ->capture_default_str();
    cmd->add_option(
           "--prob-open-end-prompts", a->prob_open_end,
           "Share of detection images with open-ended prompts and synonym labels (needs the dataset's synonyms_dict)")
        ->capture_default_str();
    cmd->add_option(
        "--resolution", a->resolution,
        "Resolution strategy for every dataset instead of each type's default (RSCoVLM's): a registry key or "
        "{\"key\": \"resize.square\", \"params\": {\"size\": 448}}; a catalog entry's own \"resolution\" wins");
    cmd->add_flag("--disable-visual-cot", a->disable_visual_cot, "LRS-VQA samples without the zoom step");
    cmd->add_option("--answer-codec", a->answer_codec,
                    "Box codec key that writes every detection answer with its own prompts (default: RSCoVLM's "
                    "plain/JSON draw)");
    cmd->add_flag(
        "--balanced", a->balanced,
        "LMMRotate balanced concat: each recipe entry repeated round(largest/size) times, the epoch's sample drawn");
    cmd->add_flag("--no-shuffle", a->no_shuffle, "Keep the mixture order");
    cmd->add_option("--shard-size", a->shard_size, "Samples (packs with --pack) per shard")->capture_default_str();
    cmd->add_flag("--pack", a->pack,
                  "Pack samples like RSCoVLM --packing_data (binpacking.to_constant_volume per packing interval) into "
                  "pack-*.safetensors rows with per-sample boundaries");
    cmd->add_option("--pack-length", a->pack_length,
                    "Tokens per pack (bin capacity and row limit; 0 = --max-length); implies --pack")
        ->capture_default_str();
    cmd->add_option("--packing-interval", a->packing_interval, "Samples buffered per bin-packing round")
        ->capture_default_str();
    cmd->add_option("--resume-position", a->resume_position,
                    "Skip the first N samples of this rank's epoch (manifest sampler_state.position)")
        ->capture_default_str();
    cmd->add_flag("--pixels", a->pixels, "Store pixel_values (bf16) in the shards");
    cmd->add_option("--threads", a->threads, "Encoding threads")->capture_default_str();
    cmd->callback([&ctx, a, cmd] {
        engine::build_job job;
        const nlohmann::json doc = data::detail::parse_json_text(read_text(a->recipe), a->recipe);
        job.base_dir = fs::path(a->recipe).parent_path().string();
        if (doc.is_object() && doc.contains("recipe")) {
            job.recipe = doc["recipe"];
            if (doc.contains("catalog")) job.catalog = data::dataset_catalog::from_json(doc["catalog"], job.base_dir);
        } else {
            job.recipe = doc;
        }
        if (!a->catalog.empty()) {
            const nlohmann::json cat = data::detail::parse_json_text(read_text(a->catalog), a->catalog);
            const data::dataset_catalog extra =
                data::dataset_catalog::from_json(cat, fs::path(a->catalog).parent_path().string());
            for (const auto& n : extra.names())
                job.catalog.add(n, extra.at(n));
        }
        job.confine_to_root = a->confine_to_root;
        // One parser for the recipe file's "options" and the flags: flags given on the command line
        // override the file's values.
        nlohmann::json options = doc.is_object() && doc.contains("options") ? doc["options"] : nlohmann::json::object();
        if (!options.is_object()) throw usage_error("bad_recipe", a->recipe + ": \"options\" must be a JSON object");
        auto given = [&](const char* flag) { return cmd->count(flag) > 0; };
        if (given("--min-pixels") || !options.contains("min_pixels")) options["min_pixels"] = a->min_pixels;
        if (given("--max-pixels") || !options.contains("max_pixels")) options["max_pixels"] = a->max_pixels;
        if (given("--prob-random-resize")) options["prob_random_resize"] = a->prob_random_resize;
        if (given("--prob-plain-text-prompt")) options["prob_plain_text_prompt"] = a->prob_plain;
        if (given("--prob-proxy-prompt")) options["prob_proxy_prompt"] = a->prob_proxy;
        if (given("--prob-open-end-prompts")) options["prob_open_end_prompts"] = a->prob_open_end;
        if (given("--disable-visual-cot")) options["disable_visual_cot"] = true;
        if (given("--answer-codec")) options["answer_codec"] = a->answer_codec;
        if (given("--resolution")) {
            const std::string& r = a->resolution;
            const bool is_json = r.find_first_of("{\"") != std::string::npos;
            options["resolution"] = is_json ? data::detail::parse_json_text(r, "--resolution") : nlohmann::json(r);
        }
        job.build = data::build_options_from_json(options);
        job.seed = a->seed;
        job.epoch = a->epoch;
        job.rank = a->rank;
        job.world_size = a->world_size;
        job.shuffle = !a->no_shuffle;
        job.balanced = a->balanced;
        job.limit = a->limit;
        job.out_dir = a->out;
        job.tokenizer_path =
            a->no_encode ? std::string() : (a->tokenizer.empty() ? default_tokenizer(ctx.data_dir) : a->tokenizer);
        if (!a->no_encode && job.tokenizer_path.empty())
            RSCOVLM_THROW(usage_error, "no_tokenizer",
                          "no tokenizer given and none bundled; pass --tokenizer or --no-encode");
        job.encode.max_length = a->max_length;
        job.encode.budget.min_pixels = a->min_pixels;
        job.encode.budget.max_pixels = a->max_pixels;
        job.encode.keep_pixels = a->pixels;
        job.samples_per_shard = a->shard_size;
        job.pack = a->pack || a->pack_length > 0;
        job.pack_length = a->pack_length;
        job.packing_interval = a->packing_interval;
        job.resume_position = a->resume_position;
        if (job.pack && a->no_encode)
            RSCOVLM_THROW(usage_error, "pack_without_encode", "--pack needs encoded samples; drop --no-encode");
        if (a->packing_interval == 0)
            RSCOVLM_THROW(usage_error, "bad_packing_interval", "--packing-interval must be > 0");
        job.threads = a->threads;
        std::unique_ptr<progress> pb;
        const engine::build_report rep = engine::build_dataset(job, [&](std::size_t, std::size_t total) {
            if (!pb) pb = std::make_unique<progress>(ctx, "build", total);
            pb->tick();
        });
        if (pb) pb->done();
        (*ctx.out) << nlohmann::json{{"dataset_size", rep.dataset_size},
                                     {"samples", rep.samples},
                                     {"tokens", rep.tokens},
                                     {"supervised_tokens", rep.supervised_tokens},
                                     {"truncated", rep.truncated},
                                     {"part_sizes", rep.part_sizes},
                                     {"shards", rep.shards},
                                     {"packs", rep.packs},
                                     {"seconds", rep.seconds}}
                          .dump()
                   << "\n";
    });
}

void register_inspect(CLI::App& group, context& ctx) {
    struct args_t {
        std::string shard, tokenizer;
        std::size_t index = 0;
        bool json = false;
    };
    auto a = std::make_shared<args_t>();
    auto* cmd = group.add_subcommand("inspect", "Print one sample (or pack, member by member) of a shard, supervised "
                                                "spans marked [[...]] (green on a terminal)");
    cmd->add_option("shard", a->shard, "A shard-*.safetensors or pack-*.safetensors file")->required();
    cmd->add_option("--index", a->index, "Sample (pack) index within the shard")->capture_default_str();
    cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.json (default: the manifest's, else the bundled one)");
    cmd->add_flag(
        "--json", a->json,
        "Print JSON: {index, tokens, supervised_tokens, grids, truncated, text, input_ids, labels}; for a pack "
        "{pack, tokens, cu_seqlens, grids, truncated, supervised_tokens, samples: [{index, length, begin, end, "
        "supervised_tokens, text}], input_ids, labels}");
    cmd->callback([&ctx, a] {
        std::string tp = a->tokenizer;
        if (tp.empty()) {
            const fs::path mf = fs::path(a->shard).parent_path() / "manifest.json";
            if (fs::exists(mf)) {
                const auto m = nlohmann::json::parse(read_text(mf.string()), nullptr, false);
                if (!m.is_discarded() && m.contains("tokenizer") && m["tokenizer"].is_string() &&
                    fs::exists(m["tokenizer"].get<std::string>()))
                    tp = m["tokenizer"].get<std::string>();
            }
        }
        if (tp.empty()) tp = default_tokenizer(ctx.data_dir);
        if (tp.empty()) RSCOVLM_THROW(usage_error, "no_tokenizer", "no tokenizer found; pass --tokenizer");
        const auto tok = tokenizer::bpe_tokenizer::from_file(tp);
        const bool color = !a->json && ::isatty(1) && ctx.out == &std::cout;
        const auto shard = engine::shard_reader::open(a->shard);
        if (shard.kind() == engine::shard_kind::packed) {
            nlohmann::json j = render_pack(shard, a->index, tok, color);
            if (a->json) {
                (*ctx.out) << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
                return;
            }
            (*ctx.out) << "pack " << a->index << ": " << j["tokens"] << " tokens, " << j["samples"].size()
                       << " samples, " << j["supervised_tokens"] << " supervised, cu_seqlens " << j["cu_seqlens"].dump()
                       << ", images " << j["grids"].dump()
                       << (j["truncated"].get<bool>() ? " (truncated to the pack length)" : "") << "\n";
            for (const auto& s : j["samples"]) {
                (*ctx.out) << "--- sample " << s["index"];
                if (s.contains("begin"))
                    (*ctx.out) << ": tokens [" << s["begin"] << ", " << s["end"] << "), " << s["supervised_tokens"]
                               << " supervised";
                else
                    (*ctx.out) << ": cut off by the pack length";
                (*ctx.out) << " (" << s["length"] << " tokens encoded)\n";
                if (s.contains("text")) (*ctx.out) << s["text"].get<std::string>() << "\n";
            }
            return;
        }
        const rendered_sample r = render_shard_sample(shard, a->index, tok, color);
        if (a->json) {
            (*ctx.out) << nlohmann::json{{"index", r.index},
                                         {"tokens", r.tokens},
                                         {"supervised_tokens", r.supervised},
                                         {"grids", r.grids},
                                         {"truncated", r.truncated},
                                         {"text", r.text},
                                         {"input_ids", r.input_ids},
                                         {"labels", r.labels}}
                              .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                       << "\n";
        } else {
            (*ctx.out) << "sample " << r.index << ": " << r.tokens << " tokens, " << r.supervised
                       << " supervised, images " << r.grids.dump() << (r.truncated ? " (truncated)" : "") << "\n"
                       << r.text << "\n";
        }
    });
}

} // namespace

void register_data(CLI::App& app, context& ctx) {
    auto& group = subcommand(app, "data", "Data engine: sample scenes, splitting, co-training samples");
    register_sample_scene(group, ctx);
    register_split(group, ctx);
    register_build(group, ctx);
    register_inspect(group, ctx);
}

void demo_data(demo_context& d) {
    // 1. The sample scenes every later demo step uses: a normal-size scene, then a UHR one.
    data::scene normal = data::make_scene(data::scene_options::normal(0));
    write_scene(normal, d.out_dir, "sample_scene", true);
    d.out << "sample scene " << normal.image.width << "x" << normal.image.height << ": " << normal.objects.size()
          << " objects (" << class_summary(normal.objects) << ")\n"
          << "  wrote " << (fs::path(d.out_dir) / "sample_scene.png").string() << " and sample_scene.txt (DOTA)\n";
    data::scene uhr = data::make_scene(data::scene_options::uhr(1));
    write_scene(uhr, d.out_dir, "sample_scene_uhr", false);
    const rscovlm::image preview =
        imaging::resize(uhr.image, uhr.image.width / 10, uhr.image.height / 10, rscovlm::image::filter::bilinear);
    io::save_png((fs::path(d.out_dir) / "sample_scene_uhr_preview.png").string(), preview);
    d.out << "UHR scene " << uhr.image.width << "x" << uhr.image.height << ": " << uhr.objects.size()
          << " objects; wrote sample_scene_uhr.txt and a 1/10 preview PNG\n";

    // 2. Offline splitting of the sample scene, as mmrotate's img_split does it.
    const fs::path src = fs::path(d.out_dir) / "data_src";
    write_scene(normal, (src / "images").string(), "sample_scene", true, (src / "annfiles").string());
    engine::split_job sj;
    sj.image_dirs = {(src / "images").string()};
    sj.ann_dirs = {(src / "annfiles").string()};
    sj.out_dir = (fs::path(d.out_dir) / "split_512").string();
    sj.options.sizes = {512};
    sj.options.gaps = {128};
    sj.options.padding_value_bgr = {104, 116, 124};
    const engine::split_report sr = engine::split_dota(sj);
    std::size_t kept = 0;
    for (const auto& p : sr.patches)
        kept += p.objects;
    d.out << "split 1024x1024 into " << sr.patches.size() << " patches of 512 (gap 128): " << kept
          << " object instances kept (truncated ones marked difficulty 2) in " << sj.out_dir << "\n";

    // 3. A small co-training shard: detection conversations of the patches (hbb, obb, polygon).
    engine::build_job job;
    data::dataset_config cfg;
    cfg.annotation_path = (fs::path(sj.out_dir) / "annfiles").string();
    cfg.data_path = (fs::path(sj.out_dir) / "images").string();
    cfg.dataset_type = "dense_det";
    cfg.reader = "reader.dota";
    job.catalog.add("sample_dota_patches", {cfg});
    job.recipe = nlohmann::json::array({"sample_dota_patches*1"});
    job.out_dir = (fs::path(d.out_dir) / "shard").string();
    job.tokenizer_path = fs::exists(d.tokenizer_path) ? d.tokenizer_path : std::string();
    job.limit = 6;
    job.seed = 0;
    job.samples_per_shard = 64;
    const engine::build_report br = engine::build_dataset(job);
    d.out << "co-training mixture: " << br.dataset_size << " samples (patches x {hbb, obb, polygon}); built "
          << br.samples << " for rank 0/1 -> " << job.out_dir << "/conversations.jsonl";
    if (!job.tokenizer_path.empty())
        d.out << " and " << br.shards.size() << " shard(s), " << br.tokens << " tokens (" << br.supervised_tokens
              << " supervised)";
    d.out << "\n";
    if (!job.tokenizer_path.empty() && !br.shards.empty()) {
        const auto tok = tokenizer::bpe_tokenizer::from_file(job.tokenizer_path);
        const rendered_sample r = render_shard_sample(
            engine::shard_reader::open((fs::path(job.out_dir) / br.shards[0]["file"].get<std::string>()).string()), 0,
            tok, false);
        std::string text = r.text;
        if (text.size() > 1500) text = text.substr(0, 1500) + " ...";
        d.out << "decoded sample " << r.index << " (" << r.tokens << " tokens, supervised span in [[...]]):\n"
              << text << "\n";
    }
    d.scenes.clear();
    d.scenes.push_back(std::move(normal));
    d.scenes.push_back(std::move(uhr));
}

} // namespace rscovlm::cli
