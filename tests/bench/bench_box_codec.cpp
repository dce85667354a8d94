// Decode throughput of the plain quad codec (codec.quad.plain) on a 1000-object answer, in lines/s.
// tests/bench/run_box_codec.sh runs this beside box_codec_ref.py (the reference's str.split + int()
// loop) and prints the ratio. Optional argv[1]: the reference's lines/s, to print a ratio here.
// Also: the constrained-decoding mask of one decode step over Qwen2.5's 151k tokens, found through
// zoom::token_trie against testing every token (the torch backend's former loop), in steps/s.
#include "bench_common.hpp"

#include <rscovlm/box_codec/all.hpp>
#include <rscovlm/tokenizer/bpe.hpp>
#include <rscovlm/zoom/token_trie.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

namespace bc = rscovlm::box_codec;

int main(int argc, char** argv) {
    const std::vector<std::string> classes = {"plane",         "ship",   "storage-tank", "small-vehicle",
                                              "large-vehicle", "harbor", "bridge",       "helicopter"};
    // the same deterministic answer as box_codec_ref.py: 1000 lines "x1,y1,...,x4,y4 label"
    std::string answer;
    std::uint32_t state = 12345;
    auto next = [&] {
        state = state * 1103515245u + 12345u;
        return (state >> 8) % 1000;
    };
    for (int i = 0; i < 1000; ++i) {
        for (int k = 0; k < 8; ++k)
            answer += std::to_string(next()) + (k < 7 ? "," : " ");
        answer += bc::display_name(classes[static_cast<std::size_t>(i) % classes.size()]) + "\n";
    }
    bc::decode_options o;
    o.classes = classes;
    o.frame = rscovlm::geometry::frame{1024, 1024, 812, 812};
    const bc::plain_quad codec;
    std::size_t boxes = 0;
    const double t = rscovlm::bench::time_median([&] { boxes = codec.decode(answer, o).objects.size(); }, 20, 0.5);
    if (boxes != 1000) {
        std::fprintf(stderr, "unexpected: %zu boxes\n", boxes);
        return 1;
    }
    const double lines_per_s = 1000.0 / t;
    const double ref = argc > 1 ? std::atof(argv[1]) : 0.0;
    rscovlm::bench::report("codec.quad.plain decode (1000-line answer)", lines_per_s, "lines/s", ref,
                           "python split+int()");
    bc::decode_options fuzzy = o;
    const std::string misspelt = [&] {
        std::string s;
        for (int i = 0; i < 1000; ++i)
            s += "1,2,3,4,5,6,7,8 storage tanks\n";
        return s;
    }();
    const double tf = rscovlm::bench::time_median([&] { (void)codec.decode(misspelt, fuzzy); }, 5, 0.3);
    rscovlm::bench::report("codec.quad.plain decode, every label fuzzy-matched", 1000.0 / tf, "lines/s");

    const std::string tok_path = std::string(RSCOVLM_TEST_DATA_DIR) + "/tokenizer/qwen/tokenizer.json";
    if (!std::filesystem::exists(tok_path)) return 0;
    const auto tok = rscovlm::tokenizer::bpe_tokenizer::from_file(tok_path);
    std::vector<std::string> bytes(tok.vocab_size());
    for (std::size_t i = 0; i < bytes.size(); ++i)
        bytes[i] = tok.token_bytes(static_cast<std::int32_t>(i), true);
    const rscovlm::zoom::token_trie trie(bytes);
    const auto grammar = bc::make_answer_grammar(codec, classes, 1024, 1024);
    // The states along one answer line: every step of decoding it.
    std::vector<rscovlm::zoom::answer_constraint::state> states{grammar->start()};
    for (char ch : std::string("120,34,560,78,901,12,34,56 storage tank\n")) {
        auto st = states.back();
        if (!grammar->step(st, static_cast<unsigned char>(ch))) break;
        states.push_back(st);
    }
    std::vector<std::int64_t> ok;
    std::size_t admitted = 0;
    const double t_trie = rscovlm::bench::time_median(
        [&] {
            admitted = 0;
            for (auto st : states) {
                ok.clear();
                trie.admissible(*grammar, st, 1000, ok);
                admitted += ok.size();
            }
        },
        20, 0.5);
    std::size_t scanned = 0;
    const double t_scan = rscovlm::bench::time_median(
        [&] {
            scanned = 0;
            for (auto st : states)
                for (const auto& b : bytes) {
                    if (b.empty()) continue;
                    auto t = st;
                    bool good = true;
                    for (char ch : b)
                        if (!grammar->step(t, static_cast<unsigned char>(ch))) {
                            good = false;
                            break;
                        }
                    if (good && grammar->min_bytes_to_end(t) <= 1000) ++scanned;
                }
        },
        5, 0.5);
    if (admitted != scanned) {
        std::fprintf(stderr, "unexpected: the trie admits %zu tokens, the scan %zu\n", admitted, scanned);
        return 1;
    }
    const double steps = static_cast<double>(states.size());
    rscovlm::bench::report("constrained mask, 151k-token vocabulary (token_trie)", steps / t_trie, "steps/s",
                           steps / t_scan, "scan of every token");
    return 0;
}
