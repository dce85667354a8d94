#include <doctest/doctest.h>

#include <rscovlm/detail/unicode.hpp>

#include <ios>
#include <string>

namespace u = rscovlm::detail::unicode;

TEST_CASE("tokenizer: unicode tables record their version and classify code points") {
    CHECK(rscovlm::detail::unicode_tables::unicode_version == "15.0.0");
    // White_Space (the \s of Oniguruma and Rust): U+0085 yes, U+FEFF/U+180E/U+200B no.
    for (char32_t c : {0x09u, 0x0Au, 0x0Bu, 0x0Cu, 0x0Du, 0x20u, 0x85u, 0xA0u, 0x1680u, 0x2000u, 0x200Au, 0x2028u,
                       0x2029u, 0x202Fu, 0x205Fu, 0x3000u})
        CHECK_MESSAGE(u::is_white_space(c), "U+" << std::hex << static_cast<unsigned>(c));
    for (char32_t c : {0xFEFFu, 0x180Eu, 0x200Bu, 0x2060u, 0x1Cu, 0x1Fu, 0x41u})
        CHECK_MESSAGE(!u::is_white_space(c), "U+" << std::hex << static_cast<unsigned>(c));
    CHECK(u::is_letter(U'a'));
    CHECK(u::is_letter(0x4E2D));  // CJK
    CHECK(u::is_letter(0x017F));  // long s
    CHECK(!u::is_letter(0x0301)); // combining acute (Mn)
    CHECK(u::is_number(U'7'));
    CHECK(u::is_number(0x2163)); // ROMAN NUMERAL FOUR (Nl)
    CHECK(u::is_number(0x00B2)); // SUPERSCRIPT TWO (No)
    CHECK(!u::is_letter(0x10FFFF));
    CHECK(u::properties(0x110000) == 0);
    CHECK(u::is_word(U'_'));
    CHECK(u::is_word(0x0301));
    CHECK(u::is_word(0x200D)); // ZWJ (Join_Control)
    CHECK(!u::is_word(U'-'));
    CHECK(u::combining_class(0x0301) == 230);
    CHECK(u::combining_class(0x0323) == 220);
}

TEST_CASE("tokenizer: NFC normalization") {
    CHECK(u::nfc("e\xCC\x81") == "\xC3\xA9");                                // e + acute -> é
    CHECK(u::nfc("\xE2\x84\xAB") == "\xC3\x85");                             // ANGSTROM SIGN -> Å
    CHECK(u::nfc("\xE2\x84\xA6") == "\xCE\xA9");                             // OHM SIGN -> Ω
    CHECK(u::nfc("\xE2\x84\xAA") == "K");                                    // KELVIN SIGN -> K
    CHECK(u::nfc("\xCD\xBE") == ";");                                        // GREEK QUESTION MARK
    CHECK(u::nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8") == "\xEA\xB0\x81"); // jamo L V T -> 각
    CHECK(u::nfc("\xEA\xB0\x80\xE1\x86\xA8") == "\xEA\xB0\x81");             // LV syllable + T -> LVT
    // canonical reordering: dot below (220) before acute (230), then composition with q? none
    CHECK(u::nfc("q\xCC\x81\xCC\xA3") == "q\xCC\xA3\xCC\x81");
    // a + dot below + acute: ạ composes, acute stays (blocked? no: different class -> composes to ặ? no, ạ́)
    CHECK(u::nfc("a\xCC\x81\xCC\xA3") == "\xE1\xBA\xA1\xCC\x81");
    // composition exclusion: U+0958 (DEVANAGARI QA) decomposes and does not recompose
    CHECK(u::nfc("\xE0\xA5\x98") == "\xE0\xA4\x95\xE0\xA4\xBC");
    // compatibility characters are kept by NFC
    CHECK(u::nfc("\xEF\xAC\x81") == "\xEF\xAC\x81"); // ﬁ ligature
    CHECK(u::nfc("abc") == "abc");
    CHECK(u::nfc("") == "");
    CHECK(u::nfc_quick_yes("plain ascii and \xC3\xA9"));
    CHECK(!u::nfc_quick_yes("e\xCC\x81"));
}

TEST_CASE("tokenizer: invalid UTF-8 is replaced per maximal subpart") {
    CHECK(u::is_valid_utf8("h\xC3\xA9llo"));
    CHECK(!u::is_valid_utf8("\xFF"));
    CHECK(!u::is_valid_utf8("\xED\xA0\x80"));     // UTF-8 encoded surrogate
    CHECK(!u::is_valid_utf8("\xC0\xAF"));         // overlong
    CHECK(!u::is_valid_utf8("\xF4\x90\x80\x80")); // > U+10FFFF
    const std::string fffd = "\xEF\xBF\xBD";
    CHECK(u::to_valid_utf8("a\xFF"
                           "b") == "a" + fffd + "b");
    CHECK(u::to_valid_utf8("\xE2\x82") == fffd); // truncated 3-byte sequence: one U+FFFD
    CHECK(u::to_valid_utf8("\xE2\x82"
                           "a") == fffd + "a");
    CHECK(u::to_valid_utf8("\xF0\x9F\x98") == fffd);               // truncated 4-byte
    CHECK(u::to_valid_utf8("\xED\xA0\x80") == fffd + fffd + fffd); // surrogate: 3 subparts
    CHECK(u::to_valid_utf8("\xC0\xAF") == fffd + fffd);
    CHECK(u::to_valid_utf8("\x80\x80") == fffd + fffd);
}
