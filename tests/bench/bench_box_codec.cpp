// Decode throughput of the plain quad codec (codec.quad.plain) on a 1000-object answer, in lines/s.
// tests/bench/run_box_codec.sh runs this beside box_codec_ref.py (the reference's str.split + int()
// loop) and prints the ratio. Optional argv[1]: the reference's lines/s, to print a ratio here.
#include "bench_common.hpp"

#include <rscovlm/box_codec/all.hpp>

#include <cstdio>
#include <cstdlib>
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
    return 0;
}
