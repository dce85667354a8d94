#pragma once
/// \file data/builders.hpp
/// Conversation builders: one record -> Hugging Face style messages with RSCoVLM's exact texts,
/// targets in the resized frame the resolution policy picks (random resize included). Random
/// choices draw from a CPython-compatible generator in the reference's call order, so a sample
/// built with `python_random(s)` equals the reference's output after `random.seed(s)`.
///
/// Mirrored reference functions (rscovlm/training/data/): dense_det_dataset.py `get_messages`
/// (+ `get_hbb_messages`, `get_obb_messages`, `get_polygon_messages`, `random_resize`),
/// refgeo_dataset.py (same names), sft_dataset.py `get_messages_from_llava_style_conversations`
/// and `random_resize_images_in_messages`, xeochat_dataset.py `process_teochatlas_messages`,
/// visual_cot_dataset.py `get_messages`.

#include <rscovlm/box_codec/labels.hpp>
#include <rscovlm/box_codec/prompts.hpp>
#include <rscovlm/box_codec/rscovlm.hpp>
#include <rscovlm/data/detail/pyjson.hpp>
#include <rscovlm/data/detail/pyrandom.hpp>
#include <rscovlm/data/prompts.hpp>
#include <rscovlm/data/records.hpp>
#include <rscovlm/data/refgeo_mask.hpp>
#include <rscovlm/detail/py/int.hpp>
#include <rscovlm/detail/py/str.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/geometry/obb.hpp>
#include <rscovlm/resolution/smart_resize.hpp>
#include <rscovlm/resolution/strategy.hpp>
#include <rscovlm/tokenizer/zoom_prompt.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rscovlm::data {

/// How images are sized (RSCoVLM DataArguments `min_pixels`, `max_pixels`, `prob_random_resize`).
struct resize_policy {
    long long min_pixels = 64LL * 28 * 28;    ///< RSCoVLM multitask budget
    long long max_pixels = 1296LL * 28 * 28;
    int factor = 28;                           ///< patch_size * merge_size
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
    return r == region_type::hbb ? "hbb" : r == region_type::obb ? "obb" : r == region_type::polygon ? "polygon" : "seg";
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
        return std::make_shared<resolution::random_resize>(p.min_pixels, p.max_pixels, p.prob_random_resize, 0, p.factor);
    return std::make_shared<resolution::fixed_budget>(p.min_pixels, p.max_pixels, p.factor);
}

/// Size of an image in the resized frame: the options' strategy, else the family's default,
/// drawing from the sample's generator.
inline resolution::size plan_size(int width, int height, const build_options& opt, default_sizing kind, python_random& rng) {
    if (width <= 0 || height <= 0)
        RSCOVLM_THROW(data_error, "bad_image_size", "image size must be positive, got " + std::to_string(width) + "x" + std::to_string(height));
    const std::shared_ptr<resolution::strategy> s = opt.resolution ? opt.resolution : default_strategy(opt.resize, kind);
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

/// `select_{hbb,obb}_json_prompt_template` of dense_det_dataset.py (`<=` comparisons).
inline std::string det_json_template(region_type r, double prob_proxy, python_random& rng) {
    namespace bp = box_codec::prompts;
    std::string t;
    if (rng.random() <= prob_proxy) {
        if (r == region_type::hbb)
            t = std::string(bp::hbb_json_proxy[choice_index(rng, bp::hbb_json_proxy.size())]);
        else
            t = std::string(bp::obb_json_proxy[choice_index(rng, bp::obb_json_proxy.size())]);
    } else {
        t = std::string(r == region_type::hbb ? bp::hbb_json_user : bp::obb_json_user);
    }
    if (rng.random() <= prob_proxy) t = ::rscovlm::detail::py::replace(t, "bbox", "bounding box");
    if (r != region_type::hbb && rng.random() <= prob_proxy) t = ::rscovlm::detail::py::replace(t, "oriented", "rotated");
    return t;
}

/// `select_{hbb,obb}_json_prompt_template` of refgeo_dataset.py (`<` comparisons).
inline std::string ground_json_template(region_type r, double prob_proxy, python_random& rng) {
    std::string t;
    if (rng.random() < prob_proxy) {
        if (r == region_type::hbb)
            t = std::string(prompts::ground_hbb_json_proxy[choice_index(rng, prompts::ground_hbb_json_proxy.size())]);
        else
            t = std::string(prompts::ground_obb_json_proxy[choice_index(rng, prompts::ground_obb_json_proxy.size())]);
    } else {
        t = std::string(r == region_type::hbb ? prompts::ground_hbb_json_main : prompts::ground_obb_json_main);
    }
    if (rng.random() < prob_proxy) t = ::rscovlm::detail::py::replace(t, "bbox", "bounding box");
    if (r != region_type::hbb && rng.random() < prob_proxy) t = ::rscovlm::detail::py::replace(t, "oriented", "rotated");
    return t;
}

/// `normalize_polygon(polygon, clockwise)`: sort the 4 points by atan2 around their mean
/// (ascending when clockwise, descending otherwise; stable), then rotate to start at the point
/// with the smallest (y, x).
inline std::array<long long, 8> normalize_polygon(const std::array<long long, 8>& flat, bool clockwise) {
    std::vector<std::pair<long long, long long>> pts;
    for (int i = 0; i < 8; i += 2) pts.emplace_back(flat[static_cast<std::size_t>(i)], flat[static_cast<std::size_t>(i + 1)]);
    const double cx = static_cast<double>(pts[0].first + pts[1].first + pts[2].first + pts[3].first) / 4;
    const double cy = static_cast<double>(pts[0].second + pts[1].second + pts[2].second + pts[3].second) / 4;
    auto ang = [&](const std::pair<long long, long long>& p) { return std::atan2(p.second - cy, p.first - cx); };
    std::stable_sort(pts.begin(), pts.end(), [&](const auto& a, const auto& b) {
        return clockwise ? ang(a) < ang(b) : ang(a) > ang(b);
    });
    auto key_less = [](const auto& a, const auto& b) { return a.second != b.second ? a.second < b.second : a.first < b.first; };
    std::size_t mi = 0;
    for (std::size_t i = 1; i < 4; ++i)
        if (key_less(pts[i], pts[mi])) mi = i;
    // points.index(min(...)): the first point equal to the minimum
    for (std::size_t i = 0; i < 4; ++i)
        if (pts[i] == pts[mi]) {
            mi = i;
            break;
        }
    std::array<long long, 8> out{};
    for (std::size_t k = 0; k < 4; ++k) {
        out[2 * k] = pts[(mi + k) % 4].first;
        out[2 * k + 1] = pts[(mi + k) % 4].second;
    }
    return out;
}

inline long long scale_int(double v, int resized, int orig) noexcept {
    return ::rscovlm::detail::py::int_trunc(v * resized / orig);
}

}  // namespace detail

namespace detail {

/// dense_det_dataset.py `set_open_end_prompt_settings`, template part: `re.sub(r'(the )?{categories}',
/// 'all the visible remote sensing objects', template)`.
inline std::string open_end_template(const std::string& t) {
    static const std::string key = "{categories}", with_the = "the {categories}";
    std::string out;
    std::size_t i = 0;
    while (i < t.size()) {
        if (t.compare(i, with_the.size(), with_the) == 0) {
            out += "all the visible remote sensing objects";
            i += with_the.size();
        } else if (t.compare(i, key.size(), key) == 0) {
            out += "all the visible remote sensing objects";
            i += key.size();
        } else {
            out.push_back(t[i++]);
        }
    }
    return out;
}

/// The label part: `random.choice(synonyms_dict[re.sub(r"[_\-]+", " ", name).lower()])`.
inline std::string pick_synonym(const nlohmann::json& dict, const std::string& name, python_random& rng) {
    std::string key;
    for (std::size_t i = 0; i < name.size();) {
        if (name[i] == '_' || name[i] == '-') {
            key.push_back(' ');
            while (i < name.size() && (name[i] == '_' || name[i] == '-')) ++i;
        } else {
            key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(name[i++]))));
        }
    }
    if (!dict.is_object() || !dict.contains(key) || !dict[key].is_array() || dict[key].empty())
        RSCOVLM_THROW(data_error, "missing_synonyms", "synonyms_dict has no (non-empty) list for '" + key + "'");
    const auto& list = dict[key];
    const nlohmann::json& v = list[choice_index(rng, list.size())];
    if (!v.is_string()) RSCOVLM_THROW(data_error, "missing_synonyms", "synonyms of '" + key + "' must be strings");
    return v.get<std::string>();
}

}  // namespace detail

/// Dense detection sample of `region` (dense_det_dataset.py `get_messages`). The assistant target
/// is encoded by the RSCoVLM box codecs (plain text or fenced JSON); an image without objects
/// answers "There are none.".
inline conversation build_detection(const detection_record& rec, region_type region, const build_options& opt,
                                    python_random& rng) {
    using namespace box_codec;
    if (region == region_type::seg)
        RSCOVLM_THROW(data_error, "bad_region_type", "dense detection has no 'seg' target (hbb|obb|polygon)");
    const resolution::size rs = detail::plan_size(rec.width, rec.height, opt, detail::default_sizing::random, rng);
    encode_options eo;
    eo.classes = rec.classes;
    eo.frame = geometry::frame{rec.width, rec.height, rs.width, rs.height};
    std::vector<annotation> anns;
    anns.reserve(rec.objects.size());
    for (const det_instance& o : rec.objects) {
        annotation a;
        a.bbox = o.bbox;
        a.polygon = o.polygon;
        a.label = o.label;
        anns.push_back(std::move(a));
    }
    if (eo.classes.empty())
        for (const auto& a : anns)
            if (std::find(eo.classes.begin(), eo.classes.end(), a.label) == eo.classes.end()) eo.classes.push_back(a.label);
    const std::string categories = categories_string(eo.classes);
    const bool open_end = rec.use_synonyms;
    if (open_end) {
        if (!rec.synonyms) RSCOVLM_THROW(data_error, "missing_synonyms", "open-ended sample of '" + rec.image + "' without a synonyms_dict");
        // drawn per object in output order, after the template's draws (set_open_end_prompt_settings)
        eo.rename = [&rec, &rng](const std::string& name) { return detail::pick_synonym(*rec.synonyms, name, rng); };
    }
    auto tmpl = [&](std::string t) { return open_end ? detail::open_end_template(t) : t; };
    conversation c;
    c.task = "det." + std::string(to_string(region));
    c.images.push_back(image_ref{rec.image, rec.width, rec.height, rs.width, rs.height, std::nullopt});
    std::string system, user, response;
    if (rng.random() >= opt.prob_plain_text_prompt) {
        user = box_codec::detail::format_categories(tmpl(detail::det_json_template(region, opt.prob_proxy_prompt, rng)), categories);
        switch (region) {
        case region_type::hbb: response = rscovlm_json<box_kind::hbb>().encode(anns, eo); break;
        case region_type::obb:
            response = rscovlm_json<box_kind::obb>().encode(anns, eo);
            system = std::string(box_codec::prompts::obb_json_system);
            break;
        case region_type::polygon:
            response = rscovlm_json<box_kind::quad>().encode(anns, eo);
            system = std::string(box_codec::prompts::quad_json_system);
            break;
        case region_type::seg: break;
        }
    } else {
        user = box_codec::detail::format_categories(tmpl(std::string(box_codec::prompts::plain_user)), categories);
        switch (region) {
        case region_type::hbb:
            response = rscovlm_plain<box_kind::hbb>().encode(anns, eo);
            system = std::string(box_codec::prompts::hbb_plain_system);
            break;
        case region_type::obb:
            response = rscovlm_plain<box_kind::obb>().encode(anns, eo);
            system = std::string(box_codec::prompts::obb_plain_system);
            break;
        case region_type::polygon:
            response = rscovlm_plain<box_kind::quad>().encode(anns, eo);
            system = std::string(box_codec::prompts::quad_plain_system);
            break;
        case region_type::seg: break;
        }
    }
    if (!system.empty()) c.messages.push_back(detail::message("system", system));
    nlohmann::ordered_json content = nlohmann::ordered_json::array();
    content.push_back(detail::image_item(rec.image, rs));
    content.push_back(detail::text_item(user));
    c.messages.push_back(detail::message("user", std::move(content)));
    c.messages.push_back(detail::message("assistant", response));
    return c;
}

/// Grounding sample of `region` for a referring expression (refgeo_dataset.py `get_messages`):
/// the expression is the label; polygons are written counter-clockwise (`normalize_polygon(...,
/// False)`); the expression is pasted into the JSON target without escaping, as the reference does.
/// `seg` answers the record's mask as `<seg>` run lengths over 28x28 blocks of the resized frame
/// (`refgeo_mask_rle`; the mask is decoded through `build_options::load_image`).
inline conversation build_grounding(const grounding_record& rec, region_type region, const build_options& opt,
                                    python_random& rng) {
    const resolution::size rs = detail::plan_size(rec.width, rec.height, opt, detail::default_sizing::random, rng);
    conversation c;
    c.task = "ground." + std::string(to_string(region));
    c.images.push_back(image_ref{rec.image, rec.width, rec.height, rs.width, rs.height, std::nullopt});
    const std::string& q = rec.question;
    std::string system, user, response;
    if (region == region_type::seg) {
        // get_seg_messages: the mask target first, then select_mask_prompt_template (`<` draw)
        if (rec.mask_path.empty())
            RSCOVLM_THROW(data_error, "missing_mask", "grounding record for '" + rec.image + "' has no segmentation mask");
        if (!opt.load_image) RSCOVLM_THROW(data_error, "no_image_loader", "segmentation samples need build_options::load_image");
        const std::string rle = refgeo_mask_rle(opt.load_image(rec.mask_path), rec.width, rec.height, rs.width, rs.height, opt.resize.factor);
        std::string t;
        if (rng.random() < opt.prob_proxy_prompt)
            t = std::string(prompts::ground_mask_proxy[detail::choice_index(rng, prompts::ground_mask_proxy.size())]);
        else
            t = std::string(prompts::ground_mask_main);
        c.messages.push_back(detail::message("system", std::string(prompts::ground_mask_system)));
        nlohmann::ordered_json content = nlohmann::ordered_json::array();
        content.push_back(detail::image_item(rec.image, rs));
        content.push_back(detail::text_item(::rscovlm::detail::py::replace(t, "{prompt}", q)));
        c.messages.push_back(detail::message("user", std::move(content)));
        c.messages.push_back(detail::message("assistant", "<seg>" + rle + "</seg>"));
        return c;
    }
    auto sx = [&](long long v) { return detail::scale_int(static_cast<double>(v), rs.width, rec.width); };
    auto sy = [&](long long v) { return detail::scale_int(static_cast<double>(v), rs.height, rec.height); };
    if (region == region_type::hbb) {
        if (!rec.bbox) RSCOVLM_THROW(data_error, "missing_bbox", "grounding record for '" + rec.image + "' has no bbox");
        const long long x1 = sx(::rscovlm::detail::py::int_trunc(rec.bbox->x1)), y1 = sy(::rscovlm::detail::py::int_trunc(rec.bbox->y1));
        const long long x2 = sx(::rscovlm::detail::py::int_trunc(rec.bbox->x2)), y2 = sy(::rscovlm::detail::py::int_trunc(rec.bbox->y2));
        const std::string coords = std::to_string(x1) + ", " + std::to_string(y1) + ", " + std::to_string(x2) + ", " + std::to_string(y2);
        if (rng.random() > opt.prob_plain_text_prompt) {
            user = ::rscovlm::detail::py::replace(detail::ground_json_template(region, opt.prob_proxy_prompt, rng), "{prompt}", q);
            response = "```json\n[\n\t{\"bbox_2d\": [" + coords + "], \"label\": \"" + q + "\"}\n]\n```";
        } else {
            user = ::rscovlm::detail::py::replace(std::string(prompts::ground_plain_user), "{prompt}", q);
            response = std::to_string(x1) + "," + std::to_string(y1) + "," + std::to_string(x2) + "," + std::to_string(y2) + " " + q + "\n";
            system = std::string(box_codec::prompts::hbb_plain_system);
        }
    } else {
        if (rec.poly.size() != 4)
            RSCOVLM_THROW(data_error, "missing_poly", "grounding record for '" + rec.image + "' has no 4-point poly");
        // np.array(poly).astype(int), then (v * resized / orig).astype(int)
        std::vector<double> flat;
        std::array<long long, 8> ints{};
        for (std::size_t k = 0; k < 4; ++k) {
            ints[2 * k] = sx(::rscovlm::detail::py::int_trunc(rec.poly[k].x));
            ints[2 * k + 1] = sy(::rscovlm::detail::py::int_trunc(rec.poly[k].y));
            flat.push_back(static_cast<double>(ints[2 * k]));
            flat.push_back(static_cast<double>(ints[2 * k + 1]));
        }
        if (region == region_type::obb) {
            const auto obb = geometry::segmentation_to_obb(flat);
            std::string cs;
            for (std::size_t k = 0; k < 5; ++k) cs += (k ? ", " : "") + std::to_string(obb[k]);
            std::string ps;
            for (std::size_t k = 0; k < 5; ++k) ps += (k ? "," : "") + std::to_string(obb[k]);
            if (rng.random() > opt.prob_plain_text_prompt) {
                user = ::rscovlm::detail::py::replace(detail::ground_json_template(region, opt.prob_proxy_prompt, rng), "{prompt}", q);
                response = "```json\n[\n\t{\"oriented bbox\": [" + cs + "], \"label\": \"" + q + "\"}\n]\n```";
                system = std::string(box_codec::prompts::obb_json_system);
            } else {
                user = ::rscovlm::detail::py::replace(std::string(prompts::ground_plain_user), "{prompt}", q);
                response = ps + " " + q + "\n";
                system = std::string(box_codec::prompts::obb_plain_system);
            }
        } else {
            const auto p = detail::normalize_polygon(ints, false);
            std::string cs, ps;
            for (std::size_t k = 0; k < 8; ++k) {
                cs += (k ? ", " : "") + std::to_string(p[k]);
                ps += (k ? "," : "") + std::to_string(p[k]);
            }
            if (rng.random() > opt.prob_plain_text_prompt) {
                user = ::rscovlm::detail::py::replace(detail::ground_json_template(region, opt.prob_proxy_prompt, rng), "{prompt}", q);
                response = "```json\n[\n\t{\"quadrant bbox\": [" + cs + "], \"label\": \"" + q + "\"}\n]\n```";
                system = std::string(box_codec::prompts::quad_json_system);
            } else {
                user = ::rscovlm::detail::py::replace(std::string(prompts::ground_plain_user), "{prompt}", q);
                response = ps + " " + q + "\n";
                system = std::string(box_codec::prompts::quad_plain_system);
            }
        }
    }
    if (!system.empty()) c.messages.push_back(detail::message("system", system));
    nlohmann::ordered_json content = nlohmann::ordered_json::array();
    content.push_back(detail::image_item(rec.image, rs));
    content.push_back(detail::text_item(user));
    c.messages.push_back(detail::message("user", std::move(content)));
    c.messages.push_back(detail::message("assistant", response));
    return c;
}

namespace detail {

/// sft_dataset.py `get_messages_from_llava_style_conversations`: roles human/gpt -> user/assistant,
/// "<image>\n" -> "<image>" (same for video), strip, split on the placeholders keeping them,
/// blank parts dropped, text parts kept as they are.
inline nlohmann::ordered_json llava_messages(const chat_record& rec, std::vector<image_ref>& images) {
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    std::size_t next_image = 0, next_video = 0;
    for (const auto& turn : rec.conversations) {
        const std::string from = turn.at("from").get<std::string>();
        const std::string role = from == "human" ? "user" : from == "gpt" ? "assistant" : "";
        if (role.empty()) RSCOVLM_THROW(data_error, "bad_record", "invalid role '" + from + "' in conversation " + rec.id);
        std::string value = turn.at("value").get<std::string>();
        value = ::rscovlm::detail::py::strip(::rscovlm::detail::py::replace(::rscovlm::detail::py::replace(value, "<image>\n", "<image>"), "<video>\n", "<video>"));
        nlohmann::ordered_json content = nlohmann::ordered_json::array();
        std::size_t i = 0;
        auto push_text = [&](std::string_view part) {
            if (::rscovlm::detail::py::strip(part).empty()) return;
            content.push_back(text_item(std::string(part)));
        };
        while (i <= value.size()) {
            const std::size_t a = value.find("<image>", i), b = value.find("<video>", i);
            const std::size_t j = std::min(a, b);
            if (j == std::string::npos) {
                push_text(std::string_view(value).substr(i));
                break;
            }
            push_text(std::string_view(value).substr(i, j - i));
            if (j == a) {
                if (next_image >= rec.images.size())
                    RSCOVLM_THROW(data_error, "bad_record", "conversation " + rec.id + " has more <image> placeholders than images");
                nlohmann::ordered_json im;
                im["type"] = "image";
                im["image"] = "file://" + rec.images[next_image];
                content.push_back(im);
                images.push_back(image_ref{rec.images[next_image], 0, 0, 0, 0, std::nullopt});
                ++next_image;
            } else {
                if (next_video >= rec.videos.size())
                    RSCOVLM_THROW(data_error, "bad_record", "conversation " + rec.id + " has more <video> placeholders than videos");
                nlohmann::ordered_json vi;
                vi["type"] = "video";
                vi["video"] = "file://" + rec.videos[next_video];
                content.push_back(vi);
                ++next_video;
            }
            i = j + 7;
        }
        messages.push_back(message(role, std::move(content)));
    }
    return messages;
}

}  // namespace detail

/// Supervised LLaVA-style chat (SupervisedDataset `get_messages`). The reference's random resize
/// of chat images draws `random()` and one `uniform()` per image but discards the resized image
/// (`image.resize(...)` is not assigned), so only the draws are reproduced; images are encoded
/// with the budget.
namespace detail {
/// `random_resize_images_in_messages` draws: `random() <= prob`, then one `uniform()` per image
/// item of a user message (the resized image is discarded by the reference).
inline void chat_random_resize_draws(const nlohmann::ordered_json& messages, double prob, python_random& rng) {
    if (rng.random() > prob) return;
    for (const auto& m : messages) {
        if (m["role"] != "user" || !m["content"].is_array()) continue;
        for (const auto& it : m["content"])
            if (it["type"] == "image") (void)rng.random();  // uniform(a, b) = a + (b - a) * random()
    }
}
}  // namespace detail

inline conversation build_chat(const chat_record& rec, const build_options& opt, python_random& rng) {
    conversation c;
    c.task = "sft";
    c.messages = detail::llava_messages(rec, c.images);
    detail::chat_random_resize_draws(c.messages, opt.resize.prob_random_resize, rng);
    return c;
}

/// LLaVA-OneVision sample (LlavaOneVisionDataset `get_messages`): a row with an image but no
/// `<image>` tag gets `"<image>\n"` prepended to its first human turn (`ensure_image_tag_in_data_meta`),
/// then it is built like a supervised chat. Rows the reference cannot build raise data_error
/// "skip_record" (its `__getitem__` then loads the next item): a row without an image (the
/// reference's `get_images_from_meta` rejects `[None]`), an image row without a human turn
/// (`next()` raises StopIteration), more `<image>` tags than its one image, or a `<video>` tag.
inline conversation build_llava_onevision(const chat_record& rec, const build_options& opt, python_random& rng) {
    auto skip = [&](const std::string& why) {
        RSCOVLM_THROW(data_error, "skip_record", "LLaVA-OneVision row " + rec.id + ": " + why);
    };
    if (rec.images.empty()) skip("no image (the reference rejects image None)");
    chat_record r = rec;
    bool tagged = false;
    for (const auto& t : r.conversations)
        if (t.at("value").get<std::string>().find("<image>") != std::string::npos) tagged = true;
    if (!tagged) {
        auto it = std::find_if(r.conversations.begin(), r.conversations.end(), [](const nlohmann::json& t) { return t.at("from") == "human"; });
        if (it == r.conversations.end()) skip("no human turn to carry the <image> tag");
        (*it)["value"] = "<image>\n" + (*it)["value"].get<std::string>();
    }
    conversation c;
    c.task = "sft";
#if RSCOVLM_HAS_EXCEPTIONS
    try {
        c.messages = detail::llava_messages(r, c.images);
    } catch (const data_error& e) {
        skip(e.what());
    }
#else
    // Without exceptions a row the reference would skip ends the program through the error handler
    // (see errors.hpp), like every other rscovlm error in such builds.
    c.messages = detail::llava_messages(r, c.images);
#endif
    detail::chat_random_resize_draws(c.messages, opt.resize.prob_random_resize, rng);
    return c;
}

namespace detail {

inline const std::regex& box_group_re() {
    static const std::regex re(R"(\[(\d+(?:\s*,\s*\d+)*)\])");
    return re;
}

/// xeochat_dataset.py `inv_normalize_coord`: every `[a, b, c, d, ...]` of 0-100 grid values
/// becomes `int(v * w / 100)` / `int(v * h / 100)`, joined by ", ".
inline std::string inv_normalize_coord(const std::string& text, int w, int h) {
    static const std::regex re(R"(\[(\d+(?:,\s*\d+)*)\])");
    std::string out;
    auto begin = std::sregex_iterator(text.begin(), text.end(), re);
    std::size_t last = 0;
    for (auto it = begin; it != std::sregex_iterator(); ++it) {
        const std::smatch& m = *it;
        out.append(text, last, static_cast<std::size_t>(m.position(0)) - last);
        std::vector<long long> v;
        const std::string g = m[1].str();
        std::size_t s = 0;
        while (s <= g.size()) {
            std::size_t e = g.find(',', s);
            if (e == std::string::npos) e = g.size();
            const auto n = ::rscovlm::detail::py::parse_int(std::string_view(g).substr(s, e - s));
            if (!n) RSCOVLM_THROW(data_error, "bad_number", "box coordinate out of range in '" + g + "'");
            v.push_back(*n);
            s = e + 1;
        }
        if (v.size() % 4 != 0)
            RSCOVLM_THROW(data_error, "bad_box_text", "box '" + m[0].str() + "' does not hold groups of 4 values");
        std::string rep = "[";
        for (std::size_t k = 0; k < v.size(); ++k) {
            const long long d = ::rscovlm::detail::py::int_trunc(static_cast<double>(v[k]) * ((k % 2 == 0) ? w : h) / 100.0);
            rep += (k ? ", " : "") + std::to_string(d);
        }
        out += rep + "]";
        last = static_cast<std::size_t>(m.position(0) + m.length(0));
    }
    out.append(text, last, std::string::npos);
    return out;
}

inline bool are_all_boxes(const std::string& text) {
    static const std::regex re(
        R"(^(\[\s*\d+\s*,\s*\d+\s*,\s*\d+\s*,\s*\d+\s*\](?:\s*,\s*\[\s*\d+\s*,\s*\d+\s*,\s*\d+\s*,\s*\d+\s*\])*)\s*$)");
    return std::regex_search(std::string(::rscovlm::detail::py::rstrip(::rscovlm::detail::py::strip(text), ".")), re);
}

/// `grounding_format_teochat_to_qwen25vl`: the category is the prompt with the instruction
/// phrases and digits removed; each box is written as a plain or JSON target.
inline std::string teochat_grounding(const std::string& text, const std::string& prompt, bool use_json) {
    std::string c = prompt;
    for (const char* s : {"This is a satellite image:", "<video>", "<image>", "Identify", "the location of",
                          "Include bounding boxes of the form [x_min, y_min, x_max, y_max] for each identified object in your response",
                          "Include a bounding box of the form [x_min, y_min, x_max, y_max] for each identified building in your response.",
                          "If there are no such buildings, do not output a bounding box", "What is "})
        c = ::rscovlm::detail::py::replace(c, s, "");
    c.erase(std::remove_if(c.begin(), c.end(), [](char ch) { return ch >= '0' && ch <= '9'; }), c.end());
    c = ::rscovlm::detail::py::replace(::rscovlm::detail::py::replace(::rscovlm::detail::py::replace(c, "all ", ""), "  ", " "), "?", "");
    // c.strip(".").strip().strip().strip(".").strip()
    c = std::string(::rscovlm::detail::py::strip(::rscovlm::detail::py::strip(::rscovlm::detail::py::strip(::rscovlm::detail::py::strip(::rscovlm::detail::py::strip(c, "."))), ".")));
    static const std::regex re(R"(\[(\d+),\s*(\d+),\s*(\d+),\s*(\d+)\])");
    std::vector<std::array<long long, 4>> boxes;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it)
        boxes.push_back({std::stoll((*it)[1].str()), std::stoll((*it)[2].str()), std::stoll((*it)[3].str()), std::stoll((*it)[4].str())});
    std::string out;
    if (use_json) {
        out = "```json\n[\n\t";
        for (std::size_t k = 0; k < boxes.size(); ++k) {
            if (k) out += ",\n\t";
            out += "{\"bbox_2d\": [" + std::to_string(boxes[k][0]) + ", " + std::to_string(boxes[k][1]) + ", " +
                   std::to_string(boxes[k][2]) + ", " + std::to_string(boxes[k][3]) + "], \"label\": " + py_json_string(c) + "}";
        }
        out += "\n]\n```";
    } else {
        for (std::size_t k = 0; k < boxes.size(); ++k) {
            if (k) out += "\n";
            out += std::to_string(boxes[k][0]) + "," + std::to_string(boxes[k][1]) + "," + std::to_string(boxes[k][2]) + "," +
                   std::to_string(boxes[k][3]) + " " + c;
        }
        out += "\n";
    }
    return out;
}

}  // namespace detail

/// Prepares a GeoChat/TEOChat record as TeoChatDataset's constructor does: when the first two
/// turns carry the same boxes (region captioning), the boxes (with the following whitespace) are
/// removed from the answer.
inline chat_record prepare_geochat(chat_record rec) {
    if (rec.conversations.size() < 2) return rec;
    auto boxes = [](const std::string& t) {
        std::vector<std::string> v;
        for (auto it = std::sregex_iterator(t.begin(), t.end(), detail::box_group_re()); it != std::sregex_iterator(); ++it)
            v.push_back((*it)[1].str());
        return v;
    };
    const std::string a = rec.conversations[0].at("value").get<std::string>();
    const std::string b = rec.conversations[1].at("value").get<std::string>();
    const auto ba = boxes(a), bb = boxes(b);
    if (!ba.empty() && !bb.empty() && ba == bb) {
        static const std::regex re(R"(\[(\d+(?:\s*,\s*\d+)*)\]\s)");
        rec.conversations[1]["ori_value"] = b;
        rec.conversations[1]["value"] = std::regex_replace(b, re, "");
    }
    return rec;
}

/// GeoChat / TEOChat sample (TeoChatDataset `get_messages` + `process_teochatlas_messages`): boxes
/// on GeoChat's 0-100 grid are converted to the first image's smart-resized pixel frame, prompts
/// are cleaned, and box-only answers become RSCoVLM grounding targets (JSON when
/// `random() >= prob_plain_text_prompt`). Expects a record passed through `prepare_geochat`.
inline conversation build_geochat(const chat_record& rec, const build_options& opt, python_random& rng) {
    conversation c = build_chat(rec, opt, rng);
    c.task = "geochat";
    const bool use_json = rng.random() >= opt.prob_plain_text_prompt;
    bool have_size = false;
    int w = 0, h = 0;
    auto process = [&](const std::string& text) -> std::string {
        if (!std::regex_search(text, detail::box_group_re())) return text;
        if (!have_size) {
            if (c.images.empty()) RSCOVLM_THROW(data_error, "bad_record", "conversation " + rec.id + " has boxes but no image");
            if (!opt.image_size) RSCOVLM_THROW(data_error, "no_image_size", "the GeoChat builder needs build_options::image_size");
            const auto wh = opt.image_size(c.images[0].path);
            const resolution::size s = detail::plan_size(wh.first, wh.second, opt, detail::default_sizing::budget, rng);
            w = s.width;
            h = s.height;
            have_size = true;
        }
        return detail::inv_normalize_coord(text, w, h);
    };
    std::string user_text;
    for (auto& msg : c.messages) {
        auto& content = msg["content"];
        for (auto& item : content)
            if (item["type"] == "text") {
                const std::string t = item["text"].get<std::string>();
                const std::string n = process(t);
                if (n != t) {
                    item["ori_text"] = t;
                    item["text"] = n;
                }
            }
        if (msg["role"] == "user") {
            for (auto& item : content)
                if (item["type"] == "text") {
                    user_text = ::rscovlm::detail::py::strip(::rscovlm::detail::py::replace(::rscovlm::detail::py::replace(item["text"].get<std::string>(), ". ?", "."), ".. ", "."));
                    item["text"] = user_text;
                }
        } else if (msg["role"] == "assistant") {
            for (auto& item : content)
                if (item["type"] == "text" && detail::are_all_boxes(item["text"].get<std::string>())) {
                    const std::string t = item["text"].get<std::string>();
                    item["ori_text"] = item.contains("ori_text") ? item["ori_text"].get<std::string>() + " -> " + t : t;
                    item["text"] = detail::teochat_grounding(t, user_text, use_json);
                }
        }
    }
    return c;
}

namespace detail {

/// The bbox the Zoom-in tool call carries (visual_cot_dataset.py `get_messages`): with a resized
/// size, `int(v * resized / image_ori)` per coordinate; without one, `int(v)` of the original box.
inline std::array<long long, 4> lrsvqa_call_box(const std::array<double, 4>& b, int width, int height,
                                                const std::optional<resolution::size>& resized) {
    std::array<long long, 4> out{};
    for (std::size_t k = 0; k < 4; ++k) {
        if (!std::isfinite(b[k])) RSCOVLM_THROW(data_error, "bad_record", "LRS-VQA-Zoom record: crop_hbox values must be finite");
        if (!resized) {
            out[k] = ::rscovlm::detail::py::int_trunc(b[k]);
        } else {
            const bool x = k % 2 == 0;
            out[k] = scale_int(b[k], x ? resized->width : resized->height, x ? width : height);
        }
    }
    return out;
}

}  // namespace detail

/// LRS-VQA-Zoom sample (visual_cot_dataset.py `get_messages`), the one implementation behind the
/// data engine's `builder.lrsvqa_zoom` and `zoom::lrsvqa::build_zoom_conversation`. With exactly
/// one `crop_hbox` (and visual CoT enabled) a one-step Zoom-in conversation: tool system prompt,
/// question + zoom instruction, the tool call with the crop box scaled to the resized frame by
/// `int()`, the crop of the *original* image (Pillow `crop`, coordinates rounded half to even),
/// then the answer. Otherwise a plain question/answer. Multiple-choice text is built as the
/// reference builds it (`rstrip` of a character set, the choices, the instruction and the answer
/// cue). `resized` empty: the image items carry no resized size and the tool call keeps the
/// original coordinates (`int()`), as the reference does for a meta without `resized_width`. An
/// image item names its file only when `rec.image` is not empty.
inline conversation build_lrsvqa_zoom(const vqa_record& rec, const std::optional<resolution::size>& resized,
                                      bool disable_visual_cot) {
    std::string question;
    if (!rec.multiple_choice) {
        question = rec.question;
    } else {
        std::string choices(prompts::mcq_choice_intro);
        for (const auto& ch : rec.choices) choices += ch + "\n";
        question = std::string(::rscovlm::detail::py::rstrip(rec.question, prompts::mcq_rstrip_chars)) + choices + std::string(prompts::mcq_instruction) +
                   std::string(prompts::mcq_answer_cue);
    }
    auto image_item = [&](const std::optional<resolution::size>& rs) {
        nlohmann::ordered_json im;
        im["type"] = "image";
        if (!rec.image.empty()) im["image"] = "file://" + rec.image;
        if (rs) {
            im["resized_width"] = rs->width;
            im["resized_height"] = rs->height;
        }
        return im;
    };
    conversation c;
    c.images.push_back(image_ref{rec.image, rec.width, rec.height, resized ? resized->width : 0, resized ? resized->height : 0,
                                 std::nullopt});
    nlohmann::ordered_json content = nlohmann::ordered_json::array();
    content.push_back(image_item(resized));
    if (rec.crop_hbox.size() == 1 && !disable_visual_cot) {
        c.task = "zoom";
        if (resized && (rec.width <= 0 || rec.height <= 0))
            RSCOVLM_THROW(data_error, "bad_record", "LRS-VQA-Zoom record: needs image_ori_width/height > 0 to scale crop_hbox");
        const auto& b = rec.crop_hbox[0];
        // Image.crop: box = map(int, map(round, box)) (Python round: half to even)
        std::array<int, 4> crop{};
        for (std::size_t k = 0; k < 4; ++k) crop[k] = static_cast<int>(std::clamp(std::nearbyint(b[k]), -1073741824.0, 1073741824.0));
        const std::array<long long, 4> call = detail::lrsvqa_call_box(b, rec.width, rec.height, resized);
        content.push_back(detail::text_item(question + std::string(prompts::zoom_user_suffix)));
        c.messages.push_back(detail::message("system", tokenizer::zoom_tool_system_prompt()));
        c.messages.push_back(detail::message("user", std::move(content)));
        c.messages.push_back(detail::message("assistant", tokenizer::zoom_tool_call(call[0], call[1], call[2], call[3])));
        nlohmann::ordered_json second = nlohmann::ordered_json::array();
        nlohmann::ordered_json im = image_item(std::nullopt);
        im["crop"] = {crop[0], crop[1], crop[2], crop[3]};
        second.push_back(im);
        second.push_back(detail::text_item(std::string(prompts::zoom_followup)));
        c.messages.push_back(detail::message("user", std::move(second)));
        c.messages.push_back(detail::message("assistant", rec.answer));
        c.images.push_back(image_ref{rec.image, crop[2] - crop[0], crop[3] - crop[1], 0, 0, crop});
    } else {
        c.task = "vqa";
        content.push_back(detail::text_item(question));
        c.messages.push_back(detail::message("user", std::move(content)));
        c.messages.push_back(detail::message("assistant", rec.answer));
    }
    return c;
}

/// LRS-VQA-Zoom sample as VisualCOTDataset builds it: the full image is smart-resized with the
/// budget (`add_resized_size_to_metainfo`; the reference applies no random resize here).
inline conversation build_lrsvqa_zoom(const vqa_record& rec, const build_options& opt, python_random& rng) {
    // the reference draws nothing here (its default strategy, the budget, draws nothing either)
    const resolution::size rs = detail::plan_size(rec.width, rec.height, opt, detail::default_sizing::budget, rng);
    return build_lrsvqa_zoom(rec, std::optional<resolution::size>(rs), opt.disable_visual_cot);
}

}  // namespace rscovlm::data
