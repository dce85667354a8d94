#pragma once
// A small chrono harness shared by the benchmark programs in tests/bench/. Benchmarks print
// numbers and ratios; they never assert on time.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace rscovlm::bench {

/// Wall-clock seconds of one call of f.
template <class F> double time_once(F&& f) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double>(t1 - t0).count();
}

/// Median seconds of f over `repeats` runs after one warm-up run, repeating until at least
/// `min_seconds` were spent in total.
template <class F> double time_median(F&& f, int repeats = 5, double min_seconds = 0.2) {
    f();
    std::vector<double> t;
    double total = 0;
    while (static_cast<int>(t.size()) < repeats || total < min_seconds) {
        double s = time_once(f);
        t.push_back(s);
        total += s;
        if (t.size() > 1000) break;
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

/// Prints one aligned result row: name, value, unit, and optionally a ratio against a reference.
inline void report(const std::string& name, double value, const std::string& unit, double reference = 0,
                   const std::string& reference_name = "") {
    if (reference > 0)
        std::printf("%-44s %14.3f %-10s ratio vs %s: %.2fx\n", name.c_str(), value, unit.c_str(),
                    reference_name.c_str(), value / reference);
    else
        std::printf("%-44s %14.3f %-10s\n", name.c_str(), value, unit.c_str());
}

/// Keeps the optimiser from discarding a computed value.
template <class T> inline void do_not_optimize(const T& v) {
    asm volatile("" : : "g"(&v) : "memory");
}

} // namespace rscovlm::bench
