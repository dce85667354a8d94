#pragma once
/// \file parallel.hpp
/// \brief A minimal fork-join `parallel_for` over index ranges used by the image operations.

#include <algorithm>
#include <cstddef>
#include <thread>
#include <vector>

namespace rscovlm::imaging {

/// \brief Number of worker threads to use for `requested` (0 = hardware concurrency, at least 1).
inline int resolve_threads(int requested) noexcept {
    if (requested > 0) return requested;
    unsigned hc = std::thread::hardware_concurrency();
    return hc == 0 ? 1 : static_cast<int>(hc);
}

/// \brief Calls `fn(begin, end)` on contiguous chunks covering [0, n), on up to `threads` threads
/// (0 = hardware concurrency). Work smaller than `min_chunk` items per thread runs inline. `fn` must not throw.
template <class F> void parallel_for(std::size_t n, int threads, F&& fn, std::size_t min_chunk = 1) {
    if (n == 0) return;
    std::size_t t = static_cast<std::size_t>(resolve_threads(threads));
    if (min_chunk == 0) min_chunk = 1;
    t = std::min(t, (n + min_chunk - 1) / min_chunk);
    if (t <= 1) {
        fn(std::size_t{0}, n);
        return;
    }
    std::vector<std::thread> pool;
    pool.reserve(t - 1);
    const std::size_t chunk = n / t, rem = n % t;
    std::size_t begin = 0;
    std::size_t first_end = chunk + (rem > 0 ? 1 : 0);
    begin = first_end;
    for (std::size_t i = 1; i < t; ++i) {
        const std::size_t len = chunk + (i < rem ? 1 : 0);
        const std::size_t b = begin, e = begin + len;
        pool.emplace_back([&fn, b, e] { fn(b, e); });
        begin = e;
    }
    fn(std::size_t{0}, first_end);
    for (auto& th : pool)
        th.join();
}

} // namespace rscovlm::imaging
