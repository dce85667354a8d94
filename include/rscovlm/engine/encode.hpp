#pragma once
/// \file engine/encode.hpp
/// Sample encoding over files: a conversation's images (and videos) loaded from disk and run through
/// `processor::qwen2_5_vl_processor` in training mode.

#include <rscovlm/data/builtin.hpp>
#include <rscovlm/data/dota.hpp>
#include <rscovlm/data/packing.hpp>
#include <rscovlm/data/recipe.hpp>
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
#include <rscovlm/resolution/smart_resize.hpp>
#include <rscovlm/resolution/video.hpp>
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

// ------------------------------------------------------------------------------------------ encoding

/// Options of `encode_sample`.
struct sample_encode_options {
    std::size_t max_length = 6144; ///< RSCoVLM's max_length; 0 = no truncation
    /// Budget for images without a chosen size (RSCoVLM multi-task training).
    resolution::budget budget = resolution::budget_multitask;
    bool keep_pixels = false; ///< keep pixel_values (float32 [rows, 1176])
    int threads = 1;          ///< threads per image preprocessing
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
    io::video_load_options vo;
    vo.video = o.video;
    vo.video.threads = o.threads;
    vo.video.bf16 = false;
    io::frame_source src = io::open_frame_source(path);
    if (!src.fps) src.fps = o.video_source_fps;
    return io::load_video(src, vo);
}

/// qwen-vl-utils 0.0.11 `fetch_image(ele)` for an item without size keys: `to_rgb`, then Pillow's
/// default (bicubic) resize to `smart_resize(h, w, 28, MIN_PIXELS, MAX_PIXELS)` (4*28^2 .. 16384*28^2);
/// Pillow returns a copy when the size is unchanged.
inline rscovlm::image fetch_image_default(const rscovlm::image& img) {
    rscovlm::image rgb = imaging::to_rgb(img);
    resolution::smart_resize_options so;
    so.factor = 28;
    so.min_pixels = resolution::image_min_pixels;
    so.max_pixels = resolution::image_max_pixels;
    so.variant = resolution::smart_resize_variant::qwen_vl_utils;
    const resolution::size s = resolution::smart_resize(rgb.height, rgb.width, so);
    if (s.width == rgb.width && s.height == rgb.height) return rgb;
    return imaging::resize(rgb, s.width, s.height, imaging::filter::bicubic);
}

/// Loads the pixels of an image reference (file, then the crop when set, then `fetch_image_default`
/// when `prefetched`).
inline rscovlm::image load_image_ref(const data::image_ref& ref) {
    rscovlm::image img = io::load_image(ref.path);
    if (ref.crop) img = imaging::crop(img, (*ref.crop)[0], (*ref.crop)[1], (*ref.crop)[2], (*ref.crop)[3]);
    if (ref.prefetched) img = fetch_image_default(img);
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
inline encoded_sample
encode_sample(const data::conversation& c, const tokenizer::bpe_tokenizer& tok, const sample_encode_options& o,
              const std::function<rscovlm::image(const data::image_ref&)>& load = {},
              const std::function<resolution::video_result(const std::string&)>& load_video = {}) {
    const processor::messages messages = processor::to_messages(c.messages);
    std::vector<resolution::video_result> videos;
    for (const std::string& v : message_videos(messages))
        videos.push_back(load_video ? load_video(v) : load_video_for_sample(v, o));
    const processor::qwen2_5_vl_processor proc(tok, o.processor_options());
    return proc.encode(
        messages, c.images.size(),
        [&](std::size_t i) {
            const data::image_ref& ref = c.images[i];
            processor::image_input in{load ? load(ref) : load_image_ref(ref), std::nullopt};
            if (ref.resized_width > 0 && ref.resized_height > 0)
                in.resized = resolution::size{ref.resized_height, ref.resized_width};
            return in;
        },
        std::move(videos));
}

} // namespace rscovlm::engine
