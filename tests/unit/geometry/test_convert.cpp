// Conversions, angle conventions, RSCoVLM's OBB rule, quad normalisation, frame mapping, clipping.
#include <rscovlm/geometry/all.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

namespace geo = rscovlm::geometry;
using doctest::Approx;

namespace {
void check_rbox(const geo::rbox& r, double cx, double cy, double w, double h, double t) {
    CHECK(r.cx == Approx(cx).epsilon(1e-12));
    CHECK(r.cy == Approx(cy).epsilon(1e-12));
    CHECK(r.w == Approx(w).epsilon(1e-12));
    CHECK(r.h == Approx(h).epsilon(1e-12));
    CHECK(r.theta == Approx(t).epsilon(1e-12));
}
} // namespace

TEST_CASE("geometry: regularize matches mmrotate RotatedBoxes.regularize_boxes") {
    // expected values computed with mmrotate 1.x's formulas in Python
    using ac = geo::angle_convention;
    check_rbox(geo::regularize({0, 0, 10, 20, 0.3}, ac::oc), 0, 0, 20, 10, -1.2707963267948965);
    check_rbox(geo::regularize({0, 0, 10, 20, 0.3}, ac::le90), 0, 0, 20, 10, -1.2707963267948967);
    check_rbox(geo::regularize({0, 0, 10, 20, 0.3}, ac::le135), 0, 0, 20, 10, 1.8707963267948964);
    check_rbox(geo::regularize({5, 5, 30, 10, 2.0}, ac::le90), 5, 5, 30, 10, -1.1415926535897931);
    check_rbox(geo::regularize({5, 5, 30, 10, 2.0}, ac::le135), 5, 5, 30, 10, 2.0);
    check_rbox(geo::regularize({1, 2, 8, 8, -2.5}, ac::le135), 1, 2, 8, 8, 2.2123889803846897);
    check_rbox(geo::regularize({0, 0, 4, 9, -0.2}, ac::oc), 0, 0, 4, 9, -0.19999999999999996);
    check_rbox(geo::regularize({0, 0, 4, 9, -0.2}, ac::le90), 0, 0, 9, 4, 1.3707963267948964);
    CHECK(geo::norm_angle(1.0, ac::le135) == Approx(1.0));
    CHECK(geo::norm_angle(-2.0, ac::le90) == Approx(1.1415926535897931));
    CHECK(geo::norm_angle(-2.0, ac::oc) == -2.0);
    CHECK(geo::parse_angle_convention("le135") == ac::le135);
    CHECK_THROWS_AS(geo::parse_angle_convention("le45"), rscovlm::geometry_error);
    CHECK(geo::py_mod(-1.0, 3.0) == 2.0);
    CHECK(geo::py_mod(1.0, -3.0) == -2.0);
}

TEST_CASE("geometry: hbb / rbox / quad conversions") {
    const geo::hbox hb{10, 20, 50, 40};
    check_rbox(geo::hbox_to_rbox(hb), 30, 30, 40, 20, 0);
    const geo::quad q = geo::hbox_to_quad(hb);
    CHECK(q[1] == geo::point{50, 20});
    CHECK(q[3] == geo::point{10, 40});
    CHECK(geo::quad_to_hbox(q) == hb);
    const geo::rbox r{100, 50, 40, 20, geo::deg2rad(30)};
    const geo::quad rq = geo::rbox_to_quad(r);
    CHECK(geo::area(rq) == Approx(800));
    const geo::hbox rh = geo::rbox_to_hbox(r);
    const geo::hbox qb = geo::bounds(rq);
    CHECK(rh.x1 == Approx(qb.x1));
    CHECK(rh.y2 == Approx(qb.y2));
    // quad -> rbox goes through cv2.minAreaRect (float32) then the convention
    const geo::quad tilted{geo::point{10, 10}, geo::point{50, 20}, geo::point{45, 40}, geo::point{5, 30}};
    const geo::rbox t = geo::quad_to_rbox(tilted, geo::angle_convention::le90);
    check_rbox(t, 27.5, 25.0, 41.23105239868164, 20.615528106689453, 0.244978679261884);
    // round trip rbox -> quad -> rbox (le90) within float32 precision
    const geo::rbox back = geo::quad_to_rbox(geo::rbox_to_quad(r), geo::angle_convention::le90);
    CHECK(back.cx == Approx(100).epsilon(1e-5));
    CHECK(back.w == Approx(40).epsilon(1e-5));
    CHECK(back.h == Approx(20).epsilon(1e-5));
    CHECK(back.theta == Approx(geo::deg2rad(30)).epsilon(1e-5));
    CHECK(geo::rbox_rad_to_deg(back).theta == Approx(30).epsilon(1e-4));
}

TEST_CASE("geometry: RSCoVLM OBB rule (swap, +90, wrap to [-90, 90), int())") {
    geo::rotated_rect r{100.7f, 50.2f, 20.0f, 60.0f, 45.0f};
    geo::obb_deg o = geo::rscovlm_obb(r);
    CHECK(o.w == 60.0);
    CHECK(o.h == 20.0);
    CHECK(o.a == -45.0); // 45 + 90 = 135 -> -45
    CHECK(geo::truncate(o) == std::array<std::int64_t, 5>{100, 50, 60, 20, -45});
    r = geo::rotated_rect{1, 1, 0, 0, 180.0f}; // degenerate angle from OpenCV
    o = geo::rscovlm_obb(r);
    CHECK(o.a == 0.0);
    r = geo::rotated_rect{1, 1, 5, 0, -135.0f};
    CHECK(geo::rscovlm_obb(r).a == 45.0);
    CHECK(geo::py_int(-0.7) == 0);
    CHECK(geo::py_int(-74.9) == -74);
    // truncated floats then wrapped (np.array(polygon).astype(int))
    const auto pts = geo::to_i32_reference({1.9, -1.9, 4294967312.0, 3.0});
    CHECK(pts[0].x == 1);
    CHECK(pts[0].y == -1);
    CHECK(pts[1].x == 16);
    CHECK_THROWS_AS(geo::segmentation_to_obb({1, 2, 3}), rscovlm::geometry_error);
}

TEST_CASE("geometry: normalize_polygon starts at the top-most then left-most vertex") {
    const geo::quad q{geo::point{575, 104}, geo::point{488, 55}, geo::point{495, 43}, geo::point{581, 93}};
    const geo::quad cw = geo::normalize_polygon(q, true);
    CHECK(geo::flat(cw) == std::vector<double>{495, 43, 581, 93, 575, 104, 488, 55});
    const geo::quad ccw = geo::normalize_polygon(q, false);
    CHECK(geo::flat(ccw) == std::vector<double>{495, 43, 488, 55, 575, 104, 581, 93});
    // axis-aligned: top-left first, ties on y broken by x
    const geo::quad a{geo::point{10, 20}, geo::point{10, 0}, geo::point{0, 0}, geo::point{0, 20}};
    CHECK(geo::flat(geo::normalize_polygon(a)) == std::vector<double>{0, 0, 10, 0, 10, 20, 0, 20});
}

TEST_CASE("geometry: frame mapping truncates like int(x * rw / ow) and maps back without rounding") {
    CHECK(geo::to_resized_int(1023, 812, 1024) == 811);
    CHECK(geo::to_resized_int(-5, 812, 1024) == -3); // toward zero
    CHECK(geo::to_resized_int(5, 812, 0) == 0);
    CHECK(geo::to_original(100, 1024, 812) == 100.0 * 1024 / 812);
    const geo::frame f{1000, 500, 560, 280};
    std::vector<double> xy = {56, 28, 560, 280};
    geo::map_to_original(xy, f);
    CHECK(xy == std::vector<double>{100, 50, 1000, 500});
    CHECK(geo::map_to_resized({999.9, 499.9}, f) == std::vector<std::int64_t>{559, 279});
}

TEST_CASE("geometry: clipping and helpers") {
    CHECK(geo::clip(geo::hbox{-5, 3, 120, 90}, 100, 80) == geo::hbox{0, 3, 100, 80});
    const geo::quad q =
        geo::clip(geo::quad{geo::point{-1, -1}, geo::point{200, 5}, geo::point{50, 300}, geo::point{3, 4}}, 100, 100);
    CHECK(q[0] == geo::point{0, 0});
    CHECK(q[1] == geo::point{100, 5});
    CHECK(q[2] == geo::point{50, 100});
    CHECK(geo::area(geo::hbox{0, 0, 4, 5}) == 20);
    CHECK(geo::area(geo::hbox{4, 0, 0, 5}) == 0);
    CHECK(geo::area(geo::rbox{0, 0, 3, 4, 1}) == 12);
    const geo::polygon tri = {{0, 0}, {4, 0}, {0, 3}};
    CHECK(geo::area(tri) == 6);
    CHECK(geo::bounds(tri) == geo::hbox{0, 0, 4, 3});
    const geo::hbox rb = geo::bounds(geo::rbox{0, 0, 2, 2, geo::pi / 4});
    CHECK(rb.x2 == Approx(std::sqrt(2.0)));
}
