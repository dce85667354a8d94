// min_area_rect / box_points against OpenCV 4.6 golden data (tests/data/min_area_rect).
#include <rscovlm/geometry/all.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

namespace geo = rscovlm::geometry;
using nlohmann::json;

namespace {

std::vector<json> read_jsonl(const std::string& path) {
    std::ifstream f(path);
    REQUIRE_MESSAGE(f.good(), "cannot open " << path);
    std::vector<json> out;
    std::string line;
    while (std::getline(f, line))
        if (!line.empty()) out.push_back(json::parse(line));
    return out;
}

// float32 results widened to double must be bit-identical, including the sign of zero
bool same(float got, const json& want) {
    const double w = want.get<double>();
    return static_cast<double>(got) == w && std::signbit(got) == std::signbit(w);
}

} // namespace

TEST_CASE("geometry: min_area_rect reproduces cv2.minAreaRect 4.6 bit for bit on every golden case") {
    const auto cases = read_jsonl(std::string(RSCOVLM_TEST_DATA_DIR) + "/min_area_rect/cases.jsonl");
    REQUIRE(cases.size() == 3121);
    std::size_t checked = 0, errors = 0;
    for (const auto& c : cases) {
        for (const char* path : {"f32", "int"}) {
            const json& p = c[path];
            rscovlm::result<geo::rotated_rect> r = geo::rotated_rect{};
            if (std::string(path) == "f32") {
                std::vector<geo::point_f32> v;
                for (const auto& q : p["input"])
                    v.push_back({static_cast<float>(q[0].get<double>()), static_cast<float>(q[1].get<double>())});
                r = geo::try_min_area_rect(v);
            } else {
                std::vector<geo::point_i32> v;
                for (const auto& q : p["input"])
                    v.push_back({static_cast<std::int32_t>(q[0].get<std::int64_t>()),
                                 static_cast<std::int32_t>(q[1].get<std::int64_t>())});
                r = geo::try_min_area_rect(v);
            }
            INFO(c["id"].get<std::string>() << " " << path << " " << c["category"].get<std::string>());
            const bool want_error = !p["error"].is_null();
            CHECK(r.ok() == !want_error);
            ++checked;
            if (want_error || !r.ok()) {
                if (!r.ok()) {
                    CHECK(r.error().id == "rscovlm.geometry.calipers_orientation");
                    ++errors;
                }
                continue;
            }
            const auto& g = r.value();
            const json& R = p["rect"];
            CHECK(same(g.cx, R["center"][0]));
            CHECK(same(g.cy, R["center"][1]));
            CHECK(same(g.w, R["size"][0]));
            CHECK(same(g.h, R["size"][1]));
            CHECK(same(g.angle, R["angle"]));
            const auto o = geo::rscovlm_obb(g);
            const auto t = geo::truncate(o);
            for (int k = 0; k < 5; ++k)
                CHECK(t[static_cast<std::size_t>(k)] == p["obb_int"][k].get<std::int64_t>());
            const double of[5] = {o.cx, o.cy, o.w, o.h, o.a};
            for (int k = 0; k < 5; ++k)
                CHECK(of[k] == p["obb_float"][k].get<double>());
        }
    }
    CHECK(checked == 6242);
    CHECK(errors > 0);
}

TEST_CASE("geometry: box_points reproduces cv2.boxPoints on every golden rect") {
    const auto rects = read_jsonl(std::string(RSCOVLM_TEST_DATA_DIR) + "/min_area_rect/box_points.jsonl");
    REQUIRE(rects.size() == 600);
    for (const auto& d : rects) {
        const json& R = d["rect"];
        const geo::rotated_rect r{
            static_cast<float>(R["center"][0].get<double>()), static_cast<float>(R["center"][1].get<double>()),
            static_cast<float>(R["size"][0].get<double>()), static_cast<float>(R["size"][1].get<double>()),
            static_cast<float>(R["angle"].get<double>())};
        const auto p = geo::box_points(r);
        INFO(d["id"].get<std::string>());
        for (std::size_t i = 0; i < 4; ++i) {
            CHECK(same(p[i].x, d["points"][i][0]));
            CHECK(same(p[i].y, d["points"][i][1]));
        }
    }
}

TEST_CASE("geometry: the documented OpenCV quirks") {
    // axis-aligned integer rectangle: inexact sizes, -0.0 angle, int() gives 213 x 88
    const std::vector<geo::point_i32> rect = {{2033, 2627}, {2247, 2627}, {2247, 2716}, {2033, 2716}};
    const auto r = geo::min_area_rect(rect);
    CHECK(r.cx == 2140.0f);
    CHECK(static_cast<double>(r.cy) == 2671.499755859375);
    CHECK(static_cast<double>(r.w) == 213.99996948242188);
    CHECK(static_cast<double>(r.h) == 88.99998474121094);
    CHECK(r.angle == 0.0f);
    CHECK(std::signbit(r.angle));
    const auto obb = geo::segmentation_to_obb({2033, 2627, 2247, 2627, 2247, 2716, 2033, 2716});
    CHECK(obb == std::array<std::int64_t, 5>{2140, 2671, 213, 88, 0});
    // two distinct points: h = 0 and the angle of the segment
    const auto two = geo::min_area_rect(std::vector<geo::point_i32>{{897, 7}, {907, 7}});
    CHECK(two.w == 10.0f);
    CHECK(two.h == 0.0f);
    CHECK(two.angle == 180.0f);
    // one point, and nothing
    const auto one = geo::min_area_rect(std::vector<geo::point_i32>{{897, 898}});
    CHECK(one.cx == 897.0f);
    CHECK(one.w == 0.0f);
    const auto none = geo::min_area_rect(std::vector<geo::point_f32>{});
    CHECK(none.cx == 0.0f);
    CHECK(none.angle == 0.0f);
    // int32 overflow inside the hull: OpenCV's assertion becomes a geometry error
    const auto bad = geo::try_min_area_rect(
        std::vector<geo::point_i32>{{1999999999, 999999998}, {1999999998, 1000000000}, {2000000001, 1000000002}});
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().id == "rscovlm.geometry.calipers_orientation");
    CHECK_THROWS_AS(geo::min_area_rect(std::vector<geo::point_i32>{
                        {1999999999, 999999998}, {1999999998, 1000000000}, {2000000001, 1000000002}}),
                    rscovlm::geometry_error);
    // the int64 -> int32 wrap of the binding
    CHECK(geo::wrap_int32(4294967312LL) == 16);
    CHECK(geo::wrap_int32(-2147483654LL) == 2147483642);
}

TEST_CASE("geometry: convex_hull follows cv2.convexHull's vertex order") {
    const std::vector<geo::point_f32> pts = {{0, 0}, {10, 0}, {10, 5}, {0, 5}, {5, 2}};
    const auto h = geo::convex_hull(pts); // cv2.convexHull default: clockwise=False
    REQUIRE(h.size() == 4);
    CHECK((h[0].x == 0 && h[0].y == 0));
    CHECK((h[1].x == 10 && h[1].y == 0));
    CHECK((h[2].x == 10 && h[2].y == 5));
    CHECK((h[3].x == 0 && h[3].y == 5));
    const auto hc = geo::convex_hull(pts, true);
    REQUIRE(hc.size() == 4);
    CHECK((hc[0].x == 0 && hc[0].y == 5));
    CHECK((hc[1].x == 10 && hc[1].y == 5));
}
