#pragma once
/// \file chat_template.hpp
/// The Qwen2.5-VL chat template rendered natively, byte-exact with the Jinja template of
/// Qwen/Qwen2.5-VL-7B-Instruct as transformers renders it (`apply_chat_template`,
/// `ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)`), and the vision-pad
/// expansion of `Qwen2_5_VLProcessor.__call__`.
///
/// Template semantics reproduced (messages in the Hugging Face format):
///  - the default system prompt is written only when the first message's role is not "system";
///  - string content is written verbatim; list content items are classified in the template's
///    order: image (`type == "image"`, or an `image` or `image_url` key, even with a null value),
///    then video (`type == "video"` or a `video` key), then text (a `text` key); anything else
///    renders nothing;
///  - `add_vision_id` prefixes `Picture N: ` / `Video N: ` with counters running across the
///    whole conversation;
///  - Jinja details: a missing `content` renders as an empty body, a missing role as "", values
///    that are not strings are written as Python's `str()` would, option truthiness is Python's.

#include <rscovlm/detail/py/format.hpp>
#include <rscovlm/errors.hpp>
#include <rscovlm/limits.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace rscovlm::tokenizer {

/// Options of a chat-template rendering.
struct render_options {
    bool add_generation_prompt = false; ///< append `<|im_start|>assistant\n`
    bool add_vision_id = false;         ///< prefix `Picture N: ` / `Video N: `
    /// When non-empty, each `<|image_pad|>` is expanded to t*h*w / merge_size^2 pads (one grid per
    /// image, in order), as `Qwen2_5_VLProcessor` does after rendering.
    std::vector<std::array<long long, 3>> image_grid_thw;
    /// Same for `<|video_pad|>`.
    std::vector<std::array<long long, 3>> video_grid_thw;
    int merge_size = 2; ///< spatial merge size of the vision tower

    /// Reads `add_generation_prompt`, `add_vision_id` (Jinja truthiness: absent/null/false/0/""/[]/{}
    /// are false), `image_grid_thw`, `video_grid_thw` and `merge_size` from a JSON object.
    static render_options from_json(const nlohmann::json& j);
};

/// Interface of the `chat_template` registry kind.
class chat_template {
public:
    virtual ~chat_template() = default;
    /// Renders HF-format `messages` (a JSON array) to the prompt text.
    virtual std::string render(const nlohmann::json& messages, const render_options& opt = {}) const = 0;
};

/// Kind of a list-content item, classified as the Qwen2.5-VL template does.
enum class content_kind { image, video, text, none };

namespace detail {

/// Python truthiness of a JSON value (what `{% if x %}` tests).
inline bool truthy(const nlohmann::json& v) {
    switch (v.type()) {
    case nlohmann::json::value_t::null:
        return false;
    case nlohmann::json::value_t::boolean:
        return v.get<bool>();
    case nlohmann::json::value_t::number_integer:
        return v.get<std::int64_t>() != 0;
    case nlohmann::json::value_t::number_unsigned:
        return v.get<std::uint64_t>() != 0;
    case nlohmann::json::value_t::number_float:
        return v.get<double>() != 0.0;
    case nlohmann::json::value_t::string:
        return !v.get_ref<const std::string&>().empty();
    case nlohmann::json::value_t::array:
    case nlohmann::json::value_t::object:
        return !v.empty();
    default:
        return true;
    }
}

inline std::string python_repr_string(const std::string& s) {
    // Python str.__repr__: single quotes unless the text has ' and no ".
    bool has_single = s.find('\'') != std::string::npos, has_double = s.find('"') != std::string::npos;
    char q = (has_single && !has_double) ? '"' : '\'';
    std::string out(1, q);
    for (unsigned char c : s) {
        if (c == static_cast<unsigned char>(q) || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7F) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    out.push_back(q);
    return out;
}

/// Python `str(float)` (`detail::py::float_repr`).
inline std::string python_float(double d) {
    return ::rscovlm::detail::py::float_repr(d);
}

/// What Jinja's `{{ value }}` writes for a JSON value in the Python reference (`str(value)`).
inline std::string python_str(const nlohmann::json& v, bool nested = false) {
    switch (v.type()) {
    case nlohmann::json::value_t::null:
        return "None";
    case nlohmann::json::value_t::boolean:
        return v.get<bool>() ? "True" : "False";
    case nlohmann::json::value_t::number_integer:
        return std::to_string(v.get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned:
        return std::to_string(v.get<std::uint64_t>());
    case nlohmann::json::value_t::number_float:
        return python_float(v.get<double>());
    case nlohmann::json::value_t::string:
        return nested ? python_repr_string(v.get_ref<const std::string&>()) : v.get<std::string>();
    case nlohmann::json::value_t::array: {
        std::string out = "[";
        bool first = true;
        for (const auto& e : v) {
            if (!first) out += ", ";
            first = false;
            out += python_str(e, true);
        }
        return out + "]";
    }
    case nlohmann::json::value_t::object: {
        std::string out = "{";
        bool first = true;
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (!first) out += ", ";
            first = false;
            out += python_repr_string(it.key()) + ": " + python_str(it.value(), true);
        }
        return out + "}";
    }
    default:
        return "";
    }
}

/// Jinja `needle in container` for a content item (dict: key test; str: substring; list: element).
inline bool jinja_in(const std::string& needle, const nlohmann::json& container, const std::string& where) {
    if (container.is_object()) return container.contains(needle);
    if (container.is_string()) return container.get_ref<const std::string&>().find(needle) != std::string::npos;
    if (container.is_array()) {
        for (const auto& e : container)
            if (e.is_string() && e.get_ref<const std::string&>() == needle) return true;
        return false;
    }
    RSCOVLM_THROW(tokenizer_error, "bad_message",
                  where + ": a content item must be an object (got " + std::string(container.type_name()) +
                      "; the template's 'in' test fails on it)");
}

/// The items `{% for content in message['content'] %}` iterates over (dict: its keys).
inline nlohmann::json content_items(const nlohmann::json& content, const std::string& where) {
    if (content.is_array()) return content;
    if (content.is_object()) {
        nlohmann::json keys = nlohmann::json::array();
        for (auto it = content.begin(); it != content.end(); ++it)
            keys.push_back(it.key());
        return keys;
    }
    RSCOVLM_THROW(tokenizer_error, "bad_message",
                  where + ": 'content' must be a string or a list of items, got " + std::string(content.type_name()));
}

} // namespace detail

/// Classifies a content item in the template's order (image, video, text, none).
inline content_kind classify_content(const nlohmann::json& item, const std::string& where = "content item") {
    auto type_is = [&](const char* t) {
        if (!item.is_object()) return false;
        auto it = item.find("type");
        return it != item.end() && it->is_string() && it->get_ref<const std::string&>() == t;
    };
    if (type_is("image") || detail::jinja_in("image", item, where) || detail::jinja_in("image_url", item, where))
        return content_kind::image;
    if (type_is("video") || detail::jinja_in("video", item, where)) return content_kind::video;
    if (detail::jinja_in("text", item, where)) return content_kind::text;
    return content_kind::none;
}

/// What `{{ content['text'] }}` writes for a text item (empty when the lookup is undefined).
inline std::string content_text(const nlohmann::json& item) {
    if (!item.is_object()) return std::string();
    auto it = item.find("text");
    return it == item.end() ? std::string() : detail::python_str(*it);
}

/// The role as `{{ message['role'] }}` writes it ("" when absent).
inline std::string message_role(const nlohmann::json& message) {
    auto it = message.find("role");
    return it == message.end() ? std::string() : detail::python_str(*it);
}

inline render_options render_options::from_json(const nlohmann::json& j) {
    render_options o;
    if (!j.is_object()) return o;
    if (auto it = j.find("add_generation_prompt"); it != j.end()) o.add_generation_prompt = detail::truthy(*it);
    if (auto it = j.find("add_vision_id"); it != j.end()) o.add_vision_id = detail::truthy(*it);
    auto grids = [&](const char* key, std::vector<std::array<long long, 3>>& out) {
        auto it = j.find(key);
        if (it == j.end() || it->is_null()) return;
        if (!it->is_array())
            RSCOVLM_THROW(tokenizer_error, "bad_option", std::string(key) + " must be a list of [t, h, w] triples");
        for (const auto& g : *it) {
            if (!g.is_array() || g.size() != 3 || !g[0].is_number_integer() || !g[1].is_number_integer() ||
                !g[2].is_number_integer())
                RSCOVLM_THROW(tokenizer_error, "bad_option",
                              std::string(key) + " entries must be [t, h, w] integer triples, got " + g.dump());
            out.push_back({g[0].get<long long>(), g[1].get<long long>(), g[2].get<long long>()});
        }
    };
    grids("image_grid_thw", o.image_grid_thw);
    grids("video_grid_thw", o.video_grid_thw);
    if (auto it = j.find("merge_size"); it != j.end() && !it->is_null()) {
        if (!it->is_number_integer() || it->get<long long>() <= 0 || it->get<long long>() > 64)
            RSCOVLM_THROW(tokenizer_error, "bad_option", "merge_size must be a positive integer, got " + it->dump());
        o.merge_size = it->get<int>();
    }
    return o;
}

/// Number of pad tokens for one image/video of grid (t, h, w): t*h*w / merge_size^2
/// (`image_grid_thw.prod() // merge_length`). Each side must be in [1, 2^20] and t*h*w within the
/// `grid_patches` limit (`rscovlm.limit.grid_patches`).
inline long long vision_pad_count(const std::array<long long, 3>& thw, int merge_size) {
    if (merge_size <= 0) RSCOVLM_THROW(tokenizer_error, "bad_option", "merge_size must be positive");
    for (long long v : thw)
        if (v <= 0 || v > (1LL << 20))
            RSCOVLM_THROW(tokenizer_error, "bad_option",
                          "grid_thw values must be in [1, 2^20], got [" + std::to_string(thw[0]) + ", " +
                              std::to_string(thw[1]) + ", " + std::to_string(thw[2]) + "]");
    long long prod = thw[0] * thw[1] * thw[2];
    limits::check("grid_patches", static_cast<std::uint64_t>(prod),
                  "grid_thw [" + std::to_string(thw[0]) + ", " + std::to_string(thw[1]) + ", " +
                      std::to_string(thw[2]) + "]");
    long long ml = static_cast<long long>(merge_size) * merge_size;
    if (prod % ml != 0)
        RSCOVLM_THROW(tokenizer_error, "bad_option",
                      "grid t*h*w = " + std::to_string(prod) +
                          " is not a multiple of merge_size^2 = " + std::to_string(ml));
    return prod / ml;
}

/// Replaces the i-th occurrence of `pad` in `text` by vision_pad_count(grids[i]) pads, for every
/// occurrence, as `Qwen2_5_VLProcessor.__call__` does. The number of occurrences must equal the
/// number of grids (`rscovlm.tokenizer.vision_count_mismatch` otherwise), and every grid and the total
/// number of pads are checked (`grid_patches`, `tokens` limits) before anything is expanded.
inline std::string expand_vision_pads(std::string_view text, std::string_view pad,
                                      const std::vector<std::array<long long, 3>>& grids, int merge_size) {
    std::size_t pads = 0;
    for (std::size_t f = text.find(pad); !pad.empty() && f != std::string_view::npos;
         f = text.find(pad, f + pad.size()))
        ++pads;
    if (pads != grids.size())
        RSCOVLM_THROW(tokenizer_error, "vision_count_mismatch",
                      std::to_string(grids.size()) + " grid_thw entries given but the text has " +
                          std::to_string(pads) + " " + std::string(pad) + " tokens");
    std::uint64_t total = 0;
    for (const auto& g : grids) {
        total += static_cast<std::uint64_t>(vision_pad_count(g, merge_size));
        limits::check("tokens", total, "the " + std::string(pad) + " tokens the grid_thw entries expand to");
    }
    std::string out;
    out.reserve(text.size() + static_cast<std::size_t>(total) * pad.size());
    std::size_t pos = 0, index = 0;
    for (;;) {
        std::size_t f = text.find(pad, pos);
        if (f == std::string_view::npos) break;
        out.append(text.data() + pos, f - pos);
        if (index >= grids.size())
            RSCOVLM_THROW(tokenizer_error, "vision_count_mismatch",
                          "the text has more " + std::string(pad) + " tokens than the " + std::to_string(grids.size()) +
                              " grid_thw entries given");
        long long n = vision_pad_count(grids[index++], merge_size);
        for (long long k = 0; k < n; ++k)
            out.append(pad.data(), pad.size());
        pos = f + pad.size();
    }
    out.append(text.data() + pos, text.size() - pos);
    if (index != grids.size())
        RSCOVLM_THROW(tokenizer_error, "vision_count_mismatch",
                      std::to_string(grids.size()) + " grid_thw entries given but the text has " +
                          std::to_string(index) + " " + std::string(pad) + " tokens");
    return out;
}

/// Applies `opt`'s image/video grid expansion to rendered text (no-op without grids).
inline std::string expand_vision(std::string text, const render_options& opt) {
    if (!opt.image_grid_thw.empty())
        text = expand_vision_pads(text, "<|image_pad|>", opt.image_grid_thw, opt.merge_size);
    if (!opt.video_grid_thw.empty())
        text = expand_vision_pads(text, "<|video_pad|>", opt.video_grid_thw, opt.merge_size);
    return text;
}

/// The Qwen2.5-VL (= Qwen2-VL) chat template, rendered natively.
class qwen2_5_vl_template : public chat_template {
public:
    static constexpr std::string_view key = "chat.qwen2_5_vl";
    static constexpr std::string_view summary =
        "Qwen2.5-VL chat template (default system prompt, images/videos, vision ids, generation prompt)";

    /// The default system block, written when the first message is not a system message.
    static constexpr std::string_view default_system = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n";

    std::string render(const nlohmann::json& messages, const render_options& opt = {}) const override {
        if (!messages.is_array())
            RSCOVLM_THROW(tokenizer_error, "bad_message",
                          "messages must be a JSON array, got " + std::string(messages.type_name()));
        std::string out;
        long long image_count = 0, video_count = 0;
        for (std::size_t i = 0; i < messages.size(); ++i) {
            const nlohmann::json& m = messages[i];
            std::string where = "messages[" + std::to_string(i) + "]";
            if (!m.is_object()) RSCOVLM_THROW(tokenizer_error, "bad_message", where + " must be an object");
            auto role_it = m.find("role");
            bool is_system =
                role_it != m.end() && role_it->is_string() && role_it->get_ref<const std::string&>() == "system";
            if (i == 0 && !is_system) out += default_system;
            out += "<|im_start|>";
            out += message_role(m);
            out += "\n";
            auto content_it = m.find("content");
            if (content_it != m.end() && content_it->is_string()) {
                out += content_it->get_ref<const std::string&>();
                out += "<|im_end|>\n";
                continue;
            }
            if (content_it != m.end()) {
                nlohmann::json items = detail::content_items(*content_it, where);
                for (std::size_t k = 0; k < items.size(); ++k) {
                    const nlohmann::json& item = items[k];
                    switch (classify_content(item, where + ".content[" + std::to_string(k) + "]")) {
                    case content_kind::image:
                        ++image_count;
                        if (opt.add_vision_id) out += "Picture " + std::to_string(image_count) + ": ";
                        out += "<|vision_start|><|image_pad|><|vision_end|>";
                        break;
                    case content_kind::video:
                        ++video_count;
                        if (opt.add_vision_id) out += "Video " + std::to_string(video_count) + ": ";
                        out += "<|vision_start|><|video_pad|><|vision_end|>";
                        break;
                    case content_kind::text:
                        out += content_text(item);
                        break;
                    case content_kind::none:
                        break;
                    }
                }
            }
            out += "<|im_end|>\n";
        }
        if (opt.add_generation_prompt) out += "<|im_start|>assistant\n";
        if (!opt.image_grid_thw.empty() || !opt.video_grid_thw.empty()) return expand_vision(std::move(out), opt);
        return out;
    }
};

} // namespace rscovlm::tokenizer
