#pragma once
/// \file processor/processor.hpp
/// \brief The Qwen2.5-VL processor, written once: messages + images (+ videos) in, model inputs out.
///
/// Sizes every image through a `resolution` strategy (or keeps the size a strategy already chose),
/// preprocesses it, expands the vision pads, tokenizes, builds the labels and the M-RoPE positions,
/// and returns one typed `encoding` that carries the per-image resolution plan. Two tokenizations,
/// both the reference's:
///  - `mode::training`: RSCoVLM `process_to_train_qwen2_5_vl_with_default_chat_template` (span-wise
///    tokenization, assistant-only labels, truncation to `max_length`, dropping the vision inputs
///    whose blocks were cut off; `tokenizer::encode_conversation`).
///  - `mode::generation`: `Qwen2_5_VLProcessor.__call__` after `apply_chat_template(...,
///    add_generation_prompt=True)`: the rendered prompt with its pads expanded, tokenized as one text;
///    no labels.
/// The data engine (shards), the LibTorch model front end and the Zoom-in Chain all use it.

#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/resolution/preprocess.hpp>
#include <rscovlm/resolution/rope_index.hpp>
#include <rscovlm/resolution/strategy.hpp>
#include <rscovlm/resolution/video.hpp>
#include <rscovlm/tokenizer/bpe.hpp>
#include <rscovlm/tokenizer/chat_template.hpp>
#include <rscovlm/tokenizer/encoding.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rscovlm::processor {

/// Which tokenization the processor applies (see the file comment).
enum class mode {
    training,   ///< span-wise, assistant-only labels, truncation
    generation, ///< rendered prompt + generation prompt, tokenized as one text, no labels
};

/// Vision-tower constants the processor needs (Qwen2.5-VL defaults; a checkpoint's `vision_config`).
struct vision_spec {
    int patch_size = 14;
    int merge_size = 2;
    int temporal_patch_size = 2;
    /// Qwen2.5-VL `vision_config.tokens_per_second` (video M-RoPE).
    float tokens_per_second = 2.0f;
    /// `patch_size * merge_size`: the size every resized side is a multiple of.
    int factor() const noexcept { return patch_size * merge_size; }
};

/// Options of the processor.
struct options {
    processor::mode mode = processor::mode::training;
    vision_spec vision;
    /// Sizing of the images whose size was not chosen beforehand: the strategy when set, otherwise
    /// `smart_resize` within `budget` (with `variant`).
    std::shared_ptr<resolution::strategy> strategy;
    resolution::budget budget = resolution::budget_multitask;
    resolution::smart_resize_variant variant = resolution::smart_resize_variant::qwen_vl_utils;
    /// Training: keep at most this many tokens (0 = no truncation).
    std::size_t max_length = 0;
    /// Keep `pixel_values` / `pixel_values_videos` in the result (false: sizes, grids and tokens only).
    bool keep_pixels = true;
    /// Threads per image preprocessing (0 = hardware concurrency; results do not depend on it).
    int threads = 1;
    /// `Picture N: ` / `Video N: ` prefixes (the template's `add_vision_id`).
    bool add_vision_id = false;
    /// transformers >= 4.50's int64 truncation of `second_per_grid_t` in M-RoPE (see `rope_options`).
    bool second_per_grid_t_as_int64 = false;
};

/// One image of a conversation: its pixels and, optionally, the size a resolution strategy already
/// chose for it (a builder's plan, or an image that is already final), used as is.
struct image_input {
    rscovlm::image pixels;
    std::optional<resolution::size> resized;
};

/// Supplies image `i` (0-based, in template order) when the processor reaches it, so a sample's
/// images are decoded one at a time.
using image_loader = std::function<image_input(std::size_t index)>;

/// Everything the model takes for one sequence, plus how each image was sized.
struct encoding {
    std::vector<std::int32_t> input_ids;
    /// Training: `input_ids` where supervised, -100 elsewhere. Generation: empty.
    std::vector<std::int32_t> labels;
    /// When kept: every image's rows concatenated, `[pixel_rows, 3*T*p*p]` float32.
    std::vector<float> pixel_values;
    std::size_t pixel_rows = 0;
    std::vector<std::array<int, 3>> image_grid_thw;
    /// Videos, in the order of their `<|video_pad|>` blocks.
    std::vector<float> pixel_values_videos;
    std::size_t video_pixel_rows = 0;
    std::vector<std::array<int, 3>> video_grid_thw;
    std::vector<float> second_per_grid_ts; ///< `temporal_patch_size / fps` (float32), one per video
    /// M-RoPE positions (t, h, w) and the decoding offset.
    std::array<std::vector<std::int64_t>, 3> position_ids;
    std::int64_t rope_delta = 0;
    /// Per image (kept ones, in order): original size, resized size, grid, tokens, budget. Maps
    /// coordinates between the frames (`plan::frames()`).
    std::vector<resolution::plan> plans;
    /// Generation: the rendered prompt with its pads expanded.
    std::string text;
    bool truncated = false;
    std::size_t original_length = 0; ///< length before truncation
};

/// The message type the processor reads: Hugging Face chat messages. Conversations built in
/// insertion order (`nlohmann::ordered_json`, the data builders) convert with `to_messages`.
using messages = nlohmann::json;

/// Structural copy of an `ordered_json` value into `nlohmann::json` (no text round trip).
inline nlohmann::json to_messages(const nlohmann::ordered_json& j) {
    switch (j.type()) {
    case nlohmann::ordered_json::value_t::object: {
        nlohmann::json o = nlohmann::json::object();
        for (auto it = j.begin(); it != j.end(); ++it)
            o[it.key()] = to_messages(it.value());
        return o;
    }
    case nlohmann::ordered_json::value_t::array: {
        nlohmann::json a = nlohmann::json::array();
        for (const auto& v : j)
            a.push_back(to_messages(v));
        return a;
    }
    case nlohmann::ordered_json::value_t::string:
        return j.get<std::string>();
    case nlohmann::ordered_json::value_t::boolean:
        return j.get<bool>();
    case nlohmann::ordered_json::value_t::number_integer:
        return j.get<std::int64_t>();
    case nlohmann::ordered_json::value_t::number_unsigned:
        return j.get<std::uint64_t>();
    case nlohmann::ordered_json::value_t::number_float:
        return j.get<double>();
    case nlohmann::ordered_json::value_t::binary:
        return nlohmann::json::binary(j.get_binary());
    case nlohmann::ordered_json::value_t::null:
    case nlohmann::ordered_json::value_t::discarded:
    default:
        return nullptr;
    }
}

/// Qwen2.5-VL's processor over a BPE tokenizer (held by reference: it must outlive the processor).
class qwen2_5_vl_processor {
public:
    explicit qwen2_5_vl_processor(const tokenizer::bpe_tokenizer& tok, options o = {})
        : m_tok(&tok), m_opt(std::move(o)) {
        if (m_opt.vision.patch_size <= 0 || m_opt.vision.merge_size <= 0 || m_opt.vision.temporal_patch_size <= 0)
            RSCOVLM_THROW(resolution_error, "bad_option",
                          "processor: patch_size, merge_size and temporal_patch_size must be > 0");
    }

    const options& opts() const noexcept { return m_opt; }
    const tokenizer::bpe_tokenizer& tok() const noexcept { return *m_tok; }

    /// The resolution plan of an image of `height x width` without a chosen size.
    resolution::plan plan_image(int height, int width) const {
        if (m_opt.strategy) return m_opt.strategy->plan_size(height, width);
        resolution::smart_resize_options so;
        so.factor = m_opt.vision.factor();
        so.min_pixels = m_opt.budget.min_pixels;
        so.max_pixels = m_opt.budget.max_pixels;
        so.variant = m_opt.variant;
        return resolution::make_plan(height, width, resolution::smart_resize(height, width, so), so.min_pixels,
                                     so.max_pixels, m_opt.vision.patch_size, m_opt.vision.merge_size);
    }

    /// Encodes `msgs`: `images` images supplied by `load` in template order, and `videos` already run
    /// through the video pipeline, one per image / video item (a count that differs from the items is
    /// the tokenizer's "vision_count_mismatch").
    encoding encode(const messages& msgs, std::size_t images, const image_loader& load,
                    std::vector<resolution::video_result> videos = {}) const {
        return encode_with(
            msgs, images,
            [&](std::size_t i, std::vector<resolution::plan>& plans) {
                const image_input in = load(i);
                return preprocess_one(in.pixels, in.resized, plans);
            },
            std::move(videos));
    }

    /// Encodes `msgs` with decoded `images` (read in place, not copied): `resized` true keeps their
    /// sizes (they are final, e.g. the Zoom-in Chain's views), false sizes them as `plan_image`.
    encoding encode(const messages& msgs, const std::vector<rscovlm::image>& images, bool resized,
                    std::vector<resolution::video_result> videos = {}) const {
        return encode_with(
            msgs, images.size(),
            [&](std::size_t i, std::vector<resolution::plan>& plans) {
                std::optional<resolution::size> rs;
                if (resized) rs = resolution::size{images[i].height, images[i].width};
                return preprocess_one(images[i], rs, plans);
            },
            std::move(videos));
    }

    /// `encode` returning a `result` instead of throwing.
    result<encoding> try_encode(const messages& msgs, const std::vector<rscovlm::image>& images, bool resized) const {
        return try_call([&] { return encode(msgs, images, resized); });
    }

private:
    // Records one image's or video's grid and (when kept) appends its rows; its pixels are released.
    void add_vision(const std::array<int, 3>& grid, std::vector<float>& pixels, std::size_t rows,
                    std::vector<std::array<int, 3>>& grids, std::vector<std::array<long long, 3>>& template_grids,
                    std::vector<float>& all_pixels, std::size_t& all_rows) const {
        grids.push_back(grid);
        template_grids.push_back({grid[0], grid[1], grid[2]});
        if (m_opt.keep_pixels) {
            if (all_pixels.empty())
                all_pixels = std::move(pixels);
            else
                all_pixels.insert(all_pixels.end(), pixels.begin(), pixels.end());
            all_rows += rows;
        }
        pixels = {};
    }

    resolution::preprocess_options preprocess_options() const {
        resolution::preprocess_options po;
        po.patch_size = m_opt.vision.patch_size;
        po.merge_size = m_opt.vision.merge_size;
        po.temporal_patch_size = m_opt.vision.temporal_patch_size;
        po.min_pixels = m_opt.budget.min_pixels;
        po.max_pixels = m_opt.budget.max_pixels;
        po.variant = m_opt.variant;
        po.threads = m_opt.threads;
        return po;
    }

    // The body of both `encode`s: `image(i, plans)` preprocesses image i and records its plan.
    template <class PreprocessImage> encoding encode_with(const messages& msgs, std::size_t images,
                                                          PreprocessImage&& image,
                                                          std::vector<resolution::video_result> videos) const {
        encoding e;
        std::vector<std::array<long long, 3>> image_grids, video_grids;
        for (auto& vr : videos) {
            e.second_per_grid_ts.push_back(vr.second_per_grid_t_f32);
            add_vision(vr.grid_thw, vr.pixel_values, vr.rows, e.video_grid_thw, video_grids, e.pixel_values_videos,
                       e.video_pixel_rows);
        }
        for (std::size_t i = 0; i < images; ++i) {
            resolution::preprocess_result pr = image(i, e.plans);
            add_vision(pr.grid_thw, pr.pixel_values, pr.rows, e.image_grid_thw, image_grids, e.pixel_values,
                       e.pixel_rows);
        }
        if (m_opt.mode == mode::training)
            tokenize_training(msgs, image_grids, video_grids, e);
        else
            tokenize_generation(msgs, image_grids, video_grids, e);
        positions(e);
        return e;
    }

    resolution::preprocess_result preprocess_one(const rscovlm::image& pixels,
                                                 const std::optional<resolution::size>& resized,
                                                 std::vector<resolution::plan>& plans) const {
        if (pixels.empty()) RSCOVLM_THROW(resolution_error, "zero_size", "preprocess: the image has no pixels");
        resolution::plan p;
        if (resized) {
            p = resolution::make_plan(pixels.height, pixels.width, *resized, 0, 0, m_opt.vision.patch_size,
                                      m_opt.vision.merge_size);
        } else {
            p = plan_image(pixels.height, pixels.width);
        }
        resolution::preprocess_options po = preprocess_options();
        po.resized = resolution::size{p.resized_height, p.resized_width};
        resolution::preprocess_result pr = resolution::preprocess(pixels, po);
        p.grid_thw = pr.grid_thw;
        p.tokens = pr.tokens;
        plans.push_back(p);
        return pr;
    }

    void tokenize_training(const messages& msgs, std::vector<std::array<long long, 3>> image_grids,
                           std::vector<std::array<long long, 3>> video_grids, encoding& e) const {
        tokenizer::conversation_options co;
        co.max_length = m_opt.max_length;
        co.merge_size = m_opt.vision.merge_size;
        co.add_vision_id = m_opt.add_vision_id;
        co.image_grid_thw = std::move(image_grids);
        co.video_grid_thw = std::move(video_grids);
        tokenizer::conversation_encoding enc = tokenizer::encode_conversation(*m_tok, msgs, co);
        e.input_ids = std::move(enc.input_ids);
        e.labels = std::move(enc.labels);
        e.truncated = enc.truncated;
        e.original_length = enc.original_length;
        if (e.truncated) drop_cut_vision(e);
    }

    void tokenize_generation(const messages& msgs, std::vector<std::array<long long, 3>> image_grids,
                             std::vector<std::array<long long, 3>> video_grids, encoding& e) const {
        tokenizer::render_options ro;
        ro.add_generation_prompt = true;
        ro.add_vision_id = m_opt.add_vision_id;
        ro.merge_size = m_opt.vision.merge_size;
        ro.image_grid_thw = std::move(image_grids);
        ro.video_grid_thw = std::move(video_grids);
        e.text = tokenizer::qwen2_5_vl_template().render(msgs, ro);
        e.input_ids = m_tok->encode(e.text);
        e.original_length = e.input_ids.size();
    }

    // Truncation may drop whole vision blocks: keep the inputs of the blocks that remain, with their
    // pixel rows (RSCoVLM keeps the cut ids; the model could not use vision inputs without their pads).
    void drop_cut_vision(encoding& e) const {
        const auto vs = m_tok->token_to_id("<|vision_start|>");
        const auto vpad = m_tok->token_to_id("<|video_pad|>");
        std::size_t blocks = 0, video_blocks = 0;
        for (std::size_t k = 0; k < e.input_ids.size(); ++k)
            if (vs && e.input_ids[k] == *vs) {
                if (vpad && k + 1 < e.input_ids.size() && e.input_ids[k + 1] == *vpad)
                    ++video_blocks;
                else
                    ++blocks;
            }
        auto rows_of = [](const std::vector<std::array<int, 3>>& grids) {
            std::size_t rows = 0;
            for (const auto& g : grids)
                rows +=
                    static_cast<std::size_t>(g[0]) * static_cast<std::size_t>(g[1]) * static_cast<std::size_t>(g[2]);
            return rows;
        };
        const std::size_t cols = 3 * static_cast<std::size_t>(m_opt.vision.temporal_patch_size) *
                                 static_cast<std::size_t>(m_opt.vision.patch_size) *
                                 static_cast<std::size_t>(m_opt.vision.patch_size);
        if (video_blocks < e.video_grid_thw.size()) {
            e.video_grid_thw.resize(video_blocks);
            e.second_per_grid_ts.resize(video_blocks);
            if (m_opt.keep_pixels) {
                e.video_pixel_rows = rows_of(e.video_grid_thw);
                e.pixel_values_videos.resize(e.video_pixel_rows * cols);
            }
        }
        if (blocks < e.image_grid_thw.size()) {
            e.image_grid_thw.resize(blocks);
            e.plans.resize(blocks);
            if (m_opt.keep_pixels) {
                e.pixel_rows = rows_of(e.image_grid_thw);
                e.pixel_values.resize(e.pixel_rows * cols);
            }
        }
    }

    void positions(encoding& e) const {
        resolution::rope_options ro;
        if (auto id = m_tok->token_to_id("<|vision_start|>")) ro.vision_start_token_id = *id;
        if (auto id = m_tok->token_to_id("<|image_pad|>")) ro.image_token_id = *id;
        if (auto id = m_tok->token_to_id("<|video_pad|>")) ro.video_token_id = *id;
        ro.spatial_merge_size = m_opt.vision.merge_size;
        ro.tokens_per_second = m_opt.vision.tokens_per_second;
        ro.second_per_grid_ts = e.second_per_grid_ts;
        ro.second_per_grid_t_as_int64 = m_opt.second_per_grid_t_as_int64;
        const std::vector<std::int64_t> ids(e.input_ids.begin(), e.input_ids.end());
        resolution::rope_index r = resolution::get_rope_index(ids, e.image_grid_thw, e.video_grid_thw, ro);
        e.position_ids = std::move(r.position_ids);
        e.rope_delta = r.rope_delta;
    }

    const tokenizer::bpe_tokenizer* m_tok;
    options m_opt;
};

} // namespace rscovlm::processor
