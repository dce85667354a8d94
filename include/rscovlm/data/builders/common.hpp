#pragma once
/// \file data/builders/common.hpp
/// What the conversation builders share: sizing options (`resize_policy`, `build_options`), region
/// types, and the message/item helpers. Random choices draw from a CPython-compatible generator in
/// the reference's call order, so a sample built with `python_random(s)` equals the reference's
/// output after `random.seed(s)`.

#include <rscovlm/data/detail/pyjson.hpp>
#include <rscovlm/data/detail/pyrandom.hpp>
#include <rscovlm/data/records.hpp>
#include <rscovlm/detail/py/int.hpp>
#include <rscovlm/detail/py/str.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/image/image.hpp>
#include <rscovlm/resolution/smart_resize.hpp>
#include <rscovlm/resolution/strategy.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rscovlm::data {

/// How images are sized (RSCoVLM DataArguments `min_pixels`, `max_pixels`, `prob_random_resize`).
struct resize_policy {
    long long min_pixels = 64LL * 28 * 28; ///< RSCoVLM multitask budget
    long long max_pixels = 1296LL * 28 * 28;
    int factor = 28; ///< patch_size * merge_size
    double prob_random_resize = 0.0;
};

/// Options shared by the builders (RSCoVLM DataArguments).
struct build_options {
    /// The reference's DataArguments budget; the default resolution strategies are made from it.
    resize_policy resize;
    /// A `resolution` registry strategy replacing the dataset type's default (see
    /// `resolution_for`); randomness is drawn from the sample's generator (`strategy::plan_with`).
    std::shared_ptr<resolution::strategy> resolution;
    double prob_proxy_prompt = 0.5;
    double prob_plain_text_prompt = 0.5;
    /// Dense detection: the box codec (registry key, e.g. "codec.hbb.qwen2vl") that writes every
    /// answer, with its own system and user prompts. Empty (default) is the reference's draw between
    /// RSCoVLM's plain-text and JSON codecs of the region type (`prob_plain_text_prompt`). A sample
    /// whose region type the codec does not write (an obb sample for an hbb codec) is the typed error
    /// `rscovlm.data.codec_kind_mismatch`: pair a codec with the dataset type of its geometry (e.g.
    /// `dense_det_hbb_only` for `codec.hbb.qwen2vl`).
    std::string answer_codec;
    /// DataArguments.prob_open_end_prompts: share of dense-detection records given open-ended
    /// prompts with synonyms (decided per record when a mixture is loaded; see `load_mixture`).
    double prob_open_end_prompts = 0.0;
    bool disable_visual_cot = false;
    /// Size of an image file (width, height); needed by the GeoChat/TEOChat builder, whose box
    /// conversion uses the size of the first image after smart_resize.
    std::function<std::pair<int, int>(const std::string&)> image_size;
    /// Decodes an image file keeping its channels (1..4); needed by refGeo segmentation samples,
    /// whose target is computed from the mask file (`engine::build_dataset` sets it).
    std::function<image(const std::string&)> load_image;
};

/// Region types of detection and grounding samples (`seg`: refGeo segmentation masks only).
enum class region_type { hbb, obb, polygon, seg };

inline std::string_view to_string(region_type r) noexcept {
    return r == region_type::hbb       ? "hbb"
           : r == region_type::obb     ? "obb"
           : r == region_type::polygon ? "polygon"
                                       : "seg";
}
inline region_type parse_region_type(std::string_view s) {
    if (s == "hbb") return region_type::hbb;
    if (s == "obb") return region_type::obb;
    if (s == "polygon" || s == "poly" || s == "quad") return region_type::polygon;
    if (s == "seg") return region_type::seg;
    RSCOVLM_THROW(data_error, "bad_region_type", "unknown region type '" + std::string(s) + "' (hbb|obb|polygon|seg)");
}

using detail::python_random;

namespace detail {

/// The strategy that sizes the images of a dataset family by default, as the reference does:
/// `random` (dense_det, refgeo: `if random() <= prob_random_resize: random_resize else
/// add_resized_size_to_metainfo`, the first draw always consumed) is `resize.random` with the
/// policy's budget and probability; `budget` (visual_cot's `add_resized_size_to_metainfo`,
/// teochat's box frame) is `resize.smart` with the budget.
enum class default_sizing { random, budget };

inline std::shared_ptr<resolution::strategy> default_strategy(const resize_policy& p, default_sizing kind) {
    if (kind == default_sizing::random)
        return std::make_shared<resolution::random_resize>(p.min_pixels, p.max_pixels, p.prob_random_resize, 0,
                                                           p.factor);
    return std::make_shared<resolution::fixed_budget>(p.min_pixels, p.max_pixels, p.factor);
}

/// Size of an image in the resized frame: the options' strategy, else the family's default,
/// drawing from the sample's generator.
inline resolution::size plan_size(int width, int height, const build_options& opt, default_sizing kind,
                                  python_random& rng) {
    if (width <= 0 || height <= 0)
        RSCOVLM_THROW(data_error, "bad_image_size",
                      "image size must be positive, got " + std::to_string(width) + "x" + std::to_string(height));
    const std::shared_ptr<resolution::strategy> s =
        opt.resolution ? opt.resolution : default_strategy(opt.resize, kind);
    const resolution::plan p = s->plan_with(height, width, rng);
    return resolution::size{p.resized_height, p.resized_width};
}

inline nlohmann::ordered_json image_item(const std::string& path, const resolution::size& s) {
    nlohmann::ordered_json j;
    j["type"] = "image";
    j["image"] = "file://" + path;
    j["resized_width"] = s.width;
    j["resized_height"] = s.height;
    return j;
}

inline nlohmann::ordered_json text_item(const std::string& text) {
    nlohmann::ordered_json j;
    j["type"] = "text";
    j["text"] = text;
    return j;
}

inline nlohmann::ordered_json message(std::string_view role, nlohmann::ordered_json content) {
    nlohmann::ordered_json m;
    m["role"] = std::string(role);
    m["content"] = std::move(content);
    return m;
}

inline long long scale_int(double v, int resized, int orig) noexcept {
    return ::rscovlm::detail::py::int_trunc(v * resized / orig);
}

} // namespace detail

} // namespace rscovlm::data
