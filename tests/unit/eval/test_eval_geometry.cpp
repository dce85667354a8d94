// eval: exact polygon IoU, reference IoU ports (DOTA_devkit polyiou, mmcv float32 kernels),
// numpy argsort reproduction and NMS, against the golden files in tests/data.
#include <rscovlm/eval/all.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <string>
#include <vector>

using namespace rscovlm;
using nlohmann::json;

namespace {

std::vector<json> read_jsonl(const std::string& rel) {
    std::ifstream f(std::string(RSCOVLM_TEST_DATA_DIR) + "/" + rel);
    REQUIRE(f.good());
    std::vector<json> out;
    std::string line;
    while (std::getline(f, line))
        if (!line.empty()) out.push_back(json::parse(line));
    return out;
}

double jnum(const json& j) {
    if (j.is_null()) return std::nan("");
    if (j.is_string()) {
        const auto s = j.get<std::string>();
        if (s == "NaN") return std::nan("");
        return s == "Infinity" ? HUGE_VAL : -HUGE_VAL;
    }
    return j.get<double>();
}

geometry::quad jquad(const json& a) {
    geometry::quad q{};
    for (std::size_t i = 0; i < 4; ++i)
        q[i] = {a[2 * i].get<double>(), a[2 * i + 1].get<double>()};
    return q;
}

bool same_or_both_nan(double a, double b) {
    return (std::isnan(a) && std::isnan(b)) || a == b;
}

geometry::quad sq(double x0, double y0, double x1, double y1) {
    return {{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}}};
}

} // namespace

TEST_CASE("eval: exact IoU of simple cases and degenerate inputs") {
    CHECK(eval::quad_iou(sq(0, 0, 2, 2), sq(1, 0, 3, 2)) == doctest::Approx(1.0 / 3).epsilon(1e-15));
    CHECK(eval::quad_iou(sq(0, 0, 2, 2), sq(0, 0, 2, 2)) == 1.0);
    // touching edge / vertex, disjoint
    CHECK(eval::quad_iou(sq(0, 0, 1, 1), sq(1, 0, 2, 1)) == 0.0);
    CHECK(eval::quad_iou(sq(0, 0, 1, 1), sq(1, 1, 2, 2)) == 0.0);
    CHECK(eval::quad_iou(sq(0, 0, 1, 1), sq(5, 5, 6, 6)) == 0.0);
    // containment
    CHECK(eval::quad_iou(sq(0, 0, 4, 4), sq(1, 1, 2, 2)) == doctest::Approx(1.0 / 16));
    CHECK(eval::quad_iof(sq(1, 1, 2, 2), sq(0, 0, 4, 4)) == 1.0);
    // zero-area boxes: IoU 0, never NaN (identical or not)
    const geometry::quad flat{{{0, 0}, {2, 0}, {2, 0}, {0, 0}}};
    CHECK(eval::quad_iou(flat, flat) == 0.0);
    CHECK(eval::quad_iou(flat, sq(0, 0, 1, 1)) == 0.0);
    CHECK(eval::quad_iof(flat, sq(0, 0, 1, 1)) == 0.0);
    const geometry::quad point{{{1, 1}, {1, 1}, {1, 1}, {1, 1}}};
    CHECK(eval::quad_iou(point, point) == 0.0);
    // collinear vertices (a "quad" that is a triangle)
    const geometry::quad tri{{{0, 0}, {1, 0}, {2, 0}, {0, 2}}};
    CHECK(eval::quad_iou(tri, tri) == 1.0);
    // orientation and start vertex do not matter
    const geometry::quad a = sq(0, 0, 3, 2), b{{{1, 2}, {4, 2}, {4, 0}, {1, 0}}};
    CHECK(eval::quad_iou(a, b) == doctest::Approx(4.0 / 8.0));
    // NaN / inf coordinates give 0
    geometry::quad bad = sq(0, 0, 1, 1);
    bad[2].x = std::nan("");
    CHECK(eval::quad_iou(bad, sq(0, 0, 1, 1)) == 0.0);
    // concave dart vs convex square: exact area by hand
    const geometry::quad dart{{{0, 0}, {4, 2}, {0, 4}, {1, 2}}}; // area 6
    CHECK(geometry::area(dart) == doctest::Approx(6.0));
    // square [0,4]x[0,4] contains the dart
    CHECK(eval::quad_iou(dart, sq(0, 0, 4, 4)) == doctest::Approx(6.0 / 16.0).epsilon(1e-14));
    // two concave polygons: dart with itself and a shifted copy (symmetric)
    CHECK(eval::quad_iou(dart, dart) == doctest::Approx(1.0));
    geometry::quad dart2 = dart;
    for (auto& p : dart2)
        p.x += 0.5;
    CHECK(eval::quad_iou(dart, dart2) == doctest::Approx(eval::quad_iou(dart2, dart)).epsilon(1e-14));
    // bow-tie = union of its two triangles (area 2 for this one)
    const geometry::quad bow{{{0, 0}, {2, 2}, {2, 0}, {0, 2}}};
    CHECK(eval::quad_iou(bow, sq(0, 0, 2, 2)) == doctest::Approx(2.0 / 4.0));
    // rotated boxes: (w,h,t) vs (h,w,t+pi/2) are the same box
    CHECK(eval::rbox_iou({10, 10, 4, 2, 0.3}, {10, 10, 2, 4, 0.3 + 3.141592653589793 / 2}) ==
          doctest::Approx(1.0).epsilon(1e-12));
    // large coordinates keep their precision
    CHECK(eval::quad_iou(sq(1e6, 1e6, 1e6 + 2, 1e6 + 2), sq(1e6 + 1, 1e6, 1e6 + 3, 1e6 + 2)) ==
          doctest::Approx(1.0 / 3).epsilon(1e-12));
}

TEST_CASE("eval: polygon IoU general polygons and matrix") {
    const geometry::polygon l{{0, 0}, {4, 0}, {4, 1}, {1, 1}, {1, 4}, {0, 4}}; // L shape, area 7
    const geometry::polygon s{{0, 0}, {4, 0}, {4, 4}, {0, 4}};
    CHECK(eval::polygon_iou(l, s) == doctest::Approx(7.0 / 16.0));
    const geometry::polygon u{{0, 0}, {3, 0}, {3, 3}, {2, 3}, {2, 1}, {1, 1}, {1, 3}, {0, 3}}; // U, area 7
    CHECK(eval::polygon_iou(l, u) == doctest::Approx(eval::polygon_iou(u, l)).epsilon(1e-14));
    // L ∩ U: the bottom bar 3x1 plus the left column x in [0,1], y in [1,3]: 3 + 2 = 5
    CHECK(eval::intersection_area(l, u) == doctest::Approx(5.0));

    std::vector<geometry::quad> a, b;
    for (int i = 0; i < 20; ++i)
        a.push_back(eval::rbox_corners({i * 3.0, i * 1.5, 10, 4, i * 0.2}));
    for (int j = 0; j < 15; ++j)
        b.push_back(eval::rbox_corners({j * 4.0, j * 2.0, 8, 6, j * 0.3}));
    const auto m1 = eval::quad_overlaps(a, b, eval::overlap_mode::iou, 1);
    const auto m4 = eval::quad_overlaps(a, b, eval::overlap_mode::iou, 4);
    REQUIRE(m1.size() == 300);
    CHECK(m1 == m4);
    for (std::size_t i = 0; i < a.size(); ++i)
        for (std::size_t j = 0; j < b.size(); ++j)
            CHECK(m1[i * b.size() + j] == eval::quad_iou(a[i], b[j]));
    const auto f = eval::quad_overlaps(a, b, eval::overlap_mode::iof, 2);
    CHECK(f[3] == eval::quad_iof(a[0], b[3]));
}

TEST_CASE("eval: IoU golden pairs (shapely, DOTA_devkit polyiou, mmcv float32)") {
    const auto pairs = read_jsonl("iou/pairs.jsonl");
    REQUIRE(pairs.size() > 2000);
    std::size_t checked_exact = 0;
    for (const auto& j : pairs) {
        const auto a = jquad(j["quad1"]), b = jquad(j["quad2"]);
        const std::string id = j["id"];
        CAPTURE(id);
        // bit-exact reproduction of the devkit, both argument orders
        CHECK(same_or_both_nan(eval::devkit_polyiou(a, b), jnum(j["polyiou"])));
        CHECK(same_or_both_nan(eval::devkit_polyiou(b, a), jnum(j["polyiou_swapped"])));
        // exact IoU within 1e-6 of shapely where GEOS is valid (except its known touching-edge failure)
        const double x = eval::quad_iou(a, b);
        CHECK(std::isfinite(x));
        CHECK(x >= 0.0);
        CHECK(x <= 1.0);
        const auto& s = j["shapely"];
        if (j.contains("make_valid_iou")) {
            CHECK(std::fabs(x - jnum(j["make_valid_iou"])) <= 1e-6);
            ++checked_exact;
        } else if (s["error"].is_null() && s["valid"][0].get<bool>() && s["valid"][1].get<bool>()) {
            if (id == "iou-pub-05450") {
                CHECK(std::fabs(x - jnum(j["polyiou"])) <= 1e-6); // GEOS says ~1 for touching boxes
            } else {
                CHECK(std::fabs(x - jnum(s["iou"])) <= 1e-6);
            }
            ++checked_exact;
        }
        // mmcv float32 kernels, bit for bit
        if (j.contains("mmcv_rotated_f32")) {
            const auto& m = j["mmcv_rotated_f32"];
            std::array<float, 5> r1{}, r2{};
            for (std::size_t i = 0; i < 5; ++i) {
                r1[i] = m["input1"][i].get<float>();
                r2[i] = m["input2"][i].get<float>();
            }
            CHECK(same_or_both_nan(eval::mmcv_iou_rotated_f32(r1, r2), static_cast<float>(jnum(m["iou"]))));
            CHECK(same_or_both_nan(eval::mmcv_iou_rotated_f32(r1, r2, true), static_cast<float>(jnum(m["iof"]))));
        }
        std::array<float, 8> q1{}, q2{};
        for (std::size_t i = 0; i < 8; ++i) {
            q1[i] = static_cast<float>(j["quad1"][i].get<double>());
            q2[i] = static_cast<float>(j["quad2"][i].get<double>());
        }
        CHECK(
            same_or_both_nan(eval::mmcv_iou_quadri_f32(q1, q2), static_cast<float>(jnum(j["mmcv_quadri_f32"]["iou"]))));
        CHECK(same_or_both_nan(eval::mmcv_iou_quadri_f32(q1, q2, true),
                               static_cast<float>(jnum(j["mmcv_quadri_f32"]["iof"]))));
    }
    CHECK(checked_exact > 2000);
}

TEST_CASE("eval: numpy 1.24 argsort tie order") {
    const auto cases = read_jsonl("dota_eval/argsort_ties.jsonl");
    REQUIRE(cases.size() == 200);
    for (const auto& j : cases) {
        CAPTURE(j["id"].get<std::string>());
        const auto s = j["scores"].get<std::vector<double>>();
        const std::vector<float> f(s.begin(), s.end());
        CHECK(eval::argsort_desc(s) == j["argsort_neg_f64"].get<std::vector<std::size_t>>());
        CHECK(eval::argsort_desc(f) == j["argsort_neg_f32"].get<std::vector<std::size_t>>());
        CHECK(eval::argsort_rev(s) == j["argsort_rev_f64"].get<std::vector<std::size_t>>());
    }
    // stable keeps input order among ties
    const std::vector<double> t{1, 1, 2, 1, 2};
    CHECK(eval::argsort_desc(t, eval::tie_order::stable) == std::vector<std::size_t>{2, 4, 0, 1, 3});
    // numpy: <= 16 equal elements come out in index order for argsort(-x), reversed for argsort()[::-1]
    CHECK(eval::argsort_desc(std::vector<double>(5, 1.0)) == std::vector<std::size_t>{0, 1, 2, 3, 4});
    CHECK(eval::argsort_rev(std::vector<double>(5, 1.0)) == std::vector<std::size_t>{4, 3, 2, 1, 0});
    // NaN sorts last (ascending)
    CHECK(eval::argsort(std::vector<double>{std::nan(""), 1.0, 0.0}) == std::vector<std::size_t>{2, 1, 0});
    // heapsort fallback path: many equal keys in a long array stay a permutation
    std::vector<double> big(5000);
    for (std::size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<double>((i * 7919) % 13);
    auto idx = eval::argsort(big);
    for (std::size_t i = 1; i < idx.size(); ++i)
        CHECK(big[idx[i - 1]] <= big[idx[i]]);
}

TEST_CASE("eval: rotated NMS reproduces DOTA_devkit and mmcv") {
    const auto sets = read_jsonl("nms_rotated/sets.jsonl");
    REQUIRE(sets.size() > 200);
    for (const auto& j : sets) {
        CAPTURE(j["id"].get<std::string>());
        std::vector<geometry::quad> q;
        std::vector<double> s;
        std::vector<geometry::rbox> rb;
        for (const auto& d : j["dets"]) {
            geometry::quad x{};
            for (std::size_t i = 0; i < 4; ++i)
                x[i] = {d[2 * i].get<double>(), d[2 * i + 1].get<double>()};
            q.push_back(x);
            s.push_back(d[8].get<double>());
        }
        for (const auto& r : j["rboxes"])
            rb.push_back(
                {r[0].get<double>(), r[1].get<double>(), r[2].get<double>(), r[3].get<double>(), r[4].get<double>()});
        CHECK(eval::argsort_rev(s) == j["dota_devkit_order"].get<std::vector<std::size_t>>());
        for (double t : {0.1, 0.5}) {
            const std::string ts = t == 0.1 ? "0.1" : "0.5";
            eval::nms_options o;
            o.iou_threshold = t;
            o.method = eval::nms_method::devkit;
            CHECK(eval::nms_quads(q, s, o) == j["keep"]["py_cpu_nms_poly@" + ts].get<std::vector<std::size_t>>());
            o.method = eval::nms_method::devkit_fast;
            CHECK(eval::nms_quads(q, s, o) == j["keep"]["py_cpu_nms_poly_fast@" + ts].get<std::vector<std::size_t>>());
            // Sets without a float32 mmcv result simply lack the key (a const operator[] on a
            // missing key is undefined behaviour in nlohmann::json, so look it up).
            const auto mk = j["keep"].find("mmcv_nms_rotated_f32@" + ts);
            if (mk != j["keep"].end() && mk->is_array() && !rb.empty()) {
                o.method = eval::nms_method::mmcv;
                CHECK(eval::nms_rboxes(rb, s, o) == mk->get<std::vector<std::size_t>>());
            }
            // exact IoU NMS: every kept pair overlaps at most t
            o.method = eval::nms_method::exact;
            const auto k = eval::nms_quads(q, s, o);
            for (std::size_t a = 0; a < k.size(); ++a)
                for (std::size_t b = a + 1; b < k.size(); ++b)
                    CHECK(eval::quad_iou(q[k[a]], q[k[b]]) <= t);
        }
    }
    // class-wise: boxes of different labels never suppress each other
    const std::vector<geometry::quad> q{sq(0, 0, 2, 2), sq(0, 0, 2, 2), sq(0.1, 0, 2.1, 2)};
    const std::vector<double> s{0.9, 0.8, 0.7};
    const std::vector<std::string> lab{"a", "b", "a"};
    CHECK(eval::batched_nms_quads(q, s, lab) == std::vector<std::size_t>{0, 1});
    CHECK(eval::nms_quads({}, {}).empty());
}
