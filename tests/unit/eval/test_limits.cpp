// Hostile patch names: offsets that do not fit an integer are a typed error, not a cut number.
#include <rscovlm/eval/all.hpp>

#include <doctest/doctest.h>

#include <string>

using namespace rscovlm;

TEST_CASE("eval: a patch name whose offset overflows int64 is eval_error bad_patch_name") {
    try {
        (void)eval::parse_patch_name("P0001__1024__99999999999999999999___0");
        FAIL("a 20-digit offset was parsed");
    } catch (const eval_error& e) {
        CHECK(e.id() == "rscovlm.eval.bad_patch_name");
    }
    CHECK_THROWS_AS((void)eval::parse_patch_name("P0001__1024__0___9223372036854775808"), eval_error);
    // The largest offsets that fit, and leading zeros (Python int('000824') == 824), still parse.
    const auto big = eval::parse_patch_name("P0001__1024__9223372036854775807___0000000000000000000000824");
    REQUIRE(big);
    CHECK(big->x == 9223372036854775807LL);
    CHECK(big->y == 824);
    // merge_patches reports the bad name through the same error.
    eval::class_detections c;
    c.label = "plane";
    eval::detection d;
    d.image = "P0001__1024__99999999999999999999___0";
    d.score = 0.9;
    c.dets.push_back(d);
    CHECK_THROWS_AS(eval::merge_patches({c}), eval_error);
}
