#include <doctest/doctest.h>

#include <rscovlm/tokenizer/pretokenizer.hpp>

#include <string>
#include <vector>

namespace {
std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    rscovlm::tokenizer::qwen2_pretokenize(s, [&](std::string_view p) { out.emplace_back(p); });
    return out;
}
using V = std::vector<std::string>;
} // namespace

TEST_CASE("tokenizer: Qwen2 split regex alternatives") {
    CHECK(split("") == V{});
    CHECK(split("Hello world") == V{"Hello", " world"});
    CHECK(split("it's") == V{"it", "'s"});
    CHECK(split("IT'S we'LL they'Re") == V{"IT", "'S", " we", "'LL", " they", "'Re"});
    CHECK(split("'x") == V{"'x"});
    CHECK(split("a\xC5\xBF") == V{"a\xC5\xBF"});                           // ſ is a letter
    CHECK(split("'\xC5\xBF") == V{"'\xC5\xBF"});                           // '+ſ: (?i) folds ſ to s
    CHECK(split("12345") == V{"1", "2", "3", "4", "5"});                   // \p{N} one at a time
    CHECK(split("x = (a+b);\n") == V{"x", " =", " (", "a", "+b", ");\n"}); // punctuation then letters: alternative 2
    CHECK(split("a  b") == V{"a", " ", " b"});                             // \s+(?!\S) backtracks one
    CHECK(split("a   ") == V{"a", "   "});                                 // trailing run at end of input
    CHECK(split("a \n\n b") == V{"a", " \n\n", " b"});                     // \s*[\r\n]+ ends at the last newline
    CHECK(split("a\n \n  b") == V{"a", "\n \n", " ", " b"});
    CHECK(split("\tfoo") == V{"\tfoo"}); // any non-CR/LF char before letters
    CHECK(split("\nfoo") == V{"\n", "foo"});
    CHECK(split("..\r\n\r\nx") == V{"..\r\n\r\n", "x"});
    CHECK(split(" \xEF\xBB\xBF"
                "b") == V{" \xEF\xBB\xBF", "b"}); // U+FEFF is not \s: " ?[^\s..]+"
    CHECK(split("a\xC2\x85"
                "b") == V{"a", "\xC2\x85"
                               "b"});                                                // U+0085 is \s but not CR/LF
    CHECK(split("\xE3\x80\x80\xE3\x80\x80x") == V{"\xE3\x80\x80", "\xE3\x80\x80x"}); // U+3000
    CHECK(split("\xE4\xB8\xAD\xE6\x96\x87 text") == V{"\xE4\xB8\xAD\xE6\x96\x87", " text"});
}
