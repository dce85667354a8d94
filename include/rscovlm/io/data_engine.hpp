#pragma once
/// \file io/data_engine.hpp
/// The file-facing half of the data engine: dataset readers that need image probing or XML
/// (DOTA folders, VOC XML), sample encoding (tokenizer + preprocessing + M-RoPE), a bounded
/// multi-threaded prefetching loader, and the outputs: conversations as JSON Lines and
/// pre-tokenized `.safetensors` shards with a JSON manifest (readable by the Python
/// `safetensors` package).

#include <rscovlm/data/builtin.hpp>
#include <rscovlm/data/dota.hpp>
#include <rscovlm/data/packing.hpp>
#include <rscovlm/data/recipe.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/image/ops.hpp>
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

namespace rscovlm::io {

// ------------------------------------------------------------------------------------------ readers

/// DOTA-layout folder: `data_path` holds the images, `annotation_path` the `<id>.txt` files (an
/// image without a .txt has no objects). Image sizes are read from the file headers.
class dota_reader : public registry::component<dota_reader, data::dataset_reader> {
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
};

/// VOC-style XML annotations (DIOR / DIOR-R, roLabelImg, HRSC2016): `annotation_path` is one
/// .xml file or a folder of them, `data_path` the image folder.
class voc_xml_reader : public registry::component<voc_xml_reader, data::dataset_reader> {
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
    /// Budget for images without a chosen size (RSCoVLM multi-task training).
    resolution::budget budget = resolution::budget_multitask;
    bool keep_pixels = false;            ///< keep pixel_values (float32 [rows, 1176])
    int threads = 1;                     ///< threads per image preprocessing
    /// Videos (`{"type": "video", "video": path}` items): a frame directory or frame list file, read
    /// as a decoded video (see `io::load_video`) with these pipeline options.
    resolution::video_options video;
    /// Source fps of video frame folders that do not declare one (list files' `# fps = F`).
    std::optional<double> video_source_fps;

    /// The processor options these stand for (training mode).
    processor::options processor_options() const {
        processor::options po;
        po.mode = processor::mode::training;
        po.budget = budget;
        po.max_length = max_length;
        po.keep_pixels = keep_pixels;
        po.threads = threads;
        return po;
    }
};

/// One encoded training sample: the processor's encoding.
using encoded_sample = processor::encoding;

/// The video sources of a conversation's messages, in template order: the `video` value of every
/// content item the chat template renders as a video (`tokenizer::classify_content`), `file://` removed.
/// Throws `data_error` "bad_record" for a video item without a string `video` path.
inline std::vector<std::string> message_videos(const nlohmann::json& messages) {
    std::vector<std::string> out;
    if (!messages.is_array()) return out;
    for (const auto& m : messages) {
        if (!m.is_object()) continue;
        const auto c = m.find("content");
        if (c == m.end() || !c->is_array()) continue;
        for (const auto& item : *c) {
            if (tokenizer::classify_content(item) != tokenizer::content_kind::video) continue;
            const auto v = item.find("video");
            if (v == item.end() || !v->is_string())
                RSCOVLM_THROW(data_error, "bad_record", "a video content item needs a \"video\" path: " + item.dump());
            std::string path = v->get<std::string>();
            if (path.rfind("file://", 0) == 0) path = path.substr(7);
            out.push_back(std::move(path));
        }
    }
    return out;
}

/// Loads and preprocesses one video source for `encode_sample` (decoded-video path).
inline resolution::video_result load_video_for_sample(const std::string& path, const sample_encode_options& o) {
    video_load_options vo;
    vo.video = o.video;
    vo.video.threads = o.threads;
    vo.video.bf16 = false;
    frame_source src = open_frame_source(path);
    if (!src.fps) src.fps = o.video_source_fps;
    return load_video(src, vo);
}

/// Loads the pixels of an image reference (file, then the crop when set).
inline rscovlm::image load_image_ref(const data::image_ref& ref) {
    rscovlm::image img = load_image(ref.path);
    if (ref.crop) img = imaging::crop(img, (*ref.crop)[0], (*ref.crop)[1], (*ref.crop)[2], (*ref.crop)[3]);
    return img;
}

/// Encodes a conversation (RSCoVLM `process_to_train_qwen2_5_vl_with_default_chat_template`) with
/// `processor::qwen2_5_vl_processor` in training mode: each image at its chosen size (the builder's
/// resolution plan, `image_ref::resized_*`) or the budget, assistant-only labels, truncation to
/// max_length, M-RoPE positions. `load` supplies the pixels of an image reference (default:
/// `load_image_ref`); images are decoded one at a time.
///
/// Videos: every video item of the messages is loaded with `load_video` (default:
/// `load_video_for_sample`), its `<|video_pad|>` run sized from `video_grid_thw`, and its
/// `second_per_grid_ts` fed to the M-RoPE positions (Qwen2.5-VL rule).
inline encoded_sample encode_sample(const data::conversation& c, const tokenizer::bpe_tokenizer& tok, const sample_encode_options& o,
                                    const std::function<rscovlm::image(const data::image_ref&)>& load = {},
                                    const std::function<resolution::video_result(const std::string&)>& load_video = {}) {
    const processor::messages messages = processor::to_messages(c.messages);
    std::vector<resolution::video_result> videos;
    for (const std::string& v : message_videos(messages)) videos.push_back(load_video ? load_video(v) : load_video_for_sample(v, o));
    const processor::qwen2_5_vl_processor proc(tok, o.processor_options());
    return proc.encode(
        messages, c.images.size(),
        [&](std::size_t i) {
            const data::image_ref& ref = c.images[i];
            processor::image_input in{load ? load(ref) : load_image_ref(ref), std::nullopt};
            if (ref.resized_width > 0 && ref.resized_height > 0) in.resized = resolution::size{ref.resized_height, ref.resized_width};
            return in;
        },
        std::move(videos));
}

// ------------------------------------------------------------------------------------------ loader

/// Bounded, ordered, multi-threaded prefetching: `produce(i)` runs on `threads` worker threads for
/// the positions 0..count-1, at most `capacity` positions ahead of the consumer (results waiting or
/// in production); `next()` returns the results in position order whatever the thread timing.
/// Errors: an `rscovlm::error` thrown by `produce(i)` is rethrown by the `next()` that reaches
/// position i, with its type and id; any other exception becomes a `data_error`
/// `rscovlm.data.loader_worker_failed` naming the position. Once an error is reached, the workers
/// stop and every later `next()` rethrows it. `stop()` (also run by the destructor) ends the
/// workers early: it waits only for the `produce` calls already running, and `next()` then returns
/// nullopt instead of waiting.
template <class T>
class prefetch_loader {
public:
    prefetch_loader(std::size_t count, std::function<T(std::size_t)> produce, std::size_t capacity = 8, int threads = 2)
        : m_count(count), m_produce(std::move(produce)), m_capacity(std::max<std::size_t>(1, capacity)) {
        const int n = std::max(1, threads);
        for (int t = 0; t < n; ++t) m_workers.emplace_back([this] { work(); });
    }
    ~prefetch_loader() { stop(); }
    prefetch_loader(const prefetch_loader&) = delete;
    prefetch_loader& operator=(const prefetch_loader&) = delete;

    /// The next result in order, or nullopt at the end (or after `stop()`).
    std::optional<T> next() {
        std::unique_lock<std::mutex> lock(m_mu);
        if (m_consumed >= m_count) return std::nullopt;
        m_cv.wait(lock, [&] { return m_stop || m_ready.count(m_consumed) != 0 || m_errors.count(m_consumed) != 0; });
#if RSCOVLM_HAS_EXCEPTIONS
        auto err = m_errors.find(m_consumed);
        if (err != m_errors.end()) {
            std::exception_ptr e = err->second;
            m_stop = true;
            m_cv.notify_all();
            std::rethrow_exception(e);
        }
#endif
        if (m_stop) return std::nullopt;  // stopped: prefetched results are dropped
        auto it = m_ready.find(m_consumed);
        T v = std::move(it->second);
        m_ready.erase(it);
        ++m_consumed;
        m_cv.notify_all();
        return v;
    }
    /// Stops the workers (idempotent): no new position is started; running ones finish and are dropped.
    void stop() {
        {
            std::lock_guard<std::mutex> lock(m_mu);
            m_stop = true;
        }
        m_cv.notify_all();
        for (auto& w : m_workers)
            if (w.joinable()) w.join();
    }
    /// Results handed out so far.
    std::size_t position() const {
        std::lock_guard<std::mutex> lock(m_mu);
        return m_consumed;
    }
    /// `produce` calls started so far (at most position() + capacity).
    std::size_t started() const {
        std::lock_guard<std::mutex> lock(m_mu);
        return m_next;
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
            std::exception_ptr failure;
            std::optional<T> value;
            try {
                value.emplace(m_produce(i));
            } catch (const rscovlm::error&) {
                failure = std::current_exception();
            } catch (const std::exception& e) {
                failure = std::make_exception_ptr(
                    data_error("loader_worker_failed", "loading sample " + std::to_string(i) + " failed: " + e.what()));
            } catch (...) {
                failure = std::make_exception_ptr(
                    data_error("loader_worker_failed", "loading sample " + std::to_string(i) + " failed with a non-standard exception"));
            }
            {
                std::lock_guard<std::mutex> lock(m_mu);
                if (failure) m_errors.emplace(i, failure);
                else m_ready.emplace(i, std::move(*value));
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
    mutable std::mutex m_mu;
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
/// `pixel_values` (BF16, [rows, 1176]) with `pixel_offsets` (I64, images + 1). Shards holding videos
/// add `video_grid_thw` (I32, [videos, 3]), `video_offsets` (I64, n + 1), `second_per_grid_ts` (F32,
/// [videos]) and, when pixels are kept, `pixel_values_videos` (BF16, [rows, 1176]) with
/// `video_pixel_offsets` (I64, videos + 1).
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
            m_vid_offsets.push_back(0);
            m_vpix_offsets.push_back(0);
        }
        add_videos(s);
        m_ids.insert(m_ids.end(), s.input_ids.begin(), s.input_ids.end());
        m_labels.insert(m_labels.end(), s.labels.begin(), s.labels.end());
        for (int a = 0; a < 3; ++a) m_pos[static_cast<std::size_t>(a)].insert(m_pos[static_cast<std::size_t>(a)].end(), s.position_ids[static_cast<std::size_t>(a)].begin(), s.position_ids[static_cast<std::size_t>(a)].end());
        m_offsets.push_back(static_cast<std::int64_t>(m_ids.size()));
        for (const auto& g : s.image_grid_thw) m_grids.insert(m_grids.end(), g.begin(), g.end());
        m_img_offsets.push_back(static_cast<std::int64_t>(m_grids.size() / 3));
        m_index.push_back(static_cast<std::int64_t>(index));
        m_trunc.push_back(s.truncated ? 1 : 0);
        if (!s.pixel_values.empty()) {
            for (float v : s.pixel_values) m_pixels.push_back(safetensors::f32_to_bf16(v));
            std::size_t rows = 0;
            for (const auto& g : s.image_grid_thw) {
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
        if (!m_vgrids.empty()) {
            const auto nv = static_cast<std::int64_t>(m_vgrids.size() / 3);
            views.push_back(st::make_view("video_grid_thw", st::dtype::i32, {nv, 3}, m_vgrids));
            views.push_back(st::make_view("video_offsets", st::dtype::i64, {n + 1}, m_vid_offsets));
            views.push_back(st::make_view("second_per_grid_ts", st::dtype::f32, {nv}, m_spgt));
            if (!m_vpixels.empty()) {
                views.push_back(st::make_view("pixel_values_videos", st::dtype::bf16, {static_cast<std::int64_t>(m_vpix_rows), 1176}, m_vpixels));
                views.push_back(st::make_view("video_pixel_offsets", st::dtype::i64, {static_cast<std::int64_t>(m_vpix_offsets.size())}, m_vpix_offsets));
            }
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
        m_vgrids.clear();
        m_vid_offsets.clear();
        m_spgt.clear();
        m_vpixels.clear();
        m_vpix_offsets.clear();
        m_vpix_rows = 0;
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
    // Videos (written only when a shard holds one).
    void add_videos(const encoded_sample& s) {
        for (const auto& g : s.video_grid_thw) m_vgrids.insert(m_vgrids.end(), g.begin(), g.end());
        m_vid_offsets.push_back(static_cast<std::int64_t>(m_vgrids.size() / 3));
        m_spgt.insert(m_spgt.end(), s.second_per_grid_ts.begin(), s.second_per_grid_ts.end());
        if (!s.pixel_values_videos.empty()) {
            for (float v : s.pixel_values_videos) m_vpixels.push_back(safetensors::f32_to_bf16(v));
            std::size_t rows = 0;
            for (const auto& g : s.video_grid_thw) {
                rows += static_cast<std::size_t>(g[0]) * static_cast<std::size_t>(g[1]) * static_cast<std::size_t>(g[2]);
                m_vpix_offsets.push_back(static_cast<std::int64_t>(m_vpix_rows + rows));
            }
            m_vpix_rows += rows;
        }
    }
    std::vector<std::int32_t> m_vgrids;
    std::vector<std::int64_t> m_vid_offsets, m_vpix_offsets;
    std::vector<float> m_spgt;
    std::vector<std::uint16_t> m_vpixels;
    std::size_t m_vpix_rows = 0;
    nlohmann::json m_files = nlohmann::json::array();
};

// ------------------------------------------------------------------------------------------ packing

/// Writes packed rows (`data::packed_sequence`) as safetensors shards `pack-00000.safetensors`, ...
/// (metadata format `rscovlm.packed_shard.v1`). Per shard, with P packs, S members, I images:
///   `input_ids`, `labels` (I32 [T]), `position_ids` (I64 [3, T], restarting per member),
///   `pack_offsets` (I64 [P + 1], token offsets of the packs),
///   `cu_seqlens` (I64, every pack's flash-attention boundaries relative to the pack start, packs
///   concatenated) with `cu_seqlens_offsets` (I64 [P + 1]),
///   `member_offsets` (I64 [P + 1]) into `member_index` (I64 [S], mixture index of each member) and
///   `member_length` (I64 [S], tokens before truncation),
///   `image_grid_thw` (I32 [I, 3]) with `image_offsets` (I64 [P + 1]), `truncated` (U8 [P]) and,
///   when pixels are kept, `pixel_values` (BF16 [rows, 1176]) with `pixel_offsets` (I64 [I + 1]).
class packed_shard_writer {
public:
    packed_shard_writer(std::string dir, std::size_t packs_per_shard) : m_dir(std::move(dir)), m_per_shard(std::max<std::size_t>(1, packs_per_shard)) {
        std::filesystem::create_directories(m_dir);
    }
    /// Adds a pack; `members` are the mixture indices of its members, in pack order.
    void add(const data::packed_sequence& p, const std::vector<std::size_t>& members) {
        if (members.size() != p.member_lengths.size())
            RSCOVLM_THROW(data_error, "bad_pack", "pack has " + std::to_string(p.member_lengths.size()) + " members but " + std::to_string(members.size()) + " indices");
        if (m_pack_offsets.empty()) {
            m_pack_offsets.push_back(0);
            m_cu_offsets.push_back(0);
            m_member_offsets.push_back(0);
            m_img_offsets.push_back(0);
            m_pix_offsets.push_back(0);
        }
        m_ids.insert(m_ids.end(), p.input_ids.begin(), p.input_ids.end());
        m_labels.insert(m_labels.end(), p.labels.begin(), p.labels.end());
        for (std::size_t a = 0; a < 3; ++a) m_pos[a].insert(m_pos[a].end(), p.position_ids[a].begin(), p.position_ids[a].end());
        m_pack_offsets.push_back(static_cast<std::int64_t>(m_ids.size()));
        m_cu.insert(m_cu.end(), p.cu_seqlens.begin(), p.cu_seqlens.end());
        m_cu_offsets.push_back(static_cast<std::int64_t>(m_cu.size()));
        for (std::size_t k = 0; k < members.size(); ++k) {
            m_members.push_back(static_cast<std::int64_t>(members[k]));
            m_member_len.push_back(static_cast<std::int64_t>(p.member_lengths[k]));
        }
        m_member_offsets.push_back(static_cast<std::int64_t>(m_members.size()));
        for (const auto& g : p.grid_thw) m_grids.insert(m_grids.end(), g.begin(), g.end());
        m_img_offsets.push_back(static_cast<std::int64_t>(m_grids.size() / 3));
        m_trunc.push_back(p.truncated ? 1 : 0);
        if (!p.pixel_values.empty()) {
            for (float v : p.pixel_values) m_pixels.push_back(safetensors::f32_to_bf16(v));
            std::size_t rows = 0;
            for (const auto& g : p.grid_thw) {
                rows += static_cast<std::size_t>(g[0]) * static_cast<std::size_t>(g[1]) * static_cast<std::size_t>(g[2]);
                m_pix_offsets.push_back(static_cast<std::int64_t>(m_pix_rows + rows));
            }
            m_pix_rows += rows;
        }
        m_tokens += p.input_ids.size();
        ++m_packs;
        if (m_trunc.size() >= m_per_shard) flush();
    }
    /// Writes the pending shard (if any).
    void flush() {
        if (m_trunc.empty()) return;
        namespace st = safetensors;
        char name[64];
        std::snprintf(name, sizeof(name), "pack-%05zu.safetensors", m_files.size());
        std::vector<std::int64_t> pos;
        pos.reserve(m_ids.size() * 3);
        for (const auto& a : m_pos) pos.insert(pos.end(), a.begin(), a.end());
        const auto P = static_cast<std::int64_t>(m_trunc.size()), T = static_cast<std::int64_t>(m_ids.size());
        const auto S = static_cast<std::int64_t>(m_members.size());
        std::vector<st::tensor_view> views = {
            st::make_view("input_ids", st::dtype::i32, {T}, m_ids),
            st::make_view("labels", st::dtype::i32, {T}, m_labels),
            st::make_view("position_ids", st::dtype::i64, {3, T}, pos),
            st::make_view("pack_offsets", st::dtype::i64, {P + 1}, m_pack_offsets),
            st::make_view("cu_seqlens", st::dtype::i64, {static_cast<std::int64_t>(m_cu.size())}, m_cu),
            st::make_view("cu_seqlens_offsets", st::dtype::i64, {P + 1}, m_cu_offsets),
            st::make_view("member_offsets", st::dtype::i64, {P + 1}, m_member_offsets),
            st::make_view("member_index", st::dtype::i64, {S}, m_members),
            st::make_view("member_length", st::dtype::i64, {S}, m_member_len),
            st::make_view("image_grid_thw", st::dtype::i32, {static_cast<std::int64_t>(m_grids.size() / 3), 3}, m_grids),
            st::make_view("image_offsets", st::dtype::i64, {P + 1}, m_img_offsets),
            st::make_view("truncated", st::dtype::u8, {P}, m_trunc),
        };
        if (!m_pixels.empty()) {
            views.push_back(st::make_view("pixel_values", st::dtype::bf16, {static_cast<std::int64_t>(m_pix_rows), 1176}, m_pixels));
            views.push_back(st::make_view("pixel_offsets", st::dtype::i64, {static_cast<std::int64_t>(m_pix_offsets.size())}, m_pix_offsets));
        }
        st::write((std::filesystem::path(m_dir) / name).string(), views,
                  {{"format", "rscovlm.packed_shard.v1"}, {"packs", std::to_string(P)}, {"samples", std::to_string(S)}, {"tokens", std::to_string(T)}});
        m_files.push_back(nlohmann::json{{"file", name}, {"packs", P}, {"samples", S}, {"tokens", T}});
        m_ids.clear();
        m_labels.clear();
        for (auto& a : m_pos) a.clear();
        m_pack_offsets.clear();
        m_cu.clear();
        m_cu_offsets.clear();
        m_member_offsets.clear();
        m_members.clear();
        m_member_len.clear();
        m_grids.clear();
        m_img_offsets.clear();
        m_trunc.clear();
        m_pixels.clear();
        m_pix_offsets.clear();
        m_pix_rows = 0;
    }
    /// Shard list (after flush): [{"file", "packs", "samples", "tokens"}].
    const nlohmann::json& files() const noexcept { return m_files; }
    std::size_t tokens() const noexcept { return m_tokens; }
    std::size_t packs() const noexcept { return m_packs; }

private:
    std::string m_dir;
    std::size_t m_per_shard;
    std::vector<std::int32_t> m_ids, m_labels, m_grids;
    std::array<std::vector<std::int64_t>, 3> m_pos;
    std::vector<std::int64_t> m_pack_offsets, m_cu, m_cu_offsets, m_member_offsets, m_members, m_member_len, m_img_offsets, m_pix_offsets;
    std::vector<std::uint8_t> m_trunc;
    std::vector<std::uint16_t> m_pixels;
    std::size_t m_pix_rows = 0;
    std::size_t m_tokens = 0, m_packs = 0;
    nlohmann::json m_files = nlohmann::json::array();
};

/// Streams encoded samples (in arrival order) through the RSCoVLM packing plan
/// (`data::packing_planner`) and flattens every closed group into a packed row
/// (`data::flatten_pack`), handing it to `sink(row, member mixture indices)`. Only the planner's
/// buffer (about `packing_interval` samples) is held in memory.
class sample_packer {
public:
    using sink_fn = std::function<void(const data::packed_sequence&, const std::vector<std::size_t>&)>;
    sample_packer(data::packing_options po, data::flatten_options fo, sink_fn sink)
        : m_planner(po), m_flatten(fo), m_sink(std::move(sink)) {}
    /// Adds the next sample; `index` is its mixture index (recorded in the pack).
    void add(encoded_sample s, std::size_t index) {
        const std::size_t id = m_next++;
        const std::size_t len = s.input_ids.size();
        m_pending.emplace(id, std::make_pair(std::move(s), index));
        emit(m_planner.add({id, len}));
    }
    /// Packs and emits what is left.
    void finish() { emit(m_planner.finish()); }
    /// Groups emitted so far, as mixture indices.
    const std::vector<std::vector<std::size_t>>& groups() const noexcept { return m_groups; }

private:
    void emit(const std::vector<std::vector<data::packing_item>>& groups) {
        for (const auto& g : groups) {
            std::vector<const encoded_sample*> members;
            std::vector<std::size_t> index;
            for (const auto& it : g) {
                const auto& e = m_pending.at(it.id);
                members.push_back(&e.first);
                index.push_back(e.second);
            }
            const data::packed_sequence row = data::flatten_pack(members, m_flatten);
            m_sink(row, index);
            m_groups.push_back(index);
            for (const auto& it : g) m_pending.erase(it.id);
        }
    }
    data::packing_planner m_planner;
    data::flatten_options m_flatten;
    sink_fn m_sink;
    std::size_t m_next = 0;
    std::map<std::size_t, std::pair<encoded_sample, std::size_t>> m_pending;
    std::vector<std::vector<std::size_t>> m_groups;
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
    int threads = 2;                   ///< encoding threads (prefetching loader)
    /// Pixels of an image reference (default: read the file).
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
inline build_report build_dataset(const build_job& job, const std::function<void(std::size_t, std::size_t)>& progress = {}) {
    namespace fs = std::filesystem;
    const auto t0 = std::chrono::steady_clock::now();
    data::dataset_catalog catalog = job.catalog;
    const std::vector<data::dataset_config> configs = data::resolve_recipe(job.recipe, catalog, job.base_dir);
    const data::mixture mix = data::load_mixture(configs, [](const std::string& k) { return make_any_reader(k); }, job.balanced, job.epoch,
                                                job.build.prob_open_end_prompts, job.seed);
    data::distributed_sampler sampler(mix.size(), job.world_size, job.rank, job.shuffle, job.seed);
    sampler.set_epoch(job.epoch);
    sampler.restore(data::sampler_state{job.epoch, job.resume_position});
    std::vector<std::size_t> order = sampler.remaining();
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
            for (auto l : row.labels) packed_supervised += l != data::ignore_index;
            pack_shards->add(row, members);
        });
    }
    {
        prefetch_loader<item> loader(order.size(), produce, 8, job.threads);
        std::size_t k = 0;
        while (auto it = loader.next()) {
            jsonl << conversation_json(it->conv, order[k]).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
            if (it->enc) {
                rep.tokens += it->enc->input_ids.size();
                for (std::size_t t = 0; t < it->enc->labels.size(); ++t) rep.supervised_tokens += it->enc->labels[t] != -100;
                rep.truncated += it->enc->truncated ? 1 : 0;
                if (packer) packer->add(std::move(*it->enc), order[k]);
                else shards.add(*it->enc, order[k]);
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
        manifest["parts"].push_back({{"dataset_type", mix.parts[i].dataset_type}, {"builder", mix.parts[i].builder_key}, {"samples", mix.parts[i].size()}});
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

}  // namespace rscovlm::io
