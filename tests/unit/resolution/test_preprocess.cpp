// Full Qwen2.5-VL preprocessing against tests/data/image/preprocess (Pillow 9.4 + numpy reference):
// identical grid_thw, identical resized pixels, bit-identical float32 pixel_values.
#include <doctest/doctest.h>

#include <rscovlm/resolution/preprocess.hpp>

#include "support/fixtures.hpp"
#include "support/test_support.hpp"

#include <cmath>
#include <cstring>
#include <fstream>

using namespace rscovlm;

namespace {
std::uint32_t bits_of(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}
bool file_exists(const std::string& p) {
    return std::ifstream(p).good();
}
} // namespace

TEST_CASE("resolution: preprocess matches every golden case") {
    const std::string dir = rscovlm_test::data_dir() + "/image/preprocess/";
    const auto cases = rscovlm_test::read_jsonl(dir + "index.jsonl");
    REQUIRE(cases.size() >= 20);
    int ok_cases = 0, err_cases = 0, npy_checked = 0;
    for (const auto& c : cases) {
        const std::string id = c["id"].get<std::string>();
        INFO(id);
        const image src = rscovlm_test::load_image(dir + c["src"].get<std::string>(), true);
        resolution::preprocess_options o;
        o.min_pixels = c["min_pixels"].get<long long>();
        o.max_pixels = c["max_pixels"].get<long long>();
        o.rgb = imaging::parse_rgb_mode(c["to_rgb"].get<std::string>());
        o.keep_resized_image = true;
        auto r = resolution::try_preprocess(src, o);
        if (c["expected"] == "error") {
            ++err_cases;
            REQUIRE_FALSE(r.ok());
            const std::string stage = c["error_stage"].get<std::string>();
            CHECK(r.error().id ==
                  (stage == "resize" ? "rscovlm.resolution.zero_side" : "rscovlm.resolution.aspect_ratio"));
            continue;
        }
        REQUIRE(r.ok());
        ++ok_cases;
        const auto& p = r.value();
        CHECK(p.resized_height == c["resized_h"].get<int>());
        CHECK(p.resized_width == c["resized_w"].get<int>());
        CHECK(p.grid_thw[0] == c["grid_thw"][0].get<int>());
        CHECK(p.grid_thw[1] == c["grid_thw"][1].get<int>());
        CHECK(p.grid_thw[2] == c["grid_thw"][2].get<int>());
        CHECK(p.tokens == c["num_image_tokens"].get<long long>());
        CHECK(p.rows == c["pixel_values_shape"][0].get<std::size_t>());
        CHECK(p.cols == 1176);
        CHECK(rscovlm_test::sha256_hex(p.resized_image.data.data(), p.resized_image.data.size()) ==
              c["resized_rgb_sha256"].get<std::string>());
        CHECK(rscovlm_test::sha256_hex(p.pixel_values.data(), p.pixel_values.size() * sizeof(float)) ==
              c["pixel_values_sha256"].get<std::string>());
        double sum = 0, sum_sq = 0, comp = 0, comp_sq = 0; // Neumaier sums, close to math.fsum
        float mn = p.pixel_values[0], mx = p.pixel_values[0];
        for (float v : p.pixel_values) {
            const double d = v, sq = d * d;
            double t = sum + d;
            comp += std::fabs(sum) >= std::fabs(d) ? (sum - t) + d : (d - t) + sum;
            sum = t;
            t = sum_sq + sq;
            comp_sq += std::fabs(sum_sq) >= std::fabs(sq) ? (sum_sq - t) + sq : (sq - t) + sum_sq;
            sum_sq = t;
            mn = std::min(mn, v);
            mx = std::max(mx, v);
        }
        CHECK(sum + comp == doctest::Approx(c["sum"].get<double>()).epsilon(1e-12));
        CHECK(sum_sq + comp_sq == doctest::Approx(c["sum_sq"].get<double>()).epsilon(1e-12));
        CHECK(static_cast<double>(mn) == c["min"].get<double>());
        CHECK(static_cast<double>(mx) == c["max"].get<double>());
        for (const auto& s : c["samples"]) {
            const std::size_t row = s[0].get<std::size_t>(), col = s[1].get<std::size_t>();
            const float v = p.pixel_values[row * p.cols + col];
            CHECK(bits_of(v) == static_cast<std::uint32_t>(std::stoul(s[3].get<std::string>(), nullptr, 16)));
        }
        if (c.contains("npy") && file_exists(dir + c["npy"].get<std::string>())) {
            const auto a = rscovlm_test::load_npy_f32(dir + c["npy"].get<std::string>());
            REQUIRE(a.shape.size() == 2);
            CHECK(a.shape[0] == p.rows);
            CHECK(a.values == p.pixel_values);
            ++npy_checked;
        }
    }
    CHECK(ok_cases >= 20);
    CHECK(err_cases >= 2);
    CHECK(npy_checked >= 1);
}

TEST_CASE("resolution: patchify layout is merge-window major, columns c,t,py,px") {
    // A 56x28 image whose pixel (x, y) has value x + y (R), 2x (G), y (B).
    image im(28, 56, 3);
    for (int y = 0; y < 56; ++y)
        for (int x = 0; x < 28; ++x) {
            im.at(x, y, 0) = static_cast<std::uint8_t>(x + y);
            im.at(x, y, 1) = static_cast<std::uint8_t>(2 * x);
            im.at(x, y, 2) = static_cast<std::uint8_t>(y);
        }
    resolution::preprocess_options o;
    o.mean = {0.f, 0.f, 0.f};
    o.std = {1.f, 1.f, 1.f};
    std::vector<float> pv;
    const auto g = resolution::normalize_patchify(im, pv, o);
    CHECK(g == std::array<int, 3>{{1, 4, 2}});
    REQUIRE(pv.size() == 8u * 1176u);
    auto val = [](int v) { return static_cast<float>(static_cast<double>(v) * (1.0 / 255.0)); };
    // Row 3 = window (0,0), (mh=1, mw=1): patch origin y=14, x=14. Column (c=2, t=1, py=5, px=7).
    CHECK(pv[3 * 1176 + ((2 * 2 + 1) * 14 + 5) * 14 + 7] == val(14 + 5));
    // Row 5 = window (1,0), (mh=0, mw=1): origin y=28, x=14. Column (c=0, t=0, py=2, px=3).
    CHECK(pv[5 * 1176 + (0 * 14 + 2) * 14 + 3] == val(14 + 3 + 28 + 2));
    // Frames t=0 and t=1 are equal.
    CHECK(pv[5 * 1176 + 196 + 17] == pv[5 * 1176 + 17]);
    image odd(30, 28, 3);
    CHECK_THROWS_AS(resolution::normalize_patchify(odd, pv, o), resolution_error);
}

TEST_CASE("resolution: bfloat16 conversion rounds to nearest even") {
    CHECK(resolution::float_to_bf16(1.0f) == 0x3f80);
    CHECK(resolution::float_to_bf16(-2.0f) == 0xc000);
    std::uint32_t u = 0x3f808000u; // exactly halfway between 0x3f80 and 0x3f81 -> even (0x3f80)
    float f;
    std::memcpy(&f, &u, 4);
    CHECK(resolution::float_to_bf16(f) == 0x3f80);
    u = 0x3f818000u; // halfway, odd lower -> rounds up to 0x3f82
    std::memcpy(&f, &u, 4);
    CHECK(resolution::float_to_bf16(f) == 0x3f82);
    CHECK(resolution::float_to_bf16(std::nanf("")) == 0x7fc0);
    CHECK(resolution::bf16_to_float(0x3f80) == 1.0f);
    const auto v = resolution::to_bfloat16({1.0f, 0.5f});
    CHECK(v == std::vector<std::uint16_t>{0x3f80, 0x3f00});
}

TEST_CASE("resolution: preprocess_images concatenates rows like the reference processor") {
    std::vector<image> imgs;
    for (int k = 0; k < 3; ++k) {
        image im(60 + 40 * k, 50 + 10 * k, 3);
        for (std::size_t i = 0; i < im.data.size(); ++i)
            im.data[i] = static_cast<std::uint8_t>(i * (k + 3));
        imgs.push_back(im);
    }
    resolution::preprocess_options o;
    o.threads = 2;
    const auto b = resolution::preprocess_images(imgs, o);
    REQUIRE(b.image_grid_thw.size() == 3);
    std::size_t off = 0;
    for (std::size_t k = 0; k < 3; ++k) {
        const auto one = resolution::preprocess(imgs[k], o);
        CHECK(b.image_grid_thw[k] == one.grid_thw);
        CHECK(std::equal(one.pixel_values.begin(), one.pixel_values.end(),
                         b.pixel_values.begin() + static_cast<std::ptrdiff_t>(off)));
        off += one.pixel_values.size();
    }
    CHECK(off == b.pixel_values.size());
    CHECK(b.rows * b.cols == b.pixel_values.size());
    imgs.push_back(image(1, 250, 3));
    CHECK_THROWS_WITH_AS(resolution::preprocess_images(imgs, o), doctest::Contains("rscovlm.resolution.aspect_ratio"),
                         rscovlm::error);
}
