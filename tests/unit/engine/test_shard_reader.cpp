// Unit tests: engine::shard_reader reads back what engine::shard_writer and engine::packed_shard_writer write
// (every field), and turns every malformed shard (wrong dtype, bad shape, offsets negative, past the
// data, decreasing or empty, bad grids) into a typed data_error instead of reading out of bounds.
#include <rscovlm/engine/all.hpp>
#include <rscovlm/engine/shard_reader.hpp>

#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace shard_reader_test {

namespace st = rscovlm::io::safetensors;
using rscovlm::engine::shard_reader;

std::filesystem::path scratch(const std::string& name) {
    auto p = std::filesystem::temp_directory_path() / ("rscovlm_shard_reader_" + name);
    std::filesystem::remove_all(p);
    return p;
}

/// `rows` pixel rows whose values are exact in bfloat16.
std::vector<float> pixel_rows(std::size_t rows, float base) {
    std::vector<float> v(rows * 1176);
    for (std::size_t k = 0; k < v.size(); ++k)
        v[k] = base + static_cast<float>(k % 64) / 8.0f;
    return v;
}

rscovlm::engine::encoded_sample sample_with(std::size_t tokens, std::int32_t first_id,
                                            std::vector<std::array<int, 3>> grids, bool pixels) {
    rscovlm::engine::encoded_sample s;
    for (std::size_t k = 0; k < tokens; ++k) {
        s.input_ids.push_back(first_id + static_cast<std::int32_t>(k));
        s.labels.push_back(k % 2 ? first_id + static_cast<std::int32_t>(k) : -100);
        for (std::size_t a = 0; a < 3; ++a)
            s.position_ids[a].push_back(static_cast<std::int64_t>(k * (a + 1)));
    }
    s.image_grid_thw = std::move(grids);
    std::size_t rows = 0;
    for (const auto& g : s.image_grid_thw)
        rows += static_cast<std::size_t>(g[0] * g[1] * g[2]);
    if (pixels && rows) {
        s.pixel_values = pixel_rows(rows, static_cast<float>(first_id % 7));
        s.pixel_rows = rows;
    }
    return s;
}

/// The tensors of a shard, by name, editable before serialisation.
struct raw_tensor {
    st::dtype type;
    std::vector<std::int64_t> shape;
    std::vector<std::uint8_t> bytes;
};
using raw_shard = std::map<std::string, raw_tensor>;

template <class T> raw_tensor raw(st::dtype type, std::vector<std::int64_t> shape, const std::vector<T>& values) {
    raw_tensor t{type, std::move(shape), std::vector<std::uint8_t>(values.size() * sizeof(T))};
    if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
    return t;
}

/// A valid plain shard of 3 samples (4, 3 and 5 tokens; sample 1 has two images with pixels).
raw_shard plain_shard() {
    raw_shard s;
    std::vector<std::int32_t> ids(12), labels(12, -100);
    for (std::size_t k = 0; k < 12; ++k)
        ids[k] = static_cast<std::int32_t>(100 + k);
    std::vector<std::int64_t> pos(36);
    for (std::size_t k = 0; k < 36; ++k)
        pos[k] = static_cast<std::int64_t>(k % 12);
    s["input_ids"] = raw(st::dtype::i32, {12}, ids);
    s["labels"] = raw(st::dtype::i32, {12}, labels);
    s["position_ids"] = raw(st::dtype::i64, {3, 12}, pos);
    s["sample_offsets"] = raw(st::dtype::i64, {4}, std::vector<std::int64_t>{0, 4, 7, 12});
    s["image_grid_thw"] = raw(st::dtype::i32, {2, 3}, std::vector<std::int32_t>{1, 2, 2, 1, 2, 4});
    s["image_offsets"] = raw(st::dtype::i64, {4}, std::vector<std::int64_t>{0, 0, 2, 2});
    s["sample_index"] = raw(st::dtype::i64, {3}, std::vector<std::int64_t>{5, 9, 2});
    s["truncated"] = raw(st::dtype::u8, {3}, std::vector<std::uint8_t>{0, 1, 0});
    s["pixel_values"] = raw(st::dtype::bf16, {12, 1176}, std::vector<std::uint16_t>(12 * 1176, 0x3f80));
    s["pixel_offsets"] = raw(st::dtype::i64, {3}, std::vector<std::int64_t>{0, 4, 12});
    return s;
}

/// A valid packed shard of 2 packs (5 tokens: members of 3 and 2; 4 tokens: one member and one cut off).
raw_shard packed_shard() {
    raw_shard s;
    std::vector<std::int32_t> ids(9, 7), labels(9, -100);
    s["input_ids"] = raw(st::dtype::i32, {9}, ids);
    s["labels"] = raw(st::dtype::i32, {9}, labels);
    s["position_ids"] = raw(st::dtype::i64, {3, 9}, std::vector<std::int64_t>(27, 0));
    s["pack_offsets"] = raw(st::dtype::i64, {3}, std::vector<std::int64_t>{0, 5, 9});
    s["cu_seqlens"] = raw(st::dtype::i64, {5}, std::vector<std::int64_t>{0, 3, 5, 0, 4});
    s["cu_seqlens_offsets"] = raw(st::dtype::i64, {3}, std::vector<std::int64_t>{0, 3, 5});
    s["member_offsets"] = raw(st::dtype::i64, {3}, std::vector<std::int64_t>{0, 2, 4});
    s["member_index"] = raw(st::dtype::i64, {4}, std::vector<std::int64_t>{3, 1, 0, 2});
    s["member_length"] = raw(st::dtype::i64, {4}, std::vector<std::int64_t>{3, 2, 4, 6});
    s["image_grid_thw"] = raw(st::dtype::i32, {1, 3}, std::vector<std::int32_t>{1, 2, 2});
    s["image_offsets"] = raw(st::dtype::i64, {3}, std::vector<std::int64_t>{0, 1, 1});
    s["truncated"] = raw(st::dtype::u8, {2}, std::vector<std::uint8_t>{0, 1});
    return s;
}

shard_reader read_raw(const raw_shard& s, const std::string& format) {
    std::vector<st::tensor_view> views;
    for (const auto& kv : s) {
        st::tensor_view v;
        v.name = kv.first;
        v.type = kv.second.type;
        v.shape = kv.second.shape;
        v.data = kv.second.bytes.data();
        v.size_bytes = kv.second.bytes.size();
        views.push_back(v);
    }
    return shard_reader(st::file::from_bytes(st::serialize(views, {{"format", format}}), "test-shard"));
}

/// The id of the error reading `s` raises ("none" when it reads).
std::string read_error(const raw_shard& s, const std::string& format = rscovlm::engine::shard_format) {
    try {
        (void)read_raw(s, format);
    } catch (const rscovlm::data_error& e) {
        return e.id();
    }
    return "none";
}

template <class T>
void set_values(raw_shard& s, const std::string& name, std::vector<std::int64_t> shape, const std::vector<T>& v) {
    const st::dtype type = s.at(name).type;
    s[name] = raw(type, std::move(shape), v);
}

} // namespace shard_reader_test

TEST_CASE("data: shard_reader reads back every field the plain shard writer writes (images, pixels, videos)") {
    using namespace shard_reader_test;
    const auto dir = scratch("plain");
    rscovlm::engine::shard_writer w(dir.string(), 16);
    std::vector<rscovlm::engine::encoded_sample> in;
    in.push_back(sample_with(6, 10, {{1, 2, 2}}, true));
    in.push_back(sample_with(3, 50, {}, true));
    in.push_back(sample_with(9, 80, {{1, 4, 2}, {1, 2, 2}}, true));
    in.back().truncated = true;
    // A video sample: grids, second_per_grid_ts and video pixel rows.
    in[1].video_grid_thw = {{2, 2, 2}};
    in[1].second_per_grid_ts = {0.5f};
    in[1].pixel_values_videos = pixel_rows(8, 2.0f);
    in[1].video_pixel_rows = 8;
    for (std::size_t k = 0; k < in.size(); ++k)
        w.add(in[k], 40 + k);
    w.flush();
    REQUIRE(w.files().size() == 1);

    const auto r = shard_reader::open((dir / w.files()[0]["file"].get<std::string>()).string());
    CHECK(r.kind() == rscovlm::engine::shard_kind::plain);
    REQUIRE(r.size() == 3);
    CHECK(r.tokens() == 18);
    CHECK(r.has_pixels());
    CHECK(r.has_videos());
    CHECK(r.has_video_pixels());
    for (std::size_t k = 0; k < in.size(); ++k) {
        const auto s = r.sample(k);
        CHECK(s.position == k);
        CHECK(s.index == static_cast<std::int64_t>(40 + k));
        CHECK(s.truncated == in[k].truncated);
        CHECK(s.input_ids == in[k].input_ids);
        CHECK(s.labels == in[k].labels);
        for (std::size_t a = 0; a < 3; ++a)
            CHECK(s.position_ids[a] == in[k].position_ids[a]);
        REQUIRE(s.grid_thw.size() == in[k].image_grid_thw.size());
        for (std::size_t g = 0; g < s.grid_thw.size(); ++g)
            CHECK(s.grid_thw[g] == rscovlm::engine::shard_grid{in[k].image_grid_thw[g][0], in[k].image_grid_thw[g][1],
                                                               in[k].image_grid_thw[g][2]});
        CHECK(s.pixel_values == in[k].pixel_values);
        CHECK(s.video_grid_thw.size() == in[k].video_grid_thw.size());
        CHECK(s.second_per_grid_ts == in[k].second_per_grid_ts);
        CHECK(s.pixel_values_videos == in[k].pixel_values_videos);
        const auto [b, e] = r.token_range(k);
        CHECK(e - b == in[k].input_ids.size());
    }
    CHECK(r.sample(2, false).pixel_values.empty());
    CHECK_THROWS_WITH_AS(r.sample(3), doctest::Contains("rscovlm.data.index_out_of_range"), rscovlm::data_error);
    CHECK_THROWS_WITH_AS(r.pack(0), doctest::Contains("rscovlm.data.not_packed_shard"), rscovlm::data_error);
    std::filesystem::remove_all(dir);
}

TEST_CASE("data: shard_reader reads back packs: members, spans from cu_seqlens, grids and pixels") {
    using namespace shard_reader_test;
    const auto dir = scratch("packed");
    rscovlm::engine::packed_shard_writer w(dir.string(), 8);
    rscovlm::data::packed_sequence a;
    a.input_ids = {1, 2, 3, 4, 5};
    a.labels = {-100, 2, 3, -100, 5};
    for (std::size_t x = 0; x < 3; ++x)
        a.position_ids[x] = {0, 1, 2, 0, 1};
    a.cu_seqlens = {0, 3, 5};
    a.grid_thw = {{1, 2, 2}};
    a.pixel_values = pixel_rows(4, 1.0f);
    a.pixel_rows = 4;
    a.member_lengths = {3, 2};
    a.member_images = {1, 0};
    rscovlm::data::packed_sequence b;
    b.input_ids = {6, 7, 8, 9};
    b.labels = {6, 7, 8, 9};
    for (std::size_t x = 0; x < 3; ++x)
        b.position_ids[x] = {0, 1, 2, 3};
    b.cu_seqlens = {0, 4};
    b.member_lengths = {4, 6};
    b.member_images = {0, 0};
    b.truncated = true;
    w.add(a, {7, 3});
    w.add(b, {1, 9});
    w.flush();
    REQUIRE(w.files().size() == 1);

    const auto r = shard_reader::open((dir / w.files()[0]["file"].get<std::string>()).string());
    CHECK(r.kind() == rscovlm::engine::shard_kind::packed);
    REQUIRE(r.size() == 2);
    CHECK(r.samples() == 4);
    CHECK(r.tokens() == 9);
    const auto p0 = r.pack(0), p1 = r.pack(1);
    CHECK(p0.input_ids == a.input_ids);
    CHECK(p0.labels == a.labels);
    CHECK(p0.position_ids[1] == a.position_ids[1]);
    CHECK(p0.cu_seqlens == a.cu_seqlens);
    REQUIRE(p0.members.size() == 2);
    CHECK(p0.members[0].index == 7);
    CHECK(p0.members[1].length == 2);
    REQUIRE(p0.members[1].span.has_value());
    CHECK(p0.members[1].span->first == 3);
    CHECK(p0.members[1].span->second == 5);
    CHECK(p0.grid_thw.size() == 1);
    CHECK(p0.pixel_values == a.pixel_values);
    CHECK_FALSE(p0.truncated);
    CHECK(p1.truncated);
    CHECK(p1.input_ids == b.input_ids);
    REQUIRE(p1.members.size() == 2);
    CHECK(p1.members[0].span.has_value());
    CHECK_FALSE(p1.members[1].span.has_value()); // cut off by the pack length
    CHECK(p1.pixel_values.empty());
    CHECK_THROWS_WITH_AS(r.sample(0), doctest::Contains("rscovlm.data.not_plain_shard"), rscovlm::data_error);
    std::filesystem::remove_all(dir);
}

TEST_CASE("data: shard_reader accepts the hand-made valid shards the malformed cases start from") {
    using namespace shard_reader_test;
    CHECK(read_error(plain_shard()) == "none");
    CHECK(read_error(packed_shard(), rscovlm::engine::packed_shard_format) == "none");
    const auto r = read_raw(plain_shard(), rscovlm::engine::shard_format);
    CHECK(r.sample(1).pixel_values.size() == 12 * 1176);
    CHECK(r.sample(1).pixel_values[0] == 1.0f);
}

TEST_CASE("data: shard_reader rejects malformed plain shards with a typed error") {
    using namespace shard_reader_test;
    const std::string dtype_id = "rscovlm.data.shard_dtype", shape_id = "rscovlm.data.shard_shape",
                      offsets_id = "rscovlm.data.shard_offsets";
    auto s = plain_shard();

    SUBCASE("sample_offsets past the data") {
        set_values(s, "sample_offsets", {4}, std::vector<std::int64_t>{0, 4, 7, 4000000});
        CHECK(read_error(s) == offsets_id);
    }
    SUBCASE("sample_offsets in bounds but ending before the data does") {
        set_values(s, "sample_offsets", {4}, std::vector<std::int64_t>{0, 4, 7, 10});
        CHECK(read_error(s) == offsets_id);
    }
    SUBCASE("negative sample_offsets") {
        set_values(s, "sample_offsets", {4}, std::vector<std::int64_t>{0, -1024, 7, 12});
        CHECK(read_error(s) == offsets_id);
    }
    SUBCASE("decreasing sample_offsets") {
        set_values(s, "sample_offsets", {4}, std::vector<std::int64_t>{0, 8, 7, 12});
        CHECK(read_error(s) == offsets_id);
    }
    SUBCASE("sample_offsets not starting at 0") {
        set_values(s, "sample_offsets", {4}, std::vector<std::int64_t>{2, 4, 7, 12});
        CHECK(read_error(s) == offsets_id);
    }
    SUBCASE("empty sample_offsets") {
        set_values(s, "sample_offsets", {0}, std::vector<std::int64_t>{});
        CHECK(read_error(s) == offsets_id);
    }
    SUBCASE("U8 sample_offsets") {
        s["sample_offsets"] = raw(st::dtype::u8, {4}, std::vector<std::uint8_t>{0, 4, 7, 12});
        CHECK(read_error(s) == dtype_id);
    }
    SUBCASE("I32 input_ids written as I64") {
        s["input_ids"] = raw(st::dtype::i64, {12}, std::vector<std::int64_t>(12, 1));
        CHECK(read_error(s) == dtype_id);
    }
    SUBCASE("2-D sample_offsets") {
        s["sample_offsets"] = raw(st::dtype::i64, {2, 2}, std::vector<std::int64_t>{0, 4, 7, 12});
        CHECK(read_error(s) == shape_id);
    }
    SUBCASE("image_offsets past the grids") {
        set_values(s, "image_offsets", {4}, std::vector<std::int64_t>{0, 0, 2, 9});
        CHECK(read_error(s) == offsets_id);
    }
    SUBCASE("negative image_offsets") {
        set_values(s, "image_offsets", {4}, std::vector<std::int64_t>{0, -2, 2, 2});
        CHECK(read_error(s) == offsets_id);
    }
    SUBCASE("image_offsets of the wrong length") {
        set_values(s, "image_offsets", {3}, std::vector<std::int64_t>{0, 0, 2});
        CHECK(read_error(s) == shape_id);
    }
    SUBCASE("empty image_offsets") {
        set_values(s, "image_offsets", {0}, std::vector<std::int64_t>{});
        CHECK(read_error(s) == offsets_id);
    }
    SUBCASE("labels shorter than input_ids") {
        set_values(s, "labels", {11}, std::vector<std::int32_t>(11, -100));
        CHECK(read_error(s) == shape_id);
    }
    SUBCASE("position_ids with two axes") {
        set_values(s, "position_ids", {2, 12}, std::vector<std::int64_t>(24, 0));
        CHECK(read_error(s) == shape_id);
    }
    SUBCASE("sample_index of the wrong length") {
        set_values(s, "sample_index", {2}, std::vector<std::int64_t>{1, 2});
        CHECK(read_error(s) == shape_id);
    }
    SUBCASE("a missing tensor") {
        s.erase("labels");
        CHECK(read_error(s) == "rscovlm.data.bad_shard");
    }
    SUBCASE("pixel rows that disagree with the grids") {
        set_values(s, "pixel_offsets", {3}, std::vector<std::int64_t>{0, 5, 12});
        CHECK(read_error(s) == offsets_id);
    }
    SUBCASE("pixel_values without pixel_offsets") {
        s.erase("pixel_offsets");
        CHECK(read_error(s) == "rscovlm.data.bad_shard");
    }
    SUBCASE("pixel rows of the wrong width") {
        s["pixel_values"] = raw(st::dtype::bf16, {12, 1000}, std::vector<std::uint16_t>(12 * 1000, 0));
        CHECK(read_error(s) == shape_id);
    }
    SUBCASE("a zero grid") {
        set_values(s, "image_grid_thw", {2, 3}, std::vector<std::int32_t>{1, 0, 2, 1, 2, 4});
        CHECK(read_error(s) == "rscovlm.data.shard_grid");
    }
    SUBCASE("a truncated flag other than 0 or 1") {
        set_values(s, "truncated", {3}, std::vector<std::uint8_t>{0, 7, 0});
        CHECK(read_error(s) == "rscovlm.data.shard_value");
    }
    SUBCASE("an unknown format") {
        CHECK(read_error(s, "rscovlm.shard.v9") == "rscovlm.data.bad_shard");
    }
}

TEST_CASE("data: shard_reader rejects malformed packed shards with a typed error") {
    using namespace shard_reader_test;
    const std::string packed = rscovlm::engine::packed_shard_format, offsets_id = "rscovlm.data.shard_offsets";
    auto s = packed_shard();

    SUBCASE("pack_offsets past the data") {
        set_values(s, "pack_offsets", {3}, std::vector<std::int64_t>{0, 5, 90});
        CHECK(read_error(s, packed) == offsets_id);
    }
    SUBCASE("empty pack_offsets") {
        set_values(s, "pack_offsets", {0}, std::vector<std::int64_t>{});
        CHECK(read_error(s, packed) == offsets_id);
    }
    SUBCASE("a cu_seqlens boundary past its pack") {
        set_values(s, "cu_seqlens", {5}, std::vector<std::int64_t>{0, 3, 5, 0, 6});
        CHECK(read_error(s, packed) == offsets_id);
    }
    SUBCASE("decreasing cu_seqlens") {
        set_values(s, "cu_seqlens", {5}, std::vector<std::int64_t>{0, 3, 2, 0, 4});
        CHECK(read_error(s, packed) == offsets_id);
    }
    SUBCASE("member_offsets past the members") {
        set_values(s, "member_offsets", {3}, std::vector<std::int64_t>{0, 2, 5});
        CHECK(read_error(s, packed) == offsets_id);
    }
    SUBCASE("negative member_offsets") {
        set_values(s, "member_offsets", {3}, std::vector<std::int64_t>{0, -2, 4});
        CHECK(read_error(s, packed) == offsets_id);
    }
    SUBCASE("member_length shorter than member_index") {
        set_values(s, "member_length", {3}, std::vector<std::int64_t>{3, 2, 4});
        CHECK(read_error(s, packed) == "rscovlm.data.shard_shape");
    }
    SUBCASE("I32 cu_seqlens") {
        s["cu_seqlens"] = raw(st::dtype::i32, {5}, std::vector<std::int32_t>{0, 3, 5, 0, 4});
        CHECK(read_error(s, packed) == "rscovlm.data.shard_dtype");
    }
    SUBCASE("image_offsets past the grids") {
        set_values(s, "image_offsets", {3}, std::vector<std::int64_t>{0, 1, 3});
        CHECK(read_error(s, packed) == offsets_id);
    }
    SUBCASE("a missing tensor") {
        s.erase("cu_seqlens_offsets");
        CHECK(read_error(s, packed) == "rscovlm.data.bad_shard");
    }
}
