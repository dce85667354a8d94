#include <rscovlm/errors.hpp>

#include <doctest/doctest.h>

TEST_CASE("core: error ids and messages") {
    rscovlm::tokenizer_error e("bad_json", "tokenizer.json: unexpected end at byte 12");
    CHECK(e.id() == "rscovlm.tokenizer.bad_json");
    CHECK(e.message() == "tokenizer.json: unexpected end at byte 12");
    CHECK(std::string(e.what()) == "[rscovlm.tokenizer.bad_json] tokenizer.json: unexpected end at byte 12");
    const rscovlm::error& base = e;
    CHECK(base.id() == "rscovlm.tokenizer.bad_json");
    CHECK(rscovlm::limit_error("too_many_pixels", "x").id() == "rscovlm.limit.too_many_pixels");
    CHECK(rscovlm::codec_error("c", "x").id() == "rscovlm.box_codec.c");
}

TEST_CASE("core: result and try_call") {
    auto ok = rscovlm::try_call([] { return 7; });
    REQUIRE(ok.ok());
    CHECK(*ok == 7);
    CHECK(ok.value_or(3) == 7);

    auto bad = rscovlm::try_call([]() -> int { RSCOVLM_THROW(rscovlm::data_error, "bad_line", "a.txt:3: 9 fields"); });
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().id == "rscovlm.data.bad_line");
    CHECK(bad.error().message == "a.txt:3: 9 fields");
    CHECK(bad.error().what() == "[rscovlm.data.bad_line] a.txt:3: 9 fields");
    CHECK(bad.value_or(3) == 3);
    try {
        (void)bad.value();
        FAIL("value() must throw on an error result");
    } catch (const rscovlm::error& e) {
        CHECK(e.id() == "rscovlm.data.bad_line");
    }

    auto v = rscovlm::try_call([] {});
    CHECK(v.ok());
    auto vb = rscovlm::try_call([] { RSCOVLM_THROW(rscovlm::io_error, "x", "y"); });
    CHECK_FALSE(vb.ok());
    CHECK(vb.error().id == "rscovlm.io.x");
    try {
        vb.value();
        FAIL("value() must throw on an error result<void>");
    } catch (const rscovlm::error& e) {
        CHECK(e.id() == "rscovlm.io.x");
        CHECK(std::string(e.what()) == "[rscovlm.io.x] y");
    }
    // Non-rscovlm exceptions propagate.
    CHECK_THROWS_AS(rscovlm::try_call([] { throw std::logic_error("other"); }), std::logic_error);
}
