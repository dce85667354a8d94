// Tokenizer benchmark: load time, single-thread encode throughput and 2-thread encode_batch
// scaling, printed beside the same measurements of the Rust `tokenizers` engine (Node binding
// @anush008/tokenizers) and of the pure-JS port @huggingface/tokenizers when their results are
// given with --ref (run_tokenizer.sh measures them on the same file and corpus).
//
// usage: bench_tokenizer [--tokenizer FILE] [--corpus TXT] [--ref REF.json] [--repeats N]
// The corpus is split into blocks at blank lines ("\n\n"); each block is one encode call.
#include "bench_common.hpp"

#include <rscovlm/tokenizer/bpe.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        std::fprintf(stderr, "bench_tokenizer: cannot read %s\n", path.c_str());
        std::exit(2);
    }
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

/// A mixed corpus from the golden strings and chat prompts when no --corpus is given.
std::string default_corpus() {
    std::string out;
    std::vector<std::string> blocks;
    for (const char* rel : {"/tokenizer/cases.jsonl", "/chat_template/cases.jsonl"}) {
        std::ifstream f(std::string(RSCOVLM_TEST_DATA_DIR) + rel, std::ios::binary);
        std::string line;
        while (std::getline(f, line)) {
            auto j = nlohmann::json::parse(line);
            std::string t = j.contains("text") ? j["text"].get<std::string>() : j["rendered"].get<std::string>();
            while (!t.empty() && t.front() == '\n')
                t.erase(t.begin());
            while (!t.empty() && t.back() == '\n')
                t.pop_back();
            if (!t.empty()) blocks.push_back(t);
        }
    }
    for (std::size_t i = 0; out.size() < 3000000 && !blocks.empty(); ++i) {
        if (!out.empty()) out += "\n\n";
        out += blocks[i % blocks.size()];
    }
    return out;
}

/// Process CPU seconds of one call of f (robust when other processes share the machine).
template <class F> double cpu_once(F&& f) {
    std::clock_t c0 = std::clock();
    f();
    return static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
}

double ref_value(const nlohmann::json& ref, const char* engine, const char* key) {
    if (!ref.is_object() || !ref.contains(engine) || !ref[engine].contains(key) || !ref[engine][key].is_number())
        return 0;
    return ref[engine][key].get<double>();
}

} // namespace

int main(int argc, char** argv) {
    using namespace rscovlm;
    std::string tok_path = std::string(RSCOVLM_TEST_DATA_DIR) + "/tokenizer/qwen/tokenizer.json";
    std::string corpus_path, ref_path;
    int repeats = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--tokenizer"))
            tok_path = argv[i + 1];
        else if (!std::strcmp(argv[i], "--corpus"))
            corpus_path = argv[i + 1];
        else if (!std::strcmp(argv[i], "--ref"))
            ref_path = argv[i + 1];
        else if (!std::strcmp(argv[i], "--repeats"))
            repeats = std::max(1, std::atoi(argv[i + 1]));
        else {
            std::fprintf(stderr,
                         "usage: bench_tokenizer [--tokenizer FILE] [--corpus TXT] [--ref REF.json] [--repeats N]\n");
            return 2;
        }
    }
    nlohmann::json ref;
    if (!ref_path.empty()) ref = nlohmann::json::parse(read_file(ref_path));
    std::string corpus = corpus_path.empty() ? default_corpus() : read_file(corpus_path);
    std::vector<std::string_view> blocks;
    std::size_t bytes = 0;
    for (std::size_t p = 0; p <= corpus.size();) {
        std::size_t q = corpus.find("\n\n", p);
        if (q == std::string::npos) q = corpus.size();
        if (q > p) {
            blocks.emplace_back(corpus.data() + p, q - p);
            bytes += q - p;
        }
        p = q + 2;
    }

    std::printf("tokenizer: %s\ncorpus: %zu blocks, %.2f MB (one encode call per blank-line-separated block)\n\n",
                tok_path.c_str(), blocks.size(), bytes / 1e6);

    // ---- load: wall clock and process CPU time, best of repeats
    double load_s = 1e30, load_cpu = 1e30;
    for (int r = 0; r < repeats; ++r) {
        double cpu = 0;
        double s = bench::time_once(
            [&] { cpu = cpu_once([&] { bench::do_not_optimize(tokenizer::bpe_tokenizer::from_file(tok_path)); }); });
        load_s = std::min(load_s, s);
        load_cpu = std::min(load_cpu, cpu);
    }
    auto tok = tokenizer::bpe_tokenizer::from_file(tok_path);
    auto compare = [](const char* what, double ours_ms, double ours_cpu_ms, double ref_ms, double ref_cpu_ms,
                      const char* ref_name) {
        if (ref_ms > 0) std::printf("  -> %s: %.1fx faster than %s by wall clock", what, ref_ms / ours_ms, ref_name);
        if (ref_cpu_ms > 0) std::printf(", %.1fx by CPU time", ref_cpu_ms / ours_cpu_ms);
        if (ref_ms > 0) std::printf("\n");
    };
    auto rep = [](const char* name, double v, const char* unit) {
        if (v > 0) bench::report(name, v, unit);
    };
    std::printf("load (best of %d; wall clock / process CPU time)\n", repeats);
    bench::report("  rscovlm load (wall)", load_s * 1e3, "ms");
    bench::report("  rscovlm load (cpu)", load_cpu * 1e3, "ms");
    rep("  rust tokenizers load (wall)", ref_value(ref, "rust", "load_ms"), "ms");
    rep("  rust tokenizers load (cpu)", ref_value(ref, "rust", "load_cpu_ms"), "ms");
    rep("  @huggingface/tokenizers load (wall)", ref_value(ref, "js", "load_ms"), "ms");
    compare("load", load_s * 1e3, load_cpu * 1e3, ref_value(ref, "rust", "load_ms"),
            ref_value(ref, "rust", "load_cpu_ms"), "the Rust engine (target 3x)");
    compare("load", load_s * 1e3, load_cpu * 1e3, ref_value(ref, "js", "load_ms"), ref_value(ref, "js", "load_cpu_ms"),
            "the JS port");

    // ---- single thread, sequential encode calls (warm word cache, best of repeats, like the refs)
    std::size_t tokens = 0;
    double seq_s = 1e30, seq_cpu = 1e30;
    for (int r = 0; r < repeats; ++r) {
        std::size_t n = 0;
        double cpu = 0;
        double s = bench::time_once([&] {
            cpu = cpu_once([&] {
                for (auto b : blocks)
                    n += tok.encode(b).size();
            });
        });
        tokens = n;
        seq_s = std::min(seq_s, s);
        seq_cpu = std::min(seq_cpu, cpu);
    }
    std::printf("\nencode, 1 thread (best of %d)\n", repeats);
    bench::report("  rscovlm encode (wall)", bytes / seq_s / 1e6, "MB/s");
    bench::report("  rscovlm encode (wall)", tokens / seq_s / 1e6, "Mtok/s");
    bench::report("  rscovlm encode (cpu)", bytes / seq_cpu / 1e6, "MB/s");
    auto mbps = [&](double ms) { return ms > 0 ? bytes / (ms / 1e3) / 1e6 : 0.0; };
    rep("  rust tokenizers encode (wall)", mbps(ref_value(ref, "rust", "encode_1t_ms")), "MB/s");
    rep("  rust tokenizers encode (cpu)", mbps(ref_value(ref, "rust", "encode_1t_cpu_ms")), "MB/s");
    rep("  @huggingface/tokenizers encode (wall)", mbps(ref_value(ref, "js", "encode_1t_ms")), "MB/s");
    rep("  @huggingface/tokenizers encode (cpu)", mbps(ref_value(ref, "js", "encode_1t_cpu_ms")), "MB/s");
    compare("encode throughput", seq_s * 1e3, seq_cpu * 1e3, ref_value(ref, "rust", "encode_1t_ms"),
            ref_value(ref, "rust", "encode_1t_cpu_ms"), "the Rust engine (target 5x)");
    compare("encode throughput", seq_s * 1e3, seq_cpu * 1e3, ref_value(ref, "js", "encode_1t_ms"),
            ref_value(ref, "js", "encode_1t_cpu_ms"), "the JS port (target 10x)");
    if (ref.contains("rust") && ref["rust"].contains("tokens") && ref["rust"]["tokens"] != tokens)
        std::printf("  !! token count differs from the Rust engine: %zu vs %s\n", tokens,
                    ref["rust"]["tokens"].dump().c_str());

    // ---- encode_batch: 1 vs 2 threads (per-worker caches start empty in every call)
    double b1 = 1e30, b2 = 1e30;
    for (int r = 0; r < repeats; ++r) {
        b1 = std::min(b1, bench::time_once([&] { bench::do_not_optimize(tok.encode_batch(blocks, {1})); }));
        b2 = std::min(b2, bench::time_once([&] { bench::do_not_optimize(tok.encode_batch(blocks, {2})); }));
    }
    std::printf("\nencode_batch (best of %d)\n", repeats);
    bench::report("  rscovlm encode_batch, 1 thread", bytes / b1 / 1e6, "MB/s");
    bench::report("  rscovlm encode_batch, 2 threads", bytes / b2 / 1e6, "MB/s", bytes / b1 / 1e6, "1 thread");
    if (double r = ref_value(ref, "rust", "encode_2t_ms")) {
        double rust2 = bytes / (r / 1e3) / 1e6;
        rep("  rust tokenizers encodeBatch, 2 threads", rust2, "MB/s");
        std::printf("  -> %.1fx the Rust engine's 2-thread throughput\n", (bytes / b2 / 1e6) / rust2);
    }
    std::printf("  (linear scaling is 2.00x; the figure is only meaningful on an otherwise idle machine)\n");
    return 0;
}
