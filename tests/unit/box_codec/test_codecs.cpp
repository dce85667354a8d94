// Box codecs: byte-exact training answers (tests/data/box_codec/expected.jsonl, written from the
// reference's rules with OpenCV 4.6), round trips, reference decoding behaviour, and hostile input.
#include <rscovlm/box_codec/all.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace bc = rscovlm::box_codec;
namespace geo = rscovlm::geometry;
using nlohmann::json;

namespace {

std::vector<json> expected_samples() {
    const std::string path = std::string(RSCOVLM_TEST_DATA_DIR) + "/box_codec/expected.jsonl";
    std::ifstream f(path);
    REQUIRE_MESSAGE(f.good(), "cannot open " << path);
    std::vector<json> out;
    std::string line;
    while (std::getline(f, line))
        if (!line.empty()) out.push_back(json::parse(line));
    return out;
}

std::vector<bc::annotation> annotations_of(const json& s) {
    std::vector<bc::annotation> a;
    for (const auto& o : s["objects"]) {
        bc::annotation x;
        x.label = o["label"].get<std::string>();
        x.polygon = o["poly"].get<std::vector<double>>();
        a.push_back(x);
    }
    return a;
}

std::unique_ptr<bc::codec> make(std::string_view key) {
    return rscovlm::registry::make<bc::kind>(key, json::object());
}

} // namespace

TEST_CASE("box_codec: training answers are byte-exact for sampled annotations") {
    const auto samples = expected_samples();
    REQUIRE(samples.size() == 40);
    const char* keys[] = {"codec.hbb.plain", "codec.obb.plain", "codec.quad.plain",    "codec.hbb.json",
                          "codec.obb.json",  "codec.quad.json", "codec.quad.florence2"};
    std::size_t n = 0;
    for (const auto& s : samples) {
        bc::encode_options o;
        o.classes = s["classes"].get<std::vector<std::string>>();
        o.frame = geo::frame{s["orig_size"][0].get<int>(), s["orig_size"][1].get<int>(),
                             s["resized_size"][0].get<int>(), s["resized_size"][1].get<int>()};
        const auto anns = annotations_of(s);
        CHECK(bc::categories_string(o.classes) == s["categories"].get<std::string>());
        for (const char* k : keys) {
            const auto c = make(k);
            INFO(k << " sample " << n);
            CHECK(c->encode(anns, o) == s["expected"][k].get<std::string>());
        }
        ++n;
    }
}

TEST_CASE("box_codec: hand-checked RSCoVLM answers and prompts") {
    bc::encode_options o;
    o.classes = {"plane", "small-vehicle", "ship"};
    o.frame = geo::frame{1000, 800, 500, 400};
    std::vector<bc::annotation> a(2);
    a[0].label = "small-vehicle";
    a[0].polygon = {10, 10, 110, 10, 110, 60, 10, 60};
    a[1].label = "plane";
    a[1].polygon = {500, 400, 600, 420, 580, 520, 480, 500};
    // plane (rank 0) first; coordinates int(x * 500 / 1000); quad clockwise from the top vertex
    CHECK(bc::plain_quad().encode(a, o) ==
          "250,200,300,210,290,260,240,250 plane\n5,5,55,5,55,30,5,30 small vehicle\n");
    CHECK(bc::plain_hbb().encode(a, o) == "240,200,300,260 plane\n5,5,55,30 small vehicle\n");
    CHECK(bc::json_hbb().encode(a, o) ==
          "```json\n[\n\t{\"bbox_2d\": [240, 200, 300, 260], \"label\": \"plane\"},\n\t{\"bbox_2d\": [5, 5, 55, 30], "
          "\"label\": \"small vehicle\"}\n]\n```");
    CHECK(bc::plain_obb().encode({}, o) == "There are none.");
    CHECK(bc::plain_quad().user_prompt(o.classes) == "find the plane, ship, small vehicle");
    CHECK(bc::plain_quad(true).user_prompt(o.classes) == "find the plane, ship, small vehicle.");
    CHECK(bc::plain_hbb().system_prompt() ==
          "As an AI assistant, you specialize in accurate image object detection, delivering coordinates in plain "
          "text format 'x1,y1,x2,y2 object'.");
    CHECK(bc::json_hbb().system_prompt().empty());
    CHECK(bc::json_quad().user_prompt(o.classes) ==
          "Locate every item from the category list in the image and output the oriented bbox coordinates in JSON "
          "format. The category set includes plane, ship, small vehicle.");
    CHECK(bc::prompts::vary(bc::prompts::obb_json_proxy[3], true, true) ==
          "Please provide the rotated bounding box coordinates of the following objects: {categories}");
    CHECK(bc::text::json_dumps_string("caf\xC3\xA9 \"x\"\n") == "\"caf\\u00e9 \\\"x\\\"\\n\"");
    bc::annotation bad;
    bad.label = "tank";
    bad.polygon = {0, 0, 1, 0, 1, 1, 0, 1};
    CHECK_THROWS_AS(bc::plain_quad().encode({bad}, o), rscovlm::codec_error);
    bad.label = "plane";
    bad.polygon = {0, 0, 1, 1};
    CHECK_THROWS_AS(bc::plain_quad().encode({bad}, o), rscovlm::codec_error);
}

TEST_CASE("box_codec: every codec round-trips its own answers") {
    const auto samples = expected_samples();
    for (auto key : rscovlm::registry::keys<bc::builtin>()) {
        const auto c = make(key);
        for (std::size_t i = 0; i < samples.size(); i += 3) {
            const auto& s = samples[i];
            bc::encode_options eo;
            eo.classes = s["classes"].get<std::vector<std::string>>();
            eo.frame = geo::frame{s["orig_size"][0].get<int>(), s["orig_size"][1].get<int>(),
                                  s["resized_size"][0].get<int>(), s["resized_size"][1].get<int>()};
            const auto anns = annotations_of(s);
            const std::string text = c->encode(anns, eo);
            bc::decode_options d;
            d.classes = eo.classes;
            d.frame = eo.frame;
            const auto r = c->decode(text, d);
            INFO(key << " sample " << i << "\n" << text);
            CHECK(r.dropped.total() == 0);
            CHECK(r.fuzzy_matched == 0);
            REQUIRE(r.objects.size() == anns.size());
            // decode(encode(x)) is a fixed point: encoding the decoded boxes gives the same labels
            // and, for the lossless-in-frame formats, the same text
            for (const auto& ob : r.objects) {
                CHECK(ob.coords.size() == bc::arity(c->kind()));
                CHECK(ob.label_id >= 0);
            }
            // each decoded box lies within the quantisation error of an annotation of its label
            const double tol_x = 2.0 * eo.frame.orig_width / std::min(eo.frame.resized_width, 100) + 2.0;
            for (const auto& ob : r.objects) {
                double cx = 0, cy = 0;
                if (c->kind() == bc::box_kind::obb)
                    cx = ob.coords[0], cy = ob.coords[1];
                else {
                    const std::size_t n = ob.coords.size() / 2;
                    for (std::size_t k = 0; k < n; ++k)
                        cx += ob.coords[2 * k] / n, cy += ob.coords[2 * k + 1] / n;
                }
                bool near = false;
                for (const auto& a : anns) {
                    if (bc::display_name(a.label) != ob.label) continue;
                    double ax = 0, ay = 0;
                    for (std::size_t k = 0; k < 4; ++k)
                        ax += a.polygon[2 * k] / 4, ay += a.polygon[2 * k + 1] / 4;
                    near = near || (std::abs(ax - cx) <= tol_x + 40 && std::abs(ay - cy) <= tol_x + 40);
                }
                CHECK(near);
            }
        }
    }
}

TEST_CASE("box_codec: plain decoding follows parse_plain_output") {
    bc::decode_options d;
    d.classes = {"plane", "small-vehicle", "storage-tank"};
    d.frame = geo::frame{1000, 1000, 500, 500};
    const std::string text =
        "  10,20,30,40,50,60,70,80 Plane \n"   // strip + lower, frame x2
        "1,2,3,4,5,6,7,8,9,10 small vehicle\n" // extra numbers: cut to 8, kept
        "1,2,3,4 plane\n"                      // too few
        "1.5,2,3,4,5,6,7,8 plane\n"            // float: int() fails
        "1,2,3,4,5,6,7,8\n"                    // no label
        "\n"
        "+1,\t2,3,4,5,6,7,1_0 storage tanks\n" // int() accepts signs, tabs, underscores; fuzzy label
        "1, 2,3,4,5,6,7,8 plane\n"             // split(' ', 1) cuts at the first space: "1," fails
        "5,5,5,5,5,5,5,5 \xff\xfe\n";          // garbage label: fuzzy finds nothing
    const auto r = bc::plain_quad().decode(text, d);
    REQUIRE(r.objects.size() == 3);
    CHECK(r.objects[0].coords == std::vector<double>{20, 40, 60, 80, 100, 120, 140, 160});
    CHECK(r.objects[0].label == "plane");
    CHECK(r.objects[0].label_id == 0);
    CHECK(r.objects[1].label_id == 1);
    CHECK(r.objects[2].coords[7] == 20);
    CHECK(r.objects[2].label == "storage tank");
    CHECK(r.fuzzy_matched == 1);
    CHECK(r.dropped.counts.at("extra_numbers") == 1);
    CHECK(r.dropped.counts.at("too_few_numbers") == 1);
    CHECK(r.dropped.counts.at("bad_number") == 2);
    CHECK(r.dropped.counts.at("bad_format") == 1);
    CHECK(r.dropped.counts.at("unknown_label") == 1);
    CHECK(bc::plain_quad().decode("There are none.", d).objects.empty());
    CHECK(bc::plain_quad().decode(" there are none \n", d).dropped.total() == 0);
    d.fuzzy = false;
    CHECK(bc::plain_quad().decode("1,2,3,4,5,6,7,8 storage tanks", d).dropped.counts.at("unknown_label") == 1);
    d.classes.clear(); // no class list: labels kept as written
    const auto free = bc::plain_hbb().decode("1,2,3,4 Whatever Thing\n", d);
    REQUIRE(free.objects.size() == 1);
    CHECK(free.objects[0].label == "whatever thing");
    CHECK(free.objects[0].label_id == -1);
}

TEST_CASE("box_codec: JSON decoding applies the reference repair steps") {
    bc::decode_options d;
    d.classes = {"plane", "ship"};
    // valid answer
    auto r = bc::json_quad().decode(
        "```json\n[\n\t{\"quadrant bbox\": [1, 2, 3, 4, 5, 6, 7, 8], \"label\": \"ship\"}\n]\n```", d);
    REQUIRE(r.objects.size() == 1);
    CHECK(r.objects[0].label_id == 1);
    // () instead of [], doubled commas, missing commas between numbers, doubled "label":, a broken
    // line and a truncated tail
    r = bc::json_quad().decode(
        "```json\n[\n\t{\"quadrant bbox\": (1, 2,, 3 4, 5, 6, 7, 8), \"label\": \"label\": \"plane\"},\n"
        "\t{\"quadrant bbox\": [9, 9, 9, 9, 9, 9, 9, 9], \"label\": \"ship\"},\n"
        "\t{\"quadrant bbox\": [1, 2, 3",
        d);
    REQUIRE(r.objects.size() == 2);
    CHECK(r.objects[0].coords == std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8});
    CHECK(r.objects[1].label == "ship");
    CHECK(r.dropped.counts.at("bad_json") == 1);
    // instance checks: floats, missing keys, non-objects, non-string labels, too many values
    r = bc::json_hbb().decode(
        "[{\"bbox_2d\": [1.5, 2, 3, 4], \"label\": \"plane\"}, {\"label\": \"plane\"}, 7, "
        "{\"bbox_2d\": [1, 2, 3, 4], \"label\": 3}, {\"bbox_2d\": [1, 2, 3, 4, 5], \"label\": \"plane\"}]",
        d);
    REQUIRE(r.objects.size() == 1);
    CHECK(r.objects[0].coords == std::vector<double>{1, 2, 3, 4});
    CHECK(r.dropped.counts.at("bad_number") == 1);
    CHECK(r.dropped.counts.at("missing_key") == 1);
    CHECK(r.dropped.counts.at("not_an_object") == 1);
    CHECK(r.dropped.counts.at("bad_format") == 1);
    CHECK(r.dropped.counts.at("extra_numbers") == 1);
    // the individual repair steps
    CHECK(bc::detail::collapse_commas("1,,  ,2, 3") == "1, 2, 3");
    CHECK(bc::detail::comma_between_numbers("1 2 3  4") == "1, 2 3, 4");
    CHECK(bc::detail::collapse_labels("\"label\": \"label\":\"a\"") == "\"label\": \"a\"");
    bc::json_parse_info info;
    CHECK(bc::parse_detection_json("nothing here", &info) == json::array());
    CHECK(info.repaired);
    CHECK_FALSE(info.failed); // no line parses: "[\n\n]" is an empty list
    bc::json_parse_info info2;
    CHECK(bc::parse_detection_json("x\n1\ntrue", &info2) == json::array());
    CHECK(info2.failed); // "[\n1\ntrue\n]" does not parse: the reference falls back to []
    CHECK(bc::parse_detection_json(std::string(100000, '[')).is_array());
}

TEST_CASE("box_codec: Qwen2-VL, Florence-2 and GeoChat grids") {
    bc::decode_options d;
    d.classes = {"plane", "ship"};
    d.frame = geo::frame{2000, 1000, 0, 0};
    auto r = bc::qwen2vl_codec().decode(
        "<|object_ref_start|>plane<|object_ref_end|><|box_start|>(100,200),(300,400)<|box_end|><|box_start|>(0,0),(10,"
        "10)<|box_end|> and <|box_start|>(1,2)<|box_end|>",
        d);
    REQUIRE(r.objects.size() == 2);
    CHECK(r.objects[0].coords == std::vector<double>{200, 200, 600, 400});
    CHECK(r.objects[1].label == "plane");
    CHECK(r.dropped.counts.at("too_few_numbers") == 1);
    // Florence-2: bins of size/1000, dequantised at the bin centre, <sep> runs share the label
    d.frame = geo::frame{1000, 500, 0, 0};
    r = bc::florence2_codec().decode(
        "<s>plane<loc_0><loc_0><loc_10><loc_0><loc_10><loc_10><loc_0><loc_10><sep><loc_1><loc_1><loc_2><loc_1><loc_2><"
        "loc_2><loc_1><loc_2>ship<loc_5><loc_5><loc_6><loc_5><loc_6><loc_6><loc_5></s>",
        d);
    REQUIRE(r.objects.size() == 2);
    CHECK(r.objects[0].coords[0] == 0.5);
    CHECK(r.objects[0].coords[3] == 0.25);
    CHECK(r.objects[1].label == "plane");
    CHECK(r.dropped.counts.at("too_few_numbers") == 1); // 7 values: odd one dropped, 6 left
    CHECK(bc::florence2_codec::quantize(999.9, 1000) == 999);
    CHECK(bc::florence2_codec::quantize(-3, 1000) == 0);
    CHECK(bc::florence2_codec::quantize(5000, 1000) == 999);
    // GeoChat 0-100
    d.frame = geo::frame{400, 200, 0, 0};
    r = bc::geochat_codec().decode("There is <p>a ship</p> {<10><20><30><40>|<0>} and {<50><50><60><60>}", d);
    REQUIRE(r.objects.size() == 2);
    CHECK(r.objects[0].coords == std::vector<double>{40, 40, 120, 80});
    CHECK(r.objects[0].label == "ship"); // fuzzy: "a ship" -> "ship"
    CHECK(r.objects[1].label == "ship");
}

TEST_CASE("box_codec: WRatio-like label scorer") {
    CHECK(bc::wratio("plane", "plane") == 100);
    CHECK(bc::wratio("", "plane") == 0);
    CHECK(bc::wratio("small vehicles", "small vehicle") > 90);
    CHECK(bc::wratio("vehicle", "small vehicle") > bc::wratio("vehicle", "plane"));
    CHECK(bc::wratio("tennis court", "court tennis") >= 95); // token sort
    const bc::label_matcher m({"plane", "baseball-diamond", "large-vehicle", "small-vehicle"});
    CHECK(m.match("baseball diamond")->fuzzy == false);
    CHECK(m.match("baseball field")->name == "baseball diamond");
    CHECK(m.match("big vehicle")->name == "large vehicle");
    CHECK_FALSE(bc::label_matcher({"plane"}, false).match("planes"));
    CHECK_FALSE(bc::label_matcher({"plane"}, true, 99).match("planes"));
}

TEST_CASE("box_codec: decoders never throw on hostile input") {
    std::mt19937 rng(1234);
    std::vector<std::string> inputs = {"",
                                       "\n\n\n",
                                       std::string(1 << 20, ','),
                                       std::string(1 << 16, '<'),
                                       "```json\n" + std::string(5000, '{'),
                                       "<loc_99999999999999999999>",
                                       "{<<<<>>>>|",
                                       "<|box_start|><|box_start|>((((",
                                       "\xff\xfe\xfd 1,2,3,4 \xc3"};
    const std::string alphabet = "0123456789,. -\n<>{}[]()\"|:_abcdefghijklmnopqrstuvwxyz\xff\xc3";
    for (int i = 0; i < 200; ++i) {
        std::string s(static_cast<std::size_t>(rng() % 400), ' ');
        for (char& ch : s)
            ch = alphabet[rng() % alphabet.size()];
        inputs.push_back(s);
    }
    bc::decode_options d;
    d.classes = {"plane", "ship"};
    d.frame = geo::frame{100, 100, 50, 50};
    d.max_bytes = 1 << 19;
    for (auto key : rscovlm::registry::keys<bc::builtin>()) {
        const auto c = make(key);
        for (const auto& s : inputs) {
            bc::decode_result r;
            CHECK_NOTHROW(r = c->decode(s, d));
            for (const auto& ob : r.objects)
                CHECK(ob.coords.size() == bc::arity(c->kind()));
        }
    }
    const auto big = bc::plain_quad().decode(std::string(1 << 20, 'x'), d);
    CHECK(big.dropped.counts.at("truncated_input") == 1);
}
