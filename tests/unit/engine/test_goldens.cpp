// Unit tests: builders and mixing rules against golden vectors made by tests/data/builders/make_goldens.py
// (the reference's logic run with CPython random, numpy, OpenCV 4.6 and Pillow 9.4), which
// scripts/crosscheck_goldens.py confirms against the reference's own code; chat_random_resize/,
// random_sample.json and zoom_system_prompt.txt come from that run alone (tests/data/builders/README.md).
#include <rscovlm/data/all.hpp>
#include <rscovlm/data/lrsvqa.hpp>
#include <rscovlm/engine/all.hpp>

#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using namespace rscovlm;

namespace {

std::string gold_path(const std::string& f) {
    return std::string(RSCOVLM_TEST_DATA_DIR) + "/builders/" + f;
}

std::vector<nlohmann::json> gold_lines(const std::string& f) {
    std::ifstream in(gold_path(f));
    REQUIRE(in.good());
    std::vector<nlohmann::json> v;
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) v.push_back(nlohmann::json::parse(line));
    return v;
}

nlohmann::json gold_doc(const std::string& f) {
    std::ifstream in(gold_path(f));
    REQUIRE(in.good());
    return nlohmann::json::parse(in);
}

// Rewrites "file://<prefix>" image references to "file://" and drops keys the golden driver adds
// for information only, so messages compare as JSON values.
nlohmann::json gold_normalize(nlohmann::json msgs, const std::string& prefix) {
    for (auto& m : msgs) {
        if (!m.contains("content") || !m["content"].is_array()) continue;
        for (auto& c : m["content"]) {
            c.erase("random_resized");
            if (c.contains("image") && c["image"].is_string()) {
                std::string s = c["image"].get<std::string>();
                const std::string p = "file://" + prefix;
                if (!prefix.empty() && s.compare(0, p.size(), p) == 0) s = "file://" + s.substr(p.size());
                c["image"] = s;
            }
        }
    }
    return msgs;
}

data::vqa_record gold_vqa(const nlohmann::json& r) {
    data::vqa_record v;
    v.image = r["image"].get<std::string>();
    v.width = r["image_ori_width"].get<int>();
    v.height = r["image_ori_height"].get<int>();
    v.multiple_choice = r.contains("Text");
    v.question = (v.multiple_choice ? r["Text"] : r["question"]).get<std::string>();
    v.answer = (v.multiple_choice ? r["Ground truth"] : r["answer"]).get<std::string>();
    if (v.multiple_choice)
        for (const auto& c : r["Answer choices"])
            v.choices.push_back(c.get<std::string>());
    for (const auto& b : r["bbox_info"]["crop_hbox"])
        v.crop_hbox.push_back({b[0].get<double>(), b[1].get<double>(), b[2].get<double>(), b[3].get<double>()});
    return v;
}

} // namespace

TEST_CASE("data: LRS-VQA-Zoom builder equals the reference's visual_cot get_messages (golden)") {
    // zoom_system_prompt.txt is visual_cot_dataset.SYSTEM_PROMPT as the reference's module holds it.
    std::ifstream sp(gold_path("zoom_system_prompt.txt"), std::ios::binary);
    REQUIRE(sp.good());
    const std::string reference_prompt((std::istreambuf_iterator<char>(sp)), std::istreambuf_iterator<char>());
    CHECK(std::string(tokenizer::zoom_tool_system_prompt()) == reference_prompt);
    const auto rows = gold_lines("lrsvqa_zoom.jsonl");
    REQUIRE(rows.size() == 16);
    std::size_t zooms = 0;
    for (const auto& row : rows) {
        nlohmann::json want = row["messages"];
        for (auto& m : want)
            if (m["content"] == "<SYSTEM_PROMPT>") m["content"] = std::string(tokenizer::zoom_tool_system_prompt());
        std::optional<resolution::size> rs;
        if (!row["resized"].is_null())
            rs = resolution::size{row["resized"][0].get<int>(), row["resized"][1].get<int>()};
        const bool disable = row["disable_visual_cot"].get<bool>();
        const data::conversation c = data::build_lrsvqa_zoom(gold_vqa(row["record"]), rs, disable);
        CHECK(nlohmann::json::parse(c.messages.dump()) == want);
        zooms += c.task == "zoom";
        // The budget overload picks the same size as the golden (smart_resize with the multitask budget).
        if (rs) {
            data::build_options o;
            o.disable_visual_cot = disable;
            data::python_random rng(0);
            CHECK(nlohmann::json::parse(data::build_lrsvqa_zoom(gold_vqa(row["record"]), o, rng).messages.dump()) ==
                  want);
        }
    }
    CHECK(zooms == 6); // 3 single-box records x {resized, not resized}, visual CoT enabled
}

TEST_CASE("data: refGeo segmentation mask targets equal cv2 + Pillow + block_reduce (golden)") {
    const auto rows = gold_lines("refgeo_masks.jsonl");
    REQUIRE(rows.size() == 12);
    for (const auto& row : rows) {
        const std::string name = row["mask"].get<std::string>();
        const image mask = io::load_image(gold_path("refgeo/masks/rrsis/" + name),
                                          io::load_options{false, imaging::rgb_mode::composite, 0});
        const image l = data::to_pillow_l(mask);
        data::refgeo_mask_stages st;
        const std::string rle = data::refgeo_mask_rle(mask, l.width, l.height, row["resized_width"].get<int>(),
                                                      row["resized_height"].get<int>(), 28, &st);
        INFO(name << " " << row["resized_width"] << "x" << row["resized_height"]);
        CHECK(data::detail::sha256_hex(st.closed.data(), st.closed.size()) == row["closed_sha256"].get<std::string>());
        CHECK(data::detail::sha256_hex(st.filled.data(), st.filled.size()) == row["filled_sha256"].get<std::string>());
        CHECK(rle == row["rle"].get<std::string>());
    }
    const image m = io::load_image(gold_path("refgeo/masks/rrsis/a_0.png"),
                                   io::load_options{false, imaging::rgb_mode::composite, 0});
    CHECK_THROWS_WITH_AS(data::refgeo_mask_rle(m, 401, 300, 56, 56), doctest::Contains("mask_size_mismatch"),
                         data_error);
    CHECK(data::encode_mask_rle({0, 1, 1, 0, 0, 0}, 3, 2) == "0*1,1*2;0*3;"); // the reference's own example
    CHECK_THROWS_WITH_AS(data::encode_mask_rle({0, 1}, 3, 1), doctest::Contains("bad_mask"), data_error);
    CHECK_THROWS_WITH_AS(data::to_pillow_l(image{}), doctest::Contains("bad_mask"), data_error);
}

TEST_CASE("data: refGeo dataset types, record-major order and messages equal the reference (golden)") {
    const std::string root = gold_path("refgeo");
    const auto rows = gold_lines("refgeo.jsonl");
    REQUIRE(rows.size() == 20);
    for (const auto& row : rows) {
        data::dataset_config c;
        c.name = "refgeo_fixture";
        c.annotation_path = root + "/metainfo.jsonl";
        c.data_path = root;
        c.dataset_type = row["dataset_type"].get<std::string>();
        const data::mixture mix = data::load_mixture({c});
        const auto& samples = row["samples"];
        INFO(c.dataset_type << " seed " << row["seed"] << " prob " << row["prob_random_resize"]);
        REQUIRE(mix.size() == samples.size());
        data::build_options bo;
        bo.resize.prob_random_resize = row["prob_random_resize"].get<double>();
        bo.load_image = [](const std::string& p) {
            return io::load_image(p, io::load_options{false, imaging::rgb_mode::composite, 0});
        };
        for (const auto& s : samples) {
            const std::size_t idx = s["index"].get<std::size_t>();
            const auto loc = mix.locate(idx);
            CHECK(loc.record == s["record"].get<std::size_t>());
            const data::conversation conv = mix.build(idx, bo, row["seed"].get<std::uint64_t>());
            CHECK(conv.task == "ground." + s["region"].get<std::string>());
            CHECK(gold_normalize(nlohmann::json::parse(conv.messages.dump()), root + "/") == s["messages"]);
        }
    }
}

TEST_CASE("data: llava_onevision sampling, <image> tag and skip-to-next equal the reference (golden)") {
    const nlohmann::json g = gold_doc("llava_onevision.json");
    for (const auto& s : g["sampling"]) {
        std::vector<std::size_t> pop(s["total"].get<std::size_t>());
        for (std::size_t i = 0; i < pop.size(); ++i)
            pop[i] = i;
        CHECK(data::random_sample(pop, s["rate"].get<double>(), true) == s["indices"].get<std::vector<std::size_t>>());
    }
    // int(8 * 0.01) = 0 keeps nothing in rscovlm.utils.random_sample, one row here
    CHECK(data::random_sample(std::vector<int>(8), 0.01).empty());

    data::dataset_config c;
    c.name = "ov";
    c.annotation_path = gold_path("llava_onevision_rows.jsonl");
    c.data_path = "D";
    c.dataset_type = "llava_onevision";
    const data::mixture mix = data::load_mixture({c});
    REQUIRE(mix.size() == 8);
    for (const auto& run : g["items"]) {
        data::build_options bo;
        bo.resize.prob_random_resize = run["prob_random_resize"].get<double>();
        const auto seed = run["seed"].get<std::uint64_t>();
        for (const auto& it : run["items"]) {
            const std::size_t idx = it["index"].get<std::size_t>();
            INFO("index " << idx);
            if (it["messages"].is_null()) {
                CHECK_THROWS_WITH_AS(mix.build(idx, bo, seed), doctest::Contains("no_next_record"), data_error);
            } else {
                const data::conversation conv = mix.build(idx, bo, seed);
                CHECK(gold_normalize(nlohmann::json::parse(conv.messages.dump()), "D/") ==
                      gold_normalize(it["messages"], ""));
            }
        }
    }
    // The builder alone reports the rows the reference skips.
    data::python_random rng(0);
    data::chat_record none;
    none.id = "x";
    none.conversations = nlohmann::json::parse(R"([{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}])");
    CHECK_THROWS_WITH_AS(data::build_llava_onevision(none, {}, rng), doctest::Contains("skip_record"), data_error);
}

TEST_CASE("data: random_sample equals rscovlm.utils.random_sample run with a seed (golden)") {
    // random_sample.json comes from the reference's own function (scripts/crosscheck_goldens.py --write-new).
    const nlohmann::json g = gold_doc("random_sample.json");
    REQUIRE(g["cases"].size() == 7);
    for (const auto& s : g["cases"]) {
        INFO("total " << s["total"] << " rate " << s["rate"]);
        std::vector<std::size_t> pop(s["total"].get<std::size_t>());
        for (std::size_t i = 0; i < pop.size(); ++i)
            pop[i] = i;
        CHECK(data::random_sample(pop, s["rate"].get<double>()) == s["indices"].get<std::vector<std::size_t>>());
    }
}

TEST_CASE("data: balanced concat equals LMMRotate deal_with_multidataset_mode (golden)") {
    const nlohmann::json g = gold_doc("balanced_concat.json");
    for (const auto& cs : g) {
        std::vector<std::vector<std::size_t>> subsets;
        std::size_t base = 0;
        for (const auto& n : cs["sizes"]) {
            subsets.emplace_back();
            for (std::size_t k = 0; k < n.get<std::size_t>(); ++k)
                subsets.back().push_back(base++);
        }
        for (const auto& [e, want] : cs["epochs"].items())
            CHECK(data::balanced_concat_order(subsets, std::stoull(e)) == want.get<std::vector<std::size_t>>());
    }
    CHECK_THROWS_WITH_AS(data::balanced_concat_order({{1, 2}, {}}, 0), doctest::Contains("empty_subset"), data_error);
}

TEST_CASE("data: builders size images through resolution registry strategies") {
    const std::string root = gold_path("refgeo");
    // The reference's random resize (prob 0.6) given as a registry strategy on the catalog entry
    // reproduces the golden samples made with DataArguments.prob_random_resize = 0.6.
    const auto rows = gold_lines("refgeo.jsonl");
    std::size_t checked = 0;
    for (const auto& row : rows) {
        if (row["prob_random_resize"].get<double>() != 0.6 || row["dataset_type"] != "refgeo") continue;
        const nlohmann::json cat = {{"fixture",
                                     {{"annotation_path", root + "/metainfo.jsonl"},
                                      {"data_path", root},
                                      {"dataset_type", "refgeo"},
                                      {"resolution", {{"key", "resize.random"}, {"params", {{"prob", 0.6}}}}}}}};
        data::dataset_catalog catalog = data::dataset_catalog::from_json(cat);
        const data::mixture mix = data::load_mixture(data::resolve_recipe("fixture", catalog));
        data::build_options bo; // prob_random_resize stays 0: the strategy decides
        bo.load_image = [](const std::string& p) {
            return io::load_image(p, io::load_options{false, imaging::rgb_mode::composite, 0});
        };
        for (const auto& s : row["samples"]) {
            const auto conv = mix.build(s["index"].get<std::size_t>(), bo, row["seed"].get<std::uint64_t>());
            CHECK(gold_normalize(nlohmann::json::parse(conv.messages.dump()), root + "/") == s["messages"]);
            ++checked;
        }
        // The same strategy for every dataset through build_options.
        data::build_options bo2 = bo;
        bo2.resolution = data::make_resolution(nlohmann::json{{"key", "resize.random"}, {"params", {{"prob", 0.6}}}});
        data::dataset_config c;
        c.name = "fixture";
        c.annotation_path = root + "/metainfo.jsonl";
        c.data_path = root;
        c.dataset_type = "refgeo";
        const data::mixture plain = data::load_mixture({c});
        for (const auto& s : row["samples"]) {
            const auto conv = plain.build(s["index"].get<std::size_t>(), bo2, row["seed"].get<std::uint64_t>());
            CHECK(gold_normalize(nlohmann::json::parse(conv.messages.dump()), root + "/") == s["messages"]);
        }
    }
    CHECK(checked == 2 * 18); // 5 records x 3 boxes + 3 masks, seeds 0 and 5

    // A fixed square budget (RSCoVLM grounding at 448): the image and its target follow it.
    data::grounding_record g;
    g.image = "x.png";
    g.width = 1000;
    g.height = 500;
    g.question = "the pier";
    g.bbox = geometry::hbox{100, 50, 300, 250};
    data::build_options sq;
    sq.resolution = data::make_resolution(nlohmann::json{{"key", "resize.square"}, {"params", {{"size", 448}}}});
    sq.prob_plain_text_prompt = 1.0; // plain target: random() > 1.0 never holds
    data::python_random rng(0);
    const auto conv = data::build_grounding(g, data::region_type::hbb, sq, rng);
    const auto want = resolution::smart_resize(500, 1000, 28, 448LL * 448, 448LL * 448);
    CHECK(conv.images[0].resized_width == want.width);
    CHECK(conv.images[0].resized_height == want.height);
    const std::string target = conv.messages[2]["content"].get<std::string>();
    CHECK(target == std::to_string(100 * want.width / 1000) + "," + std::to_string(50 * want.height / 500) + "," +
                        std::to_string(300 * want.width / 1000) + "," + std::to_string(250 * want.height / 500) +
                        " the pier\n");
    // The default (no strategy) equals resize.random with the options' budget and probability.
    data::build_options def;
    data::build_options viaRegistry;
    viaRegistry.resolution =
        data::make_resolution(nlohmann::json{{"key", "resize.random"}, {"params", {{"prob", 0.0}}}});
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        data::python_random r1(seed), r2(seed);
        CHECK(data::build_grounding(g, data::region_type::hbb, def, r1).messages.dump() ==
              data::build_grounding(g, data::region_type::hbb, viaRegistry, r2).messages.dump());
    }
    CHECK_THROWS_AS(data::make_resolution("resize.nope"), rscovlm::error);
    CHECK_THROWS_WITH_AS(data::make_resolution(nlohmann::json{{"key", "resize.smart"}, {"size", 3}}),
                         doctest::Contains("unknown field"), data_error);
    CHECK_THROWS_AS(data::make_resolution(nlohmann::json{{"key", "resize.square"}, {"params", {{"size", -1}}}}),
                    rscovlm::error);
}

TEST_CASE("data: dense detection open-ended prompts with synonyms equal the reference (golden)") {
    const nlohmann::json syn = gold_doc("dense_synonyms.json");
    nlohmann::json cfg = {{"annotation_path", gold_path("dense_open_end.json")},
                          {"data_path", "DD"},
                          {"dataset_type", "dense_det"},
                          {"synonyms_dict", syn}};
    data::dataset_catalog catalog = data::dataset_catalog::from_json(nlohmann::json{{"dense", cfg}});
    const auto configs = data::resolve_recipe("dense", catalog);
    std::size_t open = 0;
    for (const auto& row : gold_lines("dense_open_end.jsonl")) {
        const auto seed = row["seed"].get<std::uint64_t>();
        const data::mixture mix =
            data::load_mixture(configs, {}, false, 0, row["prob_open_end_prompts"].get<double>(), seed);
        REQUIRE(mix.size() == row["samples"].size());
        data::build_options bo;
        bo.resize.prob_random_resize = row["prob_random_resize"].get<double>();
        for (const auto& s : row["samples"]) {
            const std::size_t idx = s["index"].get<std::size_t>();
            INFO("seed " << seed << " sample " << idx);
            const auto loc = mix.locate(idx);
            CHECK(std::get<data::detection_record>(mix.parts[0].records[loc.record]).use_synonyms ==
                  s["use_synonyms"].get<bool>());
            open += s["use_synonyms"].get<bool>();
            const auto conv = mix.build(idx, bo, seed);
            CHECK(gold_normalize(nlohmann::json::parse(conv.messages.dump()), "DD/") == s["messages"]);
        }
    }
    CHECK(open == 18);
    CHECK(data::detail::open_end_template("find the {categories}") == "find all the visible remote sensing objects");
    CHECK(data::detail::open_end_template("Locate {categories} in it; the {categories}.") ==
          "Locate all the visible remote sensing objects in it; all the visible remote sensing objects.");
    data::python_random rng(1);
    CHECK_THROWS_WITH_AS(data::detail::pick_synonym(syn, "ship", rng), doctest::Contains("missing_synonyms"),
                         data_error);
    CHECK_THROWS_WITH_AS(
        data::dataset_catalog::from_json(nlohmann::json{{"x", {{"annotation_path", "a.json"}, {"synonyms_dict", 3}}}}),
        doctest::Contains("synonyms_dict"), data_error);
}

TEST_CASE("data: chat random resize puts the reference's fetched image in the conversation (golden)") {
    // tests/data/builders/chat_random_resize/ comes from RSCoVLM's own random_resize_images_in_messages
    // (qwen-vl-utils 0.0.11 fetch_image at its default budget; scripts/crosscheck_goldens.py --write-new).
    const nlohmann::json g = gold_doc("chat_random_resize/golden.json");
    for (const auto& im : g["images"]) {
        INFO(im["input"].get<std::string>());
        data::image_ref ref;
        ref.path = gold_path("chat_random_resize/" + im["input"].get<std::string>());
        const rscovlm::image plain = engine::load_image_ref(ref);
        CHECK(plain.width == im["input_size"][0].get<int>());
        CHECK(plain.height == im["input_size"][1].get<int>());
        ref.prefetched = true;
        const rscovlm::image got = engine::load_image_ref(ref);
        const rscovlm::image want = io::load_image(gold_path("chat_random_resize/" + im["fetched"].get<std::string>()));
        REQUIRE(want.channels == 3);
        CHECK(got.width == im["fetched_size"][0].get<int>());
        CHECK(got.height == im["fetched_size"][1].get<int>());
        CHECK(got.channels == 3);
        CHECK(got.data == want.data);
    }
    // Only the images of user turns are fetched; one uniform() draw each.
    const nlohmann::json& cv = g["conversation"];
    data::chat_record rec;
    rec.id = cv["record"]["id"].get<std::string>();
    for (const auto& p : cv["record"]["image"])
        rec.images.push_back(gold_path("chat_random_resize/" + p.get<std::string>()));
    rec.conversations = cv["record"]["conversations"];
    data::build_options bo;
    bo.resize.prob_random_resize = cv["prob_random_resize"].get<double>();
    data::python_random rng(cv["seed"].get<std::uint64_t>());
    const data::conversation c = data::build_chat(rec, bo, rng);
    REQUIRE(c.images.size() == cv["fetched"].size());
    for (std::size_t i = 0; i < c.images.size(); ++i) {
        INFO("image " << i);
        CHECK(c.images[i].prefetched == cv["fetched"][i].get<bool>());
    }
    CHECK(rng.random() == cv["next_random"].get<double>());
    // Without the random resize nothing is fetched.
    bo.resize.prob_random_resize = 0.0;
    data::python_random rng0(cv["seed"].get<std::uint64_t>());
    for (const auto& ref : data::build_chat(rec, bo, rng0).images)
        CHECK_FALSE(ref.prefetched);
}
