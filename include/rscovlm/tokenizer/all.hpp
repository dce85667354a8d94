#pragma once
/// \file all.hpp
/// Every public header of the tokenizer module.

#include <rscovlm/detail/unicode.hpp>
#include <rscovlm/tokenizer/bpe.hpp>
#include <rscovlm/tokenizer/builtin.hpp>
#include <rscovlm/tokenizer/chat_template.hpp>
#include <rscovlm/tokenizer/encoding.hpp>
#include <rscovlm/tokenizer/pretokenizer.hpp>
#include <rscovlm/tokenizer/tokenizer_json.hpp>
#include <rscovlm/tokenizer/zoom_prompt.hpp>
