// Unit tests: annotation readers (COCO, LLaVA, refGeo, LRS-VQA, XML), recipes and the sampler.
#include <rscovlm/data/all.hpp>
#include <rscovlm/engine/all.hpp>
#include <rscovlm/io/xml_annotations.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>

using namespace rscovlm;

namespace {
std::string ds(const std::string& f) {
    return std::string(RSCOVLM_TEST_DATA_DIR) + "/datasets/" + f;
}
std::string temp_file(const std::string& name, const std::string& text) {
    const auto p = std::filesystem::temp_directory_path() / ("rscovlm_data_" + name);
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
}
} // namespace

TEST_CASE("data: COCO quad reader converts boxes like preprocess_coco_format_metadata") {
    const auto recs = data::read_coco_detection(ds("coco_quad.json"), "images");
    REQUIRE(recs.size() == 2);
    CHECK(recs[0].image == "images/P0001__512__0___0.png");
    CHECK(recs[0].width == 1000);
    REQUIRE(recs[0].objects.size() == 2);
    CHECK(recs[0].objects[1].label == "small-vehicle");
    CHECK(recs[0].objects[1].bbox->x2 == 15); // int(10.5 + 5)
    CHECK(recs[0].objects[1].bbox->y2 == 23);
    CHECK(recs[0].objects[0].polygon.size() == 8);
    CHECK(recs[0].classes == std::vector<std::string>{"small-vehicle", "plane", "Harbor"});
    data::coco_read_options o;
    o.keep_empty_gt = false;
    CHECK(data::read_coco_detection(ds("coco_quad.json"), "", o).size() == 2);
    auto bad = try_call(
        [&] { return data::read_coco_detection(temp_file("bad.json", "{\"images\": [\n{\"id\": 1,,}]}"), ""); });
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().id == "rscovlm.data.bad_json");
    CHECK(bad.error().message.find("rscovlm_data_bad.json:2:") != std::string::npos);
    auto bad2 = try_call([&] {
        return data::read_coco_detection(
            temp_file("bad2.json",
                      R"({"images": [{"id": 1, "file_name": "a.png", "width": 10, "height": 10}], "categories": [],
                "annotations": [{"image_id": 9, "category_id": 1, "bbox": [0,0,1,1]}]})"),
            "");
    });
    REQUIRE_FALSE(bad2.ok());
    CHECK(bad2.error().message.find("record 0: image_id 9 is not in images") != std::string::npos);
}

TEST_CASE("data: LLaVA, refGeo and LRS-VQA readers") {
    const auto chats = data::read_llava(ds("llava.json"), "img");
    REQUIRE(chats.size() == 4);
    CHECK(chats[0].images == std::vector<std::string>{"img/scene_0.png"});
    CHECK(chats[3].images.size() == 2);
    const auto bad_role = try_call([&] {
        return data::read_llava(temp_file("role.json", R"([{"conversations": [{"from": "bot", "value": "x"}]}])"), "");
    });
    REQUIRE_FALSE(bad_role.ok());
    CHECK(bad_role.error().message.find("invalid role 'bot'") != std::string::npos);

    const auto g = data::read_refgeo(ds("refgeo.jsonl"), "refGeo");
    REQUIRE(g.size() == 2);
    CHECK(g[0].image == "refGeo/images/dior_rsvg/00001.jpg");
    CHECK(g[0].poly.size() == 4);
    CHECK(g[1].poly.empty());
    const auto bad_line =
        try_call([&] { return data::read_refgeo(temp_file("g.jsonl", "{\"question\": \"a\"}\n{}\n"), ""); });
    REQUIRE_FALSE(bad_line.ok());
    CHECK(bad_line.error().message.find("record 0: missing field 'dataset'") != std::string::npos);
    const auto bad_json = try_call([&] { return data::read_refgeo(temp_file("g2.jsonl", "{}\n{oops}\n"), ""); });
    REQUIRE_FALSE(bad_json.ok());
    CHECK(bad_json.error().message.find("rscovlm_data_g2.jsonl:2:") != std::string::npos);

    const auto v = data::read_lrsvqa(ds("lrsvqa.json"), "LRS");
    REQUIRE(v.size() == 2);
    CHECK(v[0].image == "LRS/LRS_VQA/P0001.png"); // private prefix dropped
    CHECK_FALSE(v[0].multiple_choice);
    CHECK(v[1].multiple_choice);
    CHECK(v[1].crop_hbox.size() == 2);
}

TEST_CASE("data: DIOR-R and HRSC XML readers") {
    const auto d = io::read_xml_annotation(ds("dior_r.xml"), "JPEGImages");
    CHECK(d.image == "JPEGImages/00001.jpg");
    REQUIRE(d.objects.size() == 2);
    CHECK(d.objects[0].label == "airplane");
    CHECK(d.objects[0].polygon == std::vector<double>{100, 100, 200, 110, 195, 210, 95, 200});
    CHECK(d.objects[0].bbox->x1 == 95);
    CHECK(d.objects[1].difficulty == 1);
    CHECK(d.objects[1].polygon == std::vector<double>{300, 310, 350, 310, 350, 330, 300, 330});
    const auto h = io::read_xml_annotation(ds("hrsc.xml"), "AllImages");
    CHECK(h.image == "AllImages/100000001.bmp");
    REQUIRE(h.objects.size() == 1);
    CHECK(h.objects[0].polygon[0] == doctest::Approx(400));
    CHECK(h.objects[0].polygon[1] == doctest::Approx(280));
    auto bad = try_call([&] {
        return io::parse_xml_annotation("<annotation>\n<size><width>8</width>\n<height>x</height></size></annotation>",
                                        "b.xml", "");
    });
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message == "b.xml:3: <height> is not a number: 'x'");
    auto broken =
        try_call([&] { return io::parse_xml_annotation("<annotation>\n<size>\n</annotation>", "c.xml", ""); });
    REQUIRE_FALSE(broken.ok());
    CHECK(broken.error().id == "rscovlm.data.bad_xml");
}

TEST_CASE("data: recipe sampling rates, *N and %P counts, all%P") {
    CHECK(data::parse_sampling_rate("vhm_dataset%50") == std::pair<std::string, double>{"vhm_dataset", 0.5});
    CHECK(data::parse_sampling_rate("dota*3") == std::pair<std::string, double>{"dota", 3.0});
    CHECK(data::parse_sampling_rate("plain") == std::pair<std::string, double>{"plain", 1.0});
    CHECK_FALSE(try_call([] { return data::parse_sampling_rate("x%150"); }).ok());

    std::ifstream f(ds("catalog.json"));
    const auto cat_json = nlohmann::json::parse(f);
    data::dataset_catalog cat =
        data::dataset_catalog::from_json(cat_json, std::string(RSCOVLM_TEST_DATA_DIR) + "/datasets");
    auto configs = data::resolve_recipe(nlohmann::json::array({"coco_ds*2", "chat%50"}), cat);
    REQUIRE(configs.size() == 2);
    const data::mixture m = data::load_mixture(configs);
    REQUIRE(m.parts.size() == 2);
    CHECK(m.parts[0].size() == 2 * 2 * 3); // 2 images, *2, hbb/obb/polygon
    CHECK(m.parts[1].records.size() == 2); // int(4 * 0.5), random.Random(42).sample -> [0, 3]
    CHECK(std::get<data::chat_record>(m.parts[1].records[0]).id == "c0");
    CHECK(std::get<data::chat_record>(m.parts[1].records[1]).id == "c3");
    CHECK(m.size() == 14);
    const auto loc = m.locate(5); // task-major: 4 records per task
    CHECK(loc.record == 1);
    CHECK(loc.task == 1);
    // A built sample is reproducible.
    data::build_options bo;
    CHECK(m.build(3, bo, 9).messages.dump() == m.build(3, bo, 9).messages.dump());

    auto all = data::resolve_recipe("all%50", cat);
    const data::mixture ma = data::load_mixture(all);
    CHECK(ma.size() == 1 * 3 + 2 + 1 + 1);
    // Custom entries come first and are named custom_dataset_<i>.
    auto custom = data::resolve_recipe(
        nlohmann::json::array({"chat", nlohmann::json{{"annotation_path", ds("llava.json")}, {"data_path", "x"}}}),
        cat);
    CHECK(custom[0].name == "custom_dataset_0");
    CHECK(custom[1].name == "chat");
    CHECK_FALSE(try_call([&] { return data::resolve_recipe(nlohmann::json::array({"nope"}), cat); }).ok());
    // LMMRotate balanced concat: chat%50 (2 samples) is repeated round(12 / 2) = 6 times in the
    // pool, the length stays 14 and random.Random(epoch).sample(pool, 14) picks the order:
    // epoch 0 -> [12, 13, 1, 8, 12, 13, 13, 9, 12, 5, 13, 3, 12, 2] (Python).
    data::mixture mb = data::load_mixture(configs, {}, true);
    CHECK(mb.size() == 14);
    const std::vector<std::size_t> want0{12, 13, 1, 8, 12, 13, 13, 9, 12, 5, 13, 3, 12, 2};
    std::size_t chat = 0;
    for (std::size_t i = 0; i < 14; ++i) {
        const auto l = mb.locate(i);
        const auto plain = m.locate(want0[i]);
        CHECK(l.part == plain.part);
        CHECK(l.record == plain.record);
        CHECK(l.task == plain.task);
        chat += l.part == 1;
    }
    CHECK(chat == 8);
    mb.set_epoch(1); // epoch 1 draws 7 chat samples
    chat = 0;
    for (std::size_t i = 0; i < 14; ++i)
        chat += mb.locate(i).part == 1;
    CHECK(chat == 7);
}

TEST_CASE("data: torch randperm matches LibTorch 1.13 CPU") {
    CHECK(data::torch_randperm(10, 42) == std::vector<std::size_t>{2, 6, 1, 8, 4, 5, 0, 9, 3, 7});
    CHECK(data::torch_randperm(14, 3) == std::vector<std::size_t>{12, 7, 3, 6, 4, 8, 2, 11, 9, 13, 0, 1, 5, 10});
}

TEST_CASE("data: distributed sampler pads, strides ranks and resumes") {
    std::multiset<std::size_t> seen;
    for (std::size_t r = 0; r < 4; ++r) {
        data::distributed_sampler s(14, 4, r, true, 3);
        CHECK(s.num_samples() == 4);
        const auto idx = s.indices();
        CHECK(idx.size() == 4);
        seen.insert(idx.begin(), idx.end());
    }
    CHECK(seen.size() == 16);
    for (std::size_t i = 0; i < 14; ++i)
        CHECK(seen.count(i) >= 1);
    data::distributed_sampler a(100, 2, 1, true, 5), b(100, 2, 1, true, 5);
    CHECK(a.indices() == b.indices());
    b.set_epoch(1);
    CHECK(a.indices() != b.indices());
    a.advance(10);
    const auto st = data::sampler_state::from_json(a.state().to_json());
    data::distributed_sampler c(100, 2, 1, true, 5);
    c.restore(st);
    const auto all = a.indices();
    CHECK(c.remaining() == std::vector<std::size_t>(all.begin() + 10, all.end()));
    data::distributed_sampler ordered(5, 2, 0, false);
    CHECK(ordered.indices() == std::vector<std::size_t>{0, 2, 4});
    data::distributed_sampler dropped(5, 2, 1, false, 0, true);
    CHECK(dropped.indices() == std::vector<std::size_t>{1, 3});
    CHECK_FALSE(try_call([] { return data::distributed_sampler(5, 2, 2); }).ok());
}

TEST_CASE("data: prefetch loader keeps order and propagates errors") {
    engine::prefetch_loader<int> l(
        50, [](std::size_t i) { return static_cast<int>(i * i); }, 4, 3);
    int k = 0;
    while (auto v = l.next()) {
        CHECK(*v == k * k);
        ++k;
    }
    CHECK(k == 50);
    engine::prefetch_loader<int> bad(
        5,
        [](std::size_t i) -> int {
            if (i == 2) RSCOVLM_THROW(data_error, "boom", "sample 2");
            return 1;
        },
        2, 2);
    CHECK(bad.next().has_value());
    CHECK(bad.next().has_value());
    CHECK_THROWS_AS(bad.next(), rscovlm::error);
}

TEST_CASE("data: encode_sample and shards (tokenizer + preprocess + mrope)") {
    namespace fs = std::filesystem;
    const std::string tok_path = std::string(RSCOVLM_TEST_DATA_DIR) + "/tokenizer/qwen/tokenizer.json";
    if (!fs::exists(tok_path)) return;
    const auto tok = tokenizer::bpe_tokenizer::from_file(tok_path);
    data::scene_options so = data::scene_options::normal(2);
    so.width = 448;
    so.height = 336;
    const data::scene sc = data::make_scene(so);
    data::detection_record r;
    r.image = "mem://scene";
    r.width = sc.image.width;
    r.height = sc.image.height;
    for (const auto& o : sc.objects) {
        data::det_instance d;
        for (const auto& p : o.poly) {
            d.polygon.push_back(p.x);
            d.polygon.push_back(p.y);
        }
        d.label = o.label;
        r.objects.push_back(d);
    }
    data::build_options bo;
    bo.prob_plain_text_prompt = 1.0;
    data::python_random rng(0);
    const data::conversation c = data::build_detection(r, data::region_type::hbb, bo, rng);
    engine::sample_encode_options eo;
    eo.keep_pixels = true;
    auto loader = [&](const data::image_ref&) { return sc.image; };
    const engine::encoded_sample s = engine::encode_sample(c, tok, eo, loader);
    REQUIRE(s.image_grid_thw.size() == 1);
    // smart_resize(336, 448) in the multitask budget = 336 x 448 -> grid 1 x 24 x 32, 192 pads.
    CHECK(s.image_grid_thw[0] == std::array<int, 3>{1, 24, 32});
    CHECK(s.pixel_rows == 24 * 32);
    CHECK(s.pixel_values.size() == 24 * 32 * 1176);
    const auto pad = tok.token_to_id("<|image_pad|>");
    REQUIRE(pad.has_value());
    std::size_t pads = 0, sup = 0;
    for (std::size_t i = 0; i < s.input_ids.size(); ++i) {
        pads += s.input_ids[i] == *pad;
        if (s.labels[i] != -100) {
            ++sup;
            CHECK(s.labels[i] == s.input_ids[i]);
        }
    }
    CHECK(pads == 192);
    // Supervised text = the assistant answer + <|im_end|>.
    std::vector<std::int32_t> sup_ids;
    for (std::size_t i = 0; i < s.labels.size(); ++i)
        if (s.labels[i] != -100) sup_ids.push_back(s.labels[i]);
    CHECK(tok.decode(sup_ids) == c.messages.back()["content"].get<std::string>() + "<|im_end|>");
    CHECK(s.position_ids[0].size() == s.input_ids.size());
    // Truncation keeps the beginning.
    engine::sample_encode_options shortopt;
    shortopt.max_length = 20;
    const engine::encoded_sample t = engine::encode_sample(c, tok, shortopt, loader);
    CHECK(t.truncated);
    CHECK(t.input_ids.size() == 20);
    CHECK(t.position_ids[0].size() == 20);
    // Shards readable back.
    const fs::path dir =
        fs::temp_directory_path() /
        ("rscovlm_test_shards_" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count())); // unique: test runs may overlap
    fs::remove_all(dir);
    {
        engine::shard_writer w(dir.string(), 2);
        w.add(s, 7);
        w.add(t, 8);
        w.add(s, 9);
        w.flush();
        CHECK(w.files().size() == 2);
    }
    auto f = io::safetensors::file::open((dir / "shard-00000.safetensors").string());
    CHECK(f.info("input_ids").shape == std::vector<std::int64_t>{static_cast<std::int64_t>(s.input_ids.size() + 20)});
    CHECK(f.info("position_ids").shape[0] == 3);
    CHECK(f.info("pixel_values").shape == std::vector<std::int64_t>{24 * 32, 1176});
    CHECK(f.info("image_grid_thw").shape == std::vector<std::int64_t>{1, 3}); // the truncated sample lost its image
    CHECK(f.metadata().at("samples") == "2");
    fs::remove_all(dir);
}
