#pragma once
/// \file data/builders/chat.hpp
/// Chat (SFT) conversations: LLaVA-style supervised chat and LLaVA-OneVision rows
/// (rscovlm/training/data/sft_dataset.py `get_messages_from_llava_style_conversations`,
/// `random_resize_images_in_messages`), and GeoChat/TEOChat records (xeochat_dataset.py
/// `process_teochatlas_messages`).

#include <rscovlm/box_codec/labels.hpp>
#include <rscovlm/box_codec/prompts.hpp>
#include <rscovlm/box_codec/rscovlm.hpp>
#include <rscovlm/data/builders/common.hpp>
#include <rscovlm/data/prompts.hpp>
#include <rscovlm/data/records.hpp>
#include <rscovlm/errors.hpp>

#include <cctype>
#include <functional>
#include <regex>
#include <string>
#include <vector>

namespace rscovlm::data {

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
        if (role.empty())
            RSCOVLM_THROW(data_error, "bad_record", "invalid role '" + from + "' in conversation " + rec.id);
        std::string value = turn.at("value").get<std::string>();
        value = ::rscovlm::detail::py::strip(::rscovlm::detail::py::replace(
            ::rscovlm::detail::py::replace(value, "<image>\n", "<image>"), "<video>\n", "<video>"));
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
                    RSCOVLM_THROW(data_error, "bad_record",
                                  "conversation " + rec.id + " has more <image> placeholders than images");
                nlohmann::ordered_json im;
                im["type"] = "image";
                im["image"] = "file://" + rec.images[next_image];
                content.push_back(im);
                images.push_back(image_ref{rec.images[next_image], 0, 0, 0, 0, std::nullopt, false});
                ++next_image;
            } else {
                if (next_video >= rec.videos.size())
                    RSCOVLM_THROW(data_error, "bad_record",
                                  "conversation " + rec.id + " has more <video> placeholders than videos");
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

} // namespace detail

/// Supervised LLaVA-style chat (SupervisedDataset `get_messages`). The reference's random resize
/// of chat images (`random_resize_images_in_messages`) fetches each image of a user message with
/// qwen-vl-utils' `fetch_image` at its default budget and puts that image back into the message,
/// draws one `uniform()` per image and discards the size it draws (`image.resize(...)` is not
/// assigned): the draws are reproduced and the images are marked `image_ref::prefetched`.
namespace detail {
/// `random_resize_images_in_messages`: `random() <= prob`, then for every image item of a user
/// message `content['image'] = fetch_image(content)` (`image_ref::prefetched`) and one `uniform()`
/// draw. `c.images` follows the image items of all messages in order.
inline void chat_random_resize(conversation& c, double prob, python_random& rng) {
    if (rng.random() > prob) return;
    std::size_t k = 0;
    for (const auto& m : c.messages) {
        if (!m["content"].is_array()) continue;
        for (const auto& it : m["content"]) {
            if (it["type"] != "image") continue;
            if (m["role"] == "user") {
                (void)rng.random(); // uniform(a, b) = a + (b - a) * random()
                if (k < c.images.size()) c.images[k].prefetched = true;
            }
            ++k;
        }
    }
}
} // namespace detail

inline conversation build_chat(const chat_record& rec, const build_options& opt, python_random& rng) {
    conversation c;
    c.task = "sft";
    c.messages = detail::llava_messages(rec, c.images);
    detail::chat_random_resize(c, opt.resize.prob_random_resize, rng);
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
        auto it = std::find_if(r.conversations.begin(), r.conversations.end(),
                               [](const nlohmann::json& t) { return t.at("from") == "human"; });
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
    detail::chat_random_resize(c, opt.resize.prob_random_resize, rng);
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
            const long long d =
                ::rscovlm::detail::py::int_trunc(static_cast<double>(v[k]) * ((k % 2 == 0) ? w : h) / 100.0);
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
    for (const char* s :
         {"This is a satellite image:", "<video>", "<image>", "Identify", "the location of",
          "Include bounding boxes of the form [x_min, y_min, x_max, y_max] for each identified object in your response",
          "Include a bounding box of the form [x_min, y_min, x_max, y_max] for each identified building in your "
          "response.",
          "If there are no such buildings, do not output a bounding box", "What is "})
        c = ::rscovlm::detail::py::replace(c, s, "");
    c.erase(std::remove_if(c.begin(), c.end(), [](char ch) { return ch >= '0' && ch <= '9'; }), c.end());
    c = ::rscovlm::detail::py::replace(
        ::rscovlm::detail::py::replace(::rscovlm::detail::py::replace(c, "all ", ""), "  ", " "), "?", "");
    // c.strip(".").strip().strip().strip(".").strip()
    c = std::string(::rscovlm::detail::py::strip(::rscovlm::detail::py::strip(
        ::rscovlm::detail::py::strip(::rscovlm::detail::py::strip(::rscovlm::detail::py::strip(c, "."))), ".")));
    static const std::regex re(R"(\[(\d+),\s*(\d+),\s*(\d+),\s*(\d+)\])");
    std::vector<std::array<long long, 4>> boxes;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it)
        boxes.push_back({std::stoll((*it)[1].str()), std::stoll((*it)[2].str()), std::stoll((*it)[3].str()),
                         std::stoll((*it)[4].str())});
    std::string out;
    if (use_json) {
        out = "```json\n[\n\t";
        for (std::size_t k = 0; k < boxes.size(); ++k) {
            if (k) out += ",\n\t";
            out += "{\"bbox_2d\": [" + std::to_string(boxes[k][0]) + ", " + std::to_string(boxes[k][1]) + ", " +
                   std::to_string(boxes[k][2]) + ", " + std::to_string(boxes[k][3]) +
                   "], \"label\": " + py_json_string(c) + "}";
        }
        out += "\n]\n```";
    } else {
        for (std::size_t k = 0; k < boxes.size(); ++k) {
            if (k) out += "\n";
            out += std::to_string(boxes[k][0]) + "," + std::to_string(boxes[k][1]) + "," + std::to_string(boxes[k][2]) +
                   "," + std::to_string(boxes[k][3]) + " " + c;
        }
        out += "\n";
    }
    return out;
}

} // namespace detail

/// Prepares a GeoChat/TEOChat record as TeoChatDataset's constructor does: when the first two
/// turns carry the same boxes (region captioning), the boxes (with the following whitespace) are
/// removed from the answer.
inline chat_record prepare_geochat(chat_record rec) {
    if (rec.conversations.size() < 2) return rec;
    auto boxes = [](const std::string& t) {
        std::vector<std::string> v;
        for (auto it = std::sregex_iterator(t.begin(), t.end(), detail::box_group_re()); it != std::sregex_iterator();
             ++it)
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
            if (c.images.empty())
                RSCOVLM_THROW(data_error, "bad_record", "conversation " + rec.id + " has boxes but no image");
            if (!opt.image_size)
                RSCOVLM_THROW(data_error, "no_image_size", "the GeoChat builder needs build_options::image_size");
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
                    user_text = ::rscovlm::detail::py::strip(::rscovlm::detail::py::replace(
                        ::rscovlm::detail::py::replace(item["text"].get<std::string>(), ". ?", "."), ".. ", "."));
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

} // namespace rscovlm::data
