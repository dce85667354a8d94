// One concept: the Qwen2.5-VL chat template and tokenizer. Loads the bundled tokenizer, renders a
// one-image chat exactly as the reference template does (checked against the ids the reference
// tokenizer produced for it), expands the image pad the way the processor does for a 448x448
// image, builds the training encoding (assistant-only labels) and decodes the ids back to text.
#include <rscovlm/tokenizer/bpe.hpp>
#include <rscovlm/tokenizer/chat_template.hpp>
#include <rscovlm/tokenizer/encoding.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

static int failed(const char* what) {
    std::printf("FAILED: %s\n", what);
    return 1;
}

int main() {
    using namespace rscovlm;
    using nlohmann::json;
    const auto tok =
        tokenizer::bpe_tokenizer::from_file(std::string(RSCOVLM_EXAMPLE_DATA_DIR) + "/tokenizer/qwen/tokenizer.json");
    std::printf("tokenizer: %zu ids\n", tok.vocab_size());

    // 1. Render the prompt (no system message: the template adds the default one).
    json messages = json::array(
        {{{"role", "user"},
          {"content", json::array({{{"type", "image"}}, {{"type", "text"}, {"text", "Describe this image."}}})}}});
    tokenizer::qwen2_5_vl_template tmpl;
    tokenizer::render_options ro;
    ro.add_generation_prompt = true;
    const std::string prompt = tmpl.render(messages, ro);
    const std::vector<std::int32_t> ids = tok.encode(prompt);
    std::printf("prompt (%zu bytes, %zu tokens):\n%s", prompt.size(), ids.size(), prompt.c_str());
    // The reference (transformers apply_chat_template + the Qwen2.5-VL tokenizer) gives these ids.
    const std::vector<std::int32_t> reference{151644, 8948, 198,    2610,   525, 264,    10950,  17847,  13,
                                              151645, 198,  151644, 872,    198, 151652, 151655, 151653, 74785,
                                              419,    2168, 13,     151645, 198, 151644, 77091,  198};
    if (ids != reference) return failed("prompt ids differ from the reference");
    if (tok.decode(ids) != prompt) return failed("decode(encode(prompt)) != prompt");

    // 2. The processor's pad expansion: a 448x448 image is a 1x32x32 patch grid, 256 merged tokens.
    ro.image_grid_thw = {{1, 32, 32}};
    const std::vector<std::int32_t> expanded = tok.encode(tmpl.render(messages, ro));
    const auto pad = tok.require_special_token_id("<|image_pad|>");
    const auto pads = std::count(expanded.begin(), expanded.end(), pad);
    std::printf("with a 1x32x32 grid: %zu tokens, %ld of them <|image_pad|>\n", expanded.size(),
                static_cast<long>(pads));
    if (pads != 256 || expanded.size() != ids.size() - 1 + 256) return failed("pad expansion");

    // 3. Training encoding: the answer and its <|im_end|> are supervised, nothing else.
    const std::string answer = "An airport with two planes on the apron.";
    messages.push_back({{"role", "assistant"}, {"content", answer}});
    tokenizer::conversation_options co;
    co.image_grid_thw = {{1, 32, 32}};
    const auto enc = tokenizer::encode_conversation(tok, messages, co);
    const std::size_t answer_tokens = tok.encode(answer).size();
    std::printf("training encoding: %zu tokens, %zu supervised (answer %zu + <|im_end|>)\n", enc.input_ids.size(),
                enc.supervised_count(), answer_tokens);
    if (enc.supervised_count() != answer_tokens + 1) return failed("supervised token count");
    tokenizer::render_options full;
    full.image_grid_thw = co.image_grid_thw;
    if (enc.input_ids != tok.encode(tmpl.render(messages, full)))
        return failed("span-wise encoding differs from encoding the rendered conversation");
    std::vector<std::int32_t> supervised;
    for (std::size_t i = 0; i < enc.labels.size(); ++i)
        if (enc.labels[i] != co.ignore_index) supervised.push_back(enc.labels[i]);
    const std::string target = tok.decode(supervised);
    std::printf("supervised text: %s\n", target.c_str());
    if (target != answer + "<|im_end|>") return failed("supervised span is not the answer");
    if (tok.decode(supervised, true) != answer) return failed("skip_special decode");
    std::printf("ok\n");
    return 0;
}
