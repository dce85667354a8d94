#pragma once
/// \file
/// Reader of the token shards written by `engine::shard_writer` (`shard-*.safetensors`, format
/// `rscovlm.shard.v1`) and `engine::packed_shard_writer` (`pack-*.safetensors`, format
/// `rscovlm.packed_shard.v1`): typed access to each sample (or pack) of a shard.
///
/// Everything is validated when the shard is opened, before any element is read: every tensor the
/// writer writes is present with exactly the writer's dtype and shape, every offsets tensor starts at
/// 0, never decreases and ends at the length of the tensor it indexes, the per-sample tensors agree
/// on the number of samples, image grids are positive and the pixel rows match them. A shard that
/// breaks any of these raises `rscovlm::data_error` naming the tensor and what was wrong (the file
/// itself, when it is not a valid safetensors file, raises the `io_error` of `io::safetensors`):
/// never an out-of-bounds read.
///
/// Depends on io/ (safetensors): not part of the core umbrella or of the single header.

#include <rscovlm/errors.hpp>
#include <rscovlm/io/safetensors.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rscovlm::engine {

/// Values of the `format` metadata entry written by the shard writers.
inline constexpr const char* shard_format = "rscovlm.shard.v1";
inline constexpr const char* packed_shard_format = "rscovlm.packed_shard.v1";
/// Width of a row of `pixel_values` / `pixel_values_videos` (3 channels x 2 frames x 14 x 14).
inline constexpr std::int64_t shard_pixel_row = 1176;

/// Plain shards hold one encoded sample per entry; packed shards hold packed rows (several samples).
enum class shard_kind { plain, packed };

using shard_grid = std::array<std::int32_t, 3>; ///< (t, h, w) of one image or video

/// One sample of a plain shard.
struct shard_sample {
    std::size_t position = 0;                              ///< index within the shard
    std::int64_t index = 0;                                ///< `sample_index`: index in the mixture
    bool truncated = false;                                ///< cut to the maximum length when encoded
    std::vector<std::int32_t> input_ids, labels;           ///< labels: -100 where not supervised
    std::array<std::vector<std::int64_t>, 3> position_ids; ///< M-RoPE positions (t, h, w)
    std::vector<shard_grid> grid_thw;                      ///< one per image
    std::vector<float> pixel_values;                       ///< [rows x 1176] (bf16 widened); empty without pixels
    std::vector<shard_grid> video_grid_thw;                ///< one per video
    std::vector<float> second_per_grid_ts;                 ///< one per video
    std::vector<float> pixel_values_videos;                ///< [rows x 1176]; empty without video pixels
};

/// One member (sample) of a pack.
struct shard_pack_member {
    std::int64_t index = 0;  ///< `member_index`: index in the mixture
    std::int64_t length = 0; ///< `member_length`: tokens before the pack was cut
    /// Token range [begin, end) within the pack (from `cu_seqlens`); none for a member the cut removed.
    std::optional<std::pair<std::int64_t, std::int64_t>> span;
};

/// One packed row of a packed shard.
struct shard_pack {
    std::size_t position = 0; ///< index within the shard
    bool truncated = false;   ///< the members were longer than the pack
    std::vector<std::int32_t> input_ids, labels;
    std::array<std::vector<std::int64_t>, 3> position_ids; ///< restarting at each member
    std::vector<std::int64_t> cu_seqlens;                  ///< member boundaries relative to the pack start
    std::vector<shard_pack_member> members;
    std::vector<shard_grid> grid_thw;
    std::vector<float> pixel_values; ///< [rows x 1176]; empty without pixels
};

/// A validated shard (plain or packed). Views stay valid while the reader lives.
class shard_reader {
public:
    /// Opens and validates `path`; data_error (or io_error for a file that is not safetensors) when malformed.
    static shard_reader open(const std::string& path) { return shard_reader(io::safetensors::file::open(path)); }
    /// Non-throwing `open`.
    static result<shard_reader> try_open(const std::string& path) {
        return try_call([&] { return open(path); });
    }
    /// Validates an already opened safetensors file (e.g. `io::safetensors::file::from_bytes`).
    explicit shard_reader(io::safetensors::file f) : m_file(std::move(f)) { validate(); }

    shard_kind kind() const noexcept { return m_kind; }
    /// Samples (plain shard) or packs (packed shard).
    std::size_t size() const noexcept { return m_count; }
    /// Tokens in the whole shard.
    std::size_t tokens() const noexcept { return m_tokens; }
    /// Members of all packs (packed) or samples (plain).
    std::size_t samples() const noexcept { return m_kind == shard_kind::packed ? m_members : m_count; }
    bool has_pixels() const noexcept { return m_pixels; }
    bool has_videos() const noexcept { return m_videos; }
    bool has_video_pixels() const noexcept { return m_video_pixels; }
    /// The underlying file (metadata, raw tensors).
    const io::safetensors::file& file() const noexcept { return m_file; }
    const std::string& path() const noexcept { return m_file.path(); }

    /// Token range [begin, end) of sample (plain) or pack (packed) `i` in the shard's token tensors.
    std::pair<std::size_t, std::size_t> token_range(std::size_t i) const {
        check_index(i);
        const auto& o = tensor(m_kind == shard_kind::packed ? "pack_offsets" : "sample_offsets");
        return {static_cast<std::size_t>(i64(o, i)), static_cast<std::size_t>(i64(o, i + 1))};
    }

    /// Sample `i` of a plain shard (data_error "not_plain_shard" on a packed one). With `pixels`
    /// false, the pixel tensors are not read.
    shard_sample sample(std::size_t i, bool pixels = true) const {
        if (m_kind != shard_kind::plain)
            RSCOVLM_THROW(data_error, "not_plain_shard", path() + " is a packed shard: read it by pack");
        check_index(i);
        shard_sample s;
        s.position = i;
        const auto [b, e] = token_range(i);
        s.index = i64(tensor("sample_index"), i);
        s.truncated = tensor("truncated").bytes()[i] != 0;
        read_tokens(b, e, s.input_ids, s.labels, s.position_ids);
        const auto [g0, g1] = range("image_offsets", i);
        s.grid_thw = grids("image_grid_thw", g0, g1);
        if (pixels && m_pixels) s.pixel_values = rows("pixel_values", "pixel_offsets", g0, g1);
        if (m_videos) {
            const auto [v0, v1] = range("video_offsets", i);
            s.video_grid_thw = grids("video_grid_thw", v0, v1);
            const auto& ts = tensor("second_per_grid_ts");
            for (auto v = v0; v < v1; ++v)
                s.second_per_grid_ts.push_back(f32(ts, v));
            if (pixels && m_video_pixels)
                s.pixel_values_videos = rows("pixel_values_videos", "video_pixel_offsets", v0, v1);
        }
        return s;
    }

    /// Pack `i` of a packed shard (data_error "not_packed_shard" on a plain one).
    shard_pack pack(std::size_t i, bool pixels = true) const {
        if (m_kind != shard_kind::packed)
            RSCOVLM_THROW(data_error, "not_packed_shard", path() + " is a plain shard: read it by sample");
        check_index(i);
        shard_pack p;
        p.position = i;
        const auto [b, e] = token_range(i);
        p.truncated = tensor("truncated").bytes()[i] != 0;
        read_tokens(b, e, p.input_ids, p.labels, p.position_ids);
        const auto [c0, c1] = range("cu_seqlens_offsets", i);
        const auto& cu = tensor("cu_seqlens");
        for (auto c = c0; c < c1; ++c)
            p.cu_seqlens.push_back(i64(cu, c));
        const auto [m0, m1] = range("member_offsets", i);
        const auto &mi = tensor("member_index"), &ml = tensor("member_length");
        for (auto m = m0; m < m1; ++m) {
            shard_pack_member mem;
            mem.index = i64(mi, m);
            mem.length = i64(ml, m);
            const std::size_t k = m - m0;
            // A member past the cut has no boundary left (never with binpacking, which gives
            // over-long samples their own bin).
            if (k + 1 < p.cu_seqlens.size()) mem.span = std::make_pair(p.cu_seqlens[k], p.cu_seqlens[k + 1]);
            p.members.push_back(mem);
        }
        const auto [g0, g1] = range("image_offsets", i);
        p.grid_thw = grids("image_grid_thw", g0, g1);
        if (pixels && m_pixels) p.pixel_values = rows("pixel_values", "pixel_offsets", g0, g1);
        return p;
    }

private:
    using view = io::safetensors::tensor_view;
    using dtype = io::safetensors::dtype;

    io::safetensors::file m_file;
    std::map<std::string, view, std::less<>> m_views;
    shard_kind m_kind = shard_kind::plain;
    std::size_t m_count = 0, m_tokens = 0, m_members = 0;
    bool m_pixels = false, m_videos = false, m_video_pixels = false;

    static std::int64_t i64(const view& v, std::size_t k) {
        std::int64_t x;
        std::memcpy(&x, v.bytes() + 8 * k, 8);
        return x;
    }
    static std::int32_t i32(const view& v, std::size_t k) {
        std::int32_t x;
        std::memcpy(&x, v.bytes() + 4 * k, 4);
        return x;
    }
    static float f32(const view& v, std::size_t k) {
        float x;
        std::memcpy(&x, v.bytes() + 4 * k, 4);
        return x;
    }

    const view& tensor(std::string_view name) const { return m_views.find(name)->second; }

    [[noreturn]] void bad(const char* code, const std::string& what) const {
        RSCOVLM_THROW(data_error, code, m_file.path() + ": " + what);
    }

    void check_index(std::size_t i) const {
        if (i >= m_count)
            RSCOVLM_THROW(data_error, "index_out_of_range",
                          m_file.path() + " holds " + std::to_string(m_count) +
                              (m_kind == shard_kind::packed ? " packs" : " samples") + ", asked for " +
                              std::to_string(i));
    }

    std::pair<std::size_t, std::size_t> range(std::string_view offsets, std::size_t i) const {
        const auto& o = tensor(offsets);
        return {static_cast<std::size_t>(i64(o, i)), static_cast<std::size_t>(i64(o, i + 1))};
    }

    std::vector<shard_grid> grids(std::string_view name, std::size_t g0, std::size_t g1) const {
        const auto& g = tensor(name);
        std::vector<shard_grid> out;
        for (auto k = g0; k < g1; ++k)
            out.push_back({i32(g, 3 * k), i32(g, 3 * k + 1), i32(g, 3 * k + 2)});
        return out;
    }

    std::vector<float> rows(std::string_view values, std::string_view offsets, std::size_t g0, std::size_t g1) const {
        const auto& o = tensor(offsets);
        const auto r0 = static_cast<std::size_t>(i64(o, g0)), r1 = static_cast<std::size_t>(i64(o, g1));
        const auto& v = tensor(values);
        const std::size_t w = static_cast<std::size_t>(shard_pixel_row);
        std::vector<float> out((r1 - r0) * w);
        for (std::size_t k = 0; k < out.size(); ++k) {
            std::uint16_t h;
            std::memcpy(&h, v.bytes() + 2 * (r0 * w + k), 2);
            out[k] = io::safetensors::bf16_to_f32(h);
        }
        return out;
    }

    void read_tokens(std::size_t b, std::size_t e, std::vector<std::int32_t>& ids, std::vector<std::int32_t>& labels,
                     std::array<std::vector<std::int64_t>, 3>& pos) const {
        const auto &iv = tensor("input_ids"), &lv = tensor("labels"), &pv = tensor("position_ids");
        ids.resize(e - b);
        labels.resize(e - b);
        if (e > b) {
            std::memcpy(ids.data(), iv.bytes() + 4 * b, 4 * (e - b));
            std::memcpy(labels.data(), lv.bytes() + 4 * b, 4 * (e - b));
        }
        for (std::size_t a = 0; a < 3; ++a) {
            pos[a].resize(e - b);
            if (e > b) std::memcpy(pos[a].data(), pv.bytes() + 8 * (a * m_tokens + b), 8 * (e - b));
        }
    }

    // ------------------------------------------------------------------------------ validation

    static std::string shape_text(const std::vector<std::int64_t>& s) {
        std::string out = "[";
        for (std::size_t k = 0; k < s.size(); ++k)
            out += (k ? ", " : "") + std::to_string(s[k]);
        return out + "]";
    }

    /// Records `name`, which must exist with dtype `type` and `rank` dimensions.
    const view& need(const char* name, dtype type, std::size_t rank, const char* what) {
        if (!m_file.contains(name)) bad("bad_shard", std::string("not an rscovlm ") + what + " (no '" + name + "')");
        view v = m_file.tensor(name);
        if (v.type != type)
            bad("shard_dtype", std::string("'") + name + "' is " + std::string(io::safetensors::dtype_name(v.type)) +
                                   ", the shard writer writes " + std::string(io::safetensors::dtype_name(type)));
        if (v.shape.size() != rank)
            bad("shard_shape", std::string("'") + name + "' has shape " + shape_text(v.shape) + ", expected " +
                                   std::to_string(rank) + " dimension" + (rank == 1 ? "" : "s"));
        return m_views.emplace(name, std::move(v)).first->second;
    }

    void expect_dim(const view& v, std::size_t d, std::int64_t want, const std::string& why) const {
        if (v.shape[d] != want)
            bad("shard_shape", "'" + v.name + "' has shape " + shape_text(v.shape) + ", expected " +
                                   std::to_string(want) + " along dimension " + std::to_string(d) + " (" + why + ")");
    }

    /// An offsets tensor of `count` + 1 entries into something of `total` elements: starts at 0,
    /// never decreases, ends at `total`.
    void check_offsets(const view& o, std::size_t count, std::int64_t total, const std::string& what) const {
        if (o.shape[0] < 1) bad("shard_offsets", "'" + o.name + "' is empty (it needs at least the leading 0)");
        expect_dim(o, 0, static_cast<std::int64_t>(count) + 1, "one more than the " + what);
        std::int64_t prev = 0;
        for (std::size_t k = 0; k <= count; ++k) {
            const std::int64_t x = i64(o, k);
            if (x < 0)
                bad("shard_offsets",
                    "'" + o.name + "'[" + std::to_string(k) + "] = " + std::to_string(x) + " is negative");
            if (k == 0 && x != 0) bad("shard_offsets", "'" + o.name + "' starts at " + std::to_string(x) + ", not 0");
            if (x < prev)
                bad("shard_offsets", "'" + o.name + "'[" + std::to_string(k) + "] = " + std::to_string(x) +
                                         " is below the entry before it (" + std::to_string(prev) + ")");
            if (x > total)
                bad("shard_offsets", "'" + o.name + "'[" + std::to_string(k) + "] = " + std::to_string(x) +
                                         " points past the " + std::to_string(total) + " elements it indexes");
            prev = x;
        }
        if (prev != total)
            bad("shard_offsets", "'" + o.name + "' ends at " + std::to_string(prev) + " but the data it indexes has " +
                                     std::to_string(total) + " elements");
    }

    /// [n, 3] grids of positive (t, h, w).
    void check_grids(const view& g) const {
        expect_dim(g, 1, 3, "t, h, w");
        for (std::int64_t k = 0; k < g.shape[0] * 3; ++k) {
            const std::int32_t x = i32(g, static_cast<std::size_t>(k));
            if (x <= 0)
                bad("shard_grid",
                    "'" + g.name + "' row " + std::to_string(k / 3) + " has a non-positive size " + std::to_string(x));
        }
    }

    /// Pixel rows and their per-grid offsets: [rows, 1176] BF16 and (grids + 1) offsets, each
    /// grid's row count being t * h * w.
    void check_pixels(const char* values, const char* offsets, const view& grid, const char* what) {
        const bool has_v = m_file.contains(values), has_o = m_file.contains(offsets);
        if (has_v != has_o)
            bad("bad_shard",
                std::string("'") + (has_v ? values : offsets) + "' comes without '" + (has_v ? offsets : values) + "'");
        if (!has_v) return;
        const view& v = need(values, dtype::bf16, 2, what);
        expect_dim(v, 1, shard_pixel_row, "pixel row width");
        const view& o = need(offsets, dtype::i64, 1, what);
        const auto n = static_cast<std::size_t>(grid.shape[0]);
        check_offsets(o, n, v.shape[0], std::string("rows of '") + grid.name + "'");
        for (std::size_t k = 0; k < n; ++k) {
            const std::int64_t want =
                static_cast<std::int64_t>(i32(grid, 3 * k)) * i32(grid, 3 * k + 1) * i32(grid, 3 * k + 2);
            const std::int64_t got = i64(o, k + 1) - i64(o, k);
            if (got != want)
                bad("shard_offsets", "'" + o.name + "' gives " + std::to_string(got) + " pixel rows to grid " +
                                         std::to_string(k) + " of '" + grid.name + "', whose t*h*w is " +
                                         std::to_string(want));
        }
    }

    /// A per-entry flag tensor: U8 [count] of 0 or 1.
    void check_flags(const view& t, std::size_t count, const std::string& what) const {
        expect_dim(t, 0, static_cast<std::int64_t>(count), "one per " + what);
        for (std::size_t k = 0; k < count; ++k)
            if (t.bytes()[k] > 1)
                bad("shard_value",
                    "'" + t.name + "'[" + std::to_string(k) + "] = " + std::to_string(t.bytes()[k]) + " is not 0 or 1");
    }

    void check_non_negative(const view& t) const {
        for (std::int64_t k = 0; k < t.shape[0]; ++k)
            if (i64(t, static_cast<std::size_t>(k)) < 0)
                bad("shard_value", "'" + t.name + "'[" + std::to_string(k) +
                                       "] = " + std::to_string(i64(t, static_cast<std::size_t>(k))) + " is negative");
    }

    /// input_ids, labels (I32 [T]) and position_ids (I64 [3, T]); sets m_tokens.
    void check_tokens(const char* what) {
        const view& ids = need("input_ids", dtype::i32, 1, what);
        const view& labels = need("labels", dtype::i32, 1, what);
        const view& pos = need("position_ids", dtype::i64, 2, what);
        const std::int64_t t = ids.shape[0];
        expect_dim(labels, 0, t, "one label per input id");
        expect_dim(pos, 0, 3, "t, h, w positions");
        expect_dim(pos, 1, t, "one position per input id");
        m_tokens = static_cast<std::size_t>(t);
    }

    void validate() {
        const auto& meta = m_file.metadata();
        const auto fmt = meta.find("format");
        if (fmt != meta.end() && fmt->second == packed_shard_format)
            m_kind = shard_kind::packed;
        else if (fmt != meta.end() && fmt->second != shard_format)
            bad("bad_shard", "unknown shard format '" + fmt->second + "' (expected " + shard_format + " or " +
                                 packed_shard_format + ")");
        if (m_kind == shard_kind::plain)
            validate_plain();
        else
            validate_packed();
    }

    void validate_plain() {
        const char* what = "shard";
        check_tokens(what);
        const view& so = need("sample_offsets", dtype::i64, 1, what);
        if (so.shape[0] < 1) bad("shard_offsets", "'sample_offsets' is empty (it needs at least the leading 0)");
        m_count = static_cast<std::size_t>(so.shape[0] - 1);
        check_offsets(so, m_count, static_cast<std::int64_t>(m_tokens), "samples");
        const view& grid = need("image_grid_thw", dtype::i32, 2, what);
        check_grids(grid);
        check_offsets(need("image_offsets", dtype::i64, 1, what), m_count, grid.shape[0], "samples");
        const view& index = need("sample_index", dtype::i64, 1, what);
        expect_dim(index, 0, static_cast<std::int64_t>(m_count), "one per sample");
        check_non_negative(index);
        check_flags(need("truncated", dtype::u8, 1, what), m_count, "sample");
        check_pixels("pixel_values", "pixel_offsets", grid, what);
        m_pixels = m_file.contains("pixel_values");

        // Videos: all three tensors or none.
        const bool vg = m_file.contains("video_grid_thw"), vo = m_file.contains("video_offsets"),
                   vt = m_file.contains("second_per_grid_ts");
        if (vg || vo || vt) {
            const view& vgrid = need("video_grid_thw", dtype::i32, 2, what);
            check_grids(vgrid);
            check_offsets(need("video_offsets", dtype::i64, 1, what), m_count, vgrid.shape[0], "samples");
            expect_dim(need("second_per_grid_ts", dtype::f32, 1, what), 0, vgrid.shape[0], "one per video");
            check_pixels("pixel_values_videos", "video_pixel_offsets", vgrid, what);
            m_videos = true;
            m_video_pixels = m_file.contains("pixel_values_videos");
        } else if (m_file.contains("pixel_values_videos") || m_file.contains("video_pixel_offsets")) {
            bad("bad_shard", "video pixels come without 'video_grid_thw'");
        }
    }

    void validate_packed() {
        const char* what = "packed shard";
        check_tokens(what);
        const view& po = need("pack_offsets", dtype::i64, 1, what);
        if (po.shape[0] < 1) bad("shard_offsets", "'pack_offsets' is empty (it needs at least the leading 0)");
        m_count = static_cast<std::size_t>(po.shape[0] - 1);
        check_offsets(po, m_count, static_cast<std::int64_t>(m_tokens), "packs");
        const view& cu = need("cu_seqlens", dtype::i64, 1, what);
        const view& cuo = need("cu_seqlens_offsets", dtype::i64, 1, what);
        check_offsets(cuo, m_count, cu.shape[0], "packs");
        // Each pack's boundaries lie within the pack and never decrease.
        for (std::size_t p = 0; p < m_count; ++p) {
            const std::int64_t len = i64(po, p + 1) - i64(po, p);
            std::int64_t prev = 0;
            for (auto c = i64(cuo, p); c < i64(cuo, p + 1); ++c) {
                const std::int64_t x = i64(cu, static_cast<std::size_t>(c));
                if (x < prev || x > len)
                    bad("shard_offsets", "'cu_seqlens'[" + std::to_string(c) + "] = " + std::to_string(x) +
                                             " is not a boundary of pack " + std::to_string(p) + " (" +
                                             std::to_string(len) + " tokens, previous boundary " +
                                             std::to_string(prev) + ")");
                prev = x;
            }
        }
        const view& mi = need("member_index", dtype::i64, 1, what);
        const view& ml = need("member_length", dtype::i64, 1, what);
        expect_dim(ml, 0, mi.shape[0], "one per member");
        check_non_negative(mi);
        check_non_negative(ml);
        m_members = static_cast<std::size_t>(mi.shape[0]);
        check_offsets(need("member_offsets", dtype::i64, 1, what), m_count, mi.shape[0], "packs");
        const view& grid = need("image_grid_thw", dtype::i32, 2, what);
        check_grids(grid);
        check_offsets(need("image_offsets", dtype::i64, 1, what), m_count, grid.shape[0], "packs");
        check_flags(need("truncated", dtype::u8, 1, what), m_count, "pack");
        check_pixels("pixel_values", "pixel_offsets", grid, what);
        m_pixels = m_file.contains("pixel_values");
    }
};

} // namespace rscovlm::engine
