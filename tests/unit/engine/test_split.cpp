// Unit tests: sliding windows, IoF and patch annotations against mmrotate img_split.py fixtures.
#include <rscovlm/data/detail/sha256.hpp>
#include <rscovlm/data/split.hpp>
#include <rscovlm/engine/split.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace rscovlm;

namespace {
std::string fixture(const std::string& rel) {
    return std::string(RSCOVLM_TEST_DATA_DIR) + "/img_split/" + rel;
}
std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}
data::split_options opts(int size, int gap) {
    data::split_options o;
    o.sizes = {size};
    o.gaps = {gap};
    o.padding_value_bgr = {104, 116, 124};
    return o;
}
} // namespace

TEST_CASE("data: img_split sliding windows (clamped last start, x-major order, rate fallback)") {
    auto w = data::sliding_windows(1030, 1030, opts(1024, 200));
    REQUIRE(w.size() == 4);
    CHECK(w[0].x_start == 0);
    CHECK(w[0].y_start == 0);
    CHECK(w[1].x_start == 0);
    CHECK(w[1].y_start == 6); // 1030 - 1024
    CHECK(w[2].x_start == 6);
    CHECK(w[2].y_start == 0);
    // 800x600 in 1024 windows: the only window has rate 0.46 < 0.6, kept by the fallback.
    w = data::sliding_windows(800, 600, opts(1024, 200));
    REQUIRE(w.size() == 1);
    CHECK(w[0].x_stop == 1024);
    // 1500 wide, 512/100: starts 0 412 824 988.
    w = data::sliding_windows(1500, 512, opts(512, 100));
    REQUIRE(w.size() == 4);
    CHECK(w[3].x_start == 988);
    // Several rates: int(size / rate).
    data::split_options o = opts(1024, 200);
    o.rates = {1.0, 2.0};
    w = data::sliding_windows(2000, 2000, o);
    bool has512 = false;
    for (const auto& x : w)
        has512 = has512 || x.size() == 512;
    CHECK(has512);
    o = opts(100, 100);
    CHECK_FALSE(try_call([&] { return data::sliding_windows(10, 10, o); }).ok());
    CHECK(data::patch_id("P0001", data::split_window{824, 0, 1336, 512}) == "P0001__512__824___0");
}

TEST_CASE("data: img_split IoF uses a float32 foreground area") {
    const geometry::quad inside{geometry::point{10, 10}, {20, 10}, {20, 20}, {10, 20}};
    CHECK(data::split_iof(inside, {0, 0, 100, 100}) == 1.0);
    const geometry::quad half{geometry::point{90, 10}, {110, 10}, {110, 20}, {90, 20}};
    CHECK(data::split_iof(half, {0, 0, 100, 100}) == doctest::Approx(0.5));
    CHECK(data::split_iof(half, {200, 200, 300, 300}) == 0.0);
    // Touching only (zero-area bbox overlap) counts as no overlap.
    const geometry::quad touch{geometry::point{100, 10}, {110, 10}, {110, 20}, {100, 20}};
    CHECK(data::split_iof(touch, {0, 0, 100, 100}) == 0.0);
    // A fully contained object whose float64 area rounds *up* in float32 gets IoF < 1.
    const float a = 10.1f, b = 20.3f;
    const geometry::quad dec{geometry::point{a, a}, {b, a}, {b, b}, {a, b}};
    const double area = data::detail::geos_ring_area(dec);
    const double iof = data::split_iof(dec, {0, 0, 100, 100});
    CHECK(iof == area / static_cast<double>(static_cast<float>(area)));
}

TEST_CASE("data: img_split patch annotations match the reference files byte for byte") {
    const auto expected = nlohmann::json::parse(slurp(fixture("fx_b/expected.json")));
    std::size_t files = 0;
    for (const auto& src : expected["source_images"]) {
        const std::string id = src["id"];
        data::dota_read_options ro;
        ro.dialect = data::dota_dialect::mmrotate;
        const auto ann = data::read_dota(fixture("fx_b/annfiles/" + id + ".txt"), ro);
        for (const auto& cfg : {std::pair<std::string, data::split_options>{"ss1024_gap200", opts(1024, 200)},
                                {"ss512_gap100", opts(512, 100)}}) {
            const auto patches = data::split_annotations(id, src["width"], src["height"], ann.objects, cfg.second);
            for (const auto& p : patches) {
                const std::string want = slurp(fixture("fx_b/expected/" + cfg.first + "/annfiles/" + p.id + ".txt"));
                CHECK_MESSAGE(data::format_patch_annotation(p) == want, p.id);
                ++files;
            }
        }
    }
    CHECK(files == 7 + 19);
}

TEST_CASE("data: img_split crops and pads pixels like cv2 (hash of the RGB patch)") {
    const auto expected = nlohmann::json::parse(slurp(fixture("fx_a/expected.json")));
    const rscovlm::image img = engine::detail::imread_color(fixture("fx_a/images/P1666.png"));
    const data::split_options o = opts(512, 100);
    std::size_t checked = 0;
    for (const auto& p : expected["configs"]["ss512_gap100"]["patches"]) {
        if (p["ori_id"] != "P1666") continue;
        const data::split_window w{p["x_start"], p["y_start"], p["x_start"].get<int>() + 512,
                                   p["y_start"].get<int>() + 512};
        const rscovlm::image patch = data::crop_patch(img, w, o);
        CHECK(patch.width == p["width"].get<int>());
        CHECK(patch.height == p["height"].get<int>());
        CHECK(data::detail::sha256_hex(patch.data.data(), patch.data.size()) == p["sha256_rgb"].get<std::string>());
        ++checked;
    }
    CHECK(checked == 4);
}

TEST_CASE("data: split_dota writes images/ and annfiles/ identically for 1 and 2 threads") {
    namespace fs = std::filesystem;
    const fs::path tmp =
        fs::temp_directory_path() /
        ("rscovlm_test_split_" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count())); // unique: test runs may overlap
    fs::remove_all(tmp);
    engine::split_job job;
    job.image_dirs = {fixture("fx_a/images")};
    job.ann_dirs = {fixture("fx_a/annfiles")};
    job.options = opts(1024, 200);
    job.hash_pixels = true;
    job.coco_json = (tmp / "coco.json").string();
    job.out_dir = (tmp / "t1").string();
    job.threads = 1;
    const auto r1 = engine::split_dota(job);
    job.out_dir = (tmp / "t2").string();
    job.threads = 2;
    job.coco_json.clear();
    const auto r2 = engine::split_dota(job);
    const auto expected = nlohmann::json::parse(slurp(fixture("fx_a/expected.json")));
    const auto& want = expected["configs"]["ss1024_gap200"]["patches"];
    REQUIRE(r1.patches.size() == want.size());
    REQUIRE(r2.patches.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        CHECK(r1.patches[i].file == want[i]["name"].get<std::string>());
        CHECK(r1.patches[i].sha256_rgb == want[i]["sha256_rgb"].get<std::string>());
        CHECK(r2.patches[i].sha256_rgb == r1.patches[i].sha256_rgb);
        CHECK(fs::exists(tmp / "t1" / "images" / r1.patches[i].file));
        CHECK(slurp((tmp / "t1" / "annfiles" / (r1.patches[i].id + ".txt")).string()) ==
              slurp(fixture("fx_a/expected/ss1024_gap200/annfiles/" + r1.patches[i].id + ".txt")));
    }
    CHECK(r1.objects == 200);
    const auto coco = nlohmann::json::parse(slurp((tmp / "coco.json").string()));
    CHECK(coco["images"].size() == want.size());
    CHECK(coco["annotations"].size() > 0);
    job.image_dirs = {(tmp / "missing").string()};
    auto bad = engine::try_split_dota(job);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().id == "rscovlm.io.not_a_directory");
    fs::remove_all(tmp);
}
