// Unit tests: the Qwen2.5-VL processor against the reference's own outputs: transformers'
// `Qwen2_5_VLProcessor` (generation prompts: ids, grids, pixel hashes, M-RoPE) and the training
// samples of the Qwen2.5-VL training oracle (ids, labels, M-RoPE, pixel values).
#include <doctest/doctest.h>

#include <rscovlm/data/detail/sha256.hpp>
#include <rscovlm/processor/processor.hpp>

#include <nlohmann/json.hpp>

#include "support/fixtures.hpp"

#include <fstream>
#include <string>
#include <vector>

namespace {

const std::string processor_dir = std::string(RSCOVLM_TEST_DATA_DIR) + "/processor/";

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
    std::ifstream f(path);
    REQUIRE(f.good());
    std::vector<nlohmann::json> out;
    std::string line;
    while (std::getline(f, line))
        if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    return out;
}

std::vector<std::array<int, 3>> grids_of(const nlohmann::json& j) {
    std::vector<std::array<int, 3>> g;
    for (const auto& x : j)
        g.push_back({x.at(0).get<int>(), x.at(1).get<int>(), x.at(2).get<int>()});
    return g;
}

std::array<std::vector<std::int64_t>, 3> positions_of(const nlohmann::json& j) {
    std::array<std::vector<std::int64_t>, 3> p;
    for (std::size_t a = 0; a < 3; ++a)
        p[a] = j.at(a).get<std::vector<std::int64_t>>();
    return p;
}

} // namespace

TEST_CASE("processor: generation mode equals Qwen2_5_VLProcessor (ids, grids, pixels, M-RoPE)") {
    using namespace rscovlm;
    const auto tok = tokenizer::bpe_tokenizer::from_file(processor_dir + "tokenizer.json");
    processor::options o;
    o.mode = processor::mode::generation;
    o.budget = resolution::budget_hf_default;
    const processor::qwen2_5_vl_processor proc(tok, o);
    const auto cases = read_jsonl(processor_dir + "generation_cases.jsonl");
    REQUIRE(cases.size() == 6);
    for (const auto& c : cases) {
        CAPTURE(c.at("id").get<std::string>());
        std::vector<image> images;
        for (const auto& p : c.at("images"))
            images.push_back(rscovlm_test::load_image(processor_dir + p.get<std::string>()));
        const processor::encoding e = proc.encode(c.at("messages"), images, false);
        CHECK(e.input_ids == c.at("input_ids").get<std::vector<std::int32_t>>());
        CHECK(e.labels.empty());
        CHECK(e.image_grid_thw == grids_of(c.at("image_grid_thw")));
        CHECK(e.position_ids == positions_of(c.at("position_ids")));
        CHECK(e.rope_delta == c.at("rope_delta").get<std::int64_t>());
        // Per-image pixel hashes (float32 little-endian rows of each image).
        REQUIRE(e.plans.size() == images.size());
        std::size_t offset = 0;
        for (std::size_t i = 0; i < images.size(); ++i) {
            const auto& g = e.image_grid_thw[i];
            const std::size_t n = static_cast<std::size_t>(g[0]) * g[1] * g[2] * 1176;
            REQUIRE(offset + n <= e.pixel_values.size());
            CHECK(data::detail::sha256_hex(e.pixel_values.data() + offset, n * sizeof(float)) ==
                  c.at("pixel_values_sha256").at(i).get<std::string>());
            offset += n;
            // The plan carries the sizes: these images are kept at their size by the HF budget.
            CHECK(e.plans[i].original_width == images[i].width);
            CHECK(e.plans[i].resized_width == g[2] * 14);
            CHECK(e.plans[i].resized_height == g[1] * 14);
            CHECK(e.plans[i].grid_thw == g);
            CHECK(e.plans[i].tokens == static_cast<long long>(g[1]) * g[2] / 4);
        }
        CHECK(offset == e.pixel_values.size());
        CHECK(e.pixel_rows * 1176 == e.pixel_values.size());
        // The prompt text is what the template renders, pads expanded.
        CHECK(tok.encode(e.text) == e.input_ids);
    }
}

TEST_CASE("processor: training mode equals the reference's training samples (ids, labels, M-RoPE, pixels)") {
    using namespace rscovlm;
    const auto tok = tokenizer::bpe_tokenizer::from_file(processor_dir + "tokenizer.json");
    processor::options o;
    o.mode = processor::mode::training;
    o.budget = resolution::budget_hf_default;
    const processor::qwen2_5_vl_processor proc(tok, o);
    const auto samples = read_jsonl(processor_dir + "training_samples.jsonl");
    REQUIRE(samples.size() == 8);
    for (const auto& s : samples) {
        CAPTURE(s.at("index").get<int>());
        const image img = rscovlm_test::load_image(processor_dir + s.at("image").get<std::string>());
        const processor::encoding e = proc.encode(s.at("messages"), {img}, false);
        CHECK(e.input_ids == s.at("input_ids").get<std::vector<std::int32_t>>());
        CHECK(e.labels == s.at("labels").get<std::vector<std::int32_t>>());
        CHECK(e.position_ids == positions_of(s.at("position_ids")));
        REQUIRE(e.image_grid_thw.size() == 1);
        const auto& g = s.at("image_grid_thw");
        CHECK(e.image_grid_thw[0] == std::array<int, 3>{g.at(0).get<int>(), g.at(1).get<int>(), g.at(2).get<int>()});
        const auto ref = rscovlm_test::load_npy_f32(processor_dir + s.at("pixel_values").get<std::string>()).values;
        CHECK(e.pixel_values == ref);
        CHECK_FALSE(e.truncated);
        CHECK(e.original_length == e.input_ids.size());
    }
}

TEST_CASE("processor: truncation drops the cut images with their rows and plans; keep_pixels off keeps none") {
    using namespace rscovlm;
    const auto tok = tokenizer::bpe_tokenizer::from_file(processor_dir + "tokenizer.json");
    const image a = rscovlm_test::load_image(processor_dir + "images/img_56x56.png");
    const image b = rscovlm_test::load_image(processor_dir + "images/img_84x140.png");
    const nlohmann::json messages = nlohmann::json::parse(R"([
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "first"}, {"type": "image"}]},
        {"role": "assistant", "content": "answer"}])");
    processor::options o;
    o.budget = resolution::budget_hf_default;
    const processor::encoding full = processor::qwen2_5_vl_processor(tok, o).encode(messages, {a, b}, false);
    REQUIRE(full.image_grid_thw.size() == 2);
    CHECK(full.pixel_rows == 16 + 60);
    // Cut right after the first image's block and the word "first" (byte-level ids: one per byte).
    const auto ve = tok.token_to_id("<|vision_end|>");
    REQUIRE(ve.has_value());
    std::size_t first_end = 0;
    while (full.input_ids[first_end] != *ve)
        ++first_end;
    o.max_length = first_end + 1 + 5;
    const processor::encoding cut = processor::qwen2_5_vl_processor(tok, o).encode(messages, {a, b}, false);
    CHECK(cut.truncated);
    CHECK(cut.original_length == full.input_ids.size());
    CHECK(cut.input_ids.size() == o.max_length);
    CHECK(cut.image_grid_thw.size() == 1);
    CHECK(cut.plans.size() == 1);
    CHECK(cut.pixel_rows == 16);
    CHECK(cut.pixel_values.size() == 16 * 1176);
    CHECK(std::equal(cut.pixel_values.begin(), cut.pixel_values.end(), full.pixel_values.begin()));
    CHECK(cut.position_ids[0].size() == o.max_length);
    // Cutting inside a vision block is an error (the model could not use the block).
    o.max_length = first_end - 3;
    CHECK_THROWS_AS(processor::qwen2_5_vl_processor(tok, o).encode(messages, {a, b}, false), limit_error);
    o.max_length = 0;
    o.keep_pixels = false;
    const processor::encoding sizes = processor::qwen2_5_vl_processor(tok, o).encode(messages, {a, b}, false);
    CHECK(sizes.pixel_values.empty());
    CHECK(sizes.pixel_rows == 0);
    CHECK(sizes.image_grid_thw == full.image_grid_thw);
    CHECK(sizes.input_ids == full.input_ids);
}

TEST_CASE("processor: sizing through a resolution strategy, a chosen size, or the budget") {
    using namespace rscovlm;
    const auto tok = tokenizer::bpe_tokenizer::from_file(processor_dir + "tokenizer.json");
    const image b = rscovlm_test::load_image(processor_dir + "images/img_84x140.png"); // 140 wide, 84 high
    const nlohmann::json messages = nlohmann::json::parse(R"([{"role": "user", "content": [{"type": "image"}]}])");
    processor::options o;
    o.mode = processor::mode::generation;
    o.strategy = std::make_shared<resolution::fixed_square>(56);
    const processor::encoding sq = processor::qwen2_5_vl_processor(tok, o).encode(messages, {b}, false);
    REQUIRE(sq.plans.size() == 1);
    const auto expect = resolution::smart_resize(84, 140, 28, 56LL * 56, 56LL * 56);
    CHECK(sq.plans[0].resized_height == expect.height);
    CHECK(sq.plans[0].resized_width == expect.width);
    CHECK(sq.plans[0].min_pixels == 56LL * 56);
    CHECK(sq.image_grid_thw[0] == std::array<int, 3>{1, expect.height / 14, expect.width / 14});
    // A chosen size is used as is (the strategy is not consulted).
    const processor::encoding chosen = processor::qwen2_5_vl_processor(tok, o).encode(messages, 1, [&](std::size_t) {
        return processor::image_input{b, resolution::size{112, 56}};
    });
    CHECK(chosen.image_grid_thw[0] == std::array<int, 3>{1, 8, 4});
    CHECK(chosen.plans[0].frames().to_original_x(56) == doctest::Approx(140.0));
    // Resized images keep their size; an empty image is a typed error.
    const processor::encoding kept = processor::qwen2_5_vl_processor(tok, o).encode(messages, {b}, true);
    CHECK(kept.image_grid_thw[0] == std::array<int, 3>{1, 6, 10});
    CHECK_THROWS_AS(processor::qwen2_5_vl_processor(tok, o).encode(messages, {image{}}, false), resolution_error);
    // Image count and image items must agree.
    CHECK_THROWS_AS(processor::qwen2_5_vl_processor(tok, o).encode(messages, {b, b}, false), tokenizer_error);
    // ordered_json conversations convert structurally.
    nlohmann::ordered_json oj =
        nlohmann::ordered_json::parse(R"({"b": [1, -2, 3.5, "x", true, null], "a": {"k": 18446744073709551615}})");
    CHECK(processor::to_messages(oj) == nlohmann::json::parse(oj.dump()));
}
