#include <doctest/doctest.h>

#include "tokenizer_support.hpp"

#include <rscovlm/registry.hpp>
#include <rscovlm/tokenizer/builtin.hpp>

#include <string>
#include <vector>

using namespace rscovlm::tokenizer;
using nlohmann::json;
using tokenizer_test::data_path;
using tokenizer_test::qwen;
using tokenizer_test::read_jsonl;

TEST_CASE("tokenizer: chat template golden cases (Jinja2 and @huggingface/jinja agree)") {
    qwen2_5_vl_template t;
    auto rows = read_jsonl(data_path("chat_template/cases.jsonl"));
    REQUIRE(rows.size() == 42);
    for (const auto& r : rows) {
        CAPTURE(r["name"].get<std::string>());
        std::string text = t.render(r["messages"], render_options::from_json(r["options"]));
        CHECK(text == r["rendered"].get<std::string>());
        CHECK(qwen().encode(text) == r["ids"].get<std::vector<std::int32_t>>());
    }
}

TEST_CASE("tokenizer: the Zoom-in tool system prompt is RSCoVLM's, verbatim") {
    bool found = false;
    for (const auto& r : read_jsonl(data_path("chat_template/cases.jsonl"))) {
        if (r["name"].get<std::string>().rfind("zoom_in/", 0) != 0) continue;
        const json& sys = r["messages"][0];
        REQUIRE(sys["role"] == "system");
        CHECK(sys["content"].get<std::string>() == zoom_tool_system_prompt());
        found = true;
    }
    CHECK(found);
    CHECK(zoom_tool_call(679, 121, 834, 285) ==
          "<tool_call>\n{\"name\": \"image_zoom_in\", \"arguments\": {\"bbox\": [679, 121, 834, 285]}}\n</tool_call>");
}

TEST_CASE("tokenizer: template semantics beyond the golden set") {
    qwen2_5_vl_template t;
    render_options gen;
    gen.add_generation_prompt = true;
    CHECK(t.render(json::array(), gen) == "<|im_start|>assistant\n");
    CHECK(t.render(json::array(), {}) == "");
    // missing content renders an empty body; missing role renders ""
    CHECK(t.render(json::array({{{"role", "user"}}}), {}) ==
          "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|im_end|>\n");
    CHECK(t.render(json::array({{{"content", "hi"}}}), {}) ==
          "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>\nhi<|im_end|>\n");
    // text values that are not strings are written as Python's str() would
    CHECK(t.render(json::array({{{"role", "system"},
                                 {"content", json::array({{{"text", 5}}, {{"text", nullptr}}, {{"text", true}}})}}}),
                   {}) == "<|im_start|>system\n5NoneTrue<|im_end|>\n");
    // errors: content null, messages not an array, item of a wrong type
    CHECK_THROWS_AS(t.render(json::array({{{"role", "user"}, {"content", nullptr}}}), {}), rscovlm::tokenizer_error);
    CHECK_THROWS_AS(t.render(json::object(), {}), rscovlm::tokenizer_error);
    CHECK_THROWS_AS(t.render(json::array({{{"role", "user"}, {"content", json::array({5})}}}), {}),
                    rscovlm::tokenizer_error);
    // Python truthiness of options
    CHECK(render_options::from_json({{"add_generation_prompt", 1}}).add_generation_prompt);
    CHECK(!render_options::from_json({{"add_generation_prompt", ""}}).add_generation_prompt);
    CHECK(!render_options::from_json({{"add_vision_id", nullptr}}).add_vision_id);
    CHECK(render_options::from_json({{"add_vision_id", "yes"}}).add_vision_id);
}

TEST_CASE("tokenizer: vision pad expansion with grid_thw and merge size") {
    qwen2_5_vl_template t;
    json msgs = json::array(
        {{{"role", "user"},
          {"content",
           json::array(
               {{{"type", "image"}}, {{"type", "video"}}, {{"type", "image"}}, {{"type", "text"}, {"text", "?"}}})}}});
    render_options opt;
    opt.image_grid_thw = {{1, 4, 6}, {1, 2, 2}};
    opt.video_grid_thw = {{2, 4, 4}};
    std::string text = t.render(msgs, opt);
    auto count = [&](const std::string& s, const std::string& pad) {
        std::size_t n = 0;
        for (std::size_t p = s.find(pad); p != std::string::npos; p = s.find(pad, p + 1))
            ++n;
        return n;
    };
    CHECK(count(text, "<|image_pad|>") == 6 + 1);
    CHECK(count(text, "<|video_pad|>") == 8);
    CHECK(text.find("<|vision_start|>" + std::string(6 * 13, 'x')) == std::string::npos);
    CHECK(expand_vision_pads("a<|image_pad|>b<|image_pad|>", "<|image_pad|>", {{1, 2, 2}, {1, 4, 4}}, 2) ==
          "a<|image_pad|>b<|image_pad|><|image_pad|><|image_pad|><|image_pad|>");
    CHECK(vision_pad_count({1, 98, 146}, 2) == 3577);
    CHECK_THROWS_WITH_AS(expand_vision_pads("<|image_pad|>", "<|image_pad|>", {}, 2),
                         doctest::Contains("rscovlm.tokenizer.vision_count_mismatch"), rscovlm::tokenizer_error);
    CHECK_THROWS_AS(expand_vision_pads("x", "<|image_pad|>", {{1, 2, 2}}, 2), rscovlm::tokenizer_error);
    CHECK_THROWS_AS(vision_pad_count({1, 3, 3}, 2), rscovlm::tokenizer_error);
    // the expanded prompt tokenizes to one id per pad
    auto ids = qwen().encode(text);
    std::size_t pads = 0;
    for (auto id : ids)
        pads += id == 151655;
    CHECK(pads == 7);
}

TEST_CASE("tokenizer: training encoding supervises only assistant text and its <|im_end|>") {
    const auto& tok = qwen();
    json msgs = json::array({
        {{"role", "system"}, {"content", zoom_tool_system_prompt()}},
        {{"role", "user"},
         {"content", json::array({{{"type", "image"}}, {{"type", "text"}, {"text", "How many ships?"}}})}},
        {{"role", "assistant"}, {"content", zoom_tool_call(1, 2, 30, 40)}},
        {{"role", "user"}, {"content", json::array({{{"type", "image"}}, {{"type", "text"}, {"text", "Zoomed."}}})}},
        {{"role", "assistant"}, {"content", json::array({{{"type", "text"}, {"text", "3"}}})}},
    });
    conversation_options co;
    auto enc = encode_conversation(tok, msgs, co);
    REQUIRE(enc.input_ids.size() == enc.labels.size());
    // same ids as rendering + encoding the whole prompt for this conversation
    CHECK(enc.input_ids == tok.encode(qwen2_5_vl_template().render(msgs, {})));
    // the supervised tokens decode to exactly the assistant texts and their <|im_end|>
    std::vector<std::int32_t> sup;
    for (std::size_t i = 0; i < enc.labels.size(); ++i)
        if (enc.labels[i] != -100) sup.push_back(enc.labels[i]);
    CHECK(tok.decode(sup) == zoom_tool_call(1, 2, 30, 40) + "<|im_end|>3<|im_end|>");
    CHECK(enc.supervised_count() == sup.size());
    CHECK(!enc.truncated);

    // spans are merged by flag
    auto spans = conversation_spans(msgs, co);
    for (std::size_t i = 1; i < spans.size(); ++i)
        CHECK(spans[i].supervised != spans[i - 1].supervised);

    // expansion with grids
    co.image_grid_thw = {{1, 8, 8}, {1, 4, 4}};
    auto big = encode_conversation(tok, msgs, co);
    CHECK(big.input_ids.size() == enc.input_ids.size() + 15 + 3);

    // a leading newline in the answer: span-wise ids differ from whole-string ids (documented)
    json nl = json::array({{{"role", "user"}, {"content", "q"}}, {{"role", "assistant"}, {"content", "\n\nabc"}}});
    auto e2 = encode_conversation(tok, nl, {});
    auto whole = tok.encode(qwen2_5_vl_template().render(nl, {}));
    CHECK(e2.input_ids != whole);
    CHECK(tok.decode(e2.input_ids) == tok.decode(whole));

    // truncation keeps the beginning; cutting inside a vision block is refused
    conversation_options tr;
    tr.max_length = 10;
    auto cut = encode_conversation(tok, msgs, tr);
    CHECK(cut.truncated);
    CHECK(cut.input_ids.size() == 10);
    CHECK(cut.original_length == enc.input_ids.size());
    std::vector<std::int32_t> head(enc.input_ids.begin(), enc.input_ids.begin() + 10);
    CHECK(cut.input_ids == head);
    auto pos = std::find(enc.input_ids.begin(), enc.input_ids.end(), 151655) - enc.input_ids.begin();
    tr.max_length = static_cast<std::size_t>(pos);
    CHECK_THROWS_WITH_AS(encode_conversation(tok, msgs, tr), doctest::Contains("rscovlm.limit.max_length"),
                         rscovlm::limit_error);
    // too few grids
    conversation_options few;
    few.image_grid_thw = {{1, 2, 2}};
    CHECK_THROWS_AS(encode_conversation(tok, msgs, few), rscovlm::tokenizer_error);
}

TEST_CASE("tokenizer: chat_template registry kind") {
    auto t = rscovlm::registry::make<template_kind>("chat.qwen2_5_vl", json::object());
    REQUIRE(t);
    render_options o;
    o.add_generation_prompt = true;
    CHECK(t->render(json::array({{{"role", "user"}, {"content", "hi"}}}), o) ==
          "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
          "<|im_start|>assistant\n");
    CHECK_THROWS_AS(rscovlm::registry::make<template_kind>("chat.nope", json::object()), rscovlm::registry_error);
}
