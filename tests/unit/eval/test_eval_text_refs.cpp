// eval: caption metrics (pycocoevalcap BLEU / ROUGE-L / CIDEr-D), RSCoVLM compute_cider and the VHM
// metrics (bidirectional contain, counting MAE/MAPE) against the goldens in tests/data/eval.
#include <rscovlm/eval/all.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

using namespace rscovlm;
using nlohmann::json;

namespace {

json read_json(const std::string& rel) {
    std::ifstream f(std::string(RSCOVLM_TEST_DATA_DIR) + "/" + rel);
    REQUIRE(f.good());
    return json::parse(f);
}

std::vector<eval::caption::record> read_records(const std::string& rel) {
    std::ifstream f(std::string(RSCOVLM_TEST_DATA_DIR) + "/" + rel);
    REQUIRE(f.good());
    std::vector<eval::caption::record> out;
    std::string line;
    while (std::getline(f, line)) {
        if (line.empty()) continue;
        const json j = json::parse(line);
        out.push_back(
            {j["id"].get<std::string>(), j["pred"].get<std::string>(), j["refs"].get<std::vector<std::string>>()});
    }
    return out;
}

json records_json(const std::vector<eval::caption::record>& recs) {
    json arr = json::array();
    for (const auto& r : recs)
        arr.push_back({{"id", r.id}, {"pred", r.hypothesis}, {"refs", r.references}});
    return {{"records", arr}};
}

// The goldens are the reference's own doubles; the port reproduces them bit for bit.
void check_same(double got, double want, const std::string& what = "") {
    CAPTURE(what);
    CHECK(std::fabs(got - want) <= 1e-12 * std::max(1.0, std::fabs(want)));
    CHECK(got == want);
}

} // namespace

TEST_CASE("eval: numpy pairwise mean") {
    // 0.1 repeated: sequential and pairwise summation round differently; numpy 1.24 gives these
    std::vector<double> v(1000, 0.1);
    double seq = 0;
    for (double x : v)
        seq += x;
    CHECK(seq == 99.9999999999986);
    CHECK(eval::caption::numpy_sum(v) == 100.00000000000001);
    // above numpy's 8192-element buffer the block sums are added in order:
    // np.sum(np.array([0.1] * 20000)) and np.mean(...)
    std::vector<double> w(20000, 0.1);
    CHECK(eval::caption::numpy_sum(w) == 2000.0000000000005);
    CHECK(eval::caption::numpy_pairwise_sum(w.data(), w.size()) == 1999.9999999999998);
    CHECK(eval::caption::numpy_sum(w) != eval::caption::numpy_pairwise_sum(w.data(), w.size()));
    CHECK(std::isnan(eval::caption::numpy_mean({})));
    CHECK(eval::caption::numpy_mean({1.0, 2.0}) == 1.5);
}

TEST_CASE("eval: caption metrics match pycocoevalcap") {
    for (const std::string name : {"handmade", "synthetic"}) {
        CAPTURE(name);
        const auto recs = read_records("eval/captions/" + name + ".jsonl");
        const json ex = read_json("eval/captions/" + name + ".expected.json");
        REQUIRE(recs.size() == ex["CIDEr_per_image"].size());
        const auto b = eval::caption::bleu(recs);
        for (std::size_t k = 0; k < 4; ++k) {
            CAPTURE(k);
            check_same(b.corpus[k], ex["Bleu"][k].get<double>(), "bleu");
            for (std::size_t i = 0; i < recs.size(); ++i) {
                CAPTURE(recs[i].id);
                check_same(b.per_image[k][i], ex["Bleu_per_image"][k][i].get<double>(), "bleu_img");
            }
        }
        const auto r = eval::caption::rouge_l(recs);
        check_same(r.corpus, ex["ROUGE_L"].get<double>(), "rouge");
        for (std::size_t i = 0; i < recs.size(); ++i) {
            CAPTURE(recs[i].id);
            check_same(r.per_image[i], ex["ROUGE_L_per_image"][i].get<double>(), "rouge_img");
        }
        const auto c = eval::caption::cider(recs);
        check_same(c.corpus, ex["CIDEr"].get<double>(), "cider");
        for (std::size_t i = 0; i < recs.size(); ++i) {
            CAPTURE(recs[i].id);
            check_same(c.per_image[i], ex["CIDEr_per_image"][i].get<double>(), "cider_img");
        }
        // the registry component, untokenized
        auto m = registry::make<eval::kind>("metric.caption.coco", {{"tokenizer", "none"}, {"per_image", true}});
        const json out = m->evaluate(records_json(recs));
        check_same(out["Bleu_4"].get<double>(), ex["Bleu"][3].get<double>());
        check_same(out["ROUGE_L"].get<double>(), ex["ROUGE_L"].get<double>());
        check_same(out["CIDEr"].get<double>(), ex["CIDEr"].get<double>());
        CHECK(out["images"].get<std::size_t>() == recs.size());
        CHECK_FALSE(out.contains("METEOR"));
        REQUIRE(out["per_image"].size() == recs.size());
        CHECK(out["per_image"][1]["id"] == recs[1].id);
        check_same(out["per_image"][1]["CIDEr"].get<double>(), ex["CIDEr_per_image"][1].get<double>());
        check_same(out["per_image"][2]["Bleu_2"].get<double>(), ex["Bleu_per_image"][1][2].get<double>());
    }
}

TEST_CASE("eval: caption metric details") {
    using eval::caption::record;
    // closest reference length: ties go to the shorter reference (3 and 5 around a 4-token hypothesis)
    const auto b = eval::caption::bleu({record{"0", "a b c d", {"a b c d e", "a b c"}}});
    CHECK(b.reflen == 3);
    // ROUGE-L splits on single spaces: a doubled space is an empty token
    CHECK(eval::caption::rouge_l_single("a  b", {"a b"}) != eval::caption::rouge_l_single("a b", {"a b"}));
    CHECK(eval::caption::rouge_l_single("a b", {"a b"}) == doctest::Approx(1.0));
    // CIDEr with one image: idf log(1) = 0 everywhere
    CHECK(eval::caption::cider({record{"0", "a b", {"a b"}}}).corpus == 0.0);
    auto e1 = try_call([] { return eval::caption::cider({}); });
    REQUIRE_FALSE(e1.ok());
    CHECK(e1.error().id == "rscovlm.eval.empty_input");
    auto e2 = try_call([] { return eval::caption::bleu({record{"x", "a", {}}}); });
    REQUIRE_FALSE(e2.ok());
    CHECK(e2.error().id == "rscovlm.eval.bad_input");
}

TEST_CASE("eval: restated PTB tokenizer") {
    using eval::caption::ptb_tokenize;
    CHECK(ptb_tokenize("A man's hat.") == "a man 's hat");
    CHECK(ptb_tokenize("Planes don't fly; they're parked!") == "planes do n't fly they 're parked");
    CHECK(ptb_tokenize("It can't be.") == "it ca n't be");
    CHECK(ptb_tokenize("A two-story building, 1,000 cars and 10:30 time") ==
          "a two-story building 1,000 cars and 10:30 time");
    CHECK(ptb_tokenize("Some \"quoted\" (left) words...") == "some quoted -lrb- left -rrb- words");
    CHECK(ptb_tokenize("the dogs' toys") == "the dogs toys");
    CHECK(ptb_tokenize("and/or a*b") == "and\\/or a\\*b");
    CHECK(ptb_tokenize("In the U.S. today") == "in the u.s. today");
    CHECK(ptb_tokenize("costs $5 or 50%") == "costs $ 5 or 50 %");
    CHECK(ptb_tokenize("a - b -- c") == "a b c");
    CHECK(ptb_tokenize("line one\nline two") == "line one line two");
    CHECK(ptb_tokenize("  ") == "");
    // the component tokenizes by default: punctuation and case do not matter after it
    auto m = registry::make<eval::kind>("metric.caption.coco", json::object());
    const json in = {{"records",
                      {{{"pred", "A plane, parked."}, {"refs", {"a plane parked", "A plane."}}},
                       {{"pred", "Two ships!"}, {"refs", {"two ships", "Ships."}}}}}};
    const json plain = {{"records",
                         {{{"pred", "a plane parked"}, {"refs", {"a plane parked", "a plane"}}},
                          {{"pred", "two ships"}, {"refs", {"two ships", "ships"}}}}}};
    const json a = m->evaluate(in), p = m->evaluate(plain);
    CHECK(a["CIDEr"].get<double>() == p["CIDEr"].get<double>());
    CHECK(a["Bleu_1"].get<double>() == p["Bleu_1"].get<double>());
    CHECK(a["Bleu_1"].get<double>() > 0.9);
    // METEOR / SPICE are named as not provided
    auto e = try_call([] { return registry::make<eval::kind>("metric.caption.coco", {{"metrics", {"meteor"}}}); });
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().id == "rscovlm.eval.not_provided");
    auto only = registry::make<eval::kind>("metric.caption.coco", {{"metrics", {"cider"}}});
    const json o = only->evaluate(plain);
    CHECK(o.contains("CIDEr"));
    CHECK_FALSE(o.contains("Bleu_1"));
    auto bad = try_call([&] { return m->evaluate({{"records", {{{"pred", "a"}, {"refs", json::array()}}}}}); });
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().id == "rscovlm.eval.bad_input");
    auto dup = try_call([&] {
        return m->evaluate(
            {{"records",
              {{{"id", 1}, {"pred", "a"}, {"refs", {"a"}}}, {{"id", "1"}, {"pred", "b"}, {"refs", {"b"}}}}}});
    });
    REQUIRE_FALSE(dup.ok());
    CHECK(dup.error().id == "rscovlm.eval.bad_input");
    auto empty = try_call([&] { return m->evaluate({{"records", json::array()}}); });
    REQUIRE_FALSE(empty.ok());
    CHECK(empty.error().id == "rscovlm.eval.empty_input");
}

TEST_CASE("eval: RSCoVLM compute_cider") {
    const json g = read_json("eval/rscovlm/cider.json");
    auto m = registry::make<eval::kind>("metric.caption.rscovlm_cider", json::object());
    const json out = m->evaluate({{"records", g["records"]}});
    check_same(out["CIDEr"].get<double>(), g["CIDEr"].get<double>());
}

TEST_CASE("eval: VHM contain and counting match the reference") {
    const json g = read_json("eval/rscovlm/vhm.json");
    json pairs = json::array();
    for (const auto& p : g["contain"]["pairs"]) {
        CAPTURE(p.dump());
        CHECK(eval::vhm::vhm_contain(p["pred"].get<std::string>(), p["gt"].get<std::string>()) ==
              p["match"].get<bool>());
        pairs.push_back({{"pred", p["pred"]}, {"gt", p["gt"]}});
    }
    auto c = registry::make<eval::kind>("metric.vqa.bidirectional_contain", json::object());
    check_same(c->evaluate({{"pairs", pairs}})["acc"].get<double>(), g["contain"]["acc"].get<double>());
    CHECK(c->evaluate({{"pairs", json::array()}})["acc"].get<double>() == 0.0);

    for (const auto& p : g["parse_number"]) {
        CAPTURE(p.dump());
        const auto n = eval::vhm::parse_count(p["text"].get<std::string>());
        const std::string want = p["number"].get<std::string>();
        if (want.empty())
            CHECK_FALSE(n);
        else
            CHECK((n && *n == std::stoll(want)));
    }
    json cp = json::array();
    for (const auto& p : g["counting"]["pairs"]) {
        CAPTURE(p.dump());
        const auto e = eval::vhm::count_errors(p["pred"].get<std::string>(), p["gt"].get<std::int64_t>());
        REQUIRE(e);
        CHECK(e->abs_error == p["abs_error"].get<std::int64_t>());
        CHECK(e->rel_error == p["rel_error"].get<double>());
        cp.push_back({{"pred", p["pred"]}, {"gt", p["gt"]}});
    }
    auto m = registry::make<eval::kind>("metric.count.mae", json::object());
    const json out = m->evaluate({{"pairs", cp}});
    check_same(out["mae"].get<double>(), g["counting"]["mae"].get<double>());
    check_same(out["mape"].get<double>(), g["counting"]["mape"].get<double>());
    CHECK(out["total"].get<std::size_t>() == cp.size());

    // malformed and unscorable input
    auto e1 = try_call([&] { return m->evaluate({{"pairs", {{{"pred", "no idea"}, {"gt", 3}}}}}); });
    REQUIRE_FALSE(e1.ok());
    CHECK(e1.error().id == "rscovlm.eval.unparsed_count");
    auto skip = registry::make<eval::kind>("metric.count.mae", {{"unparsed", "skip"}});
    const json s = skip->evaluate({{"pairs", {{{"pred", "no idea"}, {"gt", 3}}, {{"pred", "4"}, {"gt", 2}}}}});
    CHECK(s["unparsed"].get<int>() == 1);
    CHECK(s["mae"].get<double>() == 2.0);
    CHECK(s["mape"].get<double>() == 1.0);
    auto e2 = try_call([&] { return m->evaluate({{"pairs", {{{"pred", "2"}, {"gt", 0}}}}}); });
    REQUIRE_FALSE(e2.ok());
    CHECK(e2.error().id == "rscovlm.eval.zero_truth");
    auto e3 = try_call([&] { return m->evaluate({{"pairs", {{{"pred", "2"}, {"gt", "3"}}}}}); });
    REQUIRE_FALSE(e3.ok());
    CHECK(e3.error().id == "rscovlm.eval.bad_input");
    auto e4 = try_call([&] { return c->evaluate({{"pairs", {{{"pred", 1}, {"gt", "3"}}}}}); });
    REQUIRE_FALSE(e4.ok());
    CHECK(e4.error().id == "rscovlm.eval.bad_input");
    auto e5 = try_call([&] { return m->evaluate({{"pairs", {{{"pred", "99999999999999999999"}, {"gt", 3}}}}}); });
    REQUIRE_FALSE(e5.ok());
    CHECK(e5.error().id == "rscovlm.eval.out_of_range");
}

TEST_CASE("eval: GeoChat referring precision matches RSCoVLM") {
    const json g = read_json("eval/rscovlm/referring.json");
    json from_boxes = json::array(), from_plain = json::array(), from_json = json::array();
    std::size_t k = 0;
    for (const auto& s : g["samples"]) {
        CAPTURE(s["output"].get<std::string>());
        const double w = s["original_width"].get<double>() / s["resized_width"].get<double>();
        const double h = s["original_height"].get<double>() / s["resized_height"].get<double>();
        const auto pred = s["pred"].get<std::vector<std::vector<double>>>();
        const auto gt = s["gt"].get<std::vector<std::vector<double>>>();
        CHECK(eval::referring::parse_plain_boxes(s["output"].get<std::string>()) == pred);
        CHECK(eval::referring::parse_json_boxes(s["json_output"].get<std::string>()) == pred);
        std::size_t m = 0;
        for (const auto& p : pred)
            for (const auto& t : gt) {
                const double want = g["giou"][k][m++].get<double>();
                CHECK(std::fabs(eval::referring::polygon_giou(p, t, w, h) - want) <= 1e-12);
            }
        ++k;
        json b = s;
        b.erase("output");
        b.erase("json_output");
        from_boxes.push_back(b);
        json pl = b, js = b;
        pl.erase("pred");
        pl["output"] = s["output"];
        js.erase("pred");
        js["output"] = s["json_output"];
        from_plain.push_back(pl);
        from_json.push_back(js);
    }
    auto check_table = [](const json& got, const json& want) {
        CHECK(got["precision"].get<double>() == want["overall"]["Pr(F1=1, IoU=0.5)"].get<double>());
        for (const auto& [key, v] : want.items()) {
            CAPTURE(key);
            REQUIRE(got.contains(key));
            CHECK(got[key]["Pr(F1=1, IoU=0.5)"].get<double>() == v["Pr(F1=1, IoU=0.5)"].get<double>());
            if (key == "overall") {
                CHECK(got[key]["correct"] == v["correct"]);
                CHECK(got[key]["total"] == v["total"]);
            } else {
                CHECK(got[key]["total_samples"] == v["total_samples"]);
            }
        }
        CHECK(got.size() == want.size() + 1);
    };
    auto plain = registry::make<eval::kind>("metric.referring.precision50", {{"prompt_type", "plain"}});
    auto js = registry::make<eval::kind>("metric.referring.precision50", json::object());
    check_table(plain->evaluate({{"samples", from_boxes}}), g["plain"]);
    check_table(plain->evaluate({{"samples", from_plain}}), g["plain"]);
    check_table(js->evaluate({{"samples", from_json}}), g["json"]);

    // an empty prediction: the reference fails, "miss" scores it wrong
    const json none = {{"samples", {{{"output", "no box"}, {"gt", {{1, 1, 5, 5}}}}}}};
    auto e1 = try_call([&] { return plain->evaluate(none); });
    REQUIRE_FALSE(e1.ok());
    CHECK(e1.error().id == "rscovlm.eval.bad_input");
    auto miss =
        registry::make<eval::kind>("metric.referring.precision50", {{"prompt_type", "plain"}, {"empty_pred", "miss"}});
    CHECK(miss->evaluate(none)["precision"].get<double>() == 0.0);
    auto e2 = try_call([&] { return js->evaluate({{"samples", {{{"output", "not json"}, {"gt", {{1, 1, 5, 5}}}}}}}); });
    REQUIRE_FALSE(e2.ok());
    CHECK(e2.error().id == "rscovlm.eval.unparsed_output");
    auto e3 = try_call([&] { return js->evaluate({{"samples", {{{"pred", {{1, 1, 5}}}, {"gt", {{1, 1, 5, 5}}}}}}}); });
    REQUIRE_FALSE(e3.ok());
    CHECK(e3.error().id == "rscovlm.eval.bad_input");
    auto e4 = try_call([&] { return js->evaluate({{"samples", json::array()}}); });
    REQUIRE_FALSE(e4.ok());
    CHECK(e4.error().id == "rscovlm.eval.empty_input");
}
