// M-RoPE position ids against tests/data/mrope (transformers.js get_rope_index, cross-checked).
#include <doctest/doctest.h>

#include <rscovlm/resolution/rope_index.hpp>

#include "support/test_support.hpp"

using namespace rscovlm;

namespace {
std::vector<std::array<int, 3>> grids(const nlohmann::json& j) {
    std::vector<std::array<int, 3>> out;
    for (const auto& g : j)
        out.push_back({{g[0].get<int>(), g[1].get<int>(), g[2].get<int>()}});
    return out;
}
int run_file(const std::string& path, resolution::rope_model model) {
    int n = 0;
    for (const auto& c : rscovlm_test::read_jsonl(path)) {
        INFO(c["id"].get<std::string>());
        resolution::rope_options o;
        o.model = model;
        o.spatial_merge_size = c["spatial_merge_size"].get<int>();
        const auto ids = c["input_ids"].get<std::vector<std::int64_t>>();
        const auto r = resolution::get_rope_index(
            ids, grids(c["image_grid_thw"]),
            c.contains("video_grid_thw") ? grids(c["video_grid_thw"]) : std::vector<std::array<int, 3>>{}, o);
        for (int a = 0; a < 3; ++a)
            CHECK(r.position_ids[static_cast<std::size_t>(a)] ==
                  c["expected_position_ids"][static_cast<std::size_t>(a)].get<std::vector<std::int64_t>>());
        CHECK(r.rope_delta == c["expected_rope_deltas"][0].get<std::int64_t>());
        ++n;
    }
    return n;
}
} // namespace

TEST_CASE("resolution: M-RoPE image cases are identical") {
    CHECK(run_file(rscovlm_test::data_dir() + "/mrope/cases.jsonl", resolution::rope_model::qwen2_5_vl) >= 40);
}

TEST_CASE("resolution: M-RoPE video cases (Qwen2-VL temporal rule) are identical") {
    CHECK(run_file(rscovlm_test::data_dir() + "/mrope/cases_video_qwen2vl.jsonl", resolution::rope_model::qwen2_vl) >=
          10);
}

TEST_CASE("resolution: M-RoPE Qwen2.5-VL temporal rule, text-only and bad input") {
    // One video block, grid 3x4x4 (merged 2x2 per frame), second_per_grid_t 0.5, tokens_per_second 2:
    // t index = int(frame * 0.5 * 2) = frame.  With 1.0: 2*frame.
    std::vector<std::int64_t> ids{1, 151652};
    for (int i = 0; i < 12; ++i)
        ids.push_back(151656);
    ids.push_back(151653);
    resolution::rope_options o;
    o.second_per_grid_ts = {1.0f};
    const auto r = resolution::get_rope_index(ids, {}, {{{3, 4, 4}}}, o);
    CHECK(r.position_ids[0][2] == 2);
    CHECK(r.position_ids[0][6] == 4);  // frame 1 -> +2
    CHECK(r.position_ids[0][10] == 6); // frame 2 -> +4
    CHECK(r.position_ids[1][13] == 3); // last pad: row 1
    CHECK(r.position_ids[0][14] == 7); // <|vision_end|> after max 6
    CHECK(r.rope_delta == 7 + 1 - 15);
    o.model = resolution::rope_model::qwen2_vl;
    CHECK(resolution::get_rope_index(ids, {}, {{{3, 4, 4}}}, o).position_ids[0][10] == 4);

    const auto t = resolution::get_rope_index({5, 6, 7}, {});
    CHECK(t.position_ids[2] == std::vector<std::int64_t>{0, 1, 2});
    CHECK(t.rope_delta == 0);
    // Pads that do not match the grid, a missing grid, vision_start at the end.
    CHECK_THROWS_AS(resolution::get_rope_index({151652, 151655, 151655, 151653}, {{{1, 4, 4}}}), resolution_error);
    CHECK_THROWS_AS(resolution::get_rope_index({151652, 151655, 151653, 151652, 151655}, {{{1, 2, 2}}}),
                    resolution_error);
    CHECK_THROWS_AS(resolution::get_rope_index({1, 151652}, {{{1, 2, 2}}}), resolution_error);
    // attention mask: masked tokens get 1, the rest are computed on the unmasked subsequence.
    const auto m = resolution::get_rope_index({0, 151652, 151655, 151653, 9}, {{{1, 2, 2}}}, {}, {}, {0, 1, 1, 1, 1});
    CHECK(m.position_ids[0] == std::vector<std::int64_t>{1, 0, 1, 2, 3});
    CHECK(m.rope_delta == 3 + 1 - 5);
}
