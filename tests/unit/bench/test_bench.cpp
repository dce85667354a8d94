// Unit tests: benchmark runs (`bench::run`, `bench::merge`) on synthetic DOTA-layout scenes,
// grounding and VQA records, with oracle backends whose answers are known: exact ground truth
// encoded by the preset's codec (mAP_nc 1), a known miss, known accuracies, failures, resume,
// shards and merge.
#include <doctest/doctest.h>

#include <rscovlm/bench/run.hpp>
#include <rscovlm/data/synthetic.hpp>
#include <rscovlm/zoom/protocol.hpp>
#include <rscovlm/zoom/scripted_backend.hpp>

#include <nlohmann/json.hpp>

#include "support/fixtures.hpp"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

namespace fs = std::filesystem;
const std::string bench_presets_dir = std::string(RSCOVLM_TEST_DATA_DIR) + "/../../registry/presets/";

struct temp_dir {
    fs::path path;
    explicit temp_dir(const std::string& tag) {
        static std::atomic<int> n{0};
        path = fs::temp_directory_path() /
               ("rscovlm_bench_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string str(const std::string& sub = "") const { return sub.empty() ? path.string() : (path / sub).string(); }
};

/// A DOTA-layout folder of synthetic scenes with distinct sizes (multiples of 28, so the detection
/// budget keeps them as they are): every object difficulty 0.
struct dota_set {
    std::vector<rscovlm::data::scene> scenes;
    std::vector<std::string> classes;
};

dota_set make_dota_set(const std::string& root) {
    using namespace rscovlm;
    fs::create_directories(fs::path(root) / "images");
    fs::create_directories(fs::path(root) / "labelTxt");
    dota_set s;
    const int sizes[][2] = {{560, 448}, {616, 476}, {672, 504}, {700, 532}};
    std::set<std::string> seen;
    for (int i = 0; i < 4; ++i) {
        data::scene_options o;
        o.width = sizes[i][0];
        o.height = sizes[i][1];
        o.seed = 40 + static_cast<std::uint64_t>(i);
        o.num_objects = 4;
        o.classes = {"plane", "storage-tank"};
        o.roads = false;
        o.river = false;
        o.threads = 1;
        data::scene sc = data::make_scene(o);
        sc.name = "P000" + std::to_string(i);
        for (auto& ob : sc.objects) {
            ob.difficulty = 0;
            seen.insert(ob.label);
        }
        rscovlm_test::save_png((fs::path(root) / "images" / (sc.name + ".png")).string(), sc.image);
        std::ofstream((fs::path(root) / "labelTxt" / (sc.name + ".txt")).string()) << data::format_dota(sc.objects);
        s.scenes.push_back(std::move(sc));
    }
    s.classes.assign(seen.begin(), seen.end());
    return s;
}

/// The bench-dota-val preset scored on `classes`, one patch per image (no padding: the image sizes
/// tell the oracle which image it sees).
rscovlm::pipeline::pipeline dota_preset(const std::vector<std::string>& classes) {
    nlohmann::json j = nlohmann::json::parse(std::ifstream(bench_presets_dir + "bench-dota-val.json"));
    for (auto& c : j["components"])
        if (c["kind"] == "benchmark") {
            c["params"]["classes"] = classes;
            c["params"]["padding"] = false;
        }
    return rscovlm::pipeline::pipeline::from_json(j);
}

/// An oracle detector: the ground truth of the image of the received size, encoded by `codec` in
/// the model's frame, without the objects listed in `miss` (scene index, object index).
struct dota_oracle {
    const dota_set* set;
    const rscovlm::box_codec::codec* codec;
    std::set<std::pair<int, int>> miss;
    std::set<int> fail; ///< scene indices whose call throws
    std::atomic<int>* calls;

    std::unique_ptr<rscovlm::zoom::backend> make() const {
        dota_oracle o = *this;
        return std::make_unique<rscovlm::zoom::callback_backend>([o](const nlohmann::json&,
                                                                     const std::vector<rscovlm::image>& images,
                                                                     const rscovlm::zoom::generation_options&) {
            using namespace rscovlm;
            ++*o.calls;
            const image& view = images.at(0);
            for (std::size_t s = 0; s < o.set->scenes.size(); ++s) {
                const auto& sc = o.set->scenes[s];
                if (sc.image.width != view.width || sc.image.height != view.height) continue;
                if (o.fail.count(static_cast<int>(s)))
                    RSCOVLM_THROW(zoom_error, "backend_failed", "the oracle fails on " + sc.name);
                std::vector<box_codec::annotation> anns;
                for (std::size_t k = 0; k < sc.objects.size(); ++k) {
                    if (o.miss.count({static_cast<int>(s), static_cast<int>(k)})) continue;
                    box_codec::annotation a;
                    for (const auto& p : sc.objects[k].poly) {
                        a.polygon.push_back(p.x);
                        a.polygon.push_back(p.y);
                    }
                    a.label = sc.objects[k].label;
                    anns.push_back(a);
                }
                box_codec::encode_options eo;
                eo.classes = o.set->classes;
                eo.frame = geometry::frame{sc.image.width, sc.image.height, view.width, view.height};
                return o.codec->encode(anns, eo);
            }
            return std::string("no such image");
        });
    }
};

rscovlm::bench::run_options options_for(const std::string& data, const std::string& out) {
    rscovlm::bench::run_options o;
    o.data = data;
    o.out_dir = out;
    o.load_image = [](const std::string& p) { return rscovlm_test::load_image(p); };
    o.read_xml = [](const std::string& p) { return rscovlm_test::read_xml_tree(p); };
    o.text = &rscovlm_test::draw_text;
    return o;
}

double map_of(const nlohmann::json& results, const std::string& metric) {
    return results.at("results").at("metrics").at(metric).at("mAP").get<double>();
}

std::size_t lines_of(const std::string& path) {
    std::ifstream f(path);
    std::string l;
    std::size_t n = 0;
    while (std::getline(f, l))
        n += !l.empty();
    return n;
}

} // namespace

TEST_CASE("pipeline: bench.detection.dota scores exact answers 1 and a known miss by hand, on both protocols") {
    using namespace rscovlm;
    temp_dir tmp("det");
    const dota_set set = make_dota_set(tmp.str("data"));
    REQUIRE(set.classes.size() == 2);
    const auto p = dota_preset(set.classes);
    std::atomic<int> calls{0};
    dota_oracle oracle{&set, &p.get<box_codec::kind>(), {}, {}, &calls};

    auto o = options_for(tmp.str("data"), tmp.str("exact"));
    o.make_backend = [&] { return oracle.make(); };
    o.save_png = [](const std::string& path, const image& img) { rscovlm_test::save_png(path, img); };
    o.sweep = true;
    const bench::run_summary s = bench::run(p, o);
    CAPTURE(s.results.dump());
    CHECK(calls == 4); // one patch per image
    CHECK(s.generated == 4);
    CHECK(s.failed == 0);
    CHECK(map_of(s.results, "metric.dota.devkit") == doctest::Approx(1.0));
    CHECK(map_of(s.results, "metric.dota.mmrotate") == doctest::Approx(1.0));
    CHECK(s.results.at("results").at("metrics").at("sweep").at("best_mAP").get<double>() == doctest::Approx(1.0));
    for (const auto& c : set.classes)
        CHECK(fs::exists(fs::path(tmp.str("exact")) / "task1" / ("Task1_" + c + ".txt")));
    for (const char* f : {"results.json", "results.md", "results.csv", "answers.jsonl", "pictures/samples.png"})
        CHECK_MESSAGE(fs::exists(fs::path(tmp.str("exact")) / f), f);
    CHECK(lines_of(tmp.str("exact") + "/answers.jsonl") == 4);
    const nlohmann::json cfg = s.results.at("config");
    CHECK(cfg.at("preset") == "bench-dota-val");
    CHECK(cfg.at("rscovlm_version") == version_string);

    // A known miss: object 0 of scene 0 is never answered. Every detection is right and scores 1.0,
    // so the class's precision stays 1 and its recall stops at (n - 1) / n: the 11-point AP counts
    // the thresholds 0, 0.1, ... up to that recall.
    const std::string missed = set.scenes[0].objects[0].label;
    std::map<std::string, int> gts;
    for (const auto& sc : set.scenes)
        for (const auto& ob : sc.objects)
            ++gts[ob.label];
    const double r = static_cast<double>(gts[missed] - 1) / gts[missed];
    int points = 0;
    for (int t = 0; t <= 10; ++t)
        points += t / 10.0 <= r;
    const double expected = (1.0 + points / 11.0) / 2.0;
    calls = 0;
    oracle.miss = {{0, 0}};
    auto o2 = options_for(tmp.str("data"), tmp.str("miss"));
    o2.make_backend = [&] { return oracle.make(); };
    const bench::run_summary m = bench::run(p, o2);
    CAPTURE(m.results.dump());
    CHECK(expected < 1.0);
    CHECK(map_of(m.results, "metric.dota.devkit") == doctest::Approx(expected));
    CHECK(map_of(m.results, "metric.dota.mmrotate") == doctest::Approx(expected));
}

TEST_CASE("pipeline: bench runs resume, shard, merge, and count failures without scoring them") {
    using namespace rscovlm;
    temp_dir tmp("runs");
    const dota_set set = make_dota_set(tmp.str("data"));
    const auto p = dota_preset(set.classes);
    std::atomic<int> calls{0};
    dota_oracle oracle{&set, &p.get<box_codec::kind>(), {}, {}, &calls};

    // Resume: --limit 2, then a full rerun answers only the two others.
    auto o = options_for(tmp.str("data"), tmp.str("resume"));
    o.make_backend = [&] { return oracle.make(); };
    o.limit = 2;
    CHECK(bench::run(p, o).generated == 2);
    CHECK(calls == 2);
    o.limit = 0;
    const bench::run_summary full = bench::run(p, o);
    CHECK(calls == 4);
    CHECK(full.resumed == 2);
    CHECK(full.generated == 2);
    CHECK(lines_of(tmp.str("resume") + "/answers.jsonl") == 4);
    CHECK(map_of(full.results, "metric.dota.devkit") == doctest::Approx(1.0));

    // Shards 0/2 and 1/2 (two workers each), merged, score as the single run did.
    std::vector<std::string> dirs;
    for (std::size_t i = 0; i < 2; ++i) {
        auto so = options_for(tmp.str("data"), tmp.str("shard" + std::to_string(i)));
        so.make_backend = [&] { return oracle.make(); };
        so.part = bench::shard{i, 2};
        so.in_flight = 2;
        const bench::run_summary r = bench::run(p, so);
        CHECK(r.selected == 2);
        dirs.push_back(so.out_dir);
    }
    const bench::run_summary merged = bench::merge(dirs, options_for("", tmp.str("merged")));
    CHECK(merged.selected == 4);
    CHECK(merged.results.at("results").at("table") == full.results.at("results").at("table"));
    CHECK(map_of(merged.results, "metric.dota.mmrotate") == map_of(full.results, "metric.dota.mmrotate"));

    // A backend failure is stored as failed, counted, and retried by a rerun.
    oracle.fail = {1};
    auto fo = options_for(tmp.str("data"), tmp.str("fail"));
    fo.make_backend = [&] { return oracle.make(); };
    const bench::run_summary f = bench::run(p, fo);
    CHECK(f.failed == 1);
    CHECK(f.results.at("results").at("failed") == 1);
    CHECK(f.results.at("results").at("answered") == 3);
    oracle.fail.clear();
    calls = 0;
    const bench::run_summary again = bench::run(p, fo);
    CHECK(calls == 1);
    CHECK(again.failed == 0);
    CHECK(map_of(again.results, "metric.dota.devkit") == doctest::Approx(1.0));

    // A run folder belongs to one preset.
    auto other = options_for(tmp.str("data"), tmp.str("fail"));
    other.make_backend = [&] { return oracle.make(); };
    const auto p2 = dota_preset({set.classes.front()});
    auto r = try_call([&] { return bench::run(p2, other).selected; });
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().id == "rscovlm.usage.other_run");
}

TEST_CASE("pipeline: bench.grounding and bench.vqa give known accuracies, per category") {
    using namespace rscovlm;
    temp_dir tmp("gv");
    image img(140, 84, 3);
    rscovlm_test::save_png(tmp.str("a.png"), img);
    {
        std::ofstream g(tmp.str("ground.jsonl"));
        g << R"({"image": "a.png", "query": "red roof", "gt": [10, 10, 70, 50], "category": "roof"})"
          << "\n"
          << R"({"image": "a.png", "query": "blue car", "gt": [80, 20, 120, 60], "category": "car"})"
          << "\n"
          << R"({"image": "a.png", "query": "white car", "gt": [20, 40, 60, 80], "category": "car"})"
          << "\n"
          << R"({"image": "missing.png", "query": "grey car", "gt": [0, 0, 10, 10], "category": "car"})"
          << "\n";
    }
    // Answers in the model's frame (the 448*448 budget sizes 140x84 to 588x364): right for the roof
    // and the blue car, wrong for the white car.
    const std::map<std::string, std::string> replies = {{"find the red roof", "42,43,294,216 red roof"},
                                                        {"find the blue car", "336,86,504,260 blue car"},
                                                        {"find the white car", "300,300,400,400 white car"}};
    auto ground_backend = [&] {
        return std::make_unique<zoom::callback_backend>(
            [&](const nlohmann::json& messages, const std::vector<image>&, const zoom::generation_options&) {
                const std::string prompt = messages.back().at("content").at(1).at("text").get<std::string>();
                return replies.at(prompt);
            });
    };
    const auto gp = pipeline::pipeline::from_file(bench_presets_dir + "bench-refgeo.json");
    auto o = options_for(tmp.str("ground.jsonl"), tmp.str("g"));
    o.make_backend = ground_backend;
    const bench::run_summary g = bench::run(gp, o);
    CAPTURE(g.results.dump());
    CHECK(g.failed == 1); // the unreadable image
    const nlohmann::json& gm = g.results.at("results").at("metrics").at("metric.grounding.acc50");
    CHECK(gm.at("overall").at("acc").get<double>() == doctest::Approx(2.0 / 3.0));
    CHECK(gm.at("categories").at("car").at("acc").get<double>() == doctest::Approx(0.5));
    CHECK(gm.at("categories").at("roof").at("acc").get<double>() == doctest::Approx(1.0));

    {
        std::ofstream v(tmp.str("vqa.jsonl"));
        v << R"({"id": "q1", "image": "a.png", "question": "Is there a plane?", "answer": "yes", "category": "presence"})"
          << "\n"
          << R"({"id": "q2", "image": "a.png", "question": "Is there a ship?", "answer": "no", "category": "presence"})"
          << "\n"
          << R"({"id": "q3", "image": "a.png", "question": "How many cars?", "answer": "3", "category": "count"})"
          << "\n"
          << R"({"id": "q4", "image": "a.png", "question": "How many ships?", "answer": "2", "category": "count"})"
          << "\n";
    }
    const std::map<std::string, std::string> answers = {{"Is there a plane?", "Yes."},
                                                        {"Is there a ship?", "No"},
                                                        {"How many cars?", "There are 3 cars."},
                                                        {"How many ships?", "5"}};
    std::atomic<int> calls{0};
    auto vqa_backend = [&] {
        return std::make_unique<zoom::callback_backend>(
            [&](const nlohmann::json& messages, const std::vector<image>&, const zoom::generation_options&) {
                ++calls;
                const nlohmann::json& content = messages.back().at("content");
                for (const auto& c : content)
                    if (c.at("type") == "text") return answers.at(c.at("text").get<std::string>());
                return std::string();
            });
    };
    const auto vp = pipeline::pipeline::from_file(bench_presets_dir + "bench-vqa.json");
    auto vo = options_for(tmp.str("vqa.jsonl"), tmp.str("v"));
    vo.make_backend = vqa_backend;
    vo.save_png = [](const std::string& path, const image& im) { rscovlm_test::save_png(path, im); };
    vo.in_flight = 3;
    const bench::run_summary v = bench::run(vp, vo);
    CAPTURE(v.results.dump());
    CHECK(calls == 4);
    const nlohmann::json& vm = v.results.at("results").at("metrics").at("metric.vqa.contain");
    CHECK(vm.at("overall").at("acc").get<double>() == doctest::Approx(0.75));
    CHECK(vm.at("categories").at("presence").at("acc").get<double>() == doctest::Approx(1.0));
    CHECK(vm.at("categories").at("count").at("acc").get<double>() == doctest::Approx(0.5));
    CHECK(fs::exists(fs::path(tmp.str("v")) / "pictures" / "accuracy.png"));
    const auto table = v.results.at("results").at("table").get<bench::table>();
    CHECK(table.rows.back().front() == "overall");

    // Typed errors for bad data.
    {
        std::ofstream bad(tmp.str("bad.jsonl"));
        bad << R"({"image": "a.png", "question": "no answer field"})"
            << "\n";
    }
    auto bo = options_for(tmp.str("bad.jsonl"), tmp.str("b"));
    bo.make_backend = vqa_backend;
    auto r = try_call([&] { return bench::run(vp, bo).selected; });
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().id == "rscovlm.data.bad_record");
    CHECK((bench::select_records(10, bench::parse_shard("1/3"), 2) == std::vector<std::size_t>{1, 4}));
    auto s = try_call([] { return bench::parse_shard("3/3").count; });
    CHECK(s.error().id == "rscovlm.usage.bad_shard");
}

TEST_CASE("pipeline: bench.caption scores the answered set with every caption metric of the preset") {
    using namespace rscovlm;
    temp_dir tmp("cap");
    image img(112, 84, 3);
    rscovlm_test::save_png(tmp.str("a.png"), img);
    {
        std::ofstream c(tmp.str("cap.jsonl"));
        c << R"({"id": "c1", "image": "a.png", "ground_truth": ["many planes are parked next to a long building", "some planes near a terminal"]})"
          << "\n"
          << R"({"id": "c2", "image": "a.png", "references": ["a river goes through the green farmland", "green fields beside a river"], "question": "Write a caption."})"
          << "\n"
          << R"({"id": "c3", "image": "a.png", "ground_truth": ["two tennis courts are surrounded by trees", "tennis courts among trees"]})"
          << "\n"
          << R"({"id": "c4", "image": "missing.png", "ground_truth": ["a harbor with many boats"]})"
          << "\n";
    }
    // Every answered record gets its first reference back word for word.
    const std::map<std::string, std::string> replies = {{"c1", "many planes are parked next to a long building"},
                                                        {"c2", "a river goes through the green farmland"},
                                                        {"c3", "two tennis courts are surrounded by trees"}};
    // One record in flight, answered in record order (c1 and c3 ask the same default question).
    std::vector<std::string> questions;
    std::size_t k = 0;
    const std::vector<std::string> in_order = {replies.at("c1"), replies.at("c2"), replies.at("c3")};
    auto ordered = [&] {
        return std::make_unique<zoom::callback_backend>(
            [&](const nlohmann::json& messages, const std::vector<image>&, const zoom::generation_options&) {
                std::string q;
                for (const auto& part : messages.back().at("content"))
                    if (part.at("type") == "text") q = part.at("text").get<std::string>();
                questions.push_back(q);
                return in_order.at(k++);
            });
    };
    const auto p = pipeline::pipeline::from_file(bench_presets_dir + "bench-caption.json");
    auto o = options_for(tmp.str("cap.jsonl"), tmp.str("c"));
    o.make_backend = ordered;
    o.in_flight = 1;
    const bench::run_summary r = bench::run(p, o);
    CAPTURE(r.results.dump());
    CHECK(r.failed == 1);
    CHECK(questions == std::vector<std::string>{"Describe the image", "Write a caption.", "Describe the image"});
    const nlohmann::json& m = r.results.at("results").at("metrics");
    const nlohmann::json& coco = m.at("metric.caption.coco").at("overall");
    for (const char* b : {"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"})
        CHECK(coco.at(b).get<double>() == doctest::Approx(1.0).epsilon(1e-6));
    CHECK(coco.at("ROUGE_L").get<double>() == doctest::Approx(1.0));
    // The same records scored by the metrics directly (the failed record left out).
    nlohmann::json records = nlohmann::json::array();
    records.push_back({{"id", "c1"},
                       {"pred", in_order[0]},
                       {"refs", {"many planes are parked next to a long building", "some planes near a terminal"}}});
    records.push_back({{"id", "c2"},
                       {"pred", in_order[1]},
                       {"refs", {"a river goes through the green farmland", "green fields beside a river"}}});
    records.push_back({{"id", "c3"},
                       {"pred", in_order[2]},
                       {"refs", {"two tennis courts are surrounded by trees", "tennis courts among trees"}}});
    for (const char* key : {"metric.caption.rscovlm_cider", "metric.caption.coco"}) {
        auto metric = registry::make<eval::kind>(key, nlohmann::json::object());
        const nlohmann::json direct = metric->evaluate({{"records", records}});
        CHECK(m.at(key).at("overall") == direct);
    }
    CHECK(m.at("metric.caption.rscovlm_cider").at("overall").at("CIDEr").get<double>() > 0.0);
    const auto table = r.results.at("results").at("table").get<bench::table>();
    REQUIRE(table.rows.size() == 1);
    CHECK(table.rows[0][1] == 4);
    CHECK(table.rows[0][2] == 1);
    CHECK(std::find(table.columns.begin(), table.columns.end(), "metric.caption.coco Bleu_4") != table.columns.end());
    // A record without references is a typed error naming it.
    {
        std::ofstream bad(tmp.str("bad.jsonl"));
        bad << R"({"id": "x", "image": "a.png", "ground_truth": []})"
            << "\n";
    }
    auto bo = options_for(tmp.str("bad.jsonl"), tmp.str("b"));
    bo.make_backend = ordered;
    auto e = try_call([&] { return bench::run(p, bo).selected; });
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().id == "rscovlm.data.bad_record");
    CHECK(e.error().message.find("'x'") != std::string::npos);
}

TEST_CASE("pipeline: bench.mme_realworld_rs writes the reference's prompt, zooms only where it does, and scores "
          "contain-accuracy per category") {
    using namespace rscovlm;
    temp_dir tmp("mme");
    fs::create_directories(tmp.path / "remote_sensing");
    rscovlm_test::save_png(tmp.str("remote_sensing/a.png"), image(112, 84, 3));
    {
        std::ofstream f(tmp.str("MME_RealWorld_remote_sensing.json"));
        f << R"([
 {"Question_id": "rs/color/1", "Image": "remote_sensing/a.png", "Text": "What color is the roof?",
  "Answer choices": ["(A) red", "(B) blue"], "Ground truth": "A", "Category": "color"},
 {"Question_id": "rs/count/1", "Image": "remote_sensing/a.png", "Text": "How many cars?",
  "Answer choices": ["(A) 1", "(B) 2"], "Ground truth": "B", "Category": "count"},
 {"Question_id": "rs/position/1", "Image": "remote_sensing/a.png", "Text": "Where is the ship?",
  "Answer choices": ["(A) left", "(B) right"], "Ground truth": "B", "Category": "position"},
 {"Question_id": "rs/color/2", "Image": "remote_sensing/missing.png", "Text": "What color is the car?",
  "Answer choices": ["(A) red", "(B) blue"], "Ground truth": "B", "Category": "color"}
])";
    }
    const std::string color_prompt =
        "What color is the roof? The choices are listed below: \n(A) red\n(B) blue\nSelect "
        "the best answer to the above multiple-choice question based on the image. "
        "Respond with only the letter (A, B, C, D, or E) of the correct option.\nThe "
        "best answer is:";
    std::mutex mu;
    std::map<std::string, bool> zoomed; // question text -> sent with the Zoom-in system prompt
    auto backend = [&] {
        return std::make_unique<zoom::callback_backend>(
            [&](const nlohmann::json& messages, const std::vector<image>&, const zoom::generation_options&) {
                std::string text;
                for (const auto& c : messages.back().at("content"))
                    if (c.at("type") == "text") text = c.at("text").get<std::string>();
                const bool sys = messages.front().at("role") == "system";
                std::lock_guard<std::mutex> lock(mu);
                zoomed[text.substr(0, 8)] = sys;
                if (text.rfind("What color is the roof?", 0) == 0) {
                    CHECK(text == (sys ? color_prompt + std::string(zoom::user_suffix) : color_prompt));
                    return std::string("A");
                }
                if (text.rfind("How many cars?", 0) == 0) return std::string("(A) 1"); // wrong
                return std::string("B");
            });
    };
    for (const bool with_zoom : {false, true}) {
        CAPTURE(with_zoom);
        const auto p = pipeline::pipeline::from_file(bench_presets_dir +
                                                     (with_zoom ? "bench-mme-rs-zoom.json" : "bench-mme-rs.json"));
        auto o = options_for(tmp.str(), tmp.str(with_zoom ? "z" : "p"));
        o.make_backend = backend;
        zoomed.clear();
        const bench::run_summary r = bench::run(p, o);
        CAPTURE(r.results.dump());
        CHECK(r.failed == 1);
        const nlohmann::json& ref = r.results.at("results").at("metrics").at("reference");
        CHECK(ref.at("acc").get<double>() == doctest::Approx(2.0 / 3.0));
        CHECK(ref.at("color_acc").get<double>() == doctest::Approx(1.0));
        CHECK(ref.at("count_acc").get<double>() == doctest::Approx(0.0));
        CHECK(ref.at("position_acc").get<double>() == doctest::Approx(1.0));
        CHECK(zoomed.at("What col") == with_zoom);
        CHECK_FALSE(zoomed.at("How many"));
        CHECK_FALSE(zoomed.at("Where is"));
    }
}

#ifdef RSCOVLM_TEST_WORDNET_DIR
TEST_CASE("pipeline: bench.lrsvqa scores with WordNet synonyms per source and task, zooming except for count") {
    using namespace rscovlm;
    temp_dir tmp("lrs");
    fs::create_directories(tmp.path / "annotations" / "benchmark");
    fs::create_directories(tmp.path / "images" / "benchmark");
    rscovlm_test::save_png(tmp.str("images/benchmark/s.png"), image(140, 112, 3));
    {
        std::ofstream f(tmp.str("annotations/benchmark/LRS_VQA_merged.jsonl"));
        f << R"({"question_id": "FAIR_1", "image": "s.png", "text": "What color is the roof?", "category": "object color", "ground_truth": "red"})"
          << "\n"
          << R"({"question_id": "FAIR_2", "image": "s.png", "text": "How many ships?", "category": "count", "ground_truth": "3"})"
          << "\n"
          << R"({"question_id": "STAR_1", "image": "s.png", "text": "What is the object?", "category": "object category", "ground_truth": "car"})"
          << "\n"
          << R"({"question_id": "GLH_1", "image": "s.png", "text": "Rural or urban?", "category": "rural or urban", "ground_truth": "rural"})"
          << "\n"
          << R"({"question_id": "GLH_2", "image": "gone.png", "text": "Is it dense?", "category": "object status", "ground_truth": "yes"})"
          << "\n";
    }
    const std::map<std::string, std::string> answers = {{"What color is the roof?", "Reddish."},
                                                        {"How many ships?", "three"},
                                                        {"What is the object?", "ship"},
                                                        {"Rural or urban?", "Rural"}};
    std::mutex mu;
    std::map<std::string, bool> zoomed;
    auto backend = [&] {
        return std::make_unique<zoom::callback_backend>(
            [&](const nlohmann::json& messages, const std::vector<image>&, const zoom::generation_options&) {
                std::string text;
                for (const auto& c : messages.back().at("content"))
                    if (c.at("type") == "text") text = c.at("text").get<std::string>();
                const bool sys = messages.front().at("role") == "system";
                const std::string q = sys ? text.substr(0, text.size() - zoom::user_suffix.size()) : text;
                std::lock_guard<std::mutex> lock(mu);
                zoomed[q] = sys;
                return answers.at(q);
            });
    };
    for (const bool with_zoom : {false, true}) {
        CAPTURE(with_zoom);
        const auto p = pipeline::pipeline::from_file(bench_presets_dir +
                                                     (with_zoom ? "bench-lrsvqa-zoom.json" : "bench-lrsvqa.json"));
        auto o = options_for(tmp.str(), tmp.str(with_zoom ? "z" : "p"));
        o.make_backend = backend;
        o.save_png = [](const std::string& path, const image& im) { rscovlm_test::save_png(path, im); };
        zoomed.clear();
        const bench::run_summary r = bench::run(p, o);
        CAPTURE(r.results.dump());
        CHECK(r.failed == 1);
        const nlohmann::json& s = r.results.at("results").at("metrics").at("metric.vqa.wups");
        // red ~ reddish and 3 ~ three are WordNet synonyms; car / ship are not.
        CHECK(s.at("overall acc").get<double>() == doctest::Approx(0.75));
        CHECK(s.at("Overall Acc (Source FAIR)").get<double>() == doctest::Approx(1.0));
        CHECK(s.at("Overall Acc (Source STAR)").get<double>() == doctest::Approx(0.0));
        CHECK(s.at("Overall Acc (Source GLH)").get<double>() == doctest::Approx(1.0));
        CHECK(s.at("Overall Acc (Task object status)").is_null()); // its only record failed
        CHECK(s.at("Average Acc").get<double>() == doctest::Approx(0.75));
        CHECK(s.at("Average Acc (Source GLH)").get<double>() == doctest::Approx(1.0));
        CHECK(zoomed.at("What color is the roof?") == with_zoom);
        CHECK_FALSE(zoomed.at("How many ships?"));
        CHECK(fs::exists(fs::path(o.out_dir) / "pictures" / "accuracy.png"));
        const auto t = r.results.at("results").at("table").get<bench::table>();
        CHECK(t.rows.front().front() == "overall acc");
    }
}
#endif

namespace xml_bench_test {

/// One ground-truth object of the XML benchmarks' scenes.
struct object {
    std::string label;  ///< as the XML writes it
    std::string scored; ///< the class it is scored as ("" = skipped by the reader)
    rscovlm::geometry::quad q;
    double rbox[5];
};

struct scene {
    std::string id;
    int width, height;
    std::vector<object> objects;
};

rscovlm::geometry::quad rect(double cx, double cy, double w, double h) {
    return rscovlm::bench::detail::rbox2qbox_f32(static_cast<float>(cx), static_cast<float>(cy), static_cast<float>(w),
                                                 static_cast<float>(h), 0.0f);
}

/// Two scenes of distinct sizes (the oracle tells them apart by the size it receives), class A with
/// three objects and class B with two in the first, one of each in the second.
std::vector<scene> scenes(const std::string& a, const std::string& b) {
    std::vector<scene> s = {{"img_a", 560, 448, {}}, {"img_b", 616, 476, {}}};
    const double boxes[][4] = {{100, 100, 80, 40}, {300, 120, 60, 60},  {200, 300, 90, 50}, {450, 350, 70, 30},
                               {420, 100, 50, 80}, {150, 200, 100, 60}, {400, 300, 60, 40}};
    const int owner[] = {0, 0, 0, 0, 0, 1, 1};
    const int cls[] = {0, 0, 0, 1, 1, 0, 1};
    for (int k = 0; k < 7; ++k) {
        object o;
        o.label = cls[k] == 0 ? a : b;
        o.scored = o.label;
        o.q = rect(boxes[k][0], boxes[k][1], boxes[k][2], boxes[k][3]);
        o.rbox[0] = boxes[k][0];
        o.rbox[1] = boxes[k][1];
        o.rbox[2] = boxes[k][2];
        o.rbox[3] = boxes[k][3];
        o.rbox[4] = 0;
        s[static_cast<std::size_t>(owner[k])].objects.push_back(o);
    }
    return s;
}

/// Answers each patch with the scored objects of the scene of its size except the first object of
/// the first scene, in the codec's frame.
std::unique_ptr<rscovlm::zoom::backend> oracle(const std::vector<scene>& ss, const rscovlm::box_codec::codec& codec,
                                               const std::vector<std::string>& classes) {
    return std::make_unique<rscovlm::zoom::callback_backend>(
        [ss, &codec, classes](const nlohmann::json&, const std::vector<rscovlm::image>& images,
                              const rscovlm::zoom::generation_options&) {
            using namespace rscovlm;
            const image& view = images.at(0);
            for (std::size_t i = 0; i < ss.size(); ++i) {
                if (ss[i].width != view.width || ss[i].height != view.height) continue;
                std::vector<box_codec::annotation> anns;
                for (std::size_t k = i == 0 ? 1 : 0; k < ss[i].objects.size(); ++k) {
                    if (ss[i].objects[k].scored.empty()) continue;
                    box_codec::annotation an;
                    for (const auto& p : ss[i].objects[k].q) {
                        an.polygon.push_back(p.x);
                        an.polygon.push_back(p.y);
                    }
                    an.label = ss[i].objects[k].scored;
                    anns.push_back(an);
                }
                box_codec::encode_options eo;
                eo.classes = classes;
                eo.frame = geometry::frame{ss[i].width, ss[i].height, view.width, view.height};
                return codec.encode(anns, eo);
            }
            return std::string("no such image");
        });
}

std::string num(double v) {
    std::ostringstream o;
    o << v;
    return o.str();
}

} // namespace xml_bench_test

TEST_CASE("pipeline: DIOR-R, HRSC2016 and FAIR1M benchmarks read their XML ground truth and score known mAPs; "
          "FAIR1M writes the official submission") {
    using namespace rscovlm;
    using namespace xml_bench_test;
    temp_dir tmp("xml");
    struct format_case {
        std::string preset, a, b; // classes of the scenes
        double map;               // expected mAP (voc07, both protocols)
    };
    // A: 4 objects, one missed -> recall 3/4 -> 8 of the 11 VOC07 points; B: all found -> 1. DIOR
    // adds a fifth A (named "AirPlane", found) -> 4/5 -> 9/11. HRSC: one class of 7, one missed -> 9/11.
    const std::vector<format_case> cases = {{"bench-dior-r.json", "airplane", "storagetank", (9.0 / 11 + 1) / 2},
                                            {"bench-hrsc2016.json", "ship", "ship", 9.0 / 11},
                                            {"bench-fair1m.json", "Small Car", "Tennis Court", (8.0 / 11 + 1) / 2}};
    for (const auto& fc : cases) {
        CAPTURE(fc.preset);
        const fs::path root = tmp.path / fc.preset;
        std::vector<scene> ss = scenes(fc.a, fc.b);
        const bool dior = fc.preset == "bench-dior-r.json", hrsc = fc.preset == "bench-hrsc2016.json";
        const fs::path images = root / (dior ? "JPEGImages-test" : hrsc ? "FullDataSet/AllImages" : "images");
        const fs::path labels = root / (dior   ? "Annotations/Oriented Bounding Boxes"
                                        : hrsc ? "FullDataSet/Annotations"
                                               : "labelXml");
        fs::create_directories(images);
        fs::create_directories(labels);
        if (!ss.empty() && !hrsc) {
            // FAIR1M skips classes outside its list; DIOR lower-cases names and ignores <difficult>.
            object extra = ss[0].objects[0];
            extra.label = dior ? "AirPlane" : "other-vehicle";
            extra.scored = dior ? "airplane" : "";
            if (dior) extra.q = rect(500, 60, 40, 30);
            ss[1].objects.push_back(extra);
        }
        for (const auto& s : ss) {
            rscovlm_test::save_png((images / (s.id + (dior ? ".jpg.png" : ".png"))).string(),
                                   image(s.width, s.height, 3));
            if (dior) fs::rename(images / (s.id + ".jpg.png"), images / (s.id + ".jpg"));
            std::ofstream x(labels / (s.id + ".xml"));
            if (hrsc) {
                x << "<HRSC_Image><Img_SizeWidth>" << s.width << "</Img_SizeWidth><Img_SizeHeight>" << s.height
                  << "</Img_SizeHeight><HRSC_Objects>\n";
                for (const auto& o : s.objects)
                    x << "<HRSC_Object><difficult>1</difficult><mbox_cx>" << num(o.rbox[0]) << "</mbox_cx><mbox_cy>"
                      << num(o.rbox[1]) << "</mbox_cy><mbox_w>" << num(o.rbox[2]) << "</mbox_w><mbox_h>"
                      << num(o.rbox[3]) << "</mbox_h><mbox_ang>0</mbox_ang></HRSC_Object>\n";
                x << "</HRSC_Objects></HRSC_Image>\n";
            } else if (dior) {
                x << "<annotation><size><width>" << s.width << "</width><height>" << s.height << "</height></size>\n";
                static const char* keys[] = {"x_left_top",     "y_left_top",     "x_right_top",   "y_right_top",
                                             "x_right_bottom", "y_right_bottom", "x_left_bottom", "y_left_bottom"};
                for (const auto& o : s.objects) {
                    x << "<object><name>" << o.label << "</name><difficult>1</difficult><robndbox>";
                    for (int k = 0; k < 8; ++k)
                        x << "<" << keys[k] << "> "
                          << num(k % 2 ? o.q[static_cast<std::size_t>(k / 2)].y
                                       : o.q[static_cast<std::size_t>(k / 2)].x)
                          << " </" << keys[k] << ">";
                    x << "</robndbox></object>\n";
                }
                x << "</annotation>\n";
            } else {
                x << "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<annotation><size><width>" << s.width
                  << "</width><height>" << s.height << "</height></size><objects>\n";
                for (const auto& o : s.objects) {
                    x << "<object><coordinate>pixel</coordinate><possibleresult><name>" << o.label
                      << "</name></possibleresult><points>";
                    for (int k = 0; k < 5; ++k)
                        x << "<point>" << num(o.q[static_cast<std::size_t>(k % 4)].x) << ","
                          << num(o.q[static_cast<std::size_t>(k % 4)].y) << "</point>";
                    x << "</points></object>\n";
                }
                x << "</objects></annotation>\n";
            }
        }
        if (dior) {
            fs::create_directories(root / "ImageSets" / "Main");
            std::ofstream(root / "ImageSets" / "Main" / "test.txt") << "img_b\nimg_a\n";
        }
        nlohmann::json j = nlohmann::json::parse(std::ifstream(bench_presets_dir + fc.preset));
        std::vector<std::string> classes = {fc.a};
        if (fc.b != fc.a) classes.push_back(fc.b);
        for (auto& c : j["components"])
            if (c["kind"] == "benchmark") {
                c["params"]["classes"] = classes;
                c["params"]["padding"] = false;
            }
        const auto p = pipeline::pipeline::from_json(j);
        const box_codec::codec& codec = p.get<box_codec::kind>();
        auto o = options_for(root.string(), (root / "out").string());
        o.make_backend = [&] { return oracle(ss, codec, classes); };
        o.save_png = [](const std::string& path, const image& im) { rscovlm_test::save_png(path, im); };
        const bench::run_summary r = bench::run(p, o);
        CAPTURE(r.results.dump().substr(0, 3000));
        CHECK(r.failed == 0);
        CHECK(r.selected == 2);
        CHECK(map_of(r.results, "metric.dota.devkit") == doctest::Approx(fc.map));
        CHECK(map_of(r.results, "metric.dota.mmrotate") == doctest::Approx(fc.map));
        CHECK(fs::exists(root / "out" / "pictures" / "samples.png"));
        // LMMRotate's mF1 over the ten score thresholds (every answer scores 1).
        const auto& mf1 = r.results.at("results").at("metrics").at("mf1");
        REQUIRE(mf1.contains("points"));
        CHECK(mf1.at("points").size() == 10);
        CHECK(mf1.at("mF1").get<double>() > 0.3);
        CHECK(mf1.at("mF1").get<double>() < 1.0);
        if (dior) {
            // Confusion with background: precision (1 + 1 + 0) / 3, recall (4/5 + 3/3 + 0) / 3.
            const double p = 2.0 / 3, rc = 0.6;
            CHECK(mf1.at("mF1").get<double>() == doctest::Approx(2 * p * rc / (p + rc)));
            // The extra "AirPlane" counts as an airplane, its <difficult>1</difficult> ignored.
            const auto cls = r.results.at("results").at("metrics").at("metric.dota.devkit").at("classes");
            CHECK(cls.at(0).at("num_gts") == 5);
        }
        if (!dior && !hrsc) {
            const fs::path sub = root / "out" / "fair1m";
            const std::string xml = eval::read_text_file((sub / "test" / "img_b.xml").string());
            CHECK(xml.rfind("<annotation><objects><object><possibleresult><name>Small Car</name><probability>1.0000"
                            "</probability></possibleresult><points><point>",
                            0) == 0);
            CHECK(xml.find("<point>100.00,230.00</point><point>100.00,170.00</point>") != std::string::npos);
            const std::string zip = eval::read_text_file((sub / "fair1m.zip").string());
            REQUIRE(zip.size() > 30);
            CHECK(zip.substr(0, 4) == std::string("PK\x03\x04", 4));
            CHECK(zip.find("test/img_a.xml") != std::string::npos);
            CHECK(zip.find(xml) != std::string::npos);
            // The test set (no labelXml/): the submission is written, nothing is scored.
            fs::remove_all(labels);
            auto to = options_for(root.string(), (root / "out_test").string());
            to.make_backend = o.make_backend;
            const bench::run_summary t = bench::run(p, to);
            CHECK(t.failed == 0);
            CHECK_FALSE(t.results.at("results").at("metrics").contains("metric.dota.devkit"));
            CHECK(fs::exists(root / "out_test" / "fair1m" / "fair1m.zip"));
        }
    }
    // Broken ground truth is a typed error naming the file and line.
    const fs::path bad = tmp.path / "bad";
    fs::create_directories(bad / "images");
    fs::create_directories(bad / "labelXml");
    rscovlm_test::save_png((bad / "images" / "x.png").string(), image(56, 56, 3));
    std::ofstream(bad / "labelXml" / "x.xml") << "<annotation><objects>\n<object><possibleresult><name>Bus</name>"
                                                 "</possibleresult><points><point>1,2</point></points></object>"
                                                 "</objects></annotation>";
    const auto p = pipeline::pipeline::from_file(bench_presets_dir + "bench-fair1m.json");
    auto o = options_for(bad.string(), (bad / "out").string());
    o.make_backend = [] {
        return std::make_unique<zoom::callback_backend>([](const nlohmann::json&, const std::vector<image>&,
                                                           const zoom::generation_options&) { return std::string(); });
    };
    auto e = try_call([&] { return bench::run(p, o).selected; });
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().id == "rscovlm.data.bad_xml");
    CHECK(std::string(e.error().what()).find("x.xml:2") != std::string::npos);
    // Ids that patch names cannot carry, two images of one name, a named image set that is missing.
    rscovlm_test::save_png((bad / "images" / "y__1.png").string(), image(56, 56, 3));
    auto ids = try_call([&] { return p.get<bench::kind>().load(bad.string()).size(); });
    CHECK(ids.error().id == "rscovlm.data.bad_id");
    fs::remove(bad / "images" / "y__1.png");
    rscovlm_test::save_png((bad / "images" / "x.JPEG").string(), image(56, 56, 3));
    auto dup = try_call([&] { return p.get<bench::kind>().load(bad.string()).size(); });
    CHECK(dup.error().id == "rscovlm.data.duplicate_id");
    fs::remove(bad / "images" / "x.JPEG");
    nlohmann::json j = nlohmann::json::parse(std::ifstream(bench_presets_dir + "bench-fair1m.json"));
    for (auto& c : j["components"])
        if (c["kind"] == "benchmark") c["params"]["imageset"] = "test.txt";
    auto set = try_call([&] { return pipeline::pipeline::from_json(j).get<bench::kind>().load(bad.string()).size(); });
    CHECK(set.error().id == "rscovlm.data.missing_imageset");
}

TEST_CASE("charts: text painted by io::draw_text: values, legend and captions; none without a painter") {
    using namespace rscovlm;
    auto ink = [](const image& img, int y0, int y1) {
        std::size_t n = 0;
        for (int y = y0; y < y1; ++y)
            for (int x = 0; x < img.width; ++x)
                n += img.row(y)[3 * x] != 255 || img.row(y)[3 * x + 1] != 255 || img.row(y)[3 * x + 2] != 255;
        return n;
    };
    const image plain = bench::bar_chart({0.25, 0.75});
    const image labelled = bench::bar_chart({0.25, 0.75}, &rscovlm_test::draw_text, {"count", "object color"});
    CHECK(plain.height == 320);
    REQUIRE(labelled.height > 320); // the legend rows
    CHECK(ink(labelled, 0, 320) > ink(plain, 0, 320));
    CHECK(ink(labelled, 320, labelled.height) > 50);
    image blank(80, 20, 3);
    std::fill(blank.data.begin(), blank.data.end(), std::uint8_t{255});
    image t = blank;
    const int w = rscovlm_test::draw_text(t, 2, 2, "AP 0.50", {0, 0, 0}, 1);
    CHECK(w > 20);
    CHECK(ink(t, 0, 20) > 20);
    image t2 = blank;
    rscovlm_test::draw_text(t2, 2, 2, "AP 0.50", {0, 0, 0}, 2);
    CHECK(ink(t2, 0, 20) > ink(t, 0, 20));
    const image pr = bench::pr_curve_chart({0.5, 1.0}, {1.0, 0.5}, &rscovlm_test::draw_text, "plane  AP 0.75");
    CHECK(ink(pr, 0, 18) > 30); // the title row
}
