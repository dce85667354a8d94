// BMP, TGA, GIF and PNM decoding against Pillow 9.4: whole files decode to Pillow's pixels, files cut
// short (or that Pillow refuses) give a typed image error instead of stb_image's zero-filled pixels.
// Fixtures and Pillow's verdicts: tests/data/image/stb/ (made by make_fixtures.py there).
#include <doctest/doctest.h>

#include <rscovlm/io/image_io.hpp>

#include "support/test_support.hpp"

#include <fstream>

using namespace rscovlm;

namespace {
std::vector<std::uint8_t> stb_fixture(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
} // namespace

TEST_CASE("resolution: BMP/TGA/GIF/PNM files cut short fail as Pillow 9.4 fails") {
    const std::string dir = rscovlm_test::data_dir() + "/image/stb/";
    const auto expected = nlohmann::json::parse(std::ifstream(dir + "expected.json"));
    REQUIRE(expected.size() >= 60);
    int refused = 0, decoded = 0;
    for (auto it = expected.begin(); it != expected.end(); ++it) {
        const std::string name = it.key();
        INFO(name);
        const auto bytes = stb_fixture(dir + name);
        REQUIRE(!bytes.empty());
        io::load_options o;
        o.rgb = imaging::rgb_mode::convert;
        auto r = io::try_decode_image(bytes.data(), bytes.size(), o);
        if (it.value().contains("error")) {
            INFO("Pillow: " << it.value()["error"].get<std::string>());
            REQUIRE(!r.ok());
            CHECK(r.error().id == it.value()["id"].get<std::string>());
            ++refused;
            continue;
        }
        REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().what()));
        const image& rgb = r.value();
        CHECK(rgb.width == it.value()["w"].get<int>());
        CHECK(rgb.height == it.value()["h"].get<int>());
        REQUIRE(rgb.channels == 3);
        CHECK(rscovlm_test::sha256_hex(rgb.data.data(), rgb.data.size()) ==
              it.value()["convert_sha256"].get<std::string>());
        const auto info = io::probe_image_memory(bytes.data(), bytes.size());
        CHECK(info.width == rgb.width);
        CHECK(info.height == rgb.height);
        ++decoded;
    }
    CHECK(refused >= 30);
    CHECK(decoded >= 25);
}

TEST_CASE("resolution: PNM headers are read as Pillow reads them") {
    auto id = [](const std::string& s) {
        auto r = io::try_decode_image(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
        return r.ok() ? std::string("ok") : r.error().id;
    };
    auto probe_id = [](const std::string& s) {
        auto r =
            try_call([&] { return io::probe_image_memory(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); });
        return r.ok() ? std::string("ok") : r.error().id;
    };
    // maxval outside 1..65535: Pillow's open raises, so probing fails too.
    CHECK(probe_id("P5 1 1 0\n\x01") == "rscovlm.image.corrupt");
    CHECK(probe_id("P5 1 1 65536\n\x01\x01") == "rscovlm.image.corrupt");
    CHECK(id("P5 1 1 0\n\x01") == "rscovlm.image.corrupt");
    // Tokens: comments anywhere (even inside a token), Python int() spelling, at most 10 characters.
    CHECK(id("P5\n# c\n2 1\n255\nab") == "ok");
    CHECK(id("P5 2#c\n 1 255\nab") == "ok");
    CHECK(id("P5 1_0 1 255\n0123456789") == "ok");
    CHECK(id("P5 0x2 1 255\nab") == "rscovlm.image.corrupt");
    CHECK(id("P5 12345678901 1 255\n") == "rscovlm.image.corrupt");
    CHECK(id("P5 2 1") == "rscovlm.image.truncated");
    CHECK(id("P5 0 1 255\n") == "rscovlm.image.zero_size");
    // Data: one sample short is truncated; extra bytes are ignored.
    CHECK(id("P5 2 1 255\na") == "rscovlm.image.truncated");
    CHECK(id("P5 2 1 255\nabc") == "ok");
    // Scaling of other maxvals: round-half-even of v / maxval * 255, clipped.
    const std::string s = std::string("P5 4 1 2\n") + std::string("\x00\x01\x02\x07", 4);
    io::load_options keep;
    keep.to_rgb = false;
    const image g = io::decode_image(reinterpret_cast<const std::uint8_t*>(s.data()), s.size(), keep);
    REQUIRE(g.channels == 1);
    CHECK(g.data == std::vector<std::uint8_t>{0, 128, 255, 255}); // 127.5 rounds to 128 (even)
}

TEST_CASE("resolution: truncation checks on hand-made GIF and TGA data") {
    // A 2x1 GIF: LZW code size 2, codes clear(4), 1, 1, end(5) packed in one 2-byte sub-block.
    const std::vector<std::uint8_t> head = {'G', 'I', 'F', '8', '9', 'a', 2, 0, 1, 0, 0x80, 0, 0, 0, 0,
                                            0,   255, 255, 255, ',', 0,   0, 0, 0, 2, 0,    1, 0, 0, 2};
    // clear=4 (3 bits: 100), 1 (001), 1 (001), end=5 (101): bits LSB first -> 0x4C 0x0A
    std::vector<std::uint8_t> gif = head;
    for (std::uint8_t b : {2, 0x4C, 0x0A, 0, 0x3B})
        gif.push_back(b);
    CHECK(io::try_decode_image(gif.data(), gif.size()).ok());
    // The frame is full after the second code: the rest of the file is not needed.
    std::vector<std::uint8_t> cut(gif.begin(), gif.end() - 2);
    CHECK(io::try_decode_image(cut.data(), cut.size()).ok());
    // The sub-block is cut short: Pillow waits for all of it.
    cut.assign(gif.begin(), gif.end() - 3);
    CHECK(io::try_decode_image(cut.data(), cut.size()).error().id == "rscovlm.image.truncated");
    // An end code before the frame is full.
    std::vector<std::uint8_t> early = head;
    for (std::uint8_t b : {1, 0x2C, 0, 0x3B}) // clear(100), end(101) -> 0b101100 = 0x2C
        early.push_back(b);
    CHECK(io::try_decode_image(early.data(), early.size()).error().id == "rscovlm.image.truncated");
    // A first code after clear that is not a literal.
    std::vector<std::uint8_t> broken = head;
    for (std::uint8_t b : {1, 0x34, 0, 0x3B}) // clear(100), 6(110) -> 0b110100 = 0x34
        broken.push_back(b);
    CHECK(io::try_decode_image(broken.data(), broken.size()).error().id == "rscovlm.image.corrupt");
}
