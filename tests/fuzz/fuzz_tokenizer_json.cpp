// Fuzz target: the tokenizer.json loader on arbitrary (mostly mutated) input. Any outcome other
// than a loaded tokenizer or an rscovlm::error (a typed error naming what was wrong) is a bug.
#include <rscovlm/tokenizer/bpe.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        auto tok = rscovlm::tokenizer::bpe_tokenizer::from_json_string(text, "fuzz.json");
        // a file that loads must also encode and decode
        auto ids = tok.encode("hello \xC3\xA9t\xC3\xA9 [M] <|im_end|>\n\n  x");
        (void)tok.decode(ids, true);
    } catch (const rscovlm::error& e) {
        if (e.id().rfind("rscovlm.tokenizer.", 0) != 0) std::abort();
    }
    return 0;
}
