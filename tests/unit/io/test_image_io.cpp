// Image decoding (Pillow modes, to_rgb), encoders, limits and typed errors for damaged input; npy I/O.
#include <doctest/doctest.h>

#include <rscovlm/io/image_io.hpp>
#include <rscovlm/io/npy.hpp>

#include "support/test_support.hpp"

#include <cstdio>
#include <fstream>

using namespace rscovlm;

namespace {
std::vector<std::uint8_t> read_all(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
image pattern(int w, int h, int c) {
    image im(w, h, c);
    for (std::size_t i = 0; i < im.data.size(); ++i)
        im.data[i] = static_cast<std::uint8_t>((i * 37) ^ (i >> 3));
    return im;
}
std::string error_id(const std::vector<std::uint8_t>& bytes, io::load_options o = {}) {
    auto r = io::try_decode_image(bytes.data(), bytes.size(), o);
    return r.ok() ? std::string("ok") : r.error().id;
}
void put_be32(std::vector<std::uint8_t>& v, std::size_t off, std::uint32_t x) {
    for (std::size_t b = 0; b < 4; ++b)
        v.at(off + b) = static_cast<std::uint8_t>(x >> (24 - 8 * b));
}
} // namespace

TEST_CASE("resolution: decoding follows Pillow's modes and to_rgb") {
    const std::string dir = rscovlm_test::data_dir() + "/image/io/";
    const auto expected = nlohmann::json::parse(std::ifstream(dir + "expected.json"));
    REQUIRE(expected.size() >= 8);
    for (auto it = expected.begin(); it != expected.end(); ++it) {
        INFO(it.key());
        const auto info = io::probe_image(dir + it.key());
        CHECK(info.width == it.value()["w"].get<int>());
        CHECK(info.height == it.value()["h"].get<int>());
        const std::string mode = it.value()["mode"].get<std::string>();
        // (a paletted BMP reports 3 channels: stb expands it; Pillow calls a grey palette "L")
        if (it.key().find(".bmp") == std::string::npos)
            CHECK(info.channels == (mode == "L" ? 1 : mode == "LA" ? 2 : mode == "RGBA" ? 4 : 3));
        io::load_options o;
        o.rgb = imaging::rgb_mode::convert;
        const image conv = io::load_image(dir + it.key(), o);
        CHECK(conv.channels == 3);
        CHECK(rscovlm_test::sha256_hex(conv.data.data(), conv.data.size()) ==
              it.value()["convert_sha256"].get<std::string>());
        o.rgb = imaging::rgb_mode::composite;
        const image comp = io::load_image(dir + it.key(), o);
        CHECK(rscovlm_test::sha256_hex(comp.data.data(), comp.data.size()) ==
              it.value()["composite_sha256"].get<std::string>());
    }
#if defined(RSCOVLM_HAS_PNG_DECODER)
    // rscovlm's PNG decoder opens 16-bit grey as Pillow's mode I (clipped to 8 bits by convert); the
    // bit-exact checks of every 16-bit variant are in test_codecs.cpp.
    io::load_options keep;
    keep.to_rgb = false;
    CHECK(io::load_image(dir + "gray16.png", keep).channels == 1);
#else
    CHECK(io::try_load_image(dir + "gray16.png").error().id == "rscovlm.image.unsupported_depth");
#endif
    CHECK(io::try_load_image(dir + "does-not-exist.png").error().id == "rscovlm.io.open_failed");
}

TEST_CASE("resolution: PNG and JPEG round trips") {
    const image im = pattern(37, 23, 3);
    const auto png = io::encode_png(im);
    const image back = io::decode_image(png);
    CHECK(back.width == 37);
    CHECK(back.data == im.data);
    const image rgba = pattern(5, 4, 4);
    io::load_options keep;
    keep.to_rgb = false;
    CHECK(io::decode_image(io::encode_png(rgba), keep).data == rgba.data);
    const std::string jpg = "rscovlm_test_roundtrip.jpg";
    io::save_jpeg(jpg, im, 95);
    const image j = io::load_image(jpg);
    CHECK(j.width == 37);
    CHECK(j.height == 23);
    CHECK(io::probe_image(jpg).format == "jpeg");
    const auto jbytes = read_all(jpg);
    std::remove(jpg.c_str());
    // A JPEG cut before its end-of-image marker is refused (Pillow: "image file is truncated").
    const std::vector<std::uint8_t> cut(jbytes.begin(),
                                        jbytes.begin() + static_cast<std::ptrdiff_t>(jbytes.size() * 2 / 3));
    CHECK(error_id(cut) == "rscovlm.image.truncated");
    CHECK_THROWS_AS(io::save_jpeg(jpg, im, 0), image_error);
    CHECK_THROWS_AS(io::encode_png(image{}), image_error);
}

TEST_CASE("resolution: corrupt, truncated, zero-size and oversized images give typed errors") {
    const auto png = io::encode_png(pattern(64, 64, 3));
    // Truncated inside the image data.
    CHECK(error_id(std::vector<std::uint8_t>(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(png.size() / 2))) ==
          "rscovlm.image.truncated");
    // Garbage and empty input.
    CHECK(error_id({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) == "rscovlm.image.unknown_format");
    CHECK(error_id({}) == "rscovlm.image.empty_file");
    // Zero width in the PNG header.
    // (the IHDR CRC is fixed after each edit: like Pillow, the decoder checks it first)
    auto zero = png;
    put_be32(zero, 16, 0);
    put_be32(zero, 29, io::png_detail::crc32(zero.data() + 12, 17));
    CHECK(error_id(zero) == "rscovlm.image.zero_size");
    // A decompression bomb: the header declares 60000 x 60000; refused before decoding.
    auto bomb = png;
    put_be32(bomb, 16, 60000);
    put_be32(bomb, 20, 60000);
    put_be32(bomb, 29, io::png_detail::crc32(bomb.data() + 12, 17));
    CHECK(error_id(bomb) == "rscovlm.limit.too_many_pixels");
    io::load_options small;
    small.max_pixels = 64 * 63;
    CHECK(error_id(png, small) == "rscovlm.limit.too_many_pixels");
    small.max_pixels = 64 * 64;
    CHECK(error_id(png, small) == "ok");
    // Flipped bytes in the compressed stream.
    auto bad = png;
    for (std::size_t i = 60; i < bad.size() - 20; i += 7)
        bad[i] ^= 0x5a;
    const std::string id = error_id(bad);
    CHECK((id == "rscovlm.image.corrupt" || id == "rscovlm.image.truncated"));
}

TEST_CASE("resolution: npy write and read") {
    const std::vector<float> v{1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
    const auto bytes = io::encode_npy(v.data(), {2, 3});
    CHECK((bytes.size() - v.size() * sizeof(float)) % 64 == 0); // numpy aligns the header to 64 bytes
    const auto a = io::decode_npy(bytes.data(), bytes.size());
    CHECK(a.dtype == "<f4");
    CHECK(a.shape == std::vector<std::size_t>{2, 3});
    CHECK(a.as<float>() == v);
    CHECK_THROWS_AS(a.as<double>(), io_error);
    const std::vector<std::uint16_t> h{1, 2, 3};
    const auto hb = io::encode_npy(h.data(), {3});
    CHECK(io::decode_npy(hb.data(), hb.size()).shape == std::vector<std::size_t>{3});
    const std::vector<std::uint8_t> cut(bytes.begin(), bytes.end() - 4);
    CHECK_THROWS_AS(io::decode_npy(cut.data(), cut.size()), io_error);
    CHECK_THROWS_AS(io::decode_npy(bytes.data(), 5), io_error);
}
