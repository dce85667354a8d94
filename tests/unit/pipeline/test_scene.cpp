// Unit tests: streaming scene detection (`pipeline::detect_scene`) against the per-patch path the
// benchmarks use (decoded image, crop_patch, detect, merge_patches), parallel workers, failed windows
// and the memory bound.
#include <doctest/doctest.h>

#include <rscovlm/box_codec/builtin.hpp>
#include <rscovlm/eval/detection_protocols.hpp>
#include <rscovlm/pipeline/scene.hpp>
#include <rscovlm/resolution/strategy.hpp>
#include <rscovlm/zoom/scripted_backend.hpp>

#include <atomic>
#include <string>
#include <vector>

namespace {

using namespace rscovlm;

image scene_pattern(int w, int h) {
    image img(w, h, 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c)
                img.at(x, y, c) = static_cast<std::uint8_t>((x / 7 * (c + 3) + y / 5 * (5 - c)) & 255);
    return img;
}

/// A reply that depends only on the window's pixels (so any worker gives the same answer): two
/// boxes placed by the view's mean, a third that overlaps the first (suppressed by NMS), and garbage.
std::string content_reply(const image& view) {
    unsigned long long sum = 0;
    for (auto v : view.data)
        sum += v;
    const int m = static_cast<int>(sum / view.data.size());
    const int x = 40 + m, y = 60 + m / 2;
    return std::to_string(x) + "," + std::to_string(y) + "," + std::to_string(x + 80) + "," + std::to_string(y) + "," +
           std::to_string(x + 80) + "," + std::to_string(y + 40) + "," + std::to_string(x) + "," +
           std::to_string(y + 40) + " plane\n" + std::to_string(x + 2) + "," + std::to_string(y + 1) + "," +
           std::to_string(x + 82) + "," + std::to_string(y + 1) + "," + std::to_string(x + 82) + "," +
           std::to_string(y + 41) + "," + std::to_string(x + 2) + "," + std::to_string(y + 41) +
           " plane\n300,300,340,300,340,330,300,330 small vehicle\nnot a box at all\n";
}

std::vector<std::string> det_strings(const pipeline::scene_detect_result& r) {
    std::vector<std::string> out;
    for (const auto& d : r.detections) {
        std::string s = d.label;
        for (const auto& p : d.quad)
            s += " " + std::to_string(p.x) + " " + std::to_string(p.y);
        out.push_back(s);
    }
    return out;
}

} // namespace

TEST_CASE("detect_scene equals detection per decoded patch merged as the benchmarks merge it") {
    const image img = scene_pattern(1700, 1300);
    zoom::memory_source src(img);
    const box_codec::plain_quad codec;
    resolution::fixed_budget sizing(256 * 28 * 28, 1296 * 28 * 28);
    pipeline::scene_detect_options o;
    o.split.sizes = {800};
    o.split.gaps = {150};
    o.split.padding_value_bgr = {104, 116, 124};
    o.classes = {"plane", "small-vehicle"};
    o.scene_id = "P0001";
    auto cb = [] {
        return std::make_unique<zoom::callback_backend>(
            [](const nlohmann::json&, const std::vector<image>& ims, const zoom::generation_options&) {
                return content_reply(ims.front());
            });
    };
    const pipeline::scene_detect_result r = pipeline::detect_scene(src, codec, sizing, cb, o);

    // The reference path: decode, crop each window (padding included), detect, merge with NMS.
    std::vector<eval::class_detections> per_class = {{"plane", true, {}}, {"small-vehicle", true, {}}};
    std::size_t windows = 0;
    for (const auto& w : data::sliding_windows(img.width, img.height, o.split)) {
        ++windows;
        const image patch = data::crop_patch(img, w, o.split);
        auto model = cb();
        const pipeline::detection_result d = pipeline::detect(patch, codec, sizing, *model, o.classes);
        for (const auto& obj : d.decoded.objects) {
            geometry::quad q{};
            REQUIRE(box_codec::object_quad(obj, codec.kind(), q));
            per_class[static_cast<std::size_t>(obj.label_id)].dets.push_back(
                eval::detection{data::patch_id("P0001", w), 1.0, q});
        }
    }
    const auto merged = eval::merge_patches(per_class);
    std::vector<std::string> expected;
    for (const auto& c : merged)
        for (const auto& d : c.dets) {
            std::string s = c.label;
            for (const auto& p : d.poly)
                s += " " + std::to_string(p.x) + " " + std::to_string(p.y);
            expected.push_back(s);
        }
    CHECK(r.windows.size() == windows);
    CHECK(r.width == 1700);
    CHECK(r.failed == 0);
    CHECK(r.before_nms == 3 * windows);
    CHECK(r.dropped.total() == windows); // the garbage line of every answer
    CHECK(det_strings(r) == expected);
    CHECK(r.detections.size() < r.before_nms);
    const auto t1 = r.task1(o.classes);
    REQUIRE(t1.size() == 2);
    CHECK(t1[0].dets.front().image == "P0001");

    // Parallel workers give the same result; the batch bounds the windows held at once.
    o.in_flight = 3;
    o.batch = 4;
    std::size_t calls = 0;
    o.progress = [&](std::size_t done, std::size_t total) {
        ++calls;
        CHECK(done <= total);
    };
    const pipeline::scene_detect_result p = pipeline::detect_scene(src, codec, sizing, cb, o);
    CHECK(det_strings(p) == det_strings(r));
    CHECK(p.peak_windows == 4);
    CHECK(calls == (windows + 3) / 4);
    o.apply_nms = false;
    CHECK(pipeline::detect_scene(src, codec, sizing, cb, o).detections.size() == r.before_nms);
}

TEST_CASE("detect_scene reports failed windows and refuses bad options") {
    const image img = scene_pattern(900, 700);
    zoom::memory_source src(img);
    const box_codec::plain_quad codec;
    resolution::fixed_budget sizing(256 * 28 * 28, 1296 * 28 * 28);
    pipeline::scene_detect_options o;
    o.split.sizes = {500};
    o.split.gaps = {100};
    o.classes = {"plane"};
    auto n = std::make_shared<std::atomic<int>>(0);
    auto flaky = [n] {
        return std::make_unique<zoom::callback_backend>(
            [n](const nlohmann::json&, const std::vector<image>&, const zoom::generation_options&) -> std::string {
                if ((*n)++ == 1) RSCOVLM_THROW(zoom_error, "timeout", "the server did not answer");
                return "10,10,50,10,50,30,10,30 plane";
            });
    };
    const pipeline::scene_detect_result r = pipeline::detect_scene(src, codec, sizing, flaky, o);
    CHECK(r.windows.size() == 4);
    CHECK(r.failed == 1);
    CHECK(r.windows[1].error.find("rscovlm.zoom.timeout") != std::string::npos);
    CHECK(r.windows[1].objects == 0);
    CHECK(r.detections.size() == 3);
    CHECK(nlohmann::json(r.windows[1]).contains("error"));
    CHECK_FALSE(nlohmann::json(r.windows[0]).contains("error"));

    pipeline::scene_detect_options bad = o;
    bad.classes.clear();
    CHECK_THROWS_AS(pipeline::detect_scene(src, codec, sizing, flaky, bad), usage_error);
    bad = o;
    bad.in_flight = 0;
    CHECK_THROWS_AS(pipeline::detect_scene(src, codec, sizing, flaky, bad), usage_error);
    CHECK_THROWS_AS(pipeline::detect_scene(src, codec, sizing, pipeline::backend_factory{}, o), usage_error);
}
