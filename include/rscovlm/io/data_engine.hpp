#pragma once
/// \file io/data_engine.hpp
/// The file-facing half of the data engine: dataset readers that need image probing or XML
/// (DOTA folders, VOC XML), sample encoding (tokenizer + preprocessing + M-RoPE), a bounded
/// multi-threaded prefetching loader, and the outputs: conversations as JSON Lines and
/// pre-tokenized `.safetensors` shards with a JSON manifest (readable by the Python
/// `safetensors` package).

#include <rscovlm/data/builtin.hpp>
#include <rscovlm/data/dota.hpp>
#include <rscovlm/data/recipe.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/image/ops.hpp>
#include <rscovlm/io/image_io.hpp>
#include <rscovlm/io/safetensors.hpp>
#include <rscovlm/io/xml_annotations.hpp>
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

namespace rscovlm::io {

// ------------------------------------------------------------------------------------------ readers

/// DOTA-layout folder: `data_path` holds the images, `annotation_path` the `<id>.txt` files (an
/// image without a .txt has no objects). Image sizes are read from the file headers.
class dota_reader : public data::dataset_reader {
public:
    static constexpr std::string_view key = "reader.dota";
    static constexpr std::string_view summary = "DOTA folder: images + annfiles/<id>.txt (imagesource/gsd headers)";
    static constexpr std::string_view backend = "io";
    std::vector<data::record> read(const data::dataset_source& s) const override {
        namespace fs = std::filesystem;
        if (!fs::is_directory(s.data_path)) RSCOVLM_THROW(io_error, "not_a_directory", "image folder '" + s.data_path + "' does not exist");
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(s.data_path)) {
            const std::string ext = e.path().extension().string();
            if (ext == ".png" || ext == ".jpg" || ext == ".JPG" || ext == ".jpeg" || ext == ".bmp" || ext == ".tif") files.push_back(e.path());
        }
        std::sort(files.begin(), files.end());
        std::vector<data::detection_record> recs;
        std::vector<std::string> classes;
        for (const auto& f : files) {
            data::detection_record r;
            r.image = f.string();
            const image_info info = probe_image(r.image);
            r.width = info.width;
            r.height = info.height;
            const fs::path txt = fs::path(s.annotation_path) / (f.stem().string() + ".txt");
            if (!s.annotation_path.empty() && fs::is_regular_file(txt)) {
                for (const auto& o : data::read_dota(txt.string()).objects) {
                    data::det_instance inst;
                    for (const auto& p : o.poly) {
                        inst.polygon.push_back(p.x);
                        inst.polygon.push_back(p.y);
                    }
                    inst.bbox = detail::polygon_box(inst.polygon);
                    inst.label = o.label;
                    inst.difficulty = o.difficulty;
                    if (std::find(classes.begin(), classes.end(), o.label) == classes.end()) classes.push_back(o.label);
                    r.objects.push_back(std::move(inst));
                }
            }
            recs.push_back(std::move(r));
        }
        // The DOTA-v1.0 class list when every label belongs to it (prompts list all 15 classes).
        bool all_v1 = true;
        for (const auto& c : classes)
            all_v1 = all_v1 && std::find(std::begin(data::dota_v1_classes), std::end(data::dota_v1_classes), c) != std::end(data::dota_v1_classes);
        std::vector<std::string> cls;
        if (all_v1)
            for (auto c : data::dota_v1_classes) cls.emplace_back(c);
        else
            cls = classes;
        std::vector<data::record> out;
        for (auto& r : recs) {
            r.classes = cls;
            out.emplace_back(std::move(r));
        }
        return out;
    }
    std::string_view component_key() const noexcept override { return key; }
};

/// VOC-style XML annotations (DIOR / DIOR-R, roLabelImg, HRSC2016): `annotation_path` is one
/// .xml file or a folder of them, `data_path` the image folder.
class voc_xml_reader : public data::dataset_reader {
public:
    static constexpr std::string_view key = "reader.voc_xml";
    static constexpr std::string_view summary = "VOC XML with bndbox/robndbox (DIOR-R) or HRSC2016 mbox_* (tinyxml2)";
    static constexpr std::string_view backend = "io";
    std::vector<data::record> read(const data::dataset_source& s) const override {
        namespace fs = std::filesystem;
        std::vector<fs::path> files;
        if (fs::is_directory(s.annotation_path)) {
            for (const auto& e : fs::directory_iterator(s.annotation_path))
                if (e.path().extension() == ".xml") files.push_back(e.path());
            std::sort(files.begin(), files.end());
        } else {
            files.push_back(s.annotation_path);
        }
        std::vector<data::detection_record> recs;
        std::vector<std::string> classes;
        for (const auto& f : files) {
            recs.push_back(read_xml_annotation(f.string(), s.data_path));
            for (const auto& o : recs.back().objects)
                if (std::find(classes.begin(), classes.end(), o.label) == classes.end()) classes.push_back(o.label);
        }
        std::vector<data::record> out;
        for (auto& r : recs) {
            r.classes = classes;
            out.emplace_back(std::move(r));
        }
        return out;
    }
    std::string_view component_key() const noexcept override { return key; }
};

/// Readers that need the io backends.
using data_readers = registry::type_list<dota_reader, voc_xml_reader>;
/// Every reader (core + io).
using all_data_readers = registry::concat_t<data::builtin_readers, data_readers>;

/// Makes any reader (core or io) by key.
inline std::unique_ptr<data::dataset_reader> make_any_reader(const std::string& key) {
    return registry::make<data::reader_kind, all_data_readers>(key, nlohmann::json::object());
}

/// Image size probe for `build_options::image_size`.
inline std::pair<int, int> image_size_of(const std::string& path) {
    const image_info i = probe_image(path);
    return {i.width, i.height};
}

// ------------------------------------------------------------------------------------------ encoding

/// Options of `encode_sample`.
struct sample_encode_options {
    std::size_t max_length = 6144;       ///< RSCoVLM's max_length; 0 = no truncation
    long long min_pixels = 64LL * 28 * 28;  ///< budget for images without a chosen size
    long long max_pixels = 1296LL * 28 * 28;
    bool keep_pixels = false;            ///< keep pixel_values (float32 [rows, 1176])
    int threads = 1;                     ///< threads per image preprocessing
};

/// One encoded training sample.
struct encoded_sample {
    std::vector<std::int32_t> input_ids;
    std::vector<std::int32_t> labels;
    std::vector<std::array<int, 3>> grid_thw;
    std::vector<float> pixel_values;     ///< when kept: concatenated [rows, 1176]
    std::size_t pixel_rows = 0;
    std::array<std::vector<std::int64_t>, 3> positions;  ///< M-RoPE (t, h, w)
    bool truncated = false;
    std::size_t original_length = 0;
};

/// Loads the pixels of an image reference (file, then the crop when set).
inline rscovlm::image load_image_ref(const data::image_ref& ref) {
    rscovlm::image img = load_image(ref.path);
    if (ref.crop) img = imaging::crop(img, (*ref.crop)[0], (*ref.crop)[1], (*ref.crop)[2], (*ref.crop)[3]);
    return img;
}

/// Encodes a conversation (RSCoVLM `process_to_train_qwen2_5_vl_with_default_chat_template`):
/// each image preprocessed at its chosen size (or the budget), `<|image_pad|>` runs sized from the
/// grids, assistant-only labels, truncation to max_length, M-RoPE positions. `load` supplies the
/// pixels of an image reference (default: `load_image_ref`).
inline encoded_sample encode_sample(const data::conversation& c, const tokenizer::bpe_tokenizer& tok, const sample_encode_options& o,
                                    const std::function<rscovlm::image(const data::image_ref&)>& load = {}) {
    encoded_sample s;
    tokenizer::conversation_options co;
    co.max_length = o.max_length;
    for (const auto& ref : c.images) {
        const rscovlm::image img = load ? load(ref) : load_image_ref(ref);
        resolution::preprocess_options po;
        po.min_pixels = o.min_pixels;
        po.max_pixels = o.max_pixels;
        po.threads = o.threads;
        if (ref.resized_width > 0 && ref.resized_height > 0) {
            resolution::size rs;
            rs.height = ref.resized_height;
            rs.width = ref.resized_width;
            po.resized = rs;
        }
        resolution::preprocess_result pr = resolution::preprocess(img, po);
        s.grid_thw.push_back(pr.grid_thw);
        co.image_grid_thw.push_back({pr.grid_thw[0], pr.grid_thw[1], pr.grid_thw[2]});
        if (o.keep_pixels) {
            s.pixel_values.insert(s.pixel_values.end(), pr.pixel_values.begin(), pr.pixel_values.end());
            s.pixel_rows += pr.rows;
        }
    }
    const nlohmann::json messages = nlohmann::json::parse(c.messages.dump());
    tokenizer::conversation_encoding enc = tokenizer::encode_conversation(tok, messages, co);
    s.input_ids = std::move(enc.input_ids);
    s.labels = std::move(enc.labels);
    s.truncated = enc.truncated;
    s.original_length = enc.original_length;
    std::vector<std::int64_t> ids(s.input_ids.begin(), s.input_ids.end());
    // Truncation may drop whole vision blocks: keep the grids of the blocks that remain.
    std::vector<std::array<int, 3>> grids = s.grid_thw;
    if (s.truncated) {
        const auto vs = tok.token_to_id("<|vision_start|>");
        std::size_t blocks = 0;
        for (auto id : ids) blocks += vs && id == *vs;
        grids.resize(std::min(grids.size(), blocks));
        if (grids.size() < s.grid_thw.size()) {
            // Drop the images whose blocks were cut off, with their pixel rows.
            std::size_t rows = 0;
            for (const auto& g : grids) rows += static_cast<std::size_t>(g[0]) * static_cast<std::size_t>(g[1]) * static_cast<std::size_t>(g[2]);
            s.grid_thw = grids;
            if (o.keep_pixels) {
                s.pixel_values.resize(rows * 1176);
                s.pixel_rows = rows;
            }
        }
    }
    s.positions = resolution::get_rope_index(ids, grids).position_ids;
    return s;
}

// ------------------------------------------------------------------------------------------ loader

/// Bounded, ordered, multi-threaded prefetching: `produce(i)` runs on worker threads for the
/// positions 0..count-1, at most `capacity` ahead of the consumer; `next()` returns results in
/// order (an exception of `produce` is rethrown there).
template <class T>
class prefetch_loader {
public:
    prefetch_loader(std::size_t count, std::function<T(std::size_t)> produce, std::size_t capacity = 8, int threads = 2)
        : m_count(count), m_produce(std::move(produce)), m_capacity(std::max<std::size_t>(1, capacity)) {
        const int n = std::max(1, threads);
        for (int t = 0; t < n; ++t) m_workers.emplace_back([this] { work(); });
    }
    ~prefetch_loader() {
        {
            std::lock_guard<std::mutex> lock(m_mu);
            m_stop = true;
        }
        m_cv.notify_all();
        for (auto& w : m_workers) w.join();
    }
    prefetch_loader(const prefetch_loader&) = delete;
    prefetch_loader& operator=(const prefetch_loader&) = delete;

    /// The next result in order, or nullopt at the end.
    std::optional<T> next() {
        std::unique_lock<std::mutex> lock(m_mu);
        if (m_consumed >= m_count) return std::nullopt;
        m_cv.wait(lock, [&] { return m_ready.count(m_consumed) != 0 || m_errors.count(m_consumed) != 0; });
#if RSCOVLM_HAS_EXCEPTIONS
        if (m_errors.count(m_consumed)) {
            std::exception_ptr e = m_errors[m_consumed];
            m_stop = true;
            m_cv.notify_all();
            std::rethrow_exception(e);
        }
#endif
        T v = std::move(m_ready[m_consumed]);
        m_ready.erase(m_consumed);
        ++m_consumed;
        m_cv.notify_all();
        return v;
    }

private:
    void work() {
        for (;;) {
            std::size_t i = 0;
            {
                std::unique_lock<std::mutex> lock(m_mu);
                m_cv.wait(lock, [&] { return m_stop || m_next >= m_count || m_next < m_consumed + m_capacity; });
                if (m_stop || m_next >= m_count) return;
                i = m_next++;
            }
#if RSCOVLM_HAS_EXCEPTIONS
            try {
                T v = m_produce(i);
                std::lock_guard<std::mutex> lock(m_mu);
                m_ready.emplace(i, std::move(v));
            } catch (...) {
                std::lock_guard<std::mutex> lock(m_mu);
                m_errors.emplace(i, std::current_exception());
            }
#else
            T v = m_produce(i);
            {
                std::lock_guard<std::mutex> lock(m_mu);
                m_ready.emplace(i, std::move(v));
            }
#endif
            m_cv.notify_all();
        }
    }
    std::size_t m_count;
    std::function<T(std::size_t)> m_produce;
    std::size_t m_capacity;
    std::size_t m_next = 0, m_consumed = 0;
    bool m_stop = false;
    std::mutex m_mu;
    std::condition_variable m_cv;
    std::map<std::size_t, T> m_ready;
    std::map<std::size_t, std::exception_ptr> m_errors;
    std::vector<std::thread> m_workers;
};

// ------------------------------------------------------------------------------------------ outputs

/// The JSON Lines record of a conversation: index, dataset, task, images (path, sizes, crop) and messages.
inline nlohmann::ordered_json conversation_json(const data::conversation& c, std::size_t index) {
    nlohmann::ordered_json j;
    j["index"] = index;
    j["dataset"] = c.dataset;
    j["task"] = c.task;
    nlohmann::ordered_json imgs = nlohmann::ordered_json::array();
    for (const auto& r : c.images) {
        nlohmann::ordered_json im;
        im["path"] = r.path;
        im["width"] = r.width;
        im["height"] = r.height;
        im["resized_width"] = r.resized_width;
        im["resized_height"] = r.resized_height;
        if (r.crop) im["crop"] = {(*r.crop)[0], (*r.crop)[1], (*r.crop)[2], (*r.crop)[3]};
        imgs.push_back(im);
    }
    j["images"] = imgs;
    j["messages"] = c.messages;
    return j;
}

/// Writes encoded samples as safetensors shards `shard-00000.safetensors`, ... Each shard holds
/// `input_ids` / `labels` (I32, concatenated), `sample_offsets` (I64, n + 1), `position_ids`
/// (I64, [3, tokens]), `image_grid_thw` (I32, [images, 3]), `image_offsets` (I64, n + 1),
/// `sample_index` (I64: index in the mixture), `truncated` (U8) and, when pixels are kept,
/// `pixel_values` (BF16, [rows, 1176]) with `pixel_offsets` (I64, images + 1).
class shard_writer {
public:
    shard_writer(std::string dir, std::size_t samples_per_shard) : m_dir(std::move(dir)), m_per_shard(std::max<std::size_t>(1, samples_per_shard)) {
        std::filesystem::create_directories(m_dir);
    }
    void add(const encoded_sample& s, std::size_t index) {
        if (m_offsets.empty()) {
            m_offsets.push_back(0);
            m_img_offsets.push_back(0);
            m_pix_offsets.push_back(0);
        }
        m_ids.insert(m_ids.end(), s.input_ids.begin(), s.input_ids.end());
        m_labels.insert(m_labels.end(), s.labels.begin(), s.labels.end());
        for (int a = 0; a < 3; ++a) m_pos[static_cast<std::size_t>(a)].insert(m_pos[static_cast<std::size_t>(a)].end(), s.positions[static_cast<std::size_t>(a)].begin(), s.positions[static_cast<std::size_t>(a)].end());
        m_offsets.push_back(static_cast<std::int64_t>(m_ids.size()));
        for (const auto& g : s.grid_thw) m_grids.insert(m_grids.end(), g.begin(), g.end());
        m_img_offsets.push_back(static_cast<std::int64_t>(m_grids.size() / 3));
        m_index.push_back(static_cast<std::int64_t>(index));
        m_trunc.push_back(s.truncated ? 1 : 0);
        if (!s.pixel_values.empty()) {
            for (float v : s.pixel_values) m_pixels.push_back(safetensors::f32_to_bf16(v));
            std::size_t rows = 0;
            for (const auto& g : s.grid_thw) {
                rows += static_cast<std::size_t>(g[0]) * static_cast<std::size_t>(g[1]) * static_cast<std::size_t>(g[2]);
                m_pix_offsets.push_back(static_cast<std::int64_t>(m_pix_rows + rows));
            }
            m_pix_rows += rows;
        }
        m_tokens += s.input_ids.size();
        if (m_index.size() >= m_per_shard) flush();
    }
    /// Writes the pending shard (if any).
    void flush() {
        if (m_index.empty()) return;
        namespace st = safetensors;
        char name[64];
        std::snprintf(name, sizeof(name), "shard-%05zu.safetensors", m_files.size());
        std::vector<std::int64_t> pos;
        pos.reserve(m_ids.size() * 3);
        for (const auto& a : m_pos) pos.insert(pos.end(), a.begin(), a.end());
        const auto n = static_cast<std::int64_t>(m_index.size()), t = static_cast<std::int64_t>(m_ids.size());
        std::vector<st::tensor_view> views = {
            st::make_view("input_ids", st::dtype::i32, {t}, m_ids),
            st::make_view("labels", st::dtype::i32, {t}, m_labels),
            st::make_view("sample_offsets", st::dtype::i64, {n + 1}, m_offsets),
            st::make_view("position_ids", st::dtype::i64, {3, t}, pos),
            st::make_view("image_grid_thw", st::dtype::i32, {static_cast<std::int64_t>(m_grids.size() / 3), 3}, m_grids),
            st::make_view("image_offsets", st::dtype::i64, {n + 1}, m_img_offsets),
            st::make_view("sample_index", st::dtype::i64, {n}, m_index),
            st::make_view("truncated", st::dtype::u8, {n}, m_trunc),
        };
        if (!m_pixels.empty()) {
            views.push_back(st::make_view("pixel_values", st::dtype::bf16, {static_cast<std::int64_t>(m_pix_rows), 1176}, m_pixels));
            views.push_back(st::make_view("pixel_offsets", st::dtype::i64, {static_cast<std::int64_t>(m_pix_offsets.size())}, m_pix_offsets));
        }
        st::write((std::filesystem::path(m_dir) / name).string(), views,
                  {{"format", "rscovlm.shard.v1"}, {"samples", std::to_string(n)}, {"tokens", std::to_string(t)}});
        m_files.push_back(nlohmann::json{{"file", name}, {"samples", n}, {"tokens", t}});
        m_ids.clear();
        m_labels.clear();
        m_offsets.clear();
        for (auto& a : m_pos) a.clear();
        m_grids.clear();
        m_img_offsets.clear();
        m_index.clear();
        m_trunc.clear();
        m_pixels.clear();
        m_pix_offsets.clear();
        m_pix_rows = 0;
    }
    /// Shard list (after flush): [{"file", "samples", "tokens"}].
    const nlohmann::json& files() const noexcept { return m_files; }
    std::size_t tokens() const noexcept { return m_tokens; }

private:
    std::string m_dir;
    std::size_t m_per_shard;
    std::vector<std::int32_t> m_ids, m_labels, m_grids;
    std::vector<std::int64_t> m_offsets, m_img_offsets, m_index, m_pix_offsets;
    std::array<std::vector<std::int64_t>, 3> m_pos;
    std::vector<std::uint8_t> m_trunc;
    std::vector<std::uint16_t> m_pixels;
    std::size_t m_pix_rows = 0;
    std::size_t m_tokens = 0;
    nlohmann::json m_files = nlohmann::json::array();
};

// ------------------------------------------------------------------------------------------ build

/// A co-training build: recipe -> mixture -> this rank's samples -> conversations (+ shards).
struct build_job {
    nlohmann::json recipe;             ///< RSCoVLM recipe (name, all%P, or list)
    data::dataset_catalog catalog;     ///< registered datasets
    std::string base_dir;              ///< relative paths of custom recipe entries are resolved here
    data::build_options build;
    std::uint64_t seed = 0;            ///< sampler and per-sample generator seed
    std::uint64_t epoch = 0;
    std::size_t rank = 0, world_size = 1;
    bool shuffle = true;
    bool balanced = false;
    std::size_t limit = 0;             ///< build at most this many samples of this rank (0 = all)
    std::string out_dir;
    std::string tokenizer_path;        ///< empty: conversations only
    sample_encode_options encode;
    std::size_t samples_per_shard = 512;
    std::size_t pack_length = 0;       ///< > 0: greedy packing plan of samples into this many tokens
    int threads = 2;                   ///< encoding threads (prefetching loader)
    /// Pixels of an image reference (default: read the file).
    std::function<rscovlm::image(const data::image_ref&)> image_loader;
};

/// What a build produced.
struct build_report {
    std::size_t dataset_size = 0;      ///< samples in the whole mixture
    std::size_t samples = 0;           ///< samples built by this rank
    std::size_t tokens = 0;
    std::size_t supervised_tokens = 0;
    std::size_t truncated = 0;
    std::vector<std::size_t> part_sizes;
    nlohmann::json shards = nlohmann::json::array();
    double seconds = 0;
};

/// Runs a build: writes `conversations.jsonl`, shards and `manifest.json` into `out_dir`.
inline build_report build_dataset(const build_job& job, const std::function<void(std::size_t, std::size_t)>& progress = {}) {
    namespace fs = std::filesystem;
    const auto t0 = std::chrono::steady_clock::now();
    data::dataset_catalog catalog = job.catalog;
    const std::vector<data::dataset_config> configs = data::resolve_recipe(job.recipe, catalog, job.base_dir);
    const data::mixture mix = data::load_mixture(configs, [](const std::string& k) { return make_any_reader(k); }, job.balanced, job.epoch,
                                                job.build.prob_open_end_prompts, job.seed);
    data::distributed_sampler sampler(mix.size(), job.world_size, job.rank, job.shuffle, job.seed);
    sampler.set_epoch(job.epoch);
    std::vector<std::size_t> order = sampler.indices();
    if (job.limit > 0 && order.size() > job.limit) order.resize(job.limit);
    data::build_options bo = job.build;
    if (!bo.image_size) bo.image_size = image_size_of;
    if (!bo.load_image) bo.load_image = [](const std::string& p) { return load_image(p, load_options{false, imaging::rgb_mode::composite, 0}); };

    build_report rep;
    rep.dataset_size = mix.size();
    for (const auto& p : mix.parts) rep.part_sizes.push_back(p.size());
    fs::create_directories(job.out_dir);
    std::ofstream jsonl((fs::path(job.out_dir) / "conversations.jsonl").string(), std::ios::binary | std::ios::trunc);
    if (!jsonl) RSCOVLM_THROW(io_error, "write_failed", "cannot write " + (fs::path(job.out_dir) / "conversations.jsonl").string());

    std::optional<tokenizer::bpe_tokenizer> tok;
    if (!job.tokenizer_path.empty()) tok = tokenizer::bpe_tokenizer::from_file(job.tokenizer_path);
    struct item {
        data::conversation conv;
        std::optional<encoded_sample> enc;
    };
    auto produce = [&](std::size_t k) {
        item it;
        it.conv = mix.build(order[k], bo, job.seed);
        if (tok) it.enc = encode_sample(it.conv, *tok, job.encode, job.image_loader);
        return it;
    };
    shard_writer shards((fs::path(job.out_dir)).string(), job.samples_per_shard);
    std::vector<std::size_t> lengths;
    {
        prefetch_loader<item> loader(order.size(), produce, 8, job.threads);
        std::size_t k = 0;
        while (auto it = loader.next()) {
            jsonl << conversation_json(it->conv, order[k]).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
            if (it->enc) {
                rep.tokens += it->enc->input_ids.size();
                for (std::size_t t = 0; t < it->enc->labels.size(); ++t) rep.supervised_tokens += it->enc->labels[t] != -100;
                rep.truncated += it->enc->truncated ? 1 : 0;
                lengths.push_back(it->enc->input_ids.size());
                shards.add(*it->enc, order[k]);
            }
            ++k;
            ++rep.samples;
            if (progress) progress(k, order.size());
        }
    }
    shards.flush();
    rep.shards = shards.files();
    nlohmann::ordered_json manifest;
    manifest["format"] = "rscovlm.shard.v1";
    manifest["recipe"] = job.recipe;
    manifest["dataset_size"] = rep.dataset_size;
    manifest["rank"] = job.rank;
    manifest["world_size"] = job.world_size;
    manifest["epoch"] = job.epoch;
    manifest["seed"] = job.seed;
    manifest["sampler_state"] = {{"epoch", job.epoch}, {"position", rep.samples}};
    manifest["max_length"] = job.encode.max_length;
    manifest["tokenizer"] = job.tokenizer_path;
    manifest["samples"] = rep.samples;
    manifest["tokens"] = rep.tokens;
    manifest["supervised_tokens"] = rep.supervised_tokens;
    manifest["truncated"] = rep.truncated;
    manifest["parts"] = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < mix.parts.size(); ++i)
        manifest["parts"].push_back({{"dataset_type", mix.parts[i].dataset_type}, {"builder", mix.parts[i].builder_key}, {"samples", mix.parts[i].size()}});
    manifest["shards"] = rep.shards;
    manifest["conversations"] = "conversations.jsonl";
    if (job.pack_length > 0) {
        // Greedy packing in order: a pack closes when the next sample would overflow it.
        nlohmann::json packs = nlohmann::json::array(), cur = nlohmann::json::array();
        std::size_t used = 0;
        for (std::size_t i = 0; i < lengths.size(); ++i) {
            if (!cur.empty() && used + lengths[i] > job.pack_length) {
                packs.push_back(cur);
                cur = nlohmann::json::array();
                used = 0;
            }
            cur.push_back(i);
            used += lengths[i];
        }
        if (!cur.empty()) packs.push_back(cur);
        manifest["pack_length"] = job.pack_length;
        manifest["packs"] = packs;
    }
    std::ofstream mf((fs::path(job.out_dir) / "manifest.json").string(), std::ios::binary | std::ios::trunc);
    mf << manifest.dump(2) << "\n";
    if (!mf) RSCOVLM_THROW(io_error, "write_failed", "cannot write manifest.json in " + job.out_dir);
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return rep;
}

}  // namespace rscovlm::io
