// Unit tests: LLaVA-style samples with <video> through the data engine (encode_sample, shards).
#include <rscovlm/data/all.hpp>
#include <rscovlm/engine/all.hpp>
#include <rscovlm/io/safetensors.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

using namespace rscovlm;

namespace {
std::string vs_data(const std::string& f) {
    return std::string(RSCOVLM_TEST_DATA_DIR) + "/" + f;
}
} // namespace

TEST_CASE("data: a LLaVA <video> sample encodes with video pads, grids, second_per_grid_ts and M-RoPE") {
    namespace fs = std::filesystem;
    const std::string tok_path = vs_data("tokenizer/qwen/tokenizer.json");
    REQUIRE(fs::exists(tok_path));
    const auto tok = tokenizer::bpe_tokenizer::from_file(tok_path);
    data::chat_record r;
    r.id = "v1";
    r.videos = {vs_data("video/frames_a")};
    r.conversations = nlohmann::json::parse(
        R"([{"from":"human","value":"<video>\nWhat moves in this clip?"},{"from":"gpt","value":"A red square."}])");
    data::build_options bo;
    data::python_random rng(0);
    const data::conversation c = data::build_chat(r, bo, rng);
    REQUIRE(c.messages[0]["content"][0]["type"] == "video");
    CHECK(engine::message_videos(nlohmann::json::parse(c.messages.dump())) ==
          std::vector<std::string>{vs_data("video/frames_a")});

    engine::sample_encode_options eo;
    eo.keep_pixels = true;
    eo.video.min_pixels = 3136;
    eo.video.max_pixels = 12544;
    eo.video.torch_kernel = imaging::torch_kernel::scalar;
    eo.video_source_fps = 6.0;
    const engine::encoded_sample s = engine::encode_sample(c, tok, eo);
    // Golden case 0 of tests/data/video: 4 frames at 1.6 fps, grid (2, 6, 8), 24 tokens, 1.25 s per grid.
    REQUIRE(s.video_grid_thw.size() == 1);
    CHECK(s.video_grid_thw[0] == std::array<int, 3>{2, 6, 8});
    REQUIRE(s.second_per_grid_ts.size() == 1);
    CHECK(s.second_per_grid_ts[0] == 1.25f);
    CHECK(s.video_pixel_rows == 96);
    CHECK(s.pixel_values_videos.size() == 96u * 1176);
    CHECK(s.image_grid_thw.empty());
    const auto vpad = tok.token_to_id("<|video_pad|>");
    const auto vstart = tok.token_to_id("<|vision_start|>");
    REQUIRE(vpad.has_value());
    REQUIRE(vstart.has_value());
    std::size_t pads = 0, first = s.input_ids.size();
    for (std::size_t i = 0; i < s.input_ids.size(); ++i)
        if (s.input_ids[i] == *vpad) {
            ++pads;
            first = std::min(first, i);
        }
    CHECK(pads == 24);
    REQUIRE(first > 0);
    CHECK(s.input_ids[first - 1] == *vstart);
    // Temporal positions: int(t * 1.25 * 2) -> 0 for the first 12 pads, 2 for the next 12.
    const std::int64_t base = s.position_ids[0][first];
    CHECK(s.position_ids[0][first + 11] == base);
    CHECK(s.position_ids[0][first + 12] == base + 2);
    CHECK(s.position_ids[1][first + 12] == base); // row 0 of the second temporal slice
    CHECK(s.position_ids[2][first + 12 + 3] == base + 3);
    // Text after the block continues from the largest position (w: base + 3) + 1.
    CHECK(s.position_ids[0][first + 24] == base + 4);
    // Labels supervise only the answer.
    std::vector<std::int32_t> sup;
    for (std::size_t i = 0; i < s.labels.size(); ++i)
        if (s.labels[i] != -100) sup.push_back(s.labels[i]);
    CHECK(tok.decode(sup) == "A red square.<|im_end|>");

    // Truncation inside or before the video block drops it with its pixels.
    engine::sample_encode_options shortopt = eo;
    shortopt.max_length = 8;
    const engine::encoded_sample t = engine::encode_sample(c, tok, shortopt);
    CHECK(t.truncated);
    CHECK(t.video_grid_thw.empty());
    CHECK(t.second_per_grid_ts.empty());
    CHECK(t.pixel_values_videos.empty());

    // Shards carry the video tensors.
    const fs::path dir = fs::temp_directory_path() / "rscovlm_test_video_shards";
    fs::remove_all(dir);
    {
        engine::shard_writer w(dir.string(), 4);
        w.add(s, 0);
        w.add(t, 1);
        w.flush();
    }
    auto f = io::safetensors::file::open((dir / "shard-00000.safetensors").string());
    CHECK(f.info("video_grid_thw").shape == std::vector<std::int64_t>{1, 3});
    CHECK(f.info("video_offsets").shape == std::vector<std::int64_t>{3});
    CHECK(f.info("second_per_grid_ts").shape == std::vector<std::int64_t>{1});
    CHECK(f.info("pixel_values_videos").shape == std::vector<std::int64_t>{96, 1176});
    CHECK(f.info("video_pixel_offsets").shape == std::vector<std::int64_t>{2});
    fs::remove_all(dir);

    // A custom video loader (no files) and bad video items.
    data::conversation bad = c;
    bad.messages[0]["content"][0].erase("video");
    bad.messages[0]["content"][0]["type"] = "video";
    CHECK_FALSE(try_call([&] { return engine::encode_sample(bad, tok, eo); }).ok());
    data::conversation missing = c;
    missing.messages[0]["content"][0]["video"] = "file://" + (dir / "nowhere").string();
    auto m = try_call([&] { return engine::encode_sample(missing, tok, eo); });
    REQUIRE_FALSE(m.ok());
    CHECK(m.error().id == "rscovlm.io.not_found");
    engine::sample_encode_options nofps = eo;
    nofps.video_source_fps.reset();
    auto nf = try_call([&] { return engine::encode_sample(c, tok, nofps); });
    REQUIRE_FALSE(nf.ok());
    CHECK(nf.error().id == "rscovlm.io.bad_fps");
}
