// Unit tests: CPython-compatible random functions and the RSCoVLM conversation builders.
#include <rscovlm/data/builtin.hpp>
#include <rscovlm/data/detail/pyjson.hpp>
#include <rscovlm/data/recipe.hpp>

#include <doctest/doctest.h>

using namespace rscovlm;
using data::detail::python_random;

TEST_CASE("data: CPython random functions reproduce random.getrandbits/choice/sample") {
    python_random r(123);
    CHECK(r.random() == 0.052363598850944326);
    CHECK(r.random() == 0.08718667752263232);
    CHECK(r.random() == 0.4072417636703983);
    CHECK(data::detail::getrandbits(r, 40) == 919585570314ULL);
    CHECK(data::detail::choice_index(r, 7) == 6);
    python_random s(5);
    CHECK(data::detail::sample_indices(s, 100, 10) == std::vector<std::size_t>{79, 32, 94, 45, 88, 83, 67, 3, 59, 99});
    python_random t(5);
    CHECK(data::detail::sample_indices(t, 10, 4) == std::vector<std::size_t>{9, 4, 5, 6});
    python_random u((3ULL << 32) + 17);
    CHECK(u.random() == 0.03522734844285502);
}

TEST_CASE("data: python json.dumps escaping") {
    nlohmann::ordered_json j;
    j["bbox_2d"] = {1, 2, 3, 4};
    j["label"] = "caf\xc3\xa9 \"x\"\n";
    CHECK(data::detail::py_json_dumps(j) == "{\"bbox_2d\": [1, 2, 3, 4], \"label\": \"caf\\u00e9 \\\"x\\\"\\n\"}");
    CHECK(data::detail::py_json_string("\xf0\x9f\x98\x80") == "\"\\ud83d\\ude00\"");
}

namespace {
data::detection_record det_record() {
    data::detection_record r;
    r.image = "img/P1.png";
    r.width = 1000;
    r.height = 800;
    r.classes = {"small-vehicle", "plane", "Harbor"};
    data::det_instance sv;
    sv.bbox = geometry::hbox{10.5, 20.5, 15, 23}; // COCO [10.5, 20.5, 5, 3] -> int(x + w)
    sv.polygon = {10.5, 20.5, 15, 20.5, 15, 23, 10.5, 23};
    sv.label = "small-vehicle";
    data::det_instance pl;
    pl.bbox = geometry::hbox{100, 200, 150, 240};
    pl.polygon = {100, 200, 150, 200, 150, 240, 100, 240};
    pl.label = "plane";
    r.objects = {sv, pl};
    return r;
}
std::string text_of(const nlohmann::ordered_json& msg) {
    for (const auto& c : msg["content"])
        if (c["type"] == "text") return c["text"];
    return {};
}
} // namespace

TEST_CASE("data: dense detection builder, plain hbb target in the resized frame") {
    data::build_options o;
    o.prob_plain_text_prompt = 1.0; // random() >= 1.0 never: plain text
    python_random rng(0);
    const auto c = data::build_detection(det_record(), data::region_type::hbb, o, rng);
    REQUIRE(c.messages.size() == 3);
    CHECK(c.messages[0]["role"] == "system");
    CHECK(c.messages[0]["content"] == std::string(box_codec::prompts::hbb_plain_system));
    CHECK(c.messages[1]["content"][0]["image"] == "file://img/P1.png");
    CHECK(c.messages[1]["content"][0]["resized_width"] == 1008);
    CHECK(c.messages[1]["content"][0]["resized_height"] == 812);
    CHECK(text_of(c.messages[1]) == "find the harbor, plane, small vehicle");
    CHECK(c.messages[2]["content"] == "100,203,151,243 plane\n10,20,15,23 small vehicle\n");
    CHECK(c.images.at(0).resized_width == 1008);
    CHECK(c.task == "det.hbb");
}

TEST_CASE("data: dense detection builder, JSON target and empty image") {
    data::build_options o;
    o.prob_plain_text_prompt = 0.0; // always JSON
    o.prob_proxy_prompt = 0.0;      // main template, no rewording
    python_random rng(1);
    const auto c = data::build_detection(det_record(), data::region_type::hbb, o, rng);
    REQUIRE(c.messages.size() == 2); // no system message: the chat template adds the default one
    CHECK(text_of(c.messages[0]) ==
          "Locate every item from the category list in the image and output the coordinates in JSON format. The "
          "category set includes harbor, plane, small vehicle.");
    CHECK(c.messages[1]["content"] ==
          "```json\n[\n\t{\"bbox_2d\": [100, 203, 151, 243], \"label\": \"plane\"},\n\t{\"bbox_2d\": [10, 20, 15, 23], "
          "\"label\": \"small vehicle\"}\n]\n```");
    auto empty = det_record();
    empty.objects.clear();
    const auto e = data::build_detection(empty, data::region_type::polygon, o, rng);
    CHECK(e.messages.back()["content"] == "There are none.");
    CHECK(e.messages[0]["content"] == std::string(box_codec::prompts::quad_json_system));
}

TEST_CASE("data: dense detection answers in a codec named by key, with that codec's prompts") {
    data::build_options o;
    o.answer_codec = "codec.hbb.qwen2vl";
    python_random rng(0);
    const auto c = data::build_detection(det_record(), data::region_type::hbb, o, rng);
    const box_codec::qwen2vl_codec q;
    REQUIRE(c.messages.size() == 2); // the Qwen2-VL format has no system prompt
    CHECK(text_of(c.messages[0]) == q.user_prompt({"harbor", "plane", "small-vehicle"}));
    CHECK(text_of(c.messages[0]) ==
          "Detect all the harbor, plane, small vehicle in the image and output their bounding boxes.");
    box_codec::encode_options eo;
    eo.classes = {"harbor", "plane", "small-vehicle"};
    eo.frame = geometry::frame{det_record().width, det_record().height, c.images.at(0).resized_width,
                               c.images.at(0).resized_height};
    std::vector<box_codec::annotation> anns;
    for (const auto& obj : det_record().objects) {
        box_codec::annotation a;
        a.bbox = obj.bbox;
        a.polygon = obj.polygon;
        a.label = obj.label;
        anns.push_back(a);
    }
    CHECK(c.messages[1]["content"] == q.encode(anns, eo));
    // the codec's geometry must be the sample's
    CHECK_THROWS_WITH_AS(data::build_detection(det_record(), data::region_type::obb, o, rng),
                         doctest::Contains("codec_kind_mismatch"), data_error);
    // the reference's draw names RSCoVLM's codecs by key: the same answers as the codec objects
    data::build_options plain;
    plain.prob_plain_text_prompt = 1.0;
    python_random r1(3), r2(3);
    const auto by_draw = data::build_detection(det_record(), data::region_type::obb, plain, r1);
    plain.answer_codec = "codec.obb.plain";
    const auto by_key = data::build_detection(det_record(), data::region_type::obb, plain, r2);
    CHECK(by_draw.messages.dump() == by_key.messages.dump());
}

TEST_CASE("data: build options from JSON, the parser behind recipe files and data build flags") {
    const auto o = data::build_options_from_json(nlohmann::json::parse(
        R"({"min_pixels": 3136, "max_pixels": 1003520, "prob_plain_text_prompt": 0.25, "answer_codec": "codec.obb.json",
            "resolution": "resize.smart", "disable_visual_cot": true})"));
    CHECK(o.resize.min_pixels == 3136);
    CHECK(o.resize.max_pixels == 1003520);
    CHECK(o.prob_plain_text_prompt == 0.25);
    CHECK(o.prob_proxy_prompt == 0.5);
    CHECK(o.answer_codec == "codec.obb.json");
    CHECK(o.disable_visual_cot);
    CHECK(o.resolution != nullptr);
    CHECK_THROWS_WITH_AS(data::build_options_from_json(nlohmann::json::parse(R"({"prob_proxy": 0.5})")),
                         doctest::Contains("unknown build option 'prob_proxy'"), config_error);
    CHECK_THROWS_WITH_AS(data::build_options_from_json(nlohmann::json::parse(R"({"prob_proxy_prompt": 1.5})")),
                         doctest::Contains("[0, 1]"), config_error);
    CHECK_THROWS_WITH_AS(data::build_options_from_json(nlohmann::json::parse(R"({"answer_codec": "codec.nope"})")),
                         doctest::Contains("codec.nope"), registry_error);
    // min_pixels above max_pixels is not an error: smart_resize then applies whichever bound it meets
    // first, as the reference does
    CHECK(data::build_options_from_json(nlohmann::json::parse(R"({"min_pixels": 10, "max_pixels": 5})"))
              .resize.min_pixels == 10);
    CHECK_THROWS_AS(data::build_options_from_json(nlohmann::json::parse(R"({"max_pixels": "many"})")), config_error);
}

TEST_CASE("data: grounding builder, counter-clockwise polygon and seeded JSON template") {
    data::grounding_record g;
    g.image = "refGeo/images/dior/1.jpg";
    g.width = 1000;
    g.height = 800;
    g.question = "red car";
    g.bbox = geometry::hbox{10, 10, 110, 60};
    g.poly = {geometry::point{10, 10}, {110, 10}, {110, 60}, {10, 60}};
    data::build_options plain;
    plain.prob_plain_text_prompt = 1.0; // random() > 1.0 never
    python_random rng(0);
    auto c = data::build_grounding(g, data::region_type::polygon, plain, rng);
    CHECK(c.messages[0]["content"] == std::string(box_codec::prompts::quad_plain_system));
    CHECK(text_of(c.messages[1]) == "find the red car");
    CHECK(c.messages[2]["content"] == "10,10,10,60,110,60,110,10 red car\n");
    // seed 7: resize draw 0.32, JSON draw 0.15 > 0, proxy 0.65 < 1 -> choice(5) = 0, reword 0.82 < 1.
    data::build_options js;
    js.prob_plain_text_prompt = 0.0;
    js.prob_proxy_prompt = 1.0;
    python_random r7(7);
    c = data::build_grounding(g, data::region_type::hbb, js, r7);
    CHECK(text_of(c.messages[0]) == "Give me the bounding box of red car using JSON format");
    CHECK(c.messages[1]["content"] == "```json\n[\n\t{\"bbox_2d\": [10, 10, 110, 60], \"label\": \"red car\"}\n]\n```");
}

TEST_CASE("data: LLaVA chat builder strips placeholders as the reference") {
    data::chat_record r;
    r.id = "x";
    r.images = {"data/a.png"};
    r.conversations = nlohmann::json::parse(
        R"([{"from":"human","value":"<image>\nWhat is this? "},{"from":"gpt","value":"A harbor."}])");
    data::build_options o;
    python_random rng(0);
    const auto c = data::build_chat(r, o, rng);
    REQUIRE(c.messages.size() == 2);
    CHECK(c.messages[0]["role"] == "user");
    CHECK(c.messages[0]["content"][0]["image"] == "file://data/a.png");
    CHECK(c.messages[0]["content"][1]["text"] == "What is this?");
    CHECK(c.messages[1]["content"][0]["text"] == "A harbor.");
    r.images.clear();
    CHECK_FALSE(try_call([&] { return data::build_chat(r, o, rng); }).ok());
}

TEST_CASE("data: GeoChat builder converts 0-100 grid boxes to the resized frame") {
    data::chat_record r;
    r.id = "g";
    r.images = {"geo/1.png"};
    r.conversations = nlohmann::json::parse(
        R"([{"from":"human","value":"<image>\nIdentify all buildings. Include bounding boxes of the form [x_min, y_min, x_max, y_max] for each identified object in your response"},{"from":"gpt","value":"[10, 20, 50, 60]"}])");
    data::build_options o;
    o.prob_plain_text_prompt = 1.0; // plain targets
    o.image_size = [](const std::string&) { return std::pair<int, int>{1000, 800}; };
    python_random rng(0);
    const auto c = data::build_geochat(data::prepare_geochat(r), o, rng);
    // smart_resize(800, 1000) = 812 x 1008: [10, 20, 50, 60] -> [100, 162, 504, 487]
    CHECK(c.messages[1]["content"][0]["text"] == "100,162,504,487 buildings\n");
    CHECK(c.messages[1]["content"][0]["ori_text"] == "[10, 20, 50, 60] -> [100, 162, 504, 487]");
}

TEST_CASE("data: LRS-VQA-Zoom builder, one zoom step with scaled tool call and MCQ text") {
    data::vqa_record v;
    v.image = "lrs/1.png";
    v.width = 4000;
    v.height = 3000;
    v.multiple_choice = true;
    v.question = "How many planes\n Answer the question using a single word or phrase.";
    v.choices = {"A. 1", "B. 2"};
    v.answer = "B";
    v.crop_hbox = {{1000.5, 500, 1500, 900}};
    data::build_options o;
    python_random rng(0);
    const auto c = data::build_lrsvqa_zoom(v, o, rng);
    REQUIRE(c.messages.size() == 5);
    CHECK(c.messages[0]["content"] == tokenizer::zoom_tool_system_prompt());
    CHECK(c.messages[1]["content"][0]["resized_width"] == 1148);
    CHECK(c.messages[1]["content"][0]["resized_height"] == 868);
    // rstrip removes a character set: "planes" goes too.
    CHECK(text_of(c.messages[1]) ==
          "How many The choices are listed below: \nA. 1\nB. 2\nSelect the best answer to the above multiple-choice "
          "question based on the image. Respond with only the letter (A, B, C, D, or E) of the correct option.\nThe "
          "best answer is:\nZoom in to the region of interest and answer the question.");
    CHECK(c.messages[2]["content"] == tokenizer::zoom_tool_call(287, 144, 430, 260));
    CHECK(text_of(c.messages[3]) == "Here's the zoomed-in image. You can complete your task now.");
    REQUIRE(c.images.size() == 2);
    CHECK(*c.images[1].crop == std::array<int, 4>{1000, 500, 1500, 900}); // round half to even
    CHECK(c.messages[4]["content"] == "B");
    v.crop_hbox.push_back({0, 0, 10, 10});
    const auto plain = data::build_lrsvqa_zoom(v, o, rng);
    CHECK(plain.messages.size() == 2);
    CHECK(plain.task == "vqa");
}

TEST_CASE("data: builders through the registry") {
    auto b = registry::make<data::builder_kind>("builder.dense_det", nlohmann::json{{"region_types", {"polygon"}}});
    CHECK(b->tasks_per_record() == 1);
    data::build_options o;
    o.prob_plain_text_prompt = 1.0;
    python_random rng(0);
    const auto c = b->build(data::record(det_record()), 0, o, rng);
    CHECK(c.task == "det.polygon");
    CHECK_FALSE(try_call([&] {
                    return registry::make<data::builder_kind>("builder.dense_det",
                                                              nlohmann::json{{"region_types", {"circle"}}});
                }).ok());
    CHECK_FALSE(try_call([&] { return b->build(data::record(data::vqa_record{}), 0, o, rng); }).ok());
}
