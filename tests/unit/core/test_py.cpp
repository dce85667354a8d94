// The Python-behaviour layer (rscovlm/detail/py): every expected value below is what CPython 3.11
// prints for the expression in the comment.
#include <rscovlm/detail/py/py.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace pyt = rscovlm::detail::py;

TEST_CASE("py: str.strip and friends use str.isspace") {
    CHECK(pyt::strip(" \xC2\x85"
                     "a\xC2\xA0 ") == "a"); // " \x85a\xa0 ".strip()
    CHECK(pyt::strip("\xE3\x80\x80\x1f"
                     "a b\xE2\x80\xA9") == "a b"); // "\u3000\x1fa b\u2029".strip()
    CHECK(pyt::strip("\xE2\x80\x8B"
                     "a") == "\xE2\x80\x8B"
                             "a"); // U+200B is not whitespace
    CHECK(pyt::strip(" \t\n\v\f\r\x1c\x1d\x1e\x1f") == "");
    CHECK(pyt::strip("") == "");
    CHECK(pyt::rstrip(" a ") == " a");
    CHECK(pyt::lstrip(" a ") == "a ");
    CHECK(pyt::rstrip("a\xC2\xA0\xC2\xA0") == "a");
    CHECK(pyt::rstrip("a\xC2") == "a\xC2");     // a lone lead byte is kept
    CHECK(pyt::strip("..a.b..", ".") == "a.b"); // "..a.b..".strip(".")
    CHECK(pyt::rstrip("Where is the plane\n Answer the question using a single word or phrase.",
                      "\n Answer the question using a single word or phrase.") == "W");
    CHECK(pyt::lstrip("</tool_call>\n{", "</tool_call>\n") == "{");
    CHECK(pyt::strip_ascii("\xC2\xA0"
                           " a \x1c") == "\xC2\xA0"
                                         " a \x1c"); // b"\xc2\xa0 a \x1c".strip()
    CHECK(pyt::strip_ascii("\t a \v") == "a");
    CHECK(pyt::isspace("\xE3\x80\x80\x1c"));
    CHECK_FALSE(pyt::isspace(""));
    CHECK(pyt::lower_ascii("AbC\xC3\x89") == "abc\xC3\x89");
    CHECK(pyt::upper_ascii("aBc") == "ABC");
}

TEST_CASE("py: str.split, splitlines, replace") {
    CHECK(pyt::split("\x1c x\x1d") == std::vector<std::string_view>{"x"}); // "\x1c x\x1d".split()
    CHECK(pyt::split(" a\xC2\xA0"
                     "b  c ") == std::vector<std::string_view>{"a", "b", "c"});
    CHECK(pyt::split(" a  b ", " ") == std::vector<std::string_view>{"", "a", "", "b", ""});
    CHECK(pyt::split("a, b", ", ") == std::vector<std::string_view>{"a", "b"});
    // "a\x85b\u2028c\r\nd\x1e".splitlines()
    CHECK(pyt::splitlines("a\xC2\x85"
                          "b\xE2\x80\xA8"
                          "c\r\nd\x1e") == std::vector<std::string_view>{"a", "b", "c", "d"});
    CHECK(pyt::replace("aaa", "aa", "b") == "ba");
    CHECK(pyt::replace("abc", "", "x") == "abc");
}

TEST_CASE("py: int() of a float truncates, int() of a str parses") {
    CHECK(pyt::int_trunc(-2.7) == -2);
    CHECK(pyt::int_trunc(2.9) == 2);
    CHECK(pyt::int_trunc(-0.5) == 0);
    CHECK(pyt::int_trunc(1e300) == std::numeric_limits<std::int64_t>::max());
    CHECK(pyt::int_trunc(std::nan("")) == 0);
    CHECK(pyt::parse_int(" 42 ") == 42);
    CHECK(pyt::parse_int("-1_000") == -1000);
    CHECK(pyt::parse_int("+7") == 7);
    CHECK(pyt::parse_int("\xC2\xA0 7\xE3\x80\x80") == 7); // int("\xa0 7\u3000")
    CHECK(pyt::parse_int("-9223372036854775808") == std::numeric_limits<long long>::min());
    CHECK_FALSE(pyt::parse_int("9223372036854775808")); // a big int in Python: out of range here
    for (const char* bad : {"1__0", "_1", "1_", "+", "- 1", "0x10", "1.0", "+-5", "", " "}) {
        CAPTURE(bad);
        CHECK_FALSE(pyt::parse_int(bad));
        CHECK_FALSE(pyt::parse_int_as_double(bad));
    }
    CHECK(*pyt::parse_int_as_double("99999999999999999999") == doctest::Approx(1e20)); // rounded beyond 2^53
    CHECK(*pyt::parse_int_as_double(" -12 ") == -12.0);
}

TEST_CASE("py: float() of a str, repr(float), '%.nf'") {
    CHECK(pyt::parse_float(" 1_000.5 ") == 1000.5);
    CHECK(pyt::parse_float("\xC2\xA0"
                           "2.5") == 2.5);
    CHECK(pyt::parse_float("1e1_0") == 1e10);
    CHECK(pyt::parse_float("+3e2") == 300.0);
    CHECK(*pyt::parse_float("-inf") == -HUGE_VAL);
    CHECK(*pyt::parse_float("1e500") == HUGE_VAL);
    CHECK(std::isnan(*pyt::parse_float("NaN")));
    for (const char* bad : {"0x10", "nan(1)", "1__0", "inf_", ".", "", "1.2.3", "+-1"}) {
        CAPTURE(bad);
        CHECK_FALSE(pyt::parse_float(bad));
    }
    CHECK(pyt::float_repr(1e16) == "1e+16");
    CHECK(pyt::float_repr(1e15) == "1000000000000000.0");
    CHECK(pyt::float_repr(10000000.0) == "10000000.0");
    CHECK(pyt::float_repr(1e-5) == "1e-05");
    CHECK(pyt::float_repr(0.1) == "0.1");
    CHECK(pyt::float_repr(-0.0) == "-0.0");
    CHECK(pyt::float_repr(964.2f) == "964.2"); // str(np.float32(964.2))
    CHECK(pyt::format_fixed(2.675, 2) == "2.67");
    CHECK(pyt::format_fixed(0.5, 0) == "0");
    CHECK(pyt::format_fixed(1.5, 0) == "2");
    CHECK(pyt::format_fixed(-std::nan(""), 2) == "nan");
    CHECK(pyt::format_fixed(-HUGE_VAL, 2) == "-inf");
    CHECK(pyt::to_float32(1e39) == HUGE_VALF);
}

TEST_CASE("py: json.dumps with Python's defaults") {
    nlohmann::ordered_json j;
    j["a"] = "caf\xC3\xA9 \xF0\x9F\x98\x80\x7f\x01";
    j["b"] = nlohmann::ordered_json::array({1, 2.5, nullptr, true, 1e16, 1e-5, 0.1});
    // json.dumps({"a": "café 😀\x7f\x01", "b": [1, 2.5, None, True, 1e16, 1e-5, 0.1]})
    CHECK(pyt::json_dumps(j) ==
          R"({"a": "caf\u00e9 \ud83d\ude00\u007f\u0001", "b": [1, 2.5, null, true, 1e+16, 1e-05, 0.1]})");
    CHECK(pyt::json_dumps(nlohmann::json(std::nan(""))) == "NaN");
    CHECK(pyt::json_dumps_string("\"\\\n\r\t\b\f") == R"("\"\\\n\r\t\b\f")");
    // ill-formed UTF-8 reads as bytes.decode("utf-8", "replace")
    CHECK(pyt::json_dumps_string("\xE2\x82"
                                 "a\xFF") == R"("\ufffda\ufffd")");
}

TEST_CASE("py: UTF-8 decoding with errors='replace'") {
    const std::string fffd = "\xEF\xBF\xBD";
    // b"\xe2\x82a\xff\xed\xa0\x80".decode("utf-8", "replace")
    CHECK(pyt::decode_replace("\xE2\x82"
                              "a\xFF\xED\xA0\x80") == fffd + "a" + fffd + fffd + fffd + fffd);
    CHECK(pyt::decode_replace("ok \xC3\xA9") == "ok \xC3\xA9");
    std::size_t i = 0;
    const std::string s = "\xF0\x9F\x98\x80\xC0";
    CHECK(pyt::next_code_point(s, i) == 0x1F600);
    CHECK(i == 4);
    CHECK(pyt::next_code_point(s, i) == 0xFFFD);
    CHECK(i == 5);
}

TEST_CASE("py: random reproduces CPython's Mersenne Twister") {
    pyt::python_random r(0);
    CHECK(r.random() == 0.8444218515250481); // random.seed(0); random.random()
    CHECK(r.random() == 0.7579544029403025);
    pyt::python_random g(0); // random.seed(0); getrandbits(32), getrandbits(40), choice(range(10)), randrange(100)
    CHECK(pyt::getrandbits(g, 32) == 3626764237ULL);
    CHECK(pyt::getrandbits(g, 40) == 834878271422ULL);
    CHECK(pyt::choice_index(g, 10) == 6);
    CHECK(pyt::randbelow(g, 100) == 5);
    pyt::python_random s(0);
    std::vector<int> x{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    pyt::shuffle(s, x);
    CHECK(x == std::vector<int>{7, 8, 1, 5, 3, 4, 2, 0, 9, 6});
    pyt::python_random t(0);
    CHECK(pyt::sample_indices(t, 100, 5) == std::vector<std::size_t>{49, 97, 53, 5, 33});
    pyt::python_random big((1ULL << 40) + 5);
    CHECK(big.random() == 0.5043802970418443);
}

TEST_CASE("py: float32 <-> bfloat16 / float16 as torch") {
    CHECK(pyt::f32_to_bf16(1.0f) == 0x3f80);
    CHECK(pyt::f32_to_bf16(1.00390625f) == 0x3f80); // tie -> even
    CHECK(pyt::f32_to_bf16(1.01171875f) == 0x3f82); // tie -> even (up)
    CHECK(pyt::f32_to_bf16(std::nanf("")) == 0x7fc0);
    CHECK(pyt::f32_to_bf16(-std::nanf("")) == 0x7fc0); // torch: any NaN -> 0x7FC0
    CHECK(pyt::f32_to_bf16(3.4e38f) == 0x7f80);        // rounds to infinity
    CHECK(pyt::bf16_to_f32(0xc040) == -3.0f);
    CHECK(pyt::f32_to_f16(65520.0f) == 0x7c00);
    CHECK(pyt::f32_to_f16(-std::nanf("")) == 0xfe00);
    CHECK(pyt::f16_to_f32(0x3555) == 0.333251953125f);
}

TEST_CASE("py: whole-file reads") {
    const std::string path = "test_py_read_file.bin";
    {
        std::FILE* f = std::fopen(path.c_str(), "wb");
        REQUIRE(f);
        std::fwrite("a\r\nb\0c", 1, 6, f);
        std::fclose(f);
    }
    CHECK(pyt::try_read_file(path) == std::string("a\r\nb\0c", 6)); // bytes, no newline translation
    std::remove(path.c_str());
    CHECK_FALSE(pyt::try_read_file(path));
    std::string out;
    CHECK(pyt::read_file(".", out) == pyt::read_status::read_failed); // a directory opens but does not read
#if RSCOVLM_HAS_EXCEPTIONS
    try {
        (void)pyt::read_file_or_throw(path, "open_failed", "cannot open " + path);
        FAIL("no error");
    } catch (const rscovlm::error& e) {
        CHECK(std::string(e.id()) == "rscovlm.io.open_failed");
    }
#endif
}

TEST_CASE("py: float % and round()") {
    CHECK(pyt::mod(-1.0, 3.0) == 2.0);        // -1.0 % 3.0
    CHECK(pyt::mod(1.0, -3.0) == -2.0);       // 1.0 % -3.0
    CHECK(std::signbit(pyt::mod(3.0, -3.0))); // 3.0 % -3.0 == -0.0
    CHECK(pyt::mod(370.0, 180.0) == 10.0);
    CHECK(pyt::round_half_even(2.5) == 2.0);
    CHECK(pyt::round_half_even(3.5) == 4.0);
    CHECK(pyt::round_half_even(-0.5) == 0.0);
}
