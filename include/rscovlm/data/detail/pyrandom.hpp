#pragma once
/// \file data/detail/pyrandom.hpp
/// The CPython `random.Random` methods the RSCoVLM data code calls, on top of the
/// CPython-compatible Mersenne Twister of the resolution module: `getrandbits`, `_randbelow`,
/// `choice`, `sample`, `shuffle`. Same seed and call order give the same draws as Python 3.11.

#include <rscovlm/errors.hpp>
#include <rscovlm/resolution/python_random.hpp>

#include <cmath>
#include <cstdint>
#include <unordered_set>
#include <utility>
#include <vector>

namespace rscovlm::data::detail {

using resolution::python_random;

/// `random.getrandbits(k)` for k <= 64 (C `_random_Random_getrandbits_impl`: 32-bit words,
/// least significant first, the last word shifted right to keep k bits).
inline std::uint64_t getrandbits(python_random& r, int k) {
    if (k <= 0) return 0;
    if (k <= 32) return r.next_u32() >> (32 - k);
    std::uint64_t lo = r.next_u32();
    std::uint64_t hi = r.next_u32() >> (64 - k);
    return lo | (hi << 32);
}

/// `Random._randbelow_with_getrandbits(n)`: k = n.bit_length(), redraw while r >= n.
inline std::uint64_t randbelow(python_random& r, std::uint64_t n) {
    if (n == 0) return 0;
    int k = 0;
    for (std::uint64_t v = n; v; v >>= 1) ++k;
    std::uint64_t x = getrandbits(r, k);
    while (x >= n) x = getrandbits(r, k);
    return x;
}

/// `random.choice(seq)` index.
inline std::size_t choice_index(python_random& r, std::size_t size) {
    if (size == 0) RSCOVLM_THROW(data_error, "empty_choice", "random.choice on an empty sequence");
    return static_cast<std::size_t>(randbelow(r, size));
}

/// `random.sample(range(n), k)`: the chosen indices in draw order (CPython 3.11 algorithm: a
/// pool for small populations, a rejection set for large ones).
inline std::vector<std::size_t> sample_indices(python_random& r, std::size_t n, std::size_t k) {
    if (k > n) RSCOVLM_THROW(data_error, "bad_sample", "sample larger than population or is negative");
    std::vector<std::size_t> result(k);
    std::size_t setsize = 21;
    if (k > 5) setsize += static_cast<std::size_t>(std::pow(4.0, std::ceil(std::log(static_cast<double>(k * 3)) / std::log(4.0))));
    if (n <= setsize) {
        std::vector<std::size_t> pool(n);
        for (std::size_t i = 0; i < n; ++i) pool[i] = i;
        for (std::size_t i = 0; i < k; ++i) {
            const std::size_t j = static_cast<std::size_t>(randbelow(r, n - i));
            result[i] = pool[j];
            pool[j] = pool[n - i - 1];
        }
    } else {
        std::unordered_set<std::size_t> selected;
        for (std::size_t i = 0; i < k; ++i) {
            std::size_t j = static_cast<std::size_t>(randbelow(r, n));
            while (selected.count(j)) j = static_cast<std::size_t>(randbelow(r, n));
            selected.insert(j);
            result[i] = j;
        }
    }
    return result;
}

/// `random.shuffle(x)`.
template <class T>
inline void shuffle(python_random& r, std::vector<T>& x) {
    for (std::size_t i = x.size(); i-- > 1;) {
        const std::size_t j = static_cast<std::size_t>(randbelow(r, i + 1));
        std::swap(x[i], x[j]);
    }
}

}  // namespace rscovlm::data::detail
