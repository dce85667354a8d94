// eval: WordNet answer matching (RSCoVLM compute_wups_acc) against the golden that the reference's own
// function made with NLTK 3.8 over Debian's WordNet (tests/data/wordnet); metric.vqa.wups; LRS-VQA
// scores with it.
#include <rscovlm/eval/all.hpp>
#include <rscovlm/eval/wordnet.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace rscovlm;

#ifdef RSCOVLM_TEST_WORDNET_DIR
namespace wordnet_test {

nlohmann::json golden() {
    std::ifstream f(std::string(RSCOVLM_TEST_DATA_DIR) + "/wordnet/wups_golden.json");
    REQUIRE(f.good());
    return nlohmann::json::parse(f);
}

const eval::wordnet::database& db() {
    static const auto d = eval::wordnet::database::shared(RSCOVLM_TEST_WORDNET_DIR);
    return *d;
}

} // namespace wordnet_test

TEST_CASE("wordnet: synsets equal NLTK's wn.synsets for every golden word, in order") {
    const auto g = wordnet_test::golden();
    const auto& w = wordnet_test::db();
    CHECK(w.lemma_count() > 140000); // WordNet 3.0 has 147306 distinct lemmas
    std::size_t words = 0, nonempty = 0;
    for (auto it = g.at("synsets").begin(); it != g.at("synsets").end(); ++it) {
        std::vector<std::pair<char, std::uint32_t>> want, got;
        for (const auto& s : *it)
            want.emplace_back(s[0].get<std::string>()[0], s[1].get<std::uint32_t>());
        for (const auto& s : w.synsets(it.key()))
            got.emplace_back(eval::wordnet::pos_letter(s.part), s.offset);
        INFO("word '" << it.key() << "'");
        CHECK(got == want);
        ++words;
        nonempty += want.empty() ? 0 : 1;
    }
    CHECK(words > 2000);
    CHECK(nonempty > 1000);
}

TEST_CASE("wordnet: compute_wups_acc verdicts equal the reference's on every golden pair") {
    const auto g = wordnet_test::golden();
    std::size_t n = 0, matches = 0, synonyms_only = 0;
    for (const auto& p : g.at("pairs")) {
        const std::string gt = p.at("gt"), pred = p.at("pred");
        const bool want = p.at("match");
        INFO("gt '" << gt << "' pred '" << pred << "'");
        CHECK(eval::wordnet::wups_match(wordnet_test::db(), pred, gt) == want);
        ++n;
        matches += want ? 1 : 0;
        synonyms_only += want && !eval::vqa_exact(pred, gt) ? 1 : 0;
    }
    CHECK(n > 2000);
    CHECK(synonyms_only > 300); // the golden exercises the synonym path, not only equality
    CHECK(matches < n);
}

TEST_CASE("wordnet: morphy rules and exception lists") {
    using eval::wordnet::pos;
    const auto& w = wordnet_test::db();
    CHECK(w.morphy("geese", pos::noun) == std::vector<std::string>{"goose"});
    CHECK(w.morphy("churches", pos::noun) == std::vector<std::string>{"church"});
    CHECK(w.morphy("running", pos::verb) == std::vector<std::string>{"run"});
    CHECK(w.morphy("bigger", pos::adj) == std::vector<std::string>{"bigger", "big"}); // as NLTK: both lemmas
    CHECK(w.morphy("quickly", pos::adv) == std::vector<std::string>{"quickly"});
    CHECK(w.morphy("xyzzyq", pos::noun).empty());
    CHECK(w.synsets("traffic light").empty()); // NLTK does not turn spaces into underscores
    CHECK_FALSE(w.synsets("traffic_light").empty());
    CHECK(w.are_synonyms("car", "automobile"));
    CHECK_FALSE(w.are_synonyms("car", "ship"));
}

TEST_CASE("metric.vqa.wups scores pairs as compute_wups_acc over a list") {
    registry::params p(nlohmann::json{{"wordnet", RSCOVLM_TEST_WORDNET_DIR}}, "metric.vqa.wups");
    const auto m = eval::vqa_wups_metric::from_params(p);
    const auto r = m.evaluate({{"pairs",
                                {{{"pred", "Automobile."}, {"gt", "car"}},
                                 {{"pred", "boat"}, {"gt", "ship"}},
                                 {{"pred", "geese"}, {"gt", "goose"}},
                                 {{"pred", "yes"}, {"gt", "Yes"}}}}});
    CHECK(r.at("correct") == 3);
    CHECK(r.at("acc").get<double>() == doctest::Approx(0.75));
    // LRS-VQA's table with this judge: the synonym counts where exact match would not.
    std::vector<eval::lrsvqa::item> items = {{"FAIR_1", "object category", "car", "automobile", false},
                                             {"FAIR_2", "count", "3", "three", false},
                                             {"STAR_1", "object color", "red", "blue", false}};
    const auto s = eval::lrsvqa::scores(items, [&](const eval::lrsvqa::item& it) {
        return eval::wordnet::wups_match(*m.db, it.output, it.ground_truth);
    });
    CHECK(s.at("overall acc").get<double>() == doctest::Approx(2.0 / 3.0));
    CHECK(s.at("Overall Acc (Source FAIR)").get<double>() == doctest::Approx(1.0));
    CHECK(s.at("Average Acc (Source FAIR)").get<double>() == doctest::Approx(1.0));
    CHECK(s.at("Average Acc").get<double>() == doctest::Approx(2.0 / 3.0));
    CHECK(eval::lrsvqa::scores(items).at("overall acc").get<double>() == doctest::Approx(0.0));
}
#endif

TEST_CASE("wordnet: a missing or malformed database is a typed error") {
    namespace fs = std::filesystem;
    const fs::path dir = fs::temp_directory_path() / "rscovlm_wordnet_test";
    fs::remove_all(dir);
    fs::create_directories(dir);
    try {
        eval::wordnet::database::load(dir.string());
        FAIL("no error");
    } catch (const io_error& e) {
        CHECK(std::string(e.what()).find("wordnet") != std::string::npos);
    }
    for (const char* f :
         {"index.noun", "index.verb", "index.adj", "index.adv", "noun.exc", "verb.exc", "adj.exc", "adv.exc"})
        std::ofstream(dir / f) << "";
    CHECK(eval::wordnet::database::load(dir.string()).lemma_count() == 0);
    std::ofstream(dir / "index.noun") << "  licence line\ncar n 2 0 1 0 02958343\n";
    try {
        eval::wordnet::database::load(dir.string());
        FAIL("no error");
    } catch (const data_error& e) {
        CHECK(std::string(e.what()).find("index.noun' line 2") != std::string::npos);
    }
    std::ofstream(dir / "index.noun") << "car n 1 0 1 0 02958343\ncars n 1 0 1 0 02958343\n";
    std::ofstream(dir / "noun.exc") << "autos car\n";
    const auto d = eval::wordnet::database::load(dir.string());
    CHECK(d.lemma_count() == 2);
    CHECK(d.are_synonyms("autos", "car"));
    CHECK(d.morphy("cars", eval::wordnet::pos::noun) == std::vector<std::string>{"cars", "car"});
    fs::remove_all(dir);
}
