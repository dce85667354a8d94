// Hostile zoom inputs: crop windows over the limits and failed benchmark records.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <rscovlm/eval/lrsvqa.hpp>
#include <rscovlm/limits.hpp>
#include <rscovlm/zoom/controller.hpp>
#include <rscovlm/zoom/scripted_backend.hpp>

using namespace rscovlm;

namespace {
zoom::controller_options unclamped() {
    zoom::controller_options o;
    o.min_pixels = 28 * 28 * 4;
    o.max_pixels = 28 * 28 * 256;
    o.boxes.clamp = false; // the CLI's --no-clamp
    return o;
}
} // namespace

TEST_CASE("zoom limits: an unclamped box far outside the image is rejected as crop_too_large, not allocated") {
    const image orig(400, 300, 3);
    for (auto crop_from : {zoom::crop_source::original, zoom::crop_source::resized}) {
        CAPTURE(static_cast<int>(crop_from));
        // 5e6 x 5e6 in the model frame overlaps the image; its crop would be ~10^13 pixels. And one so
        // large that its rounded corners saturate the int range.
        for (double far : {5e6, 1e12}) {
            CAPTURE(far);
            zoom::memory_source src(orig);
            zoom::controller_options o = unclamped();
            o.crop_from = crop_from;
            zoom::scripted_backend model({zoom::format_tool_call(0, 0, far, far), "Yes."});
            const auto r = zoom::controller(o).run(src, "Is there a ship?", model);
            REQUIRE(r.trace.steps.size() == 2);
            REQUIRE(r.trace.steps[0].rejected.size() == 1);
            CHECK(r.trace.steps[0].rejected[0] == "crop_too_large");
            CHECK(r.trace.steps[0].kind == "fallback"); // the reference's `except Exception`: the full view again
            CHECK(r.answered);
            CHECK(r.answer == "Yes.");
        }
    }
    // The sources themselves refuse such windows with the limit's id.
    zoom::memory_source src(orig);
    try {
        src.read({-100000, -100000, 100000, 100000});
        FAIL("an oversized window was read");
    } catch (const limit_error& e) {
        CHECK(e.id() == "rscovlm.limit.output_pixels");
    }
}

TEST_CASE("zoom limits: a failed record is scored wrong even when output and ground truth are both empty") {
    std::vector<eval::lrsvqa::item> items{
        {"FAIR_1", "count", "3", "3"}, {"FAIR_2", "count", "", ""}, {"FAIR_3", "count", "", ""}};
    items[1].failed = true;
    items[2].failed = true;
    const auto s = eval::lrsvqa::scores(items);
    CHECK(s["overall acc"].get<double>() == doctest::Approx(1.0 / 3.0));
    CHECK(s["per_category"]["count"]["acc"].get<double>() == doctest::Approx(1.0 / 3.0));
    CHECK_FALSE(eval::lrsvqa::is_correct(items[1]));
    CHECK(eval::lrsvqa::is_correct(items[0]));
    CHECK(zoom::lrsvqa::is_correct(items[0]));
}
