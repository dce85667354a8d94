// Unit tests: DOTA annotation reader/writer, Python-style number formatting, synthetic scenes.
#include <rscovlm/data/detail/pyformat.hpp>
#include <rscovlm/data/detail/sha256.hpp>
#include <rscovlm/data/dota.hpp>
#include <rscovlm/data/synthetic.hpp>

#include <doctest/doctest.h>

#include <map>
#include <string>

using namespace rscovlm;

TEST_CASE("data: python float repr matches numpy float32 str and Python repr") {
    using data::detail::python_float_repr;
    CHECK(python_float_repr(117.0f) == "117.0");
    CHECK(python_float_repr(964.2f) == "964.2");
    CHECK(python_float_repr(-3.5f) == "-3.5");
    CHECK(python_float_repr(0.0f) == "0.0");
    CHECK(python_float_repr(-0.0f) == "-0.0");
    CHECK(python_float_repr(1e-5f) == "1e-05");
    CHECK(python_float_repr(0.0001f) == "0.0001");
    CHECK(python_float_repr(1e16f) == "1e+16");
    CHECK(python_float_repr(123456789.0f) == "123456790.0"); // float32 rounding, shortest digits
    CHECK(python_float_repr(0.1) == "0.1");
    CHECK(python_float_repr(1.0 / 3.0) == "0.3333333333333333");
    CHECK(python_float_repr(1e22) == "1e+22");
    CHECK(python_float_repr(1.5e-7) == "1.5e-07");
    CHECK(python_float_repr(1e15) == "1000000000000000.0");
    CHECK(python_float_repr(static_cast<float>(1234.567)) == "1234.567");
}

TEST_CASE("data: python float / int parsing accepts what float() and int() accept") {
    double v = 0;
    CHECK(data::detail::parse_python_float(" 12.5\n", v));
    CHECK(v == 12.5);
    CHECK(data::detail::parse_python_float("+3e2", v));
    CHECK(v == 300.0);
    CHECK_FALSE(data::detail::parse_python_float("", v));
    CHECK_FALSE(data::detail::parse_python_float("1.2.3", v));
    long long i = 0;
    CHECK(data::detail::parse_python_int("0\n", i));
    CHECK(i == 0);
    CHECK_FALSE(data::detail::parse_python_int("1.0", i));
}

TEST_CASE("data: sha256 of known vectors") {
    CHECK(data::detail::sha256_hex("", 0) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(data::detail::sha256_hex("abc", 3) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    std::string m(1000, 'a');
    CHECK(data::detail::sha256_hex(m.data(), m.size()) ==
          "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

TEST_CASE("data: DOTA strict reader parses headers, objects and difficulty") {
    const std::string text = "imagesource:GoogleEarth\ngsd:0.146343590398\n"
                             "2753 2408 2861 2385 2888 2468 2805 2502 plane 0\r\n"
                             "\n"
                             "10.5 20 30 20 30 40 10.5 40 small-vehicle 1\n"
                             "1 2 3 4 5 6 7 8 ship\n";
    const data::dota_annotation a = data::parse_dota(text, "x.txt");
    CHECK(a.image_source == "GoogleEarth");
    REQUIRE(a.gsd.has_value());
    CHECK(*a.gsd == doctest::Approx(0.146343590398));
    REQUIRE(a.objects.size() == 3);
    CHECK(a.objects[0].label == "plane");
    CHECK(a.objects[0].poly[1].x == 2861);
    CHECK(a.objects[1].poly[0].x == 10.5);
    CHECK(a.objects[1].difficulty == 1);
    CHECK(a.objects[2].label == "ship");
    CHECK(a.objects[2].difficulty == 0);
    CHECK(a.skipped_lines == 1);
    CHECK_FALSE(data::parse_dota("gsd:null\n").gsd.has_value());
}

TEST_CASE("data: DOTA strict reader names file and line of malformed input") {
    auto bad = [](const std::string& text) {
        auto r = try_call([&] { return data::parse_dota(text, "ann/P1.txt"); });
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().id == "rscovlm.data.bad_dota_line");
        return r.error().message;
    };
    CHECK(bad("1 2 3 4 5 6 7 8 plane 0\n1 2 3 x 5 6 7 8 plane 0\n").find("ann/P1.txt:2: field 4") == 0);
    CHECK(bad("1 2 3 4 5 6 7 plane\n").find("ann/P1.txt:1: expected") == 0);
    CHECK(bad("1 2 3 4 5 6 7 8 plane zero\n").find("difficulty") != std::string::npos);
    CHECK(bad("gsd:abc\n").find("gsd") != std::string::npos);
    CHECK(bad("1 2 3 4 5 6 7 nan plane 0\n").find("finite") != std::string::npos);
}

TEST_CASE("data: DOTA mmrotate dialect reproduces _load_dota_txt quirks") {
    data::dota_read_options ro;
    ro.dialect = data::dota_dialect::mmrotate;
    const std::string text = "imagesource:GoogleEarth\ngsd:0.5\n"
                             "1.1 2 3 4 5 6 7 8 plane\n"        // 9 fields: label keeps '\n'
                             "1 2 3 4 5 6 7 8 ship 1\r\n"       // universal newlines: int('1\n')
                             "1 2 3 4 5 6 7 8 harbor 1 extra\n" // 11 fields: difficulty 0
                             "short line\n";
    const data::dota_annotation a = data::parse_dota(text, "m.txt", ro);
    REQUIRE(a.objects.size() == 3);
    CHECK(a.objects[0].label == "plane\n");
    CHECK(a.objects[0].poly[0].x == static_cast<double>(1.1f)); // float32 storage
    CHECK(a.objects[1].label == "ship");
    CHECK(a.objects[1].difficulty == 1);
    CHECK(a.objects[2].difficulty == 0);
    CHECK(a.skipped_lines == 2); // the imagesource line and the short line (gsd is metadata)
    CHECK(*a.gsd == 0.5);
    CHECK(data::format_dota_line(a.objects[0], {data::dota_number_format::numpy_float32, "", {}, true}) ==
          "1.1 2.0 3.0 4.0 5.0 6.0 7.0 8.0 plane\n 0");
}

TEST_CASE("data: DOTA writer round-trips through the reader") {
    std::vector<data::dota_object> objs(2);
    objs[0].poly = {geometry::point{1.5, 2}, {10, 2}, {10, 8.25}, {1.5, 8.25}};
    objs[0].label = "tennis-court";
    objs[1].poly = {geometry::point{100, 200}, {110, 200}, {110, 210}, {100, 210}};
    objs[1].label = "storage-tank";
    objs[1].difficulty = 1;
    data::dota_write_options wo;
    wo.image_source = "GoogleEarth";
    wo.gsd = 0.3;
    const std::string text = data::format_dota(objs, wo);
    CHECK(text == "imagesource:GoogleEarth\ngsd:0.3\n1.5 2.0 10.0 2.0 10.0 8.25 1.5 8.25 tennis-court 0\n"
                  "100.0 200.0 110.0 200.0 110.0 210.0 100.0 210.0 storage-tank 1\n");
    const auto back = data::parse_dota(text);
    REQUIRE(back.objects.size() == 2);
    CHECK(back.objects[0].poly[2].y == 8.25);
    CHECK(back.objects[1].difficulty == 1);
    wo.numbers = data::dota_number_format::integer;
    CHECK(data::format_dota_line(objs[0], wo) == "2 2 10 2 10 8 2 8 tennis-court 0");
}

TEST_CASE("data: synthetic scene is deterministic, thread-independent and well-formed") {
    data::scene_options o = data::scene_options::normal(3);
    o.width = 640;
    o.height = 512;
    o.threads = 1;
    const data::scene a = data::make_scene(o);
    o.threads = 2;
    const data::scene b = data::make_scene(o);
    CHECK(a.name == "synthetic_3_640x512");
    REQUIRE(a.image.width == 640);
    REQUIRE(a.image.height == 512);
    REQUIRE(a.image.channels == 3);
    CHECK(a.image.data == b.image.data);
    REQUIRE(a.objects.size() == b.objects.size());
    CHECK(data::format_dota(a.objects) == data::format_dota(b.objects));
    CHECK(a.objects.size() >= 10);
    std::map<std::string, int> classes;
    for (const auto& obj : a.objects) {
        ++classes[obj.label];
        CHECK(geometry::area(obj.poly) > 20.0);
        for (const auto& p : obj.poly) {
            CHECK(p.x >= 0);
            CHECK(p.y >= 0);
            CHECK(p.x <= 640);
            CHECK(p.y <= 512);
            CHECK(p.x * 10 == doctest::Approx(std::round(p.x * 10))); // 0.1 px grid
        }
        // Clockwise on screen (y down): positive shoelace sum.
        double s = 0;
        for (std::size_t i = 0; i < 4; ++i)
            s += obj.poly[i].x * obj.poly[(i + 1) % 4].y - obj.poly[(i + 1) % 4].x * obj.poly[i].y;
        CHECK(s > 0);
    }
    CHECK(classes.size() >= 5);
    // A different seed gives a different scene.
    o.seed = 4;
    CHECK(data::make_scene(o).image.data != a.image.data);
}

TEST_CASE("data: synthetic objects are drawn inside their ground-truth quads") {
    data::scene_options o = data::scene_options::normal(11);
    o.width = 512;
    o.height = 512;
    o.river = false;
    o.roads = false;
    o.classes = {"storage-tank"};
    o.num_objects = 6;
    const data::scene s = data::make_scene(o);
    REQUIRE_FALSE(s.objects.empty());
    for (const auto& obj : s.objects) {
        // The centre of a tank is its light-grey roof; the ground there is not grey.
        const geometry::hbox hb = geometry::bounds(obj.poly);
        const int cx = static_cast<int>((hb.x1 + hb.x2) / 2), cy = static_cast<int>((hb.y1 + hb.y2) / 2);
        const int off = static_cast<int>((hb.x2 - hb.x1) / 4);
        const auto* px = &s.image.data[(static_cast<std::size_t>(cy) * 512 + static_cast<std::size_t>(cx + off)) * 3];
        CHECK(px[0] > 180);
        CHECK(std::abs(int(px[0]) - int(px[2])) < 30);
    }
    o.classes = {"no-such-class"};
    auto r = data::try_make_scene(o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().id == "rscovlm.data.bad_scene_options");
}
