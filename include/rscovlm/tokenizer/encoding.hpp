#pragma once
/// \file encoding.hpp
/// Training encoding of a conversation: `input_ids` plus `labels` where only the assistant's text
/// and its `<|im_end|>` are supervised.
///
/// Mirrors RSCoVLM's `process_to_train_qwen2_5_vl_with_default_chat_template`
/// (rscovlm/training/data/processing_message.py): the conversation is laid out exactly like the
/// Qwen2.5-VL chat template, as a list of (text, supervised) spans; consecutive spans with the
/// same flag are concatenated; each resulting span is tokenized **separately** and the ids are
/// concatenated. Labels are the ids for supervised spans and `ignore_index` (-100) elsewhere.
///
/// How this differs from tokenizing the rendered prompt as one string: the pre-tokenizer regex
/// and NFC cannot look across a span boundary. The boundaries are right after
/// `<|im_start|>assistant\n` and right after the assistant's `<|im_end|>`; the special tokens
/// already cut the text there, so the only differences come from the newline that precedes the
/// assistant's text: an answer that starts with white space or a line break (e.g. "\n\nabc")
/// yields "\n" + "\n\n..." instead of one "\n\n\n" token, and an answer that starts with a
/// combining mark does not compose with that newline (it never would). For every other answer
/// the ids equal `encode(render(messages))`.
///
/// Vision items become `<|vision_start|>` + N pads + `<|vision_end|>` with N = t*h*w/merge^2 from
/// the given grids (one pad per item when no grids are given, as the template writes it).
/// Unlike the reference (which indexes `content['type']` and fails on untyped items) the items
/// are classified like the chat template does, so untyped items work too.

#include <rscovlm/errors.hpp>
#include <rscovlm/limits.hpp>
#include <rscovlm/tokenizer/bpe.hpp>
#include <rscovlm/tokenizer/chat_template.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rscovlm::tokenizer {

/// Options of `encode_conversation`.
struct conversation_options {
    bool add_vision_id = false;
    bool add_generation_prompt = false;
    std::vector<std::array<long long, 3>> image_grid_thw; ///< one per image item, in order (optional)
    std::vector<std::array<long long, 3>> video_grid_thw; ///< one per video item, in order (optional)
    int merge_size = 2;
    /// Keep at most this many tokens (0 = no limit). Truncation keeps the beginning; cutting
    /// inside a vision block raises `rscovlm.limit.max_length` (the model could not use it).
    std::size_t max_length = 0;
    std::int32_t ignore_index = -100;
};

/// One span of the conversation layout.
struct conversation_span {
    std::string text;
    bool supervised = false;
};

/// Result of `encode_conversation`.
struct conversation_encoding {
    std::vector<std::int32_t> input_ids;
    std::vector<std::int32_t> labels; ///< same length; ignore_index where not supervised
    bool truncated = false;
    std::size_t original_length = 0; ///< length before truncation
    /// Number of supervised tokens.
    std::size_t supervised_count() const {
        std::size_t n = 0;
        for (std::size_t i = 0; i < labels.size(); ++i)
            n += labels[i] == input_ids[i];
        return n;
    }
};

/// The (text, supervised) spans of a conversation, already merged (consecutive spans with the
/// same flag joined), as RSCoVLM lays them out.
inline std::vector<conversation_span> conversation_spans(const nlohmann::json& messages,
                                                         const conversation_options& opt = {}) {
    if (!messages.is_array())
        RSCOVLM_THROW(tokenizer_error, "bad_message",
                      "messages must be a JSON array, got " + std::string(messages.type_name()));
    std::vector<conversation_span> spans;
    auto add = [&](std::string text, bool sup) {
        if (!spans.empty() && spans.back().supervised == sup)
            spans.back().text += text;
        else
            spans.push_back({std::move(text), sup});
    };
    std::size_t images = 0, videos = 0;
    std::uint64_t total_pads = 0;
    auto vision = [&](const char* pad, const std::vector<std::array<long long, 3>>& grids, std::size_t index) {
        long long n = 1;
        if (!grids.empty()) {
            if (index >= grids.size())
                RSCOVLM_THROW(tokenizer_error, "vision_count_mismatch",
                              "the conversation has more " + std::string(pad) + " items than the " +
                                  std::to_string(grids.size()) + " grid_thw entries given");
            n = vision_pad_count(grids[index], opt.merge_size);
        }
        total_pads += static_cast<std::uint64_t>(n);
        limits::check("tokens", total_pads, "the vision pad tokens of the conversation's grid_thw entries");
        std::string s = "<|vision_start|>";
        for (long long k = 0; k < n; ++k)
            s += pad;
        s += "<|vision_end|>";
        return s;
    };
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const nlohmann::json& m = messages[i];
        std::string where = "messages[" + std::to_string(i) + "]";
        if (!m.is_object()) RSCOVLM_THROW(tokenizer_error, "bad_message", where + " must be an object");
        std::string role = message_role(m);
        auto role_it = m.find("role");
        bool is_system = role_it != m.end() && role_it->is_string() && role == "system";
        bool assistant = role_it != m.end() && role_it->is_string() && role == "assistant";
        if (i == 0 && !is_system) add(std::string(qwen2_5_vl_template::default_system), false);
        add("<|im_start|>" + role + "\n", false);
        auto content_it = m.find("content");
        if (content_it != m.end() && content_it->is_string()) {
            add(content_it->get<std::string>(), assistant);
        } else if (content_it != m.end()) {
            nlohmann::json items = detail::content_items(*content_it, where);
            for (std::size_t k = 0; k < items.size(); ++k) {
                const nlohmann::json& item = items[k];
                switch (classify_content(item, where + ".content[" + std::to_string(k) + "]")) {
                case content_kind::image:
                    ++images;
                    if (opt.add_vision_id) add("Picture " + std::to_string(images) + ": ", false);
                    add(vision("<|image_pad|>", opt.image_grid_thw, images - 1), false);
                    break;
                case content_kind::video:
                    ++videos;
                    if (opt.add_vision_id) add("Video " + std::to_string(videos) + ": ", false);
                    add(vision("<|video_pad|>", opt.video_grid_thw, videos - 1), false);
                    break;
                case content_kind::text:
                    add(content_text(item), assistant);
                    break;
                case content_kind::none:
                    break;
                }
            }
        }
        add("<|im_end|>", assistant);
        add("\n", false);
    }
    if (opt.add_generation_prompt) add("<|im_start|>assistant\n", false);
    if (!opt.image_grid_thw.empty() && images != opt.image_grid_thw.size())
        RSCOVLM_THROW(tokenizer_error, "vision_count_mismatch",
                      std::to_string(opt.image_grid_thw.size()) + " image_grid_thw entries for " +
                          std::to_string(images) + " images");
    if (!opt.video_grid_thw.empty() && videos != opt.video_grid_thw.size())
        RSCOVLM_THROW(tokenizer_error, "vision_count_mismatch",
                      std::to_string(opt.video_grid_thw.size()) + " video_grid_thw entries for " +
                          std::to_string(videos) + " videos");
    return spans;
}

/// Tokenizes a conversation for training: span-wise tokenization, assistant-only labels,
/// optional truncation (see the file comment for the exact semantics).
inline conversation_encoding encode_conversation(const bpe_tokenizer& tok, const nlohmann::json& messages,
                                                 const conversation_options& opt = {}) {
    conversation_encoding enc;
    for (const conversation_span& s : conversation_spans(messages, opt)) {
        std::size_t before = enc.input_ids.size();
        tok.encode_into(s.text, enc.input_ids);
        for (std::size_t k = before; k < enc.input_ids.size(); ++k)
            enc.labels.push_back(s.supervised ? enc.input_ids[k] : opt.ignore_index);
    }
    enc.original_length = enc.input_ids.size();
    if (opt.max_length > 0 && enc.input_ids.size() > opt.max_length) {
        // The cut is inside a vision block when the first dropped token is a pad or <|vision_end|>.
        std::int32_t first_dropped = enc.input_ids[opt.max_length];
        for (const char* t : {"<|image_pad|>", "<|video_pad|>", "<|vision_end|>"}) {
            auto id = tok.token_to_id(t);
            if (id && *id == first_dropped)
                RSCOVLM_THROW(limit_error, "max_length",
                              "truncating to max_length " + std::to_string(opt.max_length) +
                                  " would cut a vision block (the conversation has " +
                                  std::to_string(enc.input_ids.size()) + " tokens)");
        }
        enc.input_ids.resize(opt.max_length);
        enc.labels.resize(opt.max_length);
        enc.truncated = true;
    }
    return enc;
}

} // namespace rscovlm::tokenizer
