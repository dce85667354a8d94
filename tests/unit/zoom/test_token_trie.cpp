#include <doctest/doctest.h>

#include <rscovlm/box_codec/grammar.hpp>
#include <rscovlm/box_codec/rscovlm.hpp>
#include <rscovlm/tokenizer/bpe.hpp>
#include <rscovlm/zoom/token_trie.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace {

namespace zoom = rscovlm::zoom;

/// The definition the trie must reproduce: every token tested on its own.
std::vector<std::int64_t> admissible_by_scan(const std::vector<std::string>& bytes, const zoom::answer_constraint& c,
                                             zoom::answer_constraint::state s, std::size_t after) {
    std::vector<std::int64_t> out;
    for (std::size_t id = 0; id < bytes.size(); ++id) {
        if (bytes[id].empty()) continue;
        zoom::answer_constraint::state t = s;
        bool ok = true;
        for (char ch : bytes[id])
            if (!c.step(t, static_cast<unsigned char>(ch))) {
                ok = false;
                break;
            }
        if (ok && c.min_bytes_to_end(t) <= after) out.push_back(static_cast<std::int64_t>(id));
    }
    return out;
}

std::vector<std::int64_t> admissible_by_trie(const zoom::token_trie& trie, const zoom::answer_constraint& c,
                                             zoom::answer_constraint::state s, std::size_t after) {
    std::vector<std::int64_t> out;
    trie.admissible(c, s, after, out);
    std::sort(out.begin(), out.end());
    return out;
}

/// Digits, then an optional "x" and more digits: "12", "3x45"; at most 6 bytes.
struct digits_constraint : zoom::answer_constraint {
    // state: bits 0-7 length, bit 8 "x" seen, bit 9 a digit after the "x"
    state start() const override { return 0; }
    bool step(state& s, unsigned char b) const override {
        const state len = s & 0xFF;
        if (len >= 6) return false;
        if (b >= '0' && b <= '9') {
            s = (s & ~state{0xFF}) | (len + 1);
            if (s & 0x100) s |= 0x200;
            return true;
        }
        if (b == 'x' && len > 0 && !(s & 0x100)) {
            s = (s & ~state{0xFF}) | (len + 1) | 0x100;
            return true;
        }
        return false;
    }
    bool can_end(state s) const override { return (s & 0xFF) > 0 && (!(s & 0x100) || (s & 0x200)); }
    std::size_t min_bytes_to_end(state s) const override { return can_end(s) ? 0 : 1; }
};

} // namespace

TEST_CASE("zoom: the token trie admits exactly the tokens a scan of the vocabulary admits (small vocabulary)") {
    // Shared prefixes, duplicates, a token that is a prefix of others, empty (special) tokens.
    const std::vector<std::string> bytes = {"1", "12", "123", "",   "x",       "1x", "1x2", "9",   "99x9",
                                            "a", "12", "0",   "x0", "1234567", "",   "7x",  "7xx", "5"};
    const zoom::token_trie trie(bytes);
    CHECK(trie.tokens() == 16);
    const digits_constraint c;
    int compared = 0;
    std::vector<zoom::answer_constraint::state> states{c.start()};
    for (const std::string prefix : {"1", "12", "12x", "1x3", "12345", "123456"}) {
        auto s = c.start();
        bool ok = true;
        for (char ch : prefix)
            ok = ok && c.step(s, static_cast<unsigned char>(ch));
        REQUIRE(ok);
        states.push_back(s);
    }
    for (auto s : states)
        for (std::size_t after : {std::size_t{0}, std::size_t{1}, std::size_t{10}}) {
            CAPTURE(s);
            CAPTURE(after);
            CHECK(admissible_by_trie(trie, c, s, after) == admissible_by_scan(bytes, c, s, after));
            ++compared;
        }
    CHECK(compared == 21);
    // From the start: every token of digits with at most one inner "x", ids 1 and 10 both ("12").
    CHECK(admissible_by_trie(trie, c, c.start(), 10) == std::vector<std::int64_t>{0, 1, 2, 5, 6, 7, 8, 10, 11, 15, 17});
    CHECK(zoom::token_trie().tokens() == 0);
}

TEST_CASE("zoom: the token trie over Qwen2.5's vocabulary equals the scan along random box-codec answers") {
    const std::string path = std::string(RSCOVLM_TEST_DATA_DIR) + "/tokenizer/qwen/tokenizer.json";
    if (!std::filesystem::exists(path)) {
        MESSAGE("skipped: bundled tokenizer " << path << " is absent");
        return;
    }
    const auto tok = rscovlm::tokenizer::bpe_tokenizer::from_file(path);
    std::vector<std::string> bytes(tok.vocab_size());
    for (std::size_t i = 0; i < bytes.size(); ++i)
        bytes[i] = tok.token_bytes(static_cast<std::int32_t>(i), true);
    const zoom::token_trie trie(bytes);
    CHECK(trie.tokens() > 150000);
    namespace bc = rscovlm::box_codec;
    const std::vector<std::string> classes = {"plane", "ship", "storage-tank", "small-vehicle"};
    const bc::rscovlm_plain<bc::box_kind::hbb> hbb;
    const bc::rscovlm_plain<bc::box_kind::quad> quad;
    std::mt19937 rng(7);
    int steps = 0, mismatches = 0;
    std::size_t admitted = 0;
    for (const bc::codec* codec : {static_cast<const bc::codec*>(&hbb), static_cast<const bc::codec*>(&quad)}) {
        const auto g = bc::make_answer_grammar(*codec, classes, 640, 480);
        REQUIRE(g);
        for (int walk = 0; walk < 3; ++walk) {
            auto s = g->start();
            std::size_t after = 60 - static_cast<std::size_t>(walk) * 25; // 60, 35, 10 bytes to go
            for (int step = 0; step < 25; ++step) {
                const auto want = admissible_by_scan(bytes, *g, s, after);
                if (admissible_by_trie(trie, *g, s, after) != want) ++mismatches;
                ++steps;
                admitted += want.size();
                if (want.empty()) break;
                const std::string& next = bytes[static_cast<std::size_t>(want[rng() % want.size()])];
                for (char ch : next)
                    REQUIRE(g->step(s, static_cast<unsigned char>(ch)));
                after = after > next.size() ? after - next.size() : 0;
            }
        }
    }
    CHECK(mismatches == 0);
    CHECK(steps >= 60);
    CHECK(admitted > 0);
}
