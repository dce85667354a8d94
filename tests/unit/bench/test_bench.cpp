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
