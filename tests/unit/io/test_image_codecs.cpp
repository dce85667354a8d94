// PNG (own decoder) and JPEG (libjpeg-turbo) decoding against Pillow 9.4: every colour type, bit depth,
// interlacing, palette/tRNS, split IDAT, progressive/subsampled/grey/CMYK JPEG, and the damaged files.
// Fixtures and expectations: tests/data/image/codec/ (made by make_fixtures.py there).
#include <doctest/doctest.h>

#include <rscovlm/io/image_io.hpp>

#include "support/test_support.hpp"

#include <fstream>
#include <map>

using namespace rscovlm;

namespace {
std::vector<std::uint8_t> codec_read(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
std::string codec_error_id(const std::vector<std::uint8_t>& bytes, io::load_options o = {}) {
    auto r = io::try_decode_image(bytes.data(), bytes.size(), o);
    return r.ok() ? std::string("ok") : r.error().id;
}
void codec_put_be32(std::vector<std::uint8_t>& v, std::size_t off, std::uint32_t x) {
    for (std::size_t b = 0; b < 4; ++b)
        v.at(off + b) = static_cast<std::uint8_t>(x >> (24 - 8 * b));
}
// Recomputes the CRC of the chunk starting at `off` (length field offset).
void codec_fix_crc(std::vector<std::uint8_t>& v, std::size_t off) {
    const std::uint32_t len = io::png_detail::be32(v.data() + off);
    codec_put_be32(v, off + 8 + len, io::png_detail::crc32(v.data() + off + 4, len + 4));
}
int channels_of_mode(const std::string& mode) {
    if (mode == "LA") return 2;
    if (mode == "RGBA") return 4;
    if (mode == "1" || mode == "L" || mode == "I") return 1;
    return 3; // RGB, P, CMYK (converted)
}
} // namespace

#if defined(RSCOVLM_HAS_PNG_DECODER) && defined(RSCOVLM_HAS_LIBJPEG)

TEST_CASE("resolution: PNG and JPEG decoding is bit-identical to Pillow 9.4") {
    const std::string dir = rscovlm_test::data_dir() + "/image/codec/";
    const auto expected = nlohmann::json::parse(std::ifstream(dir + "expected.json"));
    REQUIRE(expected.size() >= 90);
    // Damaged files: Pillow's exception -> our typed error.
    const std::map<std::string, std::string> error_ids = {{"bad_ihdr_crc.png", "rscovlm.image.bad_crc"},
                                                          {"bad_text_crc.png", "rscovlm.image.bad_crc"},
                                                          {"bad_filter.png", "rscovlm.image.corrupt"},
                                                          {"truncated_idat.png", "rscovlm.image.truncated"},
                                                          {"truncated.jpg", "rscovlm.image.truncated"}};
    int decoded = 0;
    for (auto it = expected.begin(); it != expected.end(); ++it) {
        const std::string name = it.key();
        INFO(name);
        const auto bytes = codec_read(dir + name);
        REQUIRE(!bytes.empty());
        if (it.value().contains("error")) {
            REQUIRE(error_ids.count(name) == 1);
            CHECK(codec_error_id(bytes) == error_ids.at(name));
            continue;
        }
        const std::string mode = it.value()["mode"].get<std::string>();
        io::load_options keep;
        keep.to_rgb = false;
        const image raw = io::decode_image(bytes, keep);
        CHECK(raw.width == it.value()["w"].get<int>());
        CHECK(raw.height == it.value()["h"].get<int>());
        CHECK(raw.channels == channels_of_mode(mode));
        const auto info = io::probe_image_memory(bytes.data(), bytes.size());
        CHECK(info.channels == raw.channels);
        CHECK(info.width == raw.width);
        io::load_options o;
        o.rgb = imaging::rgb_mode::convert;
        const image conv = io::decode_image(bytes, o);
        REQUIRE(conv.channels == 3);
        CHECK(rscovlm_test::sha256_hex(conv.data.data(), conv.data.size()) ==
              it.value()["convert_sha256"].get<std::string>());
        o.rgb = imaging::rgb_mode::composite;
        const image comp = io::decode_image(bytes, o);
        CHECK(rscovlm_test::sha256_hex(comp.data.data(), comp.data.size()) ==
              it.value()["composite_sha256"].get<std::string>());
        ++decoded;
    }
    CHECK(decoded >= 85);
}

TEST_CASE("resolution: PNG decoder limits and damaged headers") {
    const std::string dir = rscovlm_test::data_dir() + "/image/codec/";
    const auto png = codec_read(dir + "ct2_b8_33x17.png");
    REQUIRE(png.size() > 60);
    CHECK(codec_error_id(png) == "ok");
    // A huge IHDR with a valid CRC is refused from the header, before anything is inflated.
    auto bomb = png;
    codec_put_be32(bomb, 16, 100000);
    codec_put_be32(bomb, 20, 100000);
    codec_fix_crc(bomb, 8);
    CHECK(codec_error_id(bomb) == "rscovlm.limit.too_many_pixels");
    io::load_options nolimit;
    nolimit.max_pixels = 0;
    // Without a limit the same file is "only" short of data (the stream holds 33x17 pixels).
    CHECK(codec_error_id(bomb, nolimit) == "rscovlm.image.truncated");
    io::load_options tight;
    tight.max_pixels = 33 * 17 - 1;
    CHECK(codec_error_id(png, tight) == "rscovlm.limit.too_many_pixels");
    tight.max_pixels = 33 * 17;
    CHECK(codec_error_id(png, tight) == "ok");
    // Zero size, bad bit depth for the colour type, unknown compression method (all with valid CRCs).
    auto zero = png;
    codec_put_be32(zero, 20, 0);
    codec_fix_crc(zero, 8);
    CHECK(codec_error_id(zero) == "rscovlm.image.zero_size");
    auto depth = png;
    depth[24] = 4; // RGB with 4 bits
    codec_fix_crc(depth, 8);
    CHECK(codec_error_id(depth) == "rscovlm.image.unsupported_mode");
    auto method = png;
    method[26] = 1;
    codec_fix_crc(method, 8);
    CHECK(codec_error_id(method) == "rscovlm.image.corrupt");
    // Every prefix of the file is refused with a typed error or decodes (no crash, no hang).
    for (std::size_t cut = 0; cut < png.size(); ++cut) {
        const std::vector<std::uint8_t> part(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(cut));
        const std::string id = codec_error_id(part);
        INFO(cut);
        CHECK((id == "ok" || id.rfind("rscovlm.image.", 0) == 0));
    }
    // Flipped bits inside the compressed stream: corrupt (or, rarely, still decodable).
    auto bad = png;
    const std::size_t idat = 8 + 25 + 12 + io::png_detail::be32(png.data() + 8 + 25);
    for (std::size_t i = idat + 10; i < bad.size() - 20; i += 5)
        bad[i] ^= 0x5a;
    const std::string id = codec_error_id(bad);
    CHECK((id == "rscovlm.image.corrupt" || id == "rscovlm.image.truncated"));
}

TEST_CASE("resolution: JPEG decoder limits and damaged data") {
    const std::string dir = rscovlm_test::data_dir() + "/image/codec/";
    const auto jpg = codec_read(dir + "rgb_321x203_420.jpg");
    REQUIRE(jpg.size() > 200);
    io::load_options tight;
    tight.max_pixels = 321 * 203 - 1;
    CHECK(codec_error_id(jpg, tight) == "rscovlm.limit.too_many_pixels");
    for (std::size_t cut = 0; cut < jpg.size(); cut += 7) {
        const std::vector<std::uint8_t> part(jpg.begin(), jpg.begin() + static_cast<std::ptrdiff_t>(cut));
        const std::string id = codec_error_id(part);
        INFO(cut);
        CHECK((id == "ok" || id.rfind("rscovlm.image.", 0) == 0));
    }
    // A cut after the headers is "truncated".
    const std::vector<std::uint8_t> half(jpg.begin(), jpg.begin() + static_cast<std::ptrdiff_t>(jpg.size() / 2));
    CHECK(codec_error_id(half) == "rscovlm.image.truncated");
    // A corrupted frame header (0 components) is "corrupt" (libjpeg's error, no exit()).
    auto bad = jpg;
    for (std::size_t i = 0; i + 9 < bad.size(); ++i)
        if (bad[i] == 0xFF && bad[i + 1] == 0xC0) {
            bad[i + 9] = 0;
            break;
        }
    CHECK(codec_error_id(bad) == "rscovlm.image.corrupt");
}

#else

TEST_CASE("resolution: PNG and JPEG decoding (skipped: built without libdeflate/zlib or libjpeg)") {
    MESSAGE("skipped: rscovlm was configured without its PNG decoder (libdeflate or zlib) or libjpeg-turbo, "
            "so the Pillow bit-exactness tests compiled to nothing");
}

#endif
