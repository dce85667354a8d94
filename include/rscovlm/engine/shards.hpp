#pragma once
/// \file engine/shards.hpp
/// Outputs of a build: conversations as JSON Lines and pre-tokenized `.safetensors` shards (plain and
/// packed) with a JSON manifest (readable by the Python `safetensors` package); read back with
/// `engine::shard_reader`.

#include <rscovlm/data/builtin.hpp>
#include <rscovlm/data/dota.hpp>
#include <rscovlm/data/packing.hpp>
#include <rscovlm/data/recipe.hpp>
#include <rscovlm/engine/encode.hpp>
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
        if (r.prefetched) im["prefetched"] = true;
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
    shard_writer(std::string dir, std::size_t samples_per_shard)
        : m_dir(std::move(dir)), m_per_shard(std::max<std::size_t>(1, samples_per_shard)) {
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
        for (int a = 0; a < 3; ++a)
            m_pos[static_cast<std::size_t>(a)].insert(m_pos[static_cast<std::size_t>(a)].end(),
                                                      s.position_ids[static_cast<std::size_t>(a)].begin(),
                                                      s.position_ids[static_cast<std::size_t>(a)].end());
        m_offsets.push_back(static_cast<std::int64_t>(m_ids.size()));
        for (const auto& g : s.image_grid_thw)
            m_grids.insert(m_grids.end(), g.begin(), g.end());
        m_img_offsets.push_back(static_cast<std::int64_t>(m_grids.size() / 3));
        m_index.push_back(static_cast<std::int64_t>(index));
        m_trunc.push_back(s.truncated ? 1 : 0);
        if (!s.pixel_values.empty()) {
            for (float v : s.pixel_values)
                m_pixels.push_back(io::safetensors::f32_to_bf16(v));
            std::size_t rows = 0;
            for (const auto& g : s.image_grid_thw) {
                rows +=
                    static_cast<std::size_t>(g[0]) * static_cast<std::size_t>(g[1]) * static_cast<std::size_t>(g[2]);
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
        namespace st = io::safetensors;
        char name[64];
        std::snprintf(name, sizeof(name), "shard-%05zu.safetensors", m_files.size());
        std::vector<std::int64_t> pos;
        pos.reserve(m_ids.size() * 3);
        for (const auto& a : m_pos)
            pos.insert(pos.end(), a.begin(), a.end());
        const auto n = static_cast<std::int64_t>(m_index.size()), t = static_cast<std::int64_t>(m_ids.size());
        std::vector<st::tensor_view> views = {
            st::make_view("input_ids", st::dtype::i32, {t}, m_ids),
            st::make_view("labels", st::dtype::i32, {t}, m_labels),
            st::make_view("sample_offsets", st::dtype::i64, {n + 1}, m_offsets),
            st::make_view("position_ids", st::dtype::i64, {3, t}, pos),
            st::make_view("image_grid_thw", st::dtype::i32, {static_cast<std::int64_t>(m_grids.size() / 3), 3},
                          m_grids),
            st::make_view("image_offsets", st::dtype::i64, {n + 1}, m_img_offsets),
            st::make_view("sample_index", st::dtype::i64, {n}, m_index),
            st::make_view("truncated", st::dtype::u8, {n}, m_trunc),
        };
        if (!m_pixels.empty()) {
            views.push_back(st::make_view("pixel_values", st::dtype::bf16,
                                          {static_cast<std::int64_t>(m_pix_rows), 1176}, m_pixels));
            views.push_back(st::make_view("pixel_offsets", st::dtype::i64,
                                          {static_cast<std::int64_t>(m_pix_offsets.size())}, m_pix_offsets));
        }
        if (!m_vgrids.empty()) {
            const auto nv = static_cast<std::int64_t>(m_vgrids.size() / 3);
            views.push_back(st::make_view("video_grid_thw", st::dtype::i32, {nv, 3}, m_vgrids));
            views.push_back(st::make_view("video_offsets", st::dtype::i64, {n + 1}, m_vid_offsets));
            views.push_back(st::make_view("second_per_grid_ts", st::dtype::f32, {nv}, m_spgt));
            if (!m_vpixels.empty()) {
                views.push_back(st::make_view("pixel_values_videos", st::dtype::bf16,
                                              {static_cast<std::int64_t>(m_vpix_rows), 1176}, m_vpixels));
                views.push_back(st::make_view("video_pixel_offsets", st::dtype::i64,
                                              {static_cast<std::int64_t>(m_vpix_offsets.size())}, m_vpix_offsets));
            }
        }
        st::write((std::filesystem::path(m_dir) / name).string(), views,
                  {{"format", "rscovlm.shard.v1"}, {"samples", std::to_string(n)}, {"tokens", std::to_string(t)}});
        m_files.push_back(nlohmann::json{{"file", name}, {"samples", n}, {"tokens", t}});
        m_ids.clear();
        m_labels.clear();
        m_offsets.clear();
        for (auto& a : m_pos)
            a.clear();
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
        for (const auto& g : s.video_grid_thw)
            m_vgrids.insert(m_vgrids.end(), g.begin(), g.end());
        m_vid_offsets.push_back(static_cast<std::int64_t>(m_vgrids.size() / 3));
        m_spgt.insert(m_spgt.end(), s.second_per_grid_ts.begin(), s.second_per_grid_ts.end());
        if (!s.pixel_values_videos.empty()) {
            for (float v : s.pixel_values_videos)
                m_vpixels.push_back(io::safetensors::f32_to_bf16(v));
            std::size_t rows = 0;
            for (const auto& g : s.video_grid_thw) {
                rows +=
                    static_cast<std::size_t>(g[0]) * static_cast<std::size_t>(g[1]) * static_cast<std::size_t>(g[2]);
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
    packed_shard_writer(std::string dir, std::size_t packs_per_shard)
        : m_dir(std::move(dir)), m_per_shard(std::max<std::size_t>(1, packs_per_shard)) {
        std::filesystem::create_directories(m_dir);
    }
    /// Adds a pack; `members` are the mixture indices of its members, in pack order.
    void add(const data::packed_sequence& p, const std::vector<std::size_t>& members) {
        if (members.size() != p.member_lengths.size())
            RSCOVLM_THROW(data_error, "bad_pack",
                          "pack has " + std::to_string(p.member_lengths.size()) + " members but " +
                              std::to_string(members.size()) + " indices");
        if (m_pack_offsets.empty()) {
            m_pack_offsets.push_back(0);
            m_cu_offsets.push_back(0);
            m_member_offsets.push_back(0);
            m_img_offsets.push_back(0);
            m_pix_offsets.push_back(0);
        }
        m_ids.insert(m_ids.end(), p.input_ids.begin(), p.input_ids.end());
        m_labels.insert(m_labels.end(), p.labels.begin(), p.labels.end());
        for (std::size_t a = 0; a < 3; ++a)
            m_pos[a].insert(m_pos[a].end(), p.position_ids[a].begin(), p.position_ids[a].end());
        m_pack_offsets.push_back(static_cast<std::int64_t>(m_ids.size()));
        m_cu.insert(m_cu.end(), p.cu_seqlens.begin(), p.cu_seqlens.end());
        m_cu_offsets.push_back(static_cast<std::int64_t>(m_cu.size()));
        for (std::size_t k = 0; k < members.size(); ++k) {
            m_members.push_back(static_cast<std::int64_t>(members[k]));
            m_member_len.push_back(static_cast<std::int64_t>(p.member_lengths[k]));
        }
        m_member_offsets.push_back(static_cast<std::int64_t>(m_members.size()));
        for (const auto& g : p.grid_thw)
            m_grids.insert(m_grids.end(), g.begin(), g.end());
        m_img_offsets.push_back(static_cast<std::int64_t>(m_grids.size() / 3));
        m_trunc.push_back(p.truncated ? 1 : 0);
        if (!p.pixel_values.empty()) {
            for (float v : p.pixel_values)
                m_pixels.push_back(io::safetensors::f32_to_bf16(v));
            std::size_t rows = 0;
            for (const auto& g : p.grid_thw) {
                rows +=
                    static_cast<std::size_t>(g[0]) * static_cast<std::size_t>(g[1]) * static_cast<std::size_t>(g[2]);
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
        namespace st = io::safetensors;
        char name[64];
        std::snprintf(name, sizeof(name), "pack-%05zu.safetensors", m_files.size());
        std::vector<std::int64_t> pos;
        pos.reserve(m_ids.size() * 3);
        for (const auto& a : m_pos)
            pos.insert(pos.end(), a.begin(), a.end());
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
            st::make_view("image_grid_thw", st::dtype::i32, {static_cast<std::int64_t>(m_grids.size() / 3), 3},
                          m_grids),
            st::make_view("image_offsets", st::dtype::i64, {P + 1}, m_img_offsets),
            st::make_view("truncated", st::dtype::u8, {P}, m_trunc),
        };
        if (!m_pixels.empty()) {
            views.push_back(st::make_view("pixel_values", st::dtype::bf16,
                                          {static_cast<std::int64_t>(m_pix_rows), 1176}, m_pixels));
            views.push_back(st::make_view("pixel_offsets", st::dtype::i64,
                                          {static_cast<std::int64_t>(m_pix_offsets.size())}, m_pix_offsets));
        }
        st::write((std::filesystem::path(m_dir) / name).string(), views,
                  {{"format", "rscovlm.packed_shard.v1"},
                   {"packs", std::to_string(P)},
                   {"samples", std::to_string(S)},
                   {"tokens", std::to_string(T)}});
        m_files.push_back(nlohmann::json{{"file", name}, {"packs", P}, {"samples", S}, {"tokens", T}});
        m_ids.clear();
        m_labels.clear();
        for (auto& a : m_pos)
            a.clear();
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
    std::vector<std::int64_t> m_pack_offsets, m_cu, m_cu_offsets, m_member_offsets, m_members, m_member_len,
        m_img_offsets, m_pix_offsets;
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
            for (const auto& it : g)
                m_pending.erase(it.id);
        }
    }
    data::packing_planner m_planner;
    data::flatten_options m_flatten;
    sink_fn m_sink;
    std::size_t m_next = 0;
    std::map<std::size_t, std::pair<encoded_sample, std::size_t>> m_pending;
    std::vector<std::vector<std::size_t>> m_groups;
};

} // namespace rscovlm::engine
