// Resolution strategies (registry kind `resolution`), the token-budget query and frame mapping.
#include <doctest/doctest.h>

#include <rscovlm/registry.hpp>
#include <rscovlm/resolution/builtin.hpp>

#include <cstdio>

using namespace rscovlm;

TEST_CASE("resolution: catalog keys and construction from JSON") {
    const auto keys = registry::keys<resolution::builtin>();
    CHECK(keys.size() == 4);
    auto s = registry::make<resolution::kind>("resize.smart", {{"preset", "det"}});
    auto p = s->plan_size(1080, 1920);
    CHECK(p.min_pixels == 256 * 28 * 28);
    CHECK(p.resized_height == 756);
    CHECK(p.resized_width == 1344);
    CHECK(p.grid_thw == std::array<int, 3>{{1, 54, 96}});
    CHECK(p.tokens == 54 * 96 / 4);
    CHECK(s->component_key() == "resize.smart");
    CHECK(s->describe()["max_pixels"] == 1296 * 28 * 28);

    auto sq = registry::make<resolution::kind>("resize.square", {{"size", 224}});
    const auto q = sq->plan_size(500, 500);
    CHECK(q.resized_height == 224);
    CHECK(q.tokens == 64);

    auto ex = registry::make<resolution::kind>("resize.explicit", {{"resized_height", 300}, {"resized_width", 500}});
    const auto e = ex->plan_size(10, 10);
    CHECK(e.resized_height == 308); // snapped to multiples of 28 by smart_resize
    CHECK(e.resized_width == 504);

    CHECK_THROWS_AS(registry::make<resolution::kind>("resize.smart", {{"preset", "huge"}}), registry_error);
    CHECK_THROWS_AS(registry::make<resolution::kind>("resize.smart", {{"min_pixel", 5}}), registry_error);
    CHECK_THROWS_AS(registry::make<resolution::kind>("resize.explicit", nlohmann::json::object()), registry_error);
    CHECK_THROWS_AS(registry::make<resolution::kind>("resize.square", {{"size", "big"}}), registry_error);
    CHECK_THROWS_AS(registry::make<resolution::kind>("resize.nope", {}), registry_error);
}

TEST_CASE("resolution: random resize reproduces the Python reference draw for draw") {
    // Python: random.seed(7); per image: if random.random() <= 0.5: s = random.uniform(mn/(h*w), mx/(h*w));
    // smart_resize(int(h*s), int(w*s), 28, mn, mx) else smart_resize(h, w, 28, mn, mx)  (multitask budget).
    auto r = registry::make<resolution::kind>("resize.random", {{"seed", 7}, {"prob", 0.5}});
    struct row {
        int h, w;
        bool randomized;
        int rh, rw;
    };
    const row expected[] = {{1080, 1920, true, 196, 308},
                            {800, 800, false, 812, 812},
                            {4000, 3000, true, 280, 196},
                            {512, 512, true, 224, 224},
                            {333, 777, false, 336, 784}};
    for (int pass = 0; pass < 2; ++pass) {
        for (const auto& e : expected) {
            const auto p = r->plan_size(e.h, e.w);
            CHECK(p.randomized == e.randomized);
            CHECK(p.resized_height == e.rh);
            CHECK(p.resized_width == e.rw);
        }
        r->reseed(7); // the same stream again
    }
    resolution::python_random py(123456789012ULL);
    CHECK(py.random() == 0.37701448538609916);
    CHECK(py.uniform(2, 5) == 2.0620880707376767);
}

TEST_CASE("resolution: token budget and frame mapping") {
    CHECK(resolution::token_budget(1080, 1920, resolution::budget_multitask.min_pixels,
                                   resolution::budget_multitask.max_pixels) == 27 * 48);
    CHECK(resolution::find_budget("sq336").max_pixels == 336 * 336);
    CHECK_THROWS_AS(resolution::find_budget("sqX"), resolution_error);
    resolution::fixed_budget fb;
    const auto p = fb.plan_size(1000, 2000);
    const auto m = p.frames();
    // int(v * resized / orig), truncation toward zero.
    CHECK(m.to_resized_x(999.0) == static_cast<int>(999.0 * p.resized_width / 2000));
    CHECK(m.to_resized_y(-3.5) == static_cast<int>(-3.5 * p.resized_height / 1000));
    CHECK(m.to_original_x(m.resized_width) == doctest::Approx(2000.0));
    CHECK(m.to_original_y_div_first(p.resized_height / 2.0) == doctest::Approx(500.0));
    resolution::random_resize rr(64 * 784, 1296 * 784, 1.0, 1);
    CHECK_THROWS_AS(rr.plan_size(0, 10), resolution_error);
}
