// Unit tests of the torch-free safetensors reader and writer (include/rscovlm/io/safetensors.hpp).
#include <rscovlm/io/safetensors.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace st = rscovlm::io::safetensors;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
    fs::path path;
    temp_dir() {
        static std::atomic<int> counter{0};
        path = fs::temp_directory_path() /
               ("rscovlm_safetensors_" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) +
                "_" + std::to_string(counter++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

std::vector<std::uint8_t> make_file(const std::string& header, std::size_t data_bytes) {
    std::vector<std::uint8_t> out(8 + header.size() + data_bytes, 0);
    std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i)
        out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
    std::memcpy(out.data() + 8, header.data(), header.size());
    return out;
}

std::string error_id_of(const std::vector<std::uint8_t>& bytes) {
    auto r = rscovlm::try_call([&] { return st::file::from_bytes(bytes); });
    return r ? std::string("ok") : r.error().id;
}

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

} // namespace

TEST_CASE("core: safetensors dtype table") {
    CHECK(st::dtype_name(st::dtype::bf16) == "BF16");
    CHECK(st::dtype_size(st::dtype::i64) == 8);
    CHECK(st::dtype_size(st::dtype::f16) == 2);
    CHECK(st::parse_dtype("F32") == st::dtype::f32);
    CHECK(st::parse_dtype("U8") == st::dtype::u8);
    CHECK_FALSE(st::parse_dtype("f32").has_value());
}

TEST_CASE("core: safetensors half conversions") {
    // IEEE binary16 reference bit patterns.
    CHECK(st::f32_to_f16(1.0f) == 0x3c00);
    CHECK(st::f32_to_f16(-2.0f) == 0xc000);
    CHECK(st::f32_to_f16(65504.0f) == 0x7bff);
    CHECK(st::f32_to_f16(65520.0f) == 0x7c00);                // rounds to infinity
    CHECK(st::f32_to_f16(5.9604644775390625e-8f) == 0x0001);  // smallest subnormal 2^-24
    CHECK(st::f32_to_f16(2.98023223876953125e-8f) == 0x0000); // 2^-25: tie, rounds to even (0)
    CHECK(st::f32_to_f16(1.0009765625f) == 0x3c01);
    CHECK(st::f32_to_f16(1.00048828125f) == 0x3c00); // tie between 0x3c00 and 0x3c01 -> even
    CHECK(st::f16_to_f32(0x3555) == 0.333251953125f);
    CHECK(st::f16_to_f32(0x0001) == 5.9604644775390625e-8f);
    CHECK(st::f16_to_f32(0x8000) == 0.0f);
    for (std::uint32_t h = 0; h < 0x7c00; ++h) { // every finite positive half round-trips
        std::uint16_t b = static_cast<std::uint16_t>(h);
        REQUIRE(st::f32_to_f16(st::f16_to_f32(b)) == b);
    }
    // bfloat16: truncated float32 with round-to-nearest-even.
    CHECK(st::f32_to_bf16(1.0f) == 0x3f80);
    CHECK(st::bf16_to_f32(0x3f80) == 1.0f);
    CHECK(st::f32_to_bf16(1.00390625f) == 0x3f80); // tie -> even
    CHECK(st::f32_to_bf16(1.01171875f) == 0x3f82); // tie -> even (up)
    CHECK(st::bf16_to_f32(0xc040) == -3.0f);
}

TEST_CASE("core: safetensors writer produces the reference byte layout") {
    std::vector<float> a = {1.0f, 2.0f};
    std::vector<std::uint8_t> b = {7};
    auto bytes = st::serialize({st::make_view("b", st::dtype::u8, {1}, b), st::make_view("a", st::dtype::f32, {2}, a)},
                               {{"format", "pt"}});
    // Header as the Rust crate writes it: __metadata__ first, tensors by alignment then name, fields in
    // dtype/shape/data_offsets order, no spaces, padded with spaces to a multiple of 8.
    const std::string expected_header =
        R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
        R"("b":{"dtype":"U8","shape":[1],"data_offsets":[8,9]}})";
    std::string padded = expected_header;
    while (padded.size() % 8 != 0)
        padded.push_back(' ');
    REQUIRE(bytes.size() == 8 + padded.size() + 9);
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = (n << 8) | bytes[static_cast<std::size_t>(i)];
    CHECK(n == padded.size());
    CHECK(std::string(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(n)) == padded);
    float back[2];
    std::memcpy(back, bytes.data() + 8 + n, 8);
    CHECK(back[0] == 1.0f);
    CHECK(back[1] == 2.0f);
    CHECK(bytes.back() == 7);
}

TEST_CASE("core: safetensors writer orders tensors like the Rust crate's Dtype order, then name") {
    std::vector<std::int64_t> i = {1};
    std::vector<std::uint64_t> u = {2};
    std::vector<double> f = {3.0};
    std::vector<std::int32_t> k = {4};
    const auto bytes =
        st::serialize({st::make_view("a_f64", st::dtype::f64, {1}, f), st::make_view("b_i64", st::dtype::i64, {1}, i),
                       st::make_view("c_u64", st::dtype::u64, {1}, u), st::make_view("d_i32", st::dtype::i32, {1}, k)});
    auto file = st::file::from_bytes(bytes, "order.st");
    // U64 > I64 > F64 > I32 in the crate's enum, whatever the names say.
    CHECK(file.info("c_u64").begin == 0);
    CHECK(file.info("b_i64").begin == 8);
    CHECK(file.info("a_f64").begin == 16);
    CHECK(file.info("d_i32").begin == 24);
}

TEST_CASE("core: safetensors round trip of every common dtype through a file") {
    temp_dir dir;
    std::vector<float> f32 = {0.5f, -1.25f, 3.0f, 4.0f, 5.0f, 6.0f};
    std::vector<std::uint16_t> f16 = {st::f32_to_f16(1.5f), st::f32_to_f16(-0.25f)};
    std::vector<std::uint16_t> bf16 = {st::f32_to_bf16(2.5f), st::f32_to_bf16(-8.0f), st::f32_to_bf16(0.0f)};
    std::vector<std::int64_t> i64 = {-3, 1LL << 40};
    std::vector<std::int32_t> i32 = {42};
    std::vector<std::uint8_t> u8 = {1, 2, 3, 4};
    std::vector<double> f64 = {0.125};
    std::vector<float> scalar = {9.0f};
    std::vector<float> empty;
    const std::string path = dir / "t.safetensors";
    st::write(path,
              {st::make_view("w.f32", st::dtype::f32, {2, 3}, f32), st::make_view("w.f16", st::dtype::f16, {2}, f16),
               st::make_view("w.bf16", st::dtype::bf16, {3}, bf16), st::make_view("ids", st::dtype::i64, {2}, i64),
               st::make_view("n", st::dtype::i32, {1}, i32), st::make_view("mask", st::dtype::u8, {2, 2}, u8),
               st::make_view("d", st::dtype::f64, {1}, f64), st::make_view("s", st::dtype::f32, {}, scalar),
               st::make_view("e", st::dtype::f32, {0, 4}, empty)},
              {{"format", "pt"}, {"note", "unit"}});
    auto f = st::file::open(path);
    CHECK(f.size() == 9);
    CHECK(f.metadata().at("format") == "pt");
    CHECK(f.metadata().at("note") == "unit");
    auto w = f.tensor("w.f32");
    CHECK(w.type == st::dtype::f32);
    CHECK(w.shape == std::vector<std::int64_t>{2, 3});
    CHECK(st::to_f32(w) == f32);
    CHECK(st::to_f32(f.tensor("w.f16")) == std::vector<float>{1.5f, -0.25f});
    CHECK(st::to_f32(f.tensor("w.bf16")) == std::vector<float>{2.5f, -8.0f, 0.0f});
    auto ids = f.tensor("ids");
    std::int64_t id1;
    std::memcpy(&id1, ids.bytes() + 8, 8);
    CHECK(id1 == (1LL << 40));
    CHECK(st::to_f32(f.tensor("n")) == std::vector<float>{42.0f});
    CHECK(st::to_f32(f.tensor("mask")) == std::vector<float>{1, 2, 3, 4});
    CHECK(st::to_f32(f.tensor("d")) == std::vector<float>{0.125f});
    CHECK(f.tensor("s").shape.empty());
    CHECK(f.tensor("s").numel() == 1);
    CHECK(f.tensor("e").numel() == 0);
    CHECK(f.tensor("e").size_bytes == 0);
    // Larger dtypes come first, so every tensor is aligned to its element size in the file.
    for (const auto& t : f.tensors()) {
        auto offset = static_cast<std::size_t>(t.bytes() - f.tensors().front().bytes());
        CHECK(offset % st::dtype_size(t.type) == 0);
    }
    CHECK(f.contains("ids"));
    CHECK_FALSE(f.contains("nope"));
    auto r = rscovlm::try_call([&] { return f.tensor("nope"); });
    REQUIRE_FALSE(r);
    CHECK(r.error().id == "rscovlm.io.safetensors_missing_tensor");
    CHECK(r.error().message.find("nope") != std::string::npos);
    // try_open reports a missing file.
    auto missing = st::file::try_open(dir / "absent.safetensors");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().id == "rscovlm.io.safetensors_open");
}

TEST_CASE("core: safetensors writer rejects inconsistent tensors") {
    std::vector<float> a = {1.0f, 2.0f};
    auto id = [](auto&& f) {
        auto r = rscovlm::try_call(f);
        return r ? std::string("ok") : r.error().id;
    };
    CHECK(id([&] { return st::serialize({st::make_view("a", st::dtype::f32, {3}, a)}); }) ==
          "rscovlm.io.safetensors_bad_tensor");
    CHECK(id([&] {
              return st::serialize(
                  {st::make_view("a", st::dtype::f32, {2}, a), st::make_view("a", st::dtype::f32, {2}, a)});
          }) == "rscovlm.io.safetensors_bad_tensor");
    CHECK(id([&] { return st::serialize({st::make_view("__metadata__", st::dtype::f32, {2}, a)}); }) ==
          "rscovlm.io.safetensors_bad_tensor");
}

TEST_CASE("core: safetensors malformed files give typed errors") {
    const std::string ok_entry = R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
    CHECK(error_id_of(make_file("{" + ok_entry + "}", 8)) == "ok");
    CHECK(error_id_of({1, 2, 3}) == "rscovlm.io.safetensors_truncated");
    {
        auto b = make_file("{}", 0);
        b[0] = 0xff; // header length far beyond the file
        CHECK(error_id_of(b) == "rscovlm.io.safetensors_truncated");
        b[7] = 0x7f; // beyond the 100 MB limit
        CHECK(error_id_of(b) == "rscovlm.io.safetensors_header_size");
    }
    CHECK(error_id_of(make_file("[" + ok_entry + "]", 8)) == "rscovlm.io.safetensors_bad_header");
    CHECK(error_id_of(make_file("{" + ok_entry, 8)) == "rscovlm.io.safetensors_bad_json");
    CHECK(error_id_of(make_file(R"({"x":3})", 0)) == "rscovlm.io.safetensors_bad_entry");
    CHECK(error_id_of(make_file(R"({"x":{"dtype":"F32","shape":[2]}})", 8)) == "rscovlm.io.safetensors_bad_entry");
    CHECK(error_id_of(make_file(R"({"x":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8)) ==
          "rscovlm.io.safetensors_bad_dtype");
    CHECK(error_id_of(make_file(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)) ==
          "rscovlm.io.safetensors_bad_entry");
    CHECK(error_id_of(make_file(R"({"x":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8)) ==
          "rscovlm.io.safetensors_bad_entry");
    CHECK(error_id_of(make_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8)) ==
          "rscovlm.io.safetensors_bad_entry");
    CHECK(error_id_of(make_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", 8)) ==
          "rscovlm.io.safetensors_bad_offsets");
    CHECK(error_id_of(make_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8)) ==
          "rscovlm.io.safetensors_bad_offsets");
    CHECK(error_id_of(make_file(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)) ==
          "rscovlm.io.safetensors_size_mismatch");
    CHECK(error_id_of(make_file(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8)) ==
          "rscovlm.io.safetensors_bad_entry");
    // Hole before the first tensor, overlap between two, bytes left over at the end.
    CHECK(error_id_of(make_file(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8)) ==
          "rscovlm.io.safetensors_bad_offsets");
    CHECK(error_id_of(make_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                R"("y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                8)) == "rscovlm.io.safetensors_bad_offsets");
    CHECK(error_id_of(make_file("{" + ok_entry + "}", 12)) == "rscovlm.io.safetensors_bad_offsets");
    CHECK(error_id_of(make_file(R"({"__metadata__":{"a":1}})", 0)) == "rscovlm.io.safetensors_bad_metadata");
    CHECK(error_id_of(make_file(R"({"__metadata__":[]})", 0)) == "rscovlm.io.safetensors_bad_metadata");
    // Padding is spaces only; duplicate keys and extra entry keys are malformed.
    CHECK(error_id_of(make_file("{" + ok_entry + "}   ", 8)) == "ok");
    CHECK(error_id_of(make_file("{" + ok_entry + "}\n", 8)) == "rscovlm.io.safetensors_bad_header");
    CHECK(error_id_of(make_file("{" + ok_entry + "} \t", 8)) == "rscovlm.io.safetensors_bad_header");
    CHECK(error_id_of(make_file("{" + ok_entry + "," + ok_entry + "}", 8)) == "rscovlm.io.safetensors_duplicate_key");
    CHECK(error_id_of(make_file(R"({"__metadata__":{"a":"1","a":"2"}})", 0)) == "rscovlm.io.safetensors_duplicate_key");
    CHECK(error_id_of(make_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"crc":1}})", 8)) ==
          "rscovlm.io.safetensors_bad_entry");
    CHECK(error_id_of(make_file(R"({"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8)) ==
          "rscovlm.io.safetensors_bad_entry");
    // Messages name the file and the tensor.
    auto r = rscovlm::try_call([] {
        return st::file::from_bytes(make_file(R"({"w.q":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
                                    "m.st");
    });
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("m.st") != std::string::npos);
    CHECK(r.error().message.find("w.q") != std::string::npos);
}

TEST_CASE("core: safetensors sharded checkpoints through model.safetensors.index.json") {
    temp_dir dir;
    std::vector<float> a(16, 1.0f), b(16, 2.0f), c(4, 3.0f);
    std::vector<st::tensor_view> views = {st::make_view("a", st::dtype::f32, {16}, a),
                                          st::make_view("b", st::dtype::f32, {4, 4}, b),
                                          st::make_view("c", st::dtype::f32, {4}, c)};
    auto shards = st::write_sharded(dir.path.string(), views, 128);
    REQUIRE(shards.size() == 2);
    CHECK(shards[0] == "model-00001-of-00002.safetensors");
    auto ck = st::checkpoint::open(dir.path.string());
    CHECK(ck.files().size() == 2);
    CHECK(ck.names() == std::vector<std::string>{"a", "b", "c"});
    CHECK(ck.total_bytes() == 36 * 4);
    CHECK(st::to_f32(ck.tensor("b"))[5] == 2.0f);
    CHECK(st::to_f32(ck.tensor("c")) == c);
    CHECK(ck.info("b").shape == std::vector<std::int64_t>{4, 4});
    // The index json itself can be given.
    CHECK(st::checkpoint::open(dir / "model.safetensors.index.json").names().size() == 3);
    auto r = st::checkpoint::try_open(dir / "nothing_here.safetensors");
    REQUIRE_FALSE(r);
    CHECK(r.error().id == "rscovlm.io.safetensors_open");

    auto id_of = [&](const std::string& index_text) {
        write_bytes(dir / "model.safetensors.index.json",
                    std::vector<std::uint8_t>(index_text.begin(), index_text.end()));
        auto res = st::checkpoint::try_open(dir.path.string());
        return res ? std::string("ok") : res.error().id;
    };
    CHECK(id_of(R"({"weight_map":{"a":"model-00001-of-00002.safetensors"}})") == "ok");
    CHECK(id_of(R"({"weight_map":{"a":"model-00002-of-00002.safetensors"}})") ==
          "rscovlm.io.safetensors_index_mismatch");
    CHECK(id_of(R"({"weight_map":{"a":"../x.safetensors"}})") == "rscovlm.io.safetensors_bad_index");
    CHECK(id_of(R"({"weight_map":{"a":3}})") == "rscovlm.io.safetensors_bad_index");
    CHECK(id_of(R"({"metadata":{}})") == "rscovlm.io.safetensors_bad_index");
    CHECK(id_of("not json") == "rscovlm.io.safetensors_bad_index");
    CHECK(id_of(R"({"weight_map":{"a":"missing.safetensors"}})") == "rscovlm.io.safetensors_open");
}

TEST_CASE("core: safetensors single-file checkpoint directory") {
    temp_dir dir;
    std::vector<float> a = {1, 2, 3};
    st::write(dir / "model.safetensors", {st::make_view("a", st::dtype::f32, {3}, a)});
    auto ck = st::checkpoint::open(dir.path.string());
    CHECK(ck.names() == std::vector<std::string>{"a"});
    temp_dir empty;
    auto r = st::checkpoint::try_open(empty.path.string());
    REQUIRE_FALSE(r);
    CHECK(r.error().id == "rscovlm.io.safetensors_no_checkpoint");
}
