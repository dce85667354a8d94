// Pillow-exact resampling and to_rgb against tests/data/image/resize (Pillow 9.4 golden digests),
// plus crop, drawing and channel conversions.
#include <doctest/doctest.h>

#include <rscovlm/image/image.hpp>
#include <rscovlm/imaging/draw.hpp>
#include <rscovlm/imaging/ops.hpp>

#include "support/fixtures.hpp"
#include "support/test_support.hpp"

#include <algorithm>
#include <map>
#include <random>

using namespace rscovlm;

TEST_CASE("resolution: every resize golden case is bit-identical to Pillow") {
    const std::string dir = rscovlm_test::data_dir() + "/image/resize/";
    const auto cases = rscovlm_test::read_jsonl(dir + "index.jsonl");
    REQUIRE(cases.size() > 300);
    std::map<std::string, image> raw; // sources decoded once, without to_rgb
    int wrong = 0;
    std::map<std::string, int> per_filter;
    for (const auto& c : cases) {
        const std::string src = c["src"].get<std::string>();
        if (!raw.count(src)) {
            raw[src] = rscovlm_test::load_image(dir + src, true);
        }
        const std::string mode = c["to_rgb"].get<std::string>();
        const image rgb = imaging::to_rgb(raw[src], imaging::parse_rgb_mode(mode));
        CHECK(rgb.width == c["src_w"].get<int>());
        CHECK(rgb.height == c["src_h"].get<int>());
        const auto f = imaging::parse_filter(c["filter"].get<std::string>());
        imaging::resize_options ro;
        ro.threads = (per_filter[c["filter"].get<std::string>()]++ % 2) ? 1 : 3; // output must not depend on it
        const image out = imaging::resize(rgb, c["dst_w"].get<int>(), c["dst_h"].get<int>(), f, ro);
        const std::string got = rscovlm_test::sha256_hex(out.data.data(), out.data.size());
        if (got != c["expected_rgb_sha256"].get<std::string>()) {
            ++wrong;
            MESSAGE(c["id"].get<std::string>() << " (" << c["filter"].get<std::string>() << ", " << src << " -> "
                                               << c["dst_w"].get<int>() << "x" << c["dst_h"].get<int>() << ") differs");
        }
    }
    CHECK(wrong == 0);
    CHECK(per_filter["bicubic"] > 0);
    CHECK(per_filter["nearest"] > 0);
    CHECK(per_filter["lanczos"] > 0);
    CHECK(per_filter["bilinear"] > 0);
}

TEST_CASE("resolution: the AVX2 resampler is bit-identical to the portable scalar code") {
    // Random images of 1..4 channels, odd and even widths, 1-pixel sides, up- and downscales (including
    // large factors, i.e. long kernels) with every filter: resize() with simd on and off, and the raw
    // resampler (no premultiplication, so colour may exceed alpha) on both paths.
    const std::string simd_note = imaging::resize_simd_available() ? "AVX2 kernels available" : "no AVX2 kernels";
    MESSAGE(simd_note);
    std::mt19937 rng(20240611u);
    std::uniform_int_distribution<int> byte(0, 255);
    const int sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 11, 16, 17, 31, 33, 40, 63, 97};
    const image::filter filters[] = {image::filter::bilinear, image::filter::bicubic, image::filter::lanczos,
                                     image::filter::nearest};
    int compared = 0, differ = 0;
    for (int ch = 1; ch <= 4; ++ch)
        for (const int sw : sizes)
            for (const int sh : {1, 3, 17}) {
                image src(sw, sh, ch);
                // Extreme values (0/255 runs) drive the sums to both clip limits; the rest is noise.
                for (auto& v : src.data) {
                    const int r = byte(rng);
                    v = static_cast<std::uint8_t>(r < 40 ? 0 : (r > 215 ? 255 : byte(rng)));
                }
                const int targets[][2] = {
                    {1, 1},  {sw, 1}, {1, sh},          {sw * 2 + 1, sh}, {sw, sh * 3}, {(sw + 1) / 2, (sh + 1) / 2},
                    {37, 5}, {5, 29}, {sw + 1, sh + 2}, {64, 2}};
                for (const auto& t : targets)
                    for (const auto f : filters) {
                        const int w = std::max(1, t[0]), h = std::max(1, t[1]);
                        imaging::resize_options on, off;
                        on.threads = off.threads = 1;
                        off.simd = false;
                        const image a = imaging::resize(src, w, h, f, on);
                        const image b = imaging::resize(src, w, h, f, off);
                        ++compared;
                        if (a.data != b.data || a.width != b.width || a.height != b.height) {
                            ++differ;
                            MESSAGE("resize " << sw << "x" << sh << "x" << ch << " -> " << w << "x" << h << " "
                                              << imaging::filter_name(f) << " differs");
                        }
                        if (f == image::filter::nearest || (w == sw && h == sh)) continue;
                        const image ra = imaging::detail::resample(src, w, h, f, 2, true);
                        const image rb = imaging::detail::resample(src, w, h, f, 1, false);
                        ++compared;
                        if (ra.data != rb.data) {
                            ++differ;
                            MESSAGE("resample " << sw << "x" << sh << "x" << ch << " -> " << w << "x" << h << " "
                                                << imaging::filter_name(f) << " differs");
                        }
                    }
            }
    // Long kernels: strong downscales of wider images (ksize up to a few hundred taps).
    for (int ch = 1; ch <= 4; ++ch)
        for (const auto f : {image::filter::bilinear, image::filter::bicubic, image::filter::lanczos}) {
            image src(301, 203, ch);
            for (auto& v : src.data)
                v = static_cast<std::uint8_t>(byte(rng));
            for (const auto& t : {std::pair{3, 2}, std::pair{1, 7}, std::pair{50, 1}, std::pair{299, 67}}) {
                const image ra = imaging::detail::resample(src, t.first, t.second, f, 1, true);
                const image rb = imaging::detail::resample(src, t.first, t.second, f, 1, false);
                ++compared;
                if (ra.data != rb.data) {
                    ++differ;
                    MESSAGE("long kernel " << ch << " channels -> " << t.first << "x" << t.second << " "
                                           << imaging::filter_name(f) << " differs");
                }
            }
        }
    CHECK(compared > 2000);
    CHECK(differ == 0);
}

TEST_CASE("resolution: the AVX2 horizontal pass is exact for extreme coefficients") {
    // Coefficients near +-2^30 (the madd kernel splits k = hi * 2^15 + lo; at -2^30 hi is -32768) and one
    // at 2^30, which it cannot split (that falls back to the scalar code). Pixels 0/1 keep the sums in int32.
    std::mt19937 rng(7u);
    for (const std::int32_t big : {(std::int32_t{1} << 30) - 1, std::int32_t{1} << 30})
        for (int ch = 1; ch <= 4; ++ch) {
            image in(9, 3, ch);
            for (auto& v : in.data)
                v = static_cast<std::uint8_t>(rng() & 1u);
            imaging::detail::axis_coeffs c;
            c.ksize = 5;
            c.bounds = {0, 5, 1, 4, 4, 5, 8, 1};
            c.kk = {-(std::int32_t{1} << 30),
                    big,
                    5000000,
                    -3,
                    std::int32_t{1} << 22,
                    big,
                    -(std::int32_t{1} << 30),
                    -77,
                    999,
                    0,
                    -32768 * 32768 + 1,
                    32767,
                    -1,
                    65536,
                    1 << 20,
                    big - 1,
                    0,
                    0,
                    0,
                    0};
            image a(4, 3, ch), b(4, 3, ch);
            imaging::detail::resample_horizontal(in, a, 0, c, 1, true);
            imaging::detail::resample_horizontal(in, b, 0, c, 1, false);
            CHECK(a.data == b.data);
        }
}

TEST_CASE("resolution: resize of 1, 2 and 4 channel images follows Pillow's premultiplied path") {
    // Values produced by Pillow 9.4 (python3-pil): Image.frombytes(mode, (3, 2), data).resize((2, 1), BICUBIC).
    image la(3, 2, 2);
    const std::uint8_t la_px[] = {10, 255, 200, 0, 30, 128, 90, 64, 250, 255, 0, 10};
    std::copy(std::begin(la_px), std::end(la_px), la.data.begin());
    const image out = imaging::resize(la, 2, 1, image::filter::bicubic);
    REQUIRE(out.channels == 2);
    const std::vector<std::uint8_t> expect_la{99, 151, 153, 88};
    CHECK(out.data == expect_la);
    image g(4, 4, 1);
    for (int i = 0; i < 16; ++i)
        g.data[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i * 16);
    const image g2 = imaging::resize(g, 2, 2, image::filter::bilinear);
    const std::vector<std::uint8_t> expect_g{57, 83, 157, 183};
    CHECK(g2.data == expect_g);
    CHECK(image::resize(g, 4, 4).data == g.data); // same size: copy
    CHECK_THROWS_AS(imaging::resize(g, 0, 3), image_error);
    CHECK_THROWS_AS(imaging::resize(image{}, 3, 3), image_error);
}

TEST_CASE("resolution: crop follows Pillow (zero outside the image)") {
    image im(4, 3, 3);
    for (std::size_t i = 0; i < im.data.size(); ++i)
        im.data[i] = static_cast<std::uint8_t>(i);
    const image c = image::crop(im, 1, 1, 3, 3);
    CHECK(c.width == 2);
    CHECK(c.height == 2);
    CHECK(c.at(0, 0, 0) == im.at(1, 1, 0));
    CHECK(c.at(1, 1, 2) == im.at(2, 2, 2));
    const image o = imaging::crop(im, -1, -1, 2, 1);
    CHECK(o.width == 3);
    CHECK(o.at(0, 0, 0) == 0);
    CHECK(o.at(1, 1, 1) == im.at(0, 0, 1));
    CHECK_THROWS_AS(imaging::crop(im, 3, 0, 1, 2), image_error);
    CHECK(imaging::crop(im, 10, 10, 12, 12).data == std::vector<std::uint8_t>(12, 0));
}

TEST_CASE("resolution: to_rgb composite and convert") {
    image rgba(2, 1, 4);
    const std::uint8_t px[] = {200, 100, 0, 128, 10, 20, 30, 0};
    std::copy(std::begin(px), std::end(px), rgba.data.begin());
    const image w = imaging::to_rgb(rgba, imaging::rgb_mode::composite);
    // Pillow: paste on white through alpha: DIV255(255*(255-a) + c*a).
    CHECK(w.at(0, 0, 0) == 227);
    CHECK(w.at(0, 0, 1) == 177);
    CHECK(w.at(0, 0, 2) == 127);
    CHECK(w.at(1, 0, 0) == 255);
    const image c = imaging::to_rgb(rgba, imaging::rgb_mode::convert);
    CHECK(c.at(1, 0, 2) == 30);
    image gray(1, 1, 1);
    gray.data[0] = 77;
    CHECK(imaging::to_rgb(gray).data == std::vector<std::uint8_t>{77, 77, 77});
    CHECK_THROWS_AS(imaging::parse_rgb_mode("keep"), image_error);
}

TEST_CASE("resolution: drawing stays inside the image") {
    image im(20, 10, 3);
    struct pt {
        double x, y;
    };
    const std::vector<pt> poly{{2, 2}, {17, 2}, {17, 7}, {2, 7}};
    draw_polygon(im, poly, {255, 0, 0}, 1);
    CHECK(im.at(2, 2, 0) == 255);
    CHECK(im.at(10, 7, 0) == 255);
    CHECK(im.at(10, 5, 0) == 0);
    imaging::draw_rect(im, -50, -50, 1e9, 4, {0, 255, 0}, 3); // far outside: clipped, no crash
    CHECK(im.at(0, 4, 1) == 255);
    imaging::fill_rect(im, 15, 8, 40, 40, {1, 2, 3});
    CHECK(im.at(19, 9, 2) == 3);
    image rgba(3, 3, 4);
    imaging::draw_line(rgba, 0, 0, 2, 2, {9, 9, 9});
    CHECK(rgba.at(1, 1, 3) == 255);
}

TEST_CASE("resolution: parallel_for covers every index exactly once") {
    for (int threads : {0, 1, 3, 8})
        for (std::size_t n : {0u, 1u, 7u, 100u, 1001u}) {
            std::vector<int> hit(n, 0);
            imaging::parallel_for(n, threads, [&](std::size_t a, std::size_t b) {
                for (std::size_t i = a; i < b; ++i)
                    ++hit[i];
            });
            CHECK(std::count(hit.begin(), hit.end(), 1) == static_cast<std::ptrdiff_t>(n));
        }
    image im(3, 2, 3);
    CHECK(im.size_bytes() == 18);
    CHECK(im.stride() == 9);
    im.at(2, 1, 2) = 7;
    CHECK(im.row(1)[8] == 7);
    CHECK(image(-1, 5, 3).empty());
}
