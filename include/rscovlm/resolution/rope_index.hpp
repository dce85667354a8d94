#pragma once
/// \file rope_index.hpp
/// \brief M-RoPE position ids (`get_rope_index` of Qwen2-VL / Qwen2.5-VL) for text interleaved with images
/// and videos.

#include <rscovlm/errors.hpp>
#include <rscovlm/limits.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::resolution {

/// \brief Which model's temporal rule to use for video blocks (images are identical in both).
enum class rope_model {
    /// Qwen2-VL: the temporal index of a video block is the frame (grid_t) index.
    qwen2_vl,
    /// Qwen2.5-VL: `int(frame * second_per_grid_t * tokens_per_second)`, computed in float32 as torch does.
    qwen2_5_vl,
};

/// \brief Parses "qwen2_vl" or "qwen2_5_vl"; throws `resolution_error` "bad_model".
inline rope_model parse_rope_model(std::string_view s) {
    if (s == "qwen2_vl" || s == "qwen2-vl") return rope_model::qwen2_vl;
    if (s == "qwen2_5_vl" || s == "qwen2.5-vl" || s == "qwen2_5-vl") return rope_model::qwen2_5_vl;
    RSCOVLM_THROW(resolution_error, "bad_model", "unknown M-RoPE model '" + std::string(s) + "' (qwen2_vl|qwen2_5_vl)");
}

/// \brief Special token ids and sizes used by `get_rope_index` (Qwen2-VL / Qwen2.5-VL defaults).
struct rope_options {
    std::int64_t vision_start_token_id = 151652;
    std::int64_t image_token_id = 151655;
    std::int64_t video_token_id = 151656;
    int spatial_merge_size = 2;
    rope_model model = rope_model::qwen2_5_vl;
    /// Qwen2.5-VL `vision_config.tokens_per_second`.
    float tokens_per_second = 2.0f;
    /// Qwen2.5-VL: seconds per temporal grid step of each video (`temporal_patch_size / fps`); missing
    /// entries default to 1.0 as in the reference.
    std::vector<float> second_per_grid_ts;
    /// Later transformers releases convert `second_per_grid_t` with `torch.as_tensor(..., dtype=int64)`
    /// before the multiplication, truncating it (0.5 s per grid becomes 0, 1.25 becomes 1); transformers
    /// 4.49 (the first Qwen2.5-VL release) and v4.50.0's modeling file (the one the model goldens of
    /// tests/data/torch run) multiply the float. false (default) = the float rule.
    bool second_per_grid_t_as_int64 = false;
};

/// \brief Position ids on the three M-RoPE axes (temporal, height, width) and the decoding offset.
struct rope_index {
    std::array<std::vector<std::int64_t>, 3> position_ids;
    /// `max(position) + 1 - seq_len`; token `i >= seq_len` gets position `i + rope_delta` on every axis.
    std::int64_t rope_delta = 0;
};

/// \brief M-RoPE positions for one sequence (batch size 1), mirroring transformers'
/// `Qwen2_5_VLForConditionalGeneration.get_rope_index` / Qwen2-VL's.
///
/// Vision blocks are counted by the token that follows each `<|vision_start|>`; they are consumed in
/// order of their first pad token. Text runs get the same position on all axes, continuing from
/// max+1; an image block of merged grid `t x h/2 x w/2` gets `offset + (t_index, row, col)`.
/// `attention_mask` (optional, 0/1 per token) restricts the computation to the unmasked tokens; masked
/// tokens get position 1, as the reference fills them. Without vision grids the positions are
/// `0..n-1` and rope_delta is 0 (with a mask: the cumulative sum - 1, as the reference).
///
/// Throws `resolution_error` "bad_input_ids" when the ids and the grids disagree (a vision block
/// without a grid, pads that do not match the grid size), where the reference raises an indexing or
/// shape error, and `rscovlm.limit.grid_patches` for a grid whose t*h*w exceeds that limit; both are
/// checked before a block's positions are built.
inline rope_index get_rope_index(const std::vector<std::int64_t>& input_ids,
                                 const std::vector<std::array<int, 3>>& image_grid_thw,
                                 const std::vector<std::array<int, 3>>& video_grid_thw = {}, const rope_options& o = {},
                                 const std::vector<std::int64_t>& attention_mask = {}) {
    const std::size_t n_all = input_ids.size();
    if (!attention_mask.empty() && attention_mask.size() != n_all)
        RSCOVLM_THROW(resolution_error, "bad_input_ids",
                      "get_rope_index: attention_mask has " + std::to_string(attention_mask.size()) + " entries for " +
                          std::to_string(n_all) + " tokens");
    rope_index out;
    if (image_grid_thw.empty() && video_grid_thw.empty()) {
        // The reference's text-only branch.
        for (auto& axis : out.position_ids)
            axis.assign(n_all, 0);
        if (attention_mask.empty()) {
            for (auto& axis : out.position_ids)
                for (std::size_t i = 0; i < n_all; ++i)
                    axis[i] = static_cast<std::int64_t>(i);
            out.rope_delta = 0;
        } else {
            std::int64_t cum = 0, mx = 0;
            for (std::size_t i = 0; i < n_all; ++i) {
                cum += attention_mask[i];
                const std::int64_t v = attention_mask[i] == 0 ? 1 : cum - 1;
                for (auto& axis : out.position_ids)
                    axis[i] = v;
                mx = i == 0 ? v : std::max(mx, v);
            }
            out.rope_delta = n_all == 0 ? 0 : mx + 1 - static_cast<std::int64_t>(n_all);
        }
        return out;
    }
    if (o.spatial_merge_size <= 0)
        RSCOVLM_THROW(resolution_error, "bad_option", "get_rope_index: spatial_merge_size must be positive");
    std::vector<std::int64_t> ids;
    ids.reserve(n_all);
    for (std::size_t i = 0; i < n_all; ++i)
        if (attention_mask.empty() || attention_mask[i] == 1) ids.push_back(input_ids[i]);
    const std::size_t n = ids.size();

    std::size_t image_nums = 0, video_nums = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (ids[i] != o.vision_start_token_id) continue;
        if (i + 1 >= n)
            RSCOVLM_THROW(resolution_error, "bad_input_ids",
                          "get_rope_index: <|vision_start|> is the last token (index " + std::to_string(i) + ")");
        if (ids[i + 1] == o.image_token_id) ++image_nums;
        if (ids[i + 1] == o.video_token_id) ++video_nums;
    }
    const bool has_image = std::find(ids.begin(), ids.end(), o.image_token_id) != ids.end();
    const bool has_video = std::find(ids.begin(), ids.end(), o.video_token_id) != ids.end();

    std::array<std::vector<std::int64_t>, 3> pos;
    for (auto& axis : pos)
        axis.reserve(n);
    std::int64_t max_pos = -1; // max over everything appended so far
    auto append_text = [&](std::size_t len, std::int64_t st_idx) {
        for (std::size_t k = 0; k < len; ++k)
            for (auto& axis : pos)
                axis.push_back(st_idx + static_cast<std::int64_t>(k));
        if (len > 0) max_pos = std::max(max_pos, st_idx + static_cast<std::int64_t>(len) - 1);
    };
    std::size_t st = 0, image_index = 0, video_index = 0;
    std::size_t remain_images = image_nums, remain_videos = video_nums;
    const std::size_t not_found = n + 1;
    auto find_from = [&](std::int64_t tok, std::size_t from) -> std::size_t {
        for (std::size_t i = from; i < n; ++i)
            if (ids[i] == tok) return i;
        RSCOVLM_THROW(resolution_error, "bad_input_ids",
                      "get_rope_index: no token " + std::to_string(tok) + " after position " + std::to_string(from) +
                          " (more vision blocks than pad runs)");
    };
    for (std::size_t blk = 0; blk < image_nums + video_nums; ++blk) {
        const std::size_t ed_image = (has_image && remain_images > 0) ? find_from(o.image_token_id, st) : not_found;
        const std::size_t ed_video = (has_video && remain_videos > 0) ? find_from(o.video_token_id, st) : not_found;
        std::array<int, 3> thw{};
        bool is_video = false;
        float second_per_grid_t = 0.0f;
        std::size_t ed = 0;
        if (ed_image < ed_video) {
            if (image_index >= image_grid_thw.size())
                RSCOVLM_THROW(resolution_error, "bad_input_ids",
                              "get_rope_index: image block " + std::to_string(image_index + 1) +
                                  " has no image_grid_thw entry");
            thw = image_grid_thw[image_index++];
            --remain_images;
            ed = ed_image;
        } else {
            if (video_index >= video_grid_thw.size())
                RSCOVLM_THROW(resolution_error, "bad_input_ids",
                              "get_rope_index: video block " + std::to_string(video_index + 1) +
                                  " has no video_grid_thw entry");
            second_per_grid_t = video_index < o.second_per_grid_ts.size() ? o.second_per_grid_ts[video_index] : 1.0f;
            thw = video_grid_thw[video_index++];
            --remain_videos;
            ed = ed_video;
            is_video = true;
        }
        if (thw[0] <= 0 || thw[1] <= 0 || thw[2] <= 0)
            RSCOVLM_THROW(resolution_error, "bad_input_ids", "get_rope_index: grid_thw entries must be positive");
        limits::check("grid_patches",
                      limits::mul(static_cast<std::uint64_t>(thw[0]), static_cast<std::uint64_t>(thw[1]),
                                  static_cast<std::uint64_t>(thw[2])),
                      std::string("get_rope_index: ") + (is_video ? "video" : "image") + "_grid_thw [" +
                          std::to_string(thw[0]) + ", " + std::to_string(thw[1]) + ", " + std::to_string(thw[2]) + "]");
        const std::int64_t gt = thw[0], gh = thw[1] / o.spatial_merge_size, gw = thw[2] / o.spatial_merge_size;
        // The block's pads start at `ed`; a grid larger than what is left of the sequence can only end in
        // the final pad-count mismatch, so it is reported before its positions are built.
        const std::uint64_t merged =
            limits::mul(static_cast<std::uint64_t>(gt), static_cast<std::uint64_t>(gh), static_cast<std::uint64_t>(gw));
        if (merged > n - ed)
            RSCOVLM_THROW(resolution_error, "bad_input_ids",
                          "get_rope_index: " + std::string(is_video ? "video" : "image") + " grid [" +
                              std::to_string(thw[0]) + ", " + std::to_string(thw[1]) + ", " + std::to_string(thw[2]) +
                              "] needs " + std::to_string(merged) + " merged positions but only " +
                              std::to_string(n - ed) + " tokens are left (pad count does not match grid_thw)");
        const std::size_t text_len = ed - st;
        const std::int64_t st_idx = max_pos + 1; // 0 for the first run
        append_text(text_len, st_idx);
        const std::int64_t base = static_cast<std::int64_t>(text_len) + st_idx;
        for (std::int64_t t = 0; t < gt; ++t) {
            std::int64_t t_index = t;
            if (is_video && o.model == rope_model::qwen2_5_vl) {
                // torch: int64 arange * float tensor -> float32, * tokens_per_second (float32), .long() truncates.
                if (o.second_per_grid_t_as_int64) {
                    // int64 arange * int64 tensor (truncated), then * tokens_per_second.
                    const std::int64_t sg = static_cast<std::int64_t>(second_per_grid_t);
                    volatile float tt = static_cast<float>(t * sg) * o.tokens_per_second;
                    t_index = static_cast<std::int64_t>(tt);
                } else {
                    volatile float tf = static_cast<float>(t) * second_per_grid_t;
                    volatile float tt = tf * o.tokens_per_second;
                    t_index = static_cast<std::int64_t>(tt);
                }
            }
            for (std::int64_t h = 0; h < gh; ++h)
                for (std::int64_t w = 0; w < gw; ++w) {
                    pos[0].push_back(base + t_index);
                    pos[1].push_back(base + h);
                    pos[2].push_back(base + w);
                    max_pos = std::max({max_pos, base + t_index, base + h, base + w});
                }
        }
        st = ed + static_cast<std::size_t>(gt * gh * gw);
    }
    if (st < n) append_text(n - st, max_pos + 1);
    if (pos[0].size() != n)
        RSCOVLM_THROW(resolution_error, "bad_input_ids",
                      "get_rope_index: the vision grids cover " + std::to_string(pos[0].size()) +
                          " positions but the sequence has " + std::to_string(n) +
                          " tokens (pad count does not match grid_thw)");
    if (attention_mask.empty()) {
        out.position_ids = std::move(pos);
    } else {
        for (auto& axis : out.position_ids)
            axis.assign(n_all, 1);
        std::size_t k = 0;
        for (std::size_t i = 0; i < n_all; ++i)
            if (attention_mask[i] == 1) {
                for (int a = 0; a < 3; ++a)
                    out.position_ids[static_cast<std::size_t>(a)][i] = pos[static_cast<std::size_t>(a)][k];
                ++k;
            }
    }
    out.rope_delta = max_pos + 1 - static_cast<std::int64_t>(n_all);
    return out;
}

/// \brief `get_rope_index` returning a `result`.
inline result<rope_index> try_get_rope_index(const std::vector<std::int64_t>& input_ids,
                                             const std::vector<std::array<int, 3>>& image_grid_thw,
                                             const std::vector<std::array<int, 3>>& video_grid_thw = {},
                                             const rope_options& o = {}) {
    return try_call([&] { return get_rope_index(input_ids, image_grid_thw, video_grid_thw, o); });
}

/// \brief Position (same on all axes) of generated token `i >= seq_len` during decoding.
inline std::int64_t decode_position(std::int64_t i, std::int64_t rope_delta) noexcept {
    return i + rope_delta;
}

} // namespace rscovlm::resolution
