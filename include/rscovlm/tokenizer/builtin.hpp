#pragma once
/// \file builtin.hpp
/// The catalogs of the tokenizer module: kind `tokenizer` (text <-> ids) and kind
/// `chat_template` (messages -> prompt text).

#include <rscovlm/registry.hpp>
#include <rscovlm/tokenizer/bpe.hpp>
#include <rscovlm/tokenizer/chat_template.hpp>

#include <string_view>

namespace rscovlm::tokenizer {

/// Built-in tokenizers.
using builtin = registry::type_list<bpe_tokenizer>;

/// Registry kind `tokenizer`: components derive from `text_tokenizer`.
struct kind {
    static constexpr std::string_view name = "tokenizer";
    using interface = text_tokenizer;
    using builtin_list = builtin;
};

/// Built-in chat templates.
using builtin_templates = registry::type_list<qwen2_5_vl_template>;

/// Registry kind `chat_template`: components derive from `chat_template`.
struct template_kind {
    static constexpr std::string_view name = "chat_template";
    using interface = chat_template;
    using builtin_list = builtin_templates;
};

} // namespace rscovlm::tokenizer
