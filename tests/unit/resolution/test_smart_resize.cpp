// smart_resize against every golden case of tests/data/image/smart_resize.jsonl (qwen-vl-utils 0.0.11).
#include <doctest/doctest.h>

#include <rscovlm/resolution/smart_resize.hpp>

#include "support/test_support.hpp"

using namespace rscovlm;
using rscovlm::resolution::smart_resize;

TEST_CASE("resolution: smart_resize matches every golden case") {
    const auto cases = rscovlm_test::read_jsonl(rscovlm_test::data_dir() + "/image/smart_resize.jsonl");
    REQUIRE(cases.size() > 3000);
    int wrong = 0, errors = 0, guard_checked = 0;
    for (const auto& c : cases) {
        resolution::smart_resize_options o;
        o.factor = c["factor"].get<int>();
        o.min_pixels = c["min_pixels"].get<long long>();
        o.max_pixels = c["max_pixels"].get<long long>();
        const long long h = c["h"].get<long long>(), w = c["w"].get<long long>();
        auto r = resolution::try_smart_resize(h, w, o);
        if (c["expected"].is_string()) {
            ++errors;
            if (r.ok()) {
                ++wrong;
                MESSAGE(c["id"].get<std::string>()
                        << ": expected an error, got " << r.value().height << "x" << r.value().width);
            } else {
                const std::string id = r.error().id;
                const bool zero = c.value("error_type", "") == "ZeroDivisionError";
                CHECK(id == (zero ? "rscovlm.resolution.zero_size" : "rscovlm.resolution.aspect_ratio"));
            }
            continue;
        }
        const int eh = c["expected"][0].get<int>(), ew = c["expected"][1].get<int>();
        if (!r.ok() || r.value().height != eh || r.value().width != ew) {
            ++wrong;
            MESSAGE(c["id"].get<std::string>()
                    << " " << h << "x" << w << ": expected " << eh << "x" << ew << ", got "
                    << (r.ok() ? std::to_string(r.value().height) + "x" + std::to_string(r.value().width)
                               : r.error().what()));
            continue;
        }
        CHECK(resolution::smart_resize_branch(h, w, o) == c["branch"].get<std::string>());
        // transformers' variant = max(factor, floor) in the floor branch; with both sides >= factor the
        // rounding clamp never triggers, so it equals the recorded floor-guard result.
        if (c.contains("expected_with_floor_guard") && h >= o.factor && w >= o.factor) {
            o.variant = resolution::smart_resize_variant::transformers;
            const auto g = smart_resize(h, w, o);
            CHECK(g.height == c["expected_with_floor_guard"][0].get<int>());
            CHECK(g.width == c["expected_with_floor_guard"][1].get<int>());
            ++guard_checked;
        }
    }
    CHECK(wrong == 0);
    CHECK(errors > 100);
    CHECK(guard_checked > 0);
}

TEST_CASE("resolution: smart_resize rounding, branches and error ids") {
    // Python round() is half to even: 70 / 28 = 2.5 -> 2.
    CHECK(smart_resize(70, 70, 28, 0, 1000000) == resolution::size{56, 56});
    CHECK(smart_resize(98, 98, 28, 0, 1000000) == resolution::size{112, 112}); // 3.5 -> 4
    CHECK(smart_resize(1080, 1920) == resolution::size{728, 1316});            // transformers defaults
    // RSCoVLM multitask budget on 1920x1080: floor branch.
    CHECK(smart_resize(1080, 1920, 28, 50176, 1016064) == resolution::size{756, 1344});
    auto err = resolution::try_smart_resize(1, 250, {});
    REQUIRE_FALSE(err.ok());
    CHECK(err.error().id == "rscovlm.resolution.aspect_ratio");
    CHECK(resolution::try_smart_resize(0, 10, {}).error().id == "rscovlm.resolution.zero_size");
    CHECK(resolution::try_smart_resize(-3, 10, {}).error().id == "rscovlm.resolution.negative_size");
    resolution::smart_resize_options bad;
    bad.factor = 0;
    CHECK(resolution::try_smart_resize(100, 100, bad).error().id == "rscovlm.resolution.bad_factor");
    bad.factor = 28;
    bad.max_pixels = 0;
    CHECK(resolution::try_smart_resize(100, 100, bad).error().id == "rscovlm.resolution.zero_division");
    bad.max_pixels = -5;
    CHECK(resolution::try_smart_resize(100, 100, bad).error().id == "rscovlm.resolution.bad_budget");
    // The transformers variant does not clamp the rounded sides: 10x10 rounds to 0x0 -> ceil branch.
    resolution::smart_resize_options tv;
    tv.variant = resolution::smart_resize_variant::transformers;
    CHECK(smart_resize(10, 10, tv) == resolution::size{56, 56});
    CHECK(resolution::parse_variant("transformers") == resolution::smart_resize_variant::transformers);
    CHECK_THROWS_AS(resolution::parse_variant("pillow"), resolution_error);
}

TEST_CASE("resolution: smart_resize variants differ where the reference sources differ") {
    // Expected values computed with the three Python functions (qwen-vl-utils 0.0.11, transformers current,
    // transformers 4.49/4.50) on the same inputs.
    using resolution::size;
    using resolution::smart_resize_variant;
    auto run = [](long long h, long long w, smart_resize_variant v, long long mn, long long mx) {
        resolution::smart_resize_options o;
        o.variant = v;
        o.min_pixels = mn;
        o.max_pixels = mx;
        return resolution::try_smart_resize(h, w, o);
    };
    const auto q = smart_resize_variant::qwen_vl_utils;
    const auto t = smart_resize_variant::transformers;
    const auto l = smart_resize_variant::transformers_legacy;
    // Sides under factor/2 with no lower budget: qwen-vl-utils clamps the rounding to 28, transformers
    // rounds to 0 (and returns it), the legacy transformers refuses sides under the factor.
    CHECK(run(10, 10, q, 0, 1000000).value() == size{28, 28});
    CHECK(run(10, 10, t, 0, 1000000).value() == size{0, 0});
    CHECK(run(10, 10, l, 0, 1000000).error().id == "rscovlm.resolution.small_side");
    CHECK(run(13, 400, q, 0, 1000000).value() == size{28, 392});
    CHECK(run(13, 400, t, 0, 1000000).value() == size{0, 392});
    // Floor branch with a thin image: qwen-vl-utils and legacy transformers floor to 0, current
    // transformers keeps one factor.
    CHECK(run(30, 5000, q, 3136, 3136).value() == size{0, 700});
    CHECK(run(30, 5000, t, 3136, 3136).value() == size{28, 700});
    CHECK(run(30, 5000, l, 3136, 3136).value() == size{0, 700});
    // Small side between factor/2 and factor: only the legacy variant raises.
    CHECK(run(20, 100, q, 3136, 1003520).value() == size{28, 112});
    CHECK(run(20, 100, t, 3136, 1003520).value() == size{28, 112});
    CHECK(run(20, 100, l, 3136, 1003520).error().id == "rscovlm.resolution.small_side");
    // The legacy check precedes the zero-size and ratio checks, as its `if/elif` order does.
    CHECK(run(0, 100, l, 3136, 1003520).error().id == "rscovlm.resolution.small_side");
    // Ordinary images: all equal.
    for (auto v : {q, t, l}) {
        CHECK(run(100, 100, v, 3136, 1003520).value() == size{112, 112});
        CHECK(run(28, 28, v, 0, 1000000).value() == size{28, 28});
        CHECK(resolution::parse_variant(resolution::variant_name(v)) == v);
    }
}
