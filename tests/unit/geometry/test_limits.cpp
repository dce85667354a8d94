// int() of non-finite oriented-box values raises in Python; here it is a typed geometry error.
#include <rscovlm/geometry/all.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace geo = rscovlm::geometry;

TEST_CASE("geometry: truncating an oriented box with NaN or infinite values is geometry_error not_finite") {
    const double inf = std::numeric_limits<double>::infinity();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (const geo::obb_deg& o : {geo::obb_deg{inf, 0, 1, 1, 0}, geo::obb_deg{0, 0, nan, 1, 0},
                                  geo::obb_deg{0, -inf, 1, 1, 0}, geo::obb_deg{0, 0, 1, 1, nan}}) {
        try {
            (void)geo::truncate(o);
            FAIL("a non-finite value was truncated");
        } catch (const rscovlm::geometry_error& e) {
            CHECK(e.id() == "rscovlm.geometry.not_finite");
        }
    }
    CHECK_THROWS_AS((void)geo::truncate(geo::obb_deg{1e30, 0, 1, 1, 0}), rscovlm::geometry_error);
    CHECK(geo::truncate(geo::obb_deg{-2.7, 3.9, 10, 5, -45.5}) == std::array<std::int64_t, 5>{-2, 3, 10, 5, -45});

    // min-area-rect of float32 points with an infinite coordinate (what `geom min-area-rect` runs).
    const float finf = std::numeric_limits<float>::infinity();
    const std::vector<geo::point_f32> pts{{0, 0}, {finf, 0}, {finf, 5}, {0, 5}};
    auto r = geo::try_min_area_rect(pts);
    if (r.ok()) CHECK_THROWS_AS((void)geo::truncate(geo::rscovlm_obb(r.value())), rscovlm::geometry_error);
}
