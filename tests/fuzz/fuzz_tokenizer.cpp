// Fuzz target: encode and decode arbitrary bytes (valid or invalid UTF-8).
// Invariants checked: no crash; decode never yields invalid UTF-8; decode(encode(x)) == x for
// valid UTF-8 input that is already in NFC (every character NFC_QC=Yes, ccc 0) with a
// tokenizer whose added tokens strip nothing; decoding random ids never fails.
#include <rscovlm/detail/unicode.hpp>
#include <rscovlm/tokenizer/bpe.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

// A small self-contained byte-level BPE tokenizer.json: the 256 byte symbols, a few merges, and
// added tokens with every flag combination (the seeds of corpus/tokenizer_json were made from it).
namespace tokenizer_fuzz {

inline std::string tiny_tokenizer_json(bool with_flags) {
    using nlohmann::json;
    const auto& bl = rscovlm::tokenizer::detail::byte_level;
    auto sym = [&](unsigned char b) {
        std::string s;
        rscovlm::detail::unicode::append_utf8(s, bl.byte_to_cp[b]);
        return s;
    };
    json vocab = json::object();
    for (int b = 0; b < 256; ++b)
        vocab[sym(static_cast<unsigned char>(b))] = b;
    json merges = json::array();
    int next = 256;
    auto merge = [&](const std::string& a, const std::string& b) {
        merges.push_back(a + " " + b);
        if (!vocab.contains(a + b)) vocab[a + b] = next++;
    };
    merge("h", "e");
    merge("l", "l");
    merge("he", "ll");
    merge("hell", "o");
    merge(sym(' '), "a");
    merge("a", "a");
    merge("aa", "aa");
    merge(sym(0xC3), sym(0xA9));
    merge(sym('\n'), sym('\n'));
    json added = json::array();
    auto add = [&](const std::string& content, bool sw, bool ls, bool rs, bool norm, bool special) {
        added.push_back({{"id", next++},
                         {"content", content},
                         {"single_word", sw},
                         {"lstrip", ls},
                         {"rstrip", rs},
                         {"normalized", norm},
                         {"special", special}});
    };
    add("<|im_end|>", false, false, false, false, true);
    add("<tool_call>", false, false, false, false, false);
    if (with_flags) {
        add("[M]", false, true, false, false, true);
        add("[R]", false, false, true, false, false);
        add("[W]", true, false, false, true, false);
        add("\xC3\xA9t\xC3\xA9", false, true, true, true, false);
    }
    std::string regex = std::string(rscovlm::tokenizer::qwen2_split_pattern);
    json byte_level = {
        {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
    json j = {{"version", "1.0"},
              {"added_tokens", added},
              {"normalizer", {{"type", "NFC"}}},
              {"pre_tokenizer",
               {{"type", "Sequence"},
                {"pretokenizers",
                 json::array(
                     {{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}},
                      byte_level})}}},
              {"decoder", byte_level},
              {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"ignore_merges", false}}}};
    return j.dump();
}

} // namespace tokenizer_fuzz

namespace {
const rscovlm::tokenizer::bpe_tokenizer& plain() {
    static const auto t =
        rscovlm::tokenizer::bpe_tokenizer::from_json_string(tokenizer_fuzz::tiny_tokenizer_json(false));
    return t;
}
const rscovlm::tokenizer::bpe_tokenizer& flags() {
    static const auto t =
        rscovlm::tokenizer::bpe_tokenizer::from_json_string(tokenizer_fuzz::tiny_tokenizer_json(true));
    return t;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace u = rscovlm::detail::unicode;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto ids = plain().encode(text);
    std::string back = plain().decode(ids);
    if (!u::is_valid_utf8(back)) std::abort();
    if (u::is_valid_utf8(text) && u::nfc_quick_yes(text) && back != text) std::abort();
    auto ids2 = flags().encode(text);
    if (!u::is_valid_utf8(flags().decode(ids2, true))) std::abort();
    // random ids, including out-of-range ones
    std::vector<std::int32_t> rnd;
    for (std::size_t i = 0; i + 1 < size && i < 64; i += 2)
        rnd.push_back(static_cast<std::int32_t>(data[i] | (data[i + 1] << 8)) % 400 - 20);
    if (!u::is_valid_utf8(plain().decode(rnd, false))) std::abort();
    return 0;
}
