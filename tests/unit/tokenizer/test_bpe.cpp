#include <doctest/doctest.h>

#include "tokenizer_support.hpp"

#include <rscovlm/registry.hpp>
#include <rscovlm/tokenizer/builtin.hpp>

#include <map>
#include <string>
#include <vector>

using rscovlm::tokenizer::bpe_tokenizer;
using tokenizer_test::data_path;
using tokenizer_test::qwen;
using tokenizer_test::read_jsonl;

namespace {
std::vector<std::int32_t> ids_of(const nlohmann::json& j) {
    return j.get<std::vector<std::int32_t>>();
}
} // namespace

TEST_CASE("tokenizer: vendored Qwen2.5-VL tokenizer loads with the expected tables") {
    const auto& tok = qwen();
    CHECK(tok.vocab_size() == 151665);
    CHECK(tok.base_vocab_size() == 151643);
    CHECK(tok.merges_size() == 151387);
    CHECK(tok.added_tokens().size() == 22);
    CHECK(tok.token_to_id("<|im_end|>") == 151645);
    CHECK(tok.token_to_id("<|endoftext|>") == 151643);
    CHECK(tok.token_to_id("<tool_call>") == 151657);
    CHECK(tok.token_to_id("<|file_sep|>") == 151664);
    CHECK(tok.token_to_id("!") == 0);
    CHECK(!tok.token_to_id("<think>").has_value());
    CHECK(tok.id_to_token(151645) == std::string("<|im_end|>"));
    CHECK(tok.id_to_token(220) == std::string("\xC4\xA0")); // "Ġ" = space
    CHECK(!tok.id_to_token(151665).has_value());
    CHECK(!tok.id_to_token(-1).has_value());
    CHECK(tok.is_special(151645));
    CHECK(tok.is_special(151656));  // <|video_pad|>
    CHECK(!tok.is_special(151657)); // <tool_call> is not special
    CHECK(tok.special_token_id("eos") == 151645);
    CHECK(tok.special_token_id("pad") == 151643);
    CHECK(!tok.special_token_id("bos").has_value());
    CHECK(tok.special_token_id("<|image_pad|>") == 151655);
    CHECK_THROWS_WITH_AS(tok.require_special_token_id("nope"), doctest::Contains("rscovlm.tokenizer.unknown_token"),
                         rscovlm::tokenizer_error);
}

TEST_CASE("tokenizer: all golden encode/decode cases match the Rust engine") {
    const auto& tok = qwen();
    auto rows = read_jsonl(data_path("tokenizer/cases.jsonl"));
    REQUIRE(rows.size() == 2149);
    std::map<std::string, int> failures;
    for (const auto& r : rows) {
        auto ids = tok.encode(r["text"].get<std::string>());
        bool ok = ids == ids_of(r["ids"]) && tok.decode(ids, false) == r["decoded"].get<std::string>() &&
                  tok.decode(ids, true) == r["decoded_skip_special"].get<std::string>();
        if (!ok) {
            if (failures[r["category"]]++ == 0) MESSAGE("first failure: " << r["text"].dump());
        }
    }
    CHECK(failures.empty());
}

TEST_CASE("tokenizer: golden decode cases (invalid UTF-8, slices, added tokens)") {
    const auto& tok = qwen();
    auto rows = read_jsonl(data_path("tokenizer/decode_cases.jsonl"));
    REQUIRE(rows.size() == 300);
    int bad = 0;
    for (const auto& r : rows) {
        auto ids = ids_of(r["ids"]);
        if (tok.decode(ids, false) != r["decoded"].get<std::string>() ||
            tok.decode(ids, true) != r["decoded_skip_special"].get<std::string>())
            ++bad;
    }
    CHECK(bad == 0);
}

TEST_CASE("tokenizer: a decode stream equals the decode of every prefix (golden decode cases)") {
    // Token by token, full() must be the Rust engine's decode of the prefix, and text() must never
    // change once written: it stays a prefix of every later decode.
    const auto& tok = qwen();
    auto rows = read_jsonl(data_path("tokenizer/decode_cases.jsonl"));
    int bad = 0, held = 0;
    for (const auto& r : rows) {
        const auto ids = ids_of(r["ids"]);
        for (bool skip : {false, true}) {
            rscovlm::tokenizer::decode_stream ds;
            std::vector<std::int32_t> prefix;
            std::string before;
            for (auto id : ids) {
                prefix.push_back(id);
                const std::size_t grew = ds.push(tok.token_bytes(id, skip));
                const std::string whole = tok.decode(prefix, skip);
                if (ds.full() != whole || ds.text().size() != before.size() + grew ||
                    ds.text().compare(0, before.size(), before) != 0 ||
                    whole.compare(0, ds.text().size(), ds.text()) != 0)
                    ++bad;
                held += !ds.pending().empty();
                before = ds.text();
            }
            if (ds.full() != r[skip ? "decoded_skip_special" : "decoded"].get<std::string>()) ++bad;
        }
    }
    CHECK(bad == 0);
    CHECK(held > 0); // the cases split characters between tokens, so bytes were held back
}

TEST_CASE("tokenizer: a decode stream of random bytes cut anywhere repairs them as one decode would") {
    std::uint32_t seed = 12345;
    auto next = [&seed] {
        seed = seed * 1664525u + 1013904223u;
        return seed >> 8;
    };
    // Bytes weighted towards lead and continuation bytes, so sequences are often valid, truncated or
    // ill-formed in the middle.
    const unsigned char pool[] = {'a',  ' ',  0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2,
                                  0xDF, 0xE0, 0xE1, 0xED, 0xEF, 0xF0, 0xF3, 0xF4, 0xF5, 0xFF};
    int bad = 0;
    for (int trial = 0; trial < 3000; ++trial) {
        std::string all;
        rscovlm::tokenizer::decode_stream ds;
        std::string shown;
        const int pieces = 1 + static_cast<int>(next() % 8);
        for (int p = 0; p < pieces; ++p) {
            std::string piece;
            for (std::uint32_t k = next() % 4; k > 0; --k)
                piece.push_back(static_cast<char>(pool[next() % sizeof(pool)]));
            all += piece;
            ds.push(piece);
            const std::string whole = rscovlm::detail::unicode::to_valid_utf8(all);
            if (ds.full() != whole || ds.text().compare(0, shown.size(), shown) != 0 ||
                whole.compare(0, ds.text().size(), ds.text()) != 0 || ds.pending().size() > 3)
                ++bad;
            shown = ds.text();
        }
    }
    CHECK(bad == 0);
}

TEST_CASE("tokenizer: added-token flags and both merges formats (tiny tokenizers, Rust-engine goldens)") {
    auto legacy = bpe_tokenizer::from_file(data_path("tokenizer/tiny/tokenizer.json"));
    auto pairs = bpe_tokenizer::from_file(data_path("tokenizer/tiny/tokenizer_pairs.json"));
    // ids are re-assigned as the Rust AddedVocabulary does (file ids 400.. become 272..)
    CHECK(legacy.token_to_id("[MASK]") == 272);
    CHECK(legacy.vocab_size() == 279);
    for (const auto& r : read_jsonl(data_path("tokenizer/tiny/cases.jsonl"))) {
        std::string text = r["text"];
        CAPTURE(text);
        CHECK(legacy.encode(text) == ids_of(r["ids"]));
        CHECK(pairs.encode(text) == ids_of(r["ids"]));
        CHECK(legacy.decode(ids_of(r["ids"]), false) == r["decoded"].get<std::string>());
        CHECK(legacy.decode(ids_of(r["ids"]), true) == r["decoded_skip_special"].get<std::string>());
    }
}

TEST_CASE("tokenizer: vocab.json + merges.txt + tokenizer_config.json give the same ids") {
    // Build the legacy files from the vendored tokenizer.json into the test's working directory.
    auto j = nlohmann::json::parse(tokenizer_test::read_file(data_path("tokenizer/qwen/tokenizer.json")));
    {
        std::ofstream v("qwen_vocab.json", std::ios::binary);
        v << j["model"]["vocab"].dump();
        std::ofstream m("qwen_merges.txt", std::ios::binary);
        m << "#version: 0.2\n";
        for (const auto& mg : j["model"]["merges"])
            m << mg.get<std::string>() << "\n";
    }
    auto tok = bpe_tokenizer::from_vocab_merges("qwen_vocab.json", "qwen_merges.txt",
                                                data_path("tokenizer/qwen/tokenizer_config.json"));
    CHECK(tok.vocab_size() == 151665);
    CHECK(tok.special_token_id("eos") == 151645);
    auto rows = read_jsonl(data_path("tokenizer/cases.jsonl"));
    int bad = 0;
    for (std::size_t i = 0; i < rows.size(); i += 7)
        if (tok.encode(rows[i]["text"].get<std::string>()) != ids_of(rows[i]["ids"])) ++bad;
    CHECK(bad == 0);
}

TEST_CASE("tokenizer: edge cases") {
    const auto& tok = qwen();
    CHECK(tok.encode("").empty());
    CHECK(tok.decode({}) == "");
    // 1 MB single word: one pre-token, merged by the heap path, round-trips
    std::string big(1 << 20, 'a');
    auto ids = tok.encode(big);
    CHECK(!ids.empty());
    CHECK(ids.size() < big.size() / 4);
    CHECK(tok.decode(ids) == big);
    // long whitespace runs
    std::string ws(100000, ' ');
    ws += "x";
    CHECK(tok.decode(tok.encode(ws)) == ws);
    std::string nl(5000, '\n');
    CHECK(tok.decode(tok.encode(nl)) == nl);
    // Unicode white space: U+0085 and U+3000 are \s, U+FEFF is not
    CHECK(tok.encode(" \xEF\xBB\xBF"
                     "b") == std::vector<std::int32_t>{75780, 65});
    // every special token glued to text stays one id
    for (const auto& a : tok.added_tokens()) {
        auto v = tok.encode("x" + a.content + "y");
        REQUIRE(v.size() == 3);
        CHECK(v[1] == a.id);
    }
    // unknown ids are skipped by decode
    CHECK(tok.decode({9, 999999, -5, 9}) == "**");
}

TEST_CASE("tokenizer: invalid UTF-8 input is encoded as if replaced by U+FFFD") {
    const auto& tok = qwen();
    CHECK(tok.encode("ab\xFF"
                     "cd") == tok.encode("ab\xEF\xBF\xBD"
                                         "cd"));
    CHECK(tok.encode("\xE2\x82") == tok.encode("\xEF\xBF\xBD"));
    CHECK(tok.encode("\xED\xA0\x80") == tok.encode("\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));
    CHECK(tok.decode(tok.encode("x\xC0")) == "x\xEF\xBF\xBD");
}

TEST_CASE("tokenizer: encode_batch equals encode, with 1 and 2 threads") {
    const auto& tok = qwen();
    auto rows = read_jsonl(data_path("tokenizer/cases.jsonl"));
    std::vector<std::string> texts;
    for (std::size_t i = 0; i < rows.size(); i += 3)
        texts.push_back(rows[i]["text"]);
    for (unsigned threads : {1u, 2u}) {
        auto batch = tok.encode_batch(texts, {threads});
        REQUIRE(batch.size() == texts.size());
        int bad = 0;
        for (std::size_t i = 0; i < texts.size(); ++i)
            if (batch[i] != tok.encode(texts[i])) ++bad;
        CHECK(bad == 0);
    }
    CHECK(tok.encode_batch(std::vector<std::string>{}).empty());
    auto dec = tok.decode_batch({{9, 10}, {}});
    CHECK(dec == std::vector<std::string>{"*+", ""});
}

TEST_CASE("tokenizer: malformed and truncated files give typed errors") {
    std::string good = tokenizer_test::read_file(data_path("tokenizer/tiny/tokenizer.json"));
    auto err_id = [](const std::string& text) {
        auto r = rscovlm::try_call([&] { return bpe_tokenizer::from_json_string(text, "t.json"); });
        return r.ok() ? std::string("ok") : r.error().id;
    };
    CHECK(err_id(good) == "ok");
    CHECK(err_id(good.substr(0, good.size() / 2)) == "rscovlm.tokenizer.truncated");
    CHECK(err_id(good.substr(0, 1)) == "rscovlm.tokenizer.truncated");
    CHECK(err_id("") == "rscovlm.tokenizer.truncated");
    CHECK(err_id("[]") == "rscovlm.tokenizer.bad_json");
    CHECK(err_id(good + "x") == "rscovlm.tokenizer.bad_json");
    CHECK(err_id("{}") == "rscovlm.tokenizer.missing_field");
    auto j = nlohmann::json::parse(good);
    auto with = [&](auto&& edit) {
        nlohmann::json c = j;
        edit(c);
        return err_id(c.dump());
    };
    CHECK(with([](auto& c) { c["model"]["merges"][0] = "h e l"; }) == "rscovlm.tokenizer.bad_merges");
    CHECK(with([](auto& c) { c["model"]["merges"][0] = "zz q"; }) == "rscovlm.tokenizer.bad_merges");
    CHECK(with([](auto& c) { c["model"]["merges"][0] = 5; }) == "rscovlm.tokenizer.bad_json");
    CHECK(with([](auto& c) { c["model"]["vocab"]["h"] = -1; }) == "rscovlm.tokenizer.bad_json");
    CHECK(with([](auto& c) { c["model"]["vocab"]["h"] = "x"; }) == "rscovlm.tokenizer.bad_json");
    CHECK(with([](auto& c) { c["model"]["vocab"]["h"] = 1.5; }) == "rscovlm.tokenizer.bad_json");
    CHECK(with([](auto& c) { c["model"]["type"] = "WordPiece"; }) == "rscovlm.tokenizer.unsupported");
    CHECK(with([](auto& c) { c["normalizer"] = {{"type", "NFKC"}}; }) == "rscovlm.tokenizer.unsupported");
    CHECK(with([](auto& c) { c["pre_tokenizer"] = {{"type", "Whitespace"}}; }) == "rscovlm.tokenizer.unsupported");
    CHECK(with([](auto& c) { c["decoder"] = nullptr; }) == "rscovlm.tokenizer.unsupported");
    CHECK(with([](auto& c) { c["added_tokens"][0].erase("content"); }) == "rscovlm.tokenizer.bad_added_token");
    CHECK(with([](auto& c) { c["added_tokens"][0]["lstrip"] = "yes"; }) == "rscovlm.tokenizer.bad_field");
    CHECK(with([](auto& c) { c["model"]["unk_token"] = "<nope>"; }) == "rscovlm.tokenizer.bad_field");
    CHECK(with([](auto& c) { c.erase("pre_tokenizer"); }) == "rscovlm.tokenizer.missing_field");
    CHECK(with([](auto& c) { c["model"].erase("vocab"); }) == "rscovlm.tokenizer.missing_field");
    // merges listed before the vocabulary still resolve
    {
        nlohmann::json c = j;
        std::string text = c.dump();
        auto ok = rscovlm::try_call([&] { return bpe_tokenizer::from_json_string(text); });
        CHECK(ok.ok());
    }
    // the error message names the place
    auto r = rscovlm::try_call(
        [&] { return bpe_tokenizer::from_json_string("{\"model\": {\"vocab\": {\"a\": 1,}}}", "x.json"); });
    REQUIRE(!r.ok());
    CHECK(r.error().message.find("x.json") != std::string::npos);
    CHECK(r.error().message.find("line 1, column") != std::string::npos);
    CHECK(bpe_tokenizer::try_from_file(data_path("tokenizer/does-not-exist.json")).error().id ==
          "rscovlm.tokenizer.file_not_found");
    CHECK(bpe_tokenizer::try_from_file(data_path("tokenizer")).error().id == "rscovlm.tokenizer.file_not_found");
}

TEST_CASE("tokenizer: model directory and registry construction") {
    auto dir = bpe_tokenizer::from_file(data_path("tokenizer/qwen"));
    CHECK(dir.encode("Hello world") == std::vector<std::int32_t>{9707, 1879});
    auto made = rscovlm::registry::make<rscovlm::tokenizer::kind>(
        "bpe.qwen2", nlohmann::json{{"path", data_path("tokenizer/tiny/tokenizer.json")}});
    REQUIRE(made);
    CHECK(made->encode("hello world") == std::vector<std::int32_t>{259, 264});
    CHECK(made->vocab_size() == 279);
    CHECK_THROWS_AS(rscovlm::registry::make<rscovlm::tokenizer::kind>("bpe.qwen2", nlohmann::json::object()),
                    rscovlm::registry_error);
    CHECK(rscovlm::registry::keys<rscovlm::tokenizer::builtin>() == std::vector<std::string_view>{"bpe.qwen2"});
}
