// Driver for fuzz targets in normal (non-libFuzzer) builds: replays every file of the corpus
// directory given as argv[1], then 2000 deterministic pseudo-random inputs (random bytes, and
// mutations of corpus files up to 64 KiB: multi-megabyte inputs are replayed once, not mutated a
// thousand times). Built with the sanitizers in the sanitizer CI job.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
    std::vector<std::vector<std::uint8_t>> corpus;
    if (argc > 1 && std::filesystem::is_directory(argv[1])) {
        std::vector<std::filesystem::path> files;
        for (const auto& e : std::filesystem::directory_iterator(argv[1]))
            if (e.is_regular_file()) files.push_back(e.path());
        std::sort(files.begin(), files.end());
        for (const auto& p : files) {
            std::ifstream f(p, std::ios::binary);
            corpus.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
        }
    }
    std::vector<const std::vector<std::uint8_t>*> seeds;
    for (const auto& c : corpus) {
        LLVMFuzzerTestOneInput(c.data(), c.size());
        if (c.size() <= 64 * 1024) seeds.push_back(&c);
    }
    std::mt19937_64 rng(20261127);
    const int n = 2000;
    for (int i = 0; i < n; ++i) {
        std::vector<std::uint8_t> buf;
        if (!seeds.empty() && (i % 2 == 0)) {
            buf = *seeds[rng() % seeds.size()];
            std::size_t muts = 1 + rng() % 8;
            for (std::size_t m = 0; m < muts && !buf.empty(); ++m) {
                std::size_t pos = rng() % buf.size();
                switch (rng() % 4) {
                case 0:
                    buf[pos] = static_cast<std::uint8_t>(rng());
                    break;
                case 1:
                    buf.erase(buf.begin() + static_cast<std::ptrdiff_t>(pos));
                    break;
                case 2:
                    buf.insert(buf.begin() + static_cast<std::ptrdiff_t>(pos), static_cast<std::uint8_t>(rng()));
                    break;
                default:
                    buf.resize(pos);
                    break;
                }
            }
        } else {
            buf.resize(rng() % 512);
            for (auto& b : buf)
                b = static_cast<std::uint8_t>(rng());
        }
        LLVMFuzzerTestOneInput(buf.data(), buf.size());
    }
    std::printf("replayed %zu corpus files and %d generated inputs\n", corpus.size(), n);
    return 0;
}
