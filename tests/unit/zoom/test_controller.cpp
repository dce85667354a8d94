// The Zoom-in Chain controller against scripted backends.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <rscovlm/resolution/smart_resize.hpp>
#include <rscovlm/zoom/builtin.hpp>
#include <rscovlm/zoom/controller.hpp>
#include <rscovlm/zoom/scripted_backend.hpp>

using namespace rscovlm;

namespace {

// A deterministic RGB test pattern (every pixel distinct enough for crops to be checked).
image pattern(int w, int h) {
    image im(w, h, 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            im.at(x, y, 0) = static_cast<std::uint8_t>((x * 7 + y * 3) & 255);
            im.at(x, y, 1) = static_cast<std::uint8_t>((x ^ y) & 255);
            im.at(x, y, 2) = static_cast<std::uint8_t>((x / 8 + y / 8 * 5) & 255);
        }
    return im;
}

std::string call(double x1, double y1, double x2, double y2) {
    return zoom::format_tool_call(x1, y1, x2, y2);
}

zoom::controller_options small_budget() {
    zoom::controller_options o;
    o.min_pixels = 28 * 28 * 4;
    o.max_pixels = 28 * 28 * 256; // 200704
    return o;
}

constexpr int W = 1600, H = 1000;

bool has(const std::vector<std::string>& v, const std::string& s) {
    for (const auto& x : v)
        if (x == s) return true;
    return false;
}

} // namespace

TEST_CASE("zoom: one zoom step, crop of the original under the same budget") {
    const image orig = pattern(W, H);
    zoom::memory_source src(orig);
    const auto opt = small_budget();
    // smart_resize(1000, 1600, 28, 3136, 200704): beta = sqrt(1.6e6 / 200704), floor branch.
    const auto rs = resolution::smart_resize(H, W, 28, opt.min_pixels, opt.max_pixels);
    REQUIRE(rs.height == 336);
    REQUIRE(rs.width == 560);

    zoom::scripted_backend model({"<think>small targets</think>\n" + call(100, 50, 300, 150), " Yes. "});
    zoom::controller ctl(opt);
    auto r = ctl.run(src, "Is there a harbor?", model);

    CHECK(r.answered);
    CHECK(r.answer == " Yes. "); // like extract_thinking_content: unchanged when there is no thought
    CHECK(r.trace.stop_reason == "answered");
    REQUIRE(r.trace.steps.size() == 2);
    CHECK(r.trace.steps[0].kind == "zoom");
    CHECK(r.trace.steps[0].has_think);
    CHECK(r.trace.steps[1].kind == "answer");
    CHECK(r.trace.resized_width == 560);
    CHECK(r.trace.resized_height == 336);

    // Requests: the first shows the full view, the second adds the crop.
    const auto& req = model.requests();
    REQUIRE(req.size() == 2);
    REQUIRE(req[0].messages.size() == 2);
    CHECK(req[0].messages[0]["content"] == std::string(zoom::system_prompt));
    CHECK(req[0].messages[1]["content"][1]["text"] ==
          "Is there a harbor?\nZoom in to the region of interest and answer the question.");
    CHECK(req[0].image_sizes == std::vector<std::pair<int, int>>{{560, 336}});
    REQUIRE(req[1].messages.size() == 4);
    // The reference keeps the output without its thought in the history.
    CHECK(req[1].messages[2]["content"] == call(100, 50, 300, 150));
    CHECK(req[1].messages[3]["content"][1]["text"] == "Here's the zoomed-in image. You can complete your task now.");
    CHECK(req[1].messages[3]["content"][0]["type"] == "image");

    // Box mapping x * W / resized_w, crop rounded half to even, crop re-encoded with smart_resize.
    const auto& z = r.trace.steps[0].zooms.at(0);
    CHECK(z.bbox_original.x1 == doctest::Approx(100.0 * 1600 / 560));
    CHECK(z.bbox_original.y2 == doctest::Approx(150.0 * 1000 / 336));
    CHECK(z.crop.x0 == 286); // 285.714...
    CHECK(z.crop.y0 == 149); // 148.81
    CHECK(z.crop.x1 == 857); // 857.14
    CHECK(z.crop.y1 == 446); // 446.43
    const auto cs = resolution::smart_resize(z.crop.height(), z.crop.width(), 28, opt.min_pixels, opt.max_pixels);
    CHECK(req[1].image_sizes.at(1) == std::pair<int, int>{cs.width, cs.height});
    CHECK(z.visual_tokens == (cs.width / 28) * (cs.height / 28));
    const image expected = image::resize(image::crop(orig, 286, 149, 857, 446), cs.width, cs.height);
    REQUIRE(r.images.size() == 2);
    CHECK(r.images[1].data == expected.data);
    CHECK(r.images[0].data == image::resize(orig, 560, 336).data);

    // Final conversation ends with the answer; the trace serialises.
    CHECK(r.messages.back()["role"] == "assistant");
    CHECK(r.messages.back()["content"] == " Yes. ");
    auto tj = zoom::to_json(r.trace);
    CHECK(tj["steps"][0]["zooms"][0]["crop"] == nlohmann::json::array({286, 149, 857, 446}));
    CHECK(tj["stop_reason"] == "answered");
}

TEST_CASE("zoom: two steps, boxes always in the full resized frame") {
    zoom::memory_source src(pattern(W, H));
    zoom::scripted_backend model({call(0, 0, 280, 168), call(280, 168, 560, 336), "3"});
    auto r = zoom::controller(small_budget()).run(src, "How many ships?", model);
    CHECK(r.answered);
    CHECK(r.answer == "3");
    REQUIRE(r.trace.steps.size() == 3);
    CHECK(r.trace.steps[1].kind == "zoom");
    CHECK(r.trace.steps[1].zooms[0].crop.x0 == 800);
    CHECK(r.trace.steps[1].zooms[0].crop.y1 == 1000);
    CHECK(model.requests()[2].image_sizes.size() == 3);
    CHECK(model.requests()[2].messages.size() == 6);
    CHECK(r.trace.steps[2].prompt_images == 3);
}

TEST_CASE("zoom: no tool call is the final answer") {
    zoom::memory_source src(pattern(W, H));
    zoom::scripted_backend model({"<think>clear</think>rural"});
    auto r = zoom::controller(small_budget()).run(src, "Rural or urban?", model);
    CHECK(r.answered);
    CHECK(r.answer == "rural");
    CHECK(r.has_think);
    CHECK(r.think == "clear");
    CHECK(r.trace.steps.size() == 1);
    CHECK(model.requests().size() == 1);
}

TEST_CASE("zoom: malformed calls fall back to the full image or stop") {
    SUBCASE("fallback (reference)") {
        zoom::memory_source src(pattern(W, H));
        zoom::scripted_backend model(
            {"<tool_call>\n{\"name\": \"image_zoom_in\", \"arguments\": {}}\n</tool_call>", "no"});
        auto r = zoom::controller(small_budget()).run(src, "q", model);
        CHECK(r.answered);
        CHECK(r.answer == "no");
        CHECK(r.trace.steps[0].kind == "fallback");
        REQUIRE(r.trace.steps[0].dropped.size() == 1);
        CHECK(r.trace.steps[0].dropped[0].reason == "missing_bbox");
        CHECK(model.requests()[1].image_sizes.at(1) == std::pair<int, int>{560, 336});
        CHECK(r.images[1].data == r.images[0].data);
    }
    SUBCASE("stop") {
        zoom::memory_source src(pattern(W, H));
        auto opt = small_budget();
        opt.on_malformed = zoom::malformed_policy::stop;
        zoom::scripted_backend model({"I will zoom <tool_call>oops</tool_call>"});
        auto r = zoom::controller(opt).run(src, "q", model);
        CHECK_FALSE(r.answered);
        CHECK(r.trace.stop_reason == "malformed");
        CHECK(r.answer == "I will zoom");
        CHECK(model.requests().size() == 1);
    }
}

TEST_CASE("zoom: out-of-bounds, inverted, tiny and thin boxes") {
    zoom::memory_source src(pattern(W, H));
    SUBCASE("clamped to the frame") {
        zoom::scripted_backend model({call(-50, -20, 700, 100), "a"});
        auto r = zoom::controller(small_budget()).run(src, "q", model);
        const auto& z = r.trace.steps[0].zooms.at(0);
        CHECK(has(z.adjustments, "clamped"));
        CHECK(z.bbox_resized.x1 == 0);
        CHECK(z.bbox_resized.x2 == 560);
        CHECK(z.crop.x0 == 0);
        CHECK(z.crop.x1 == 1600);
    }
    SUBCASE("entirely outside: rejected, fallback") {
        zoom::scripted_backend model({call(600, 10, 700, 100), "a"});
        auto r = zoom::controller(small_budget()).run(src, "q", model);
        CHECK(r.trace.steps[0].kind == "fallback");
        CHECK(r.trace.steps[0].rejected == std::vector<std::string>{"outside_image"});
    }
    SUBCASE("inverted: reordered") {
        zoom::scripted_backend model({call(300, 150, 100, 50), "a"});
        auto r = zoom::controller(small_budget()).run(src, "q", model);
        const auto& z = r.trace.steps[0].zooms.at(0);
        CHECK(has(z.adjustments, "reordered"));
        CHECK(z.crop.x0 == 286);
        CHECK(z.crop.y1 == 446);
    }
    SUBCASE("inverted without reordering: malformed") {
        auto opt = small_budget();
        opt.boxes.reorder_inverted = false;
        zoom::scripted_backend model({call(300, 150, 100, 50), "a"});
        auto r = zoom::controller(opt).run(src, "q", model);
        CHECK(r.trace.steps[0].kind == "fallback");
        CHECK(r.trace.steps[0].rejected == std::vector<std::string>{"inverted_box"});
    }
    SUBCASE("tiny box grown to one factor, shifted inside") {
        zoom::scripted_backend model({call(550, 0, 552, 3), "a"});
        auto r = zoom::controller(small_budget()).run(src, "q", model);
        const auto& z = r.trace.steps[0].zooms.at(0);
        CHECK(has(z.adjustments, "grown"));
        CHECK(z.bbox_resized.x2 == 560);
        CHECK(z.bbox_resized.x1 == 532);
        CHECK(z.bbox_resized.y1 == 0);
        CHECK(z.bbox_resized.y2 == 28);
    }
    SUBCASE("thin box limited in aspect ratio") {
        auto opt = small_budget();
        opt.boxes.max_aspect_ratio = 10;
        zoom::scripted_backend model({call(0, 100, 560, 130), "a"});
        auto r = zoom::controller(opt).run(src, "q", model);
        const auto& z = r.trace.steps[0].zooms.at(0);
        CHECK(has(z.adjustments, "aspect_limited"));
        CHECK(z.bbox_resized.y2 - z.bbox_resized.y1 == doctest::Approx(56.0));
        CHECK(z.bbox_resized.x2 - z.bbox_resized.x1 == doctest::Approx(560.0));
    }
    SUBCASE("without clamping, outside pixels are zero like Pillow") {
        auto opt = small_budget();
        opt.boxes.clamp = false;
        zoom::scripted_backend model({call(-56, 0, 56, 56), "a"});
        auto r = zoom::controller(opt).run(src, "q", model);
        const auto& z = r.trace.steps[0].zooms.at(0);
        CHECK(z.crop.x0 == -160);
        CHECK(r.images[1].at(0, 0, 0) == 0);
    }
}

TEST_CASE("zoom: max_steps bounds the chain") {
    zoom::memory_source src(pattern(W, H));
    auto opt = small_budget();
    opt.max_steps = 1;
    zoom::scripted_backend model({call(0, 0, 100, 100), "still unsure " + call(0, 0, 50, 50)}, true);
    auto r = zoom::controller(opt).run(src, "q", model);
    CHECK_FALSE(r.answered);
    CHECK(r.trace.stop_reason == "max_steps");
    CHECK(r.answer == "still unsure");
    CHECK(model.requests().size() == 2);
    CHECK(r.trace.steps.back().kind == "max_steps");

    opt.max_steps = 0;
    zoom::scripted_backend m0({call(0, 0, 100, 100)});
    auto r0 = zoom::controller(opt).run(src, "q", m0);
    CHECK(r0.trace.stop_reason == "max_steps");
    CHECK(m0.requests().size() == 1);
}

TEST_CASE("zoom: crop from the resized view (released inference behaviour)") {
    const image orig = pattern(W, H);
    zoom::memory_source src(orig);
    auto opt = small_budget();
    opt.crop_from = zoom::crop_source::resized;
    zoom::scripted_backend model({call(100, 50, 300, 150), "a"});
    auto r = zoom::controller(opt).run(src, "q", model);
    const auto& z = r.trace.steps[0].zooms.at(0);
    CHECK(z.crop_frame == "resized");
    CHECK(z.crop.x0 == 100);
    CHECK(z.crop.x1 == 300);
    const auto cs = resolution::smart_resize(100, 200, 28, opt.min_pixels, opt.max_pixels);
    const image view = image::resize(orig, 560, 336);
    CHECK(r.images[1].data == image::resize(image::crop(view, 100, 50, 300, 150), cs.width, cs.height).data);
}

TEST_CASE("zoom: several calls in one output") {
    zoom::memory_source src(pattern(W, H));
    const std::string two = call(0, 0, 100, 100) + "\n" + call(200, 100, 300, 200);
    SUBCASE("first") {
        zoom::scripted_backend model({two, "a"});
        auto r = zoom::controller(small_budget()).run(src, "q", model);
        CHECK(r.trace.steps[0].zooms.size() == 1);
        CHECK(model.requests()[1].image_sizes.size() == 2);
    }
    SUBCASE("all") {
        auto opt = small_budget();
        opt.multi_call = zoom::multi_call_policy::all;
        zoom::scripted_backend model({two, "a"});
        auto r = zoom::controller(opt).run(src, "q", model);
        CHECK(r.trace.steps[0].zooms.size() == 2);
        CHECK(model.requests()[1].image_sizes.size() == 3);
        CHECK(model.requests()[1].messages[3]["content"].size() == 3);
    }
}

TEST_CASE("zoom: keep_think_in_history and generation options reach the backend") {
    zoom::memory_source src(pattern(W, H));
    auto opt = small_budget();
    opt.keep_think_in_history = true;
    opt.generation.max_new_tokens = 77;
    opt.generation.stop = {"</tool_call>"};
    const std::string out = "<think>t</think>\n" + call(0, 0, 100, 100);
    zoom::scripted_backend model({out, "a"});
    auto r = zoom::controller(opt).run(src, "q", model);
    CHECK(model.requests()[1].messages[2]["content"] == out);
    CHECK(model.requests()[0].options.max_new_tokens == 77);
    CHECK(model.requests()[0].options.stop == std::vector<std::string>{"</tool_call>"});
}

TEST_CASE("zoom: script exhaustion and bad options are typed errors") {
    zoom::memory_source src(pattern(64, 64));
    zoom::scripted_backend model({call(0, 0, 10, 10)});
    auto res = zoom::controller(small_budget()).try_run(src, "q", model);
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().id == "rscovlm.zoom.script_exhausted");
    zoom::controller_options bad;
    bad.max_steps = -1;
    CHECK_THROWS_AS(zoom::controller{bad}, zoom_error);
}

TEST_CASE("zoom: registry kind builds both strategies") {
    auto keys = registry::keys<zoom::builtin>();
    CHECK(keys == std::vector<std::string_view>{"zoom.tool_call", "zoom.none"});
    auto c = registry::make<zoom::kind>("zoom.tool_call", {{"max_steps", 1},
                                                           {"crop_from", "resized"},
                                                           {"min_pixels", 3136},
                                                           {"max_pixels", 200704},
                                                           {"on_malformed", "stop"}});
    CHECK(c->options().max_steps == 1);
    CHECK(c->options().crop_from == zoom::crop_source::resized);
    CHECK(c->options().on_malformed == zoom::malformed_policy::stop);
    CHECK_THROWS_AS(registry::make<zoom::kind>("zoom.tool_call", {{"max_step", 1}}), registry_error);
    CHECK_THROWS_AS(registry::make<zoom::kind>("zoom.tool_call", {{"crop_from", "sideways"}}), zoom_error);

    auto none = registry::make<zoom::kind>("zoom.none", {{"min_pixels", 3136}, {"max_pixels", 200704}});
    zoom::memory_source src(pattern(W, H));
    zoom::scripted_backend model({call(0, 0, 10, 10)});
    auto r = none->run(src, "Count the planes.", model);
    CHECK(r.answered); // no tool in this strategy: any output is the answer
    REQUIRE(model.requests().size() == 1);
    CHECK(model.requests()[0].messages.size() == 1);
    CHECK(model.requests()[0].messages[0]["content"][1]["text"] == "Count the planes.");
}
