#pragma once
/// \file detail/py/random.hpp
/// CPython's `random` module: the Mersenne Twister seeded as `random.seed(int)`, `random()`,
/// `uniform`, `getrandbits`, `_randbelow`, `choice`, `sample` and `shuffle`. The same seed and the
/// same call order give the same draws as Python 3.11.

#include <rscovlm/errors.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <unordered_set>
#include <utility>
#include <vector>

namespace rscovlm::detail::py {

/// \brief CPython-compatible `random.Random`: `python_random r(seed)` then `r.random()` gives the same
/// doubles as `random.seed(seed); random.random()` (seed given as a non-negative integer).
class python_random {
public:
    /// \brief Seeds like CPython `random.seed(seed)` for an int: init_by_array over the 32-bit words of |seed|.
    explicit python_random(std::uint64_t seed = 0) { seed_with(seed); }

    /// \brief Re-seeds (CPython `random.seed(seed)`).
    void seed_with(std::uint64_t seed) {
        std::vector<std::uint32_t> key;
        key.push_back(static_cast<std::uint32_t>(seed & 0xffffffffu));
        if (seed >> 32) key.push_back(static_cast<std::uint32_t>(seed >> 32));
        init_by_array(key);
    }

    /// \brief Next 32-bit output (MT19937 genrand_uint32).
    std::uint32_t next_u32() noexcept {
        if (m_index >= n) twist();
        std::uint32_t y = m_state[m_index++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        y ^= y >> 18;
        return y;
    }

    /// \brief CPython `random.random()`: 53-bit double in [0, 1) (genrand_res53).
    double random() noexcept {
        const std::uint32_t a = next_u32() >> 5, b = next_u32() >> 6;
        return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
    }

    /// \brief CPython `random.uniform(a, b)` = `a + (b - a) * random()`.
    double uniform(double a, double b) noexcept { return a + (b - a) * random(); }

private:
    static constexpr std::size_t n = 624, m = 397;

    void init_genrand(std::uint32_t s) noexcept {
        m_state[0] = s;
        for (std::size_t i = 1; i < n; ++i)
            m_state[i] = 1812433253u * (m_state[i - 1] ^ (m_state[i - 1] >> 30)) + static_cast<std::uint32_t>(i);
        m_index = n;
    }

    void init_by_array(const std::vector<std::uint32_t>& key) noexcept {
        init_genrand(19650218u);
        std::size_t i = 1, j = 0;
        const std::size_t klen = key.size();
        for (std::size_t k = (n > klen ? n : klen); k; --k) {
            m_state[i] = (m_state[i] ^ ((m_state[i - 1] ^ (m_state[i - 1] >> 30)) * 1664525u)) + key[j] +
                         static_cast<std::uint32_t>(j);
            ++i;
            ++j;
            if (i >= n) {
                m_state[0] = m_state[n - 1];
                i = 1;
            }
            if (j >= klen) j = 0;
        }
        for (std::size_t k = n - 1; k; --k) {
            m_state[i] = (m_state[i] ^ ((m_state[i - 1] ^ (m_state[i - 1] >> 30)) * 1566083941u)) -
                         static_cast<std::uint32_t>(i);
            ++i;
            if (i >= n) {
                m_state[0] = m_state[n - 1];
                i = 1;
            }
        }
        m_state[0] = 0x80000000u;
        m_index = n;
    }

    void twist() noexcept {
        for (std::size_t k = 0; k < n; ++k) {
            const std::uint32_t y = (m_state[k] & 0x80000000u) | (m_state[(k + 1) % n] & 0x7fffffffu);
            m_state[k] = m_state[(k + m) % n] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        m_index = 0;
    }

    std::array<std::uint32_t, n> m_state{};
    std::size_t m_index = n;
};

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
    for (std::uint64_t v = n; v; v >>= 1)
        ++k;
    std::uint64_t x = getrandbits(r, k);
    while (x >= n)
        x = getrandbits(r, k);
    return x;
}

/// `random.choice(seq)` index.
inline std::size_t choice_index(python_random& r, std::size_t size) {
    if (size == 0) RSCOVLM_THROW(::rscovlm::data_error, "empty_choice", "random.choice on an empty sequence");
    return static_cast<std::size_t>(randbelow(r, size));
}

/// `random.sample(range(n), k)`: the chosen indices in draw order (CPython 3.11 algorithm: a
/// pool for small populations, a rejection set for large ones).
inline std::vector<std::size_t> sample_indices(python_random& r, std::size_t n, std::size_t k) {
    if (k > n) RSCOVLM_THROW(::rscovlm::data_error, "bad_sample", "sample larger than population or is negative");
    std::vector<std::size_t> result(k);
    std::size_t setsize = 21;
    if (k > 5)
        setsize +=
            static_cast<std::size_t>(std::pow(4.0, std::ceil(std::log(static_cast<double>(k * 3)) / std::log(4.0))));
    if (n <= setsize) {
        std::vector<std::size_t> pool(n);
        for (std::size_t i = 0; i < n; ++i)
            pool[i] = i;
        for (std::size_t i = 0; i < k; ++i) {
            const std::size_t j = static_cast<std::size_t>(randbelow(r, n - i));
            result[i] = pool[j];
            pool[j] = pool[n - i - 1];
        }
    } else {
        std::unordered_set<std::size_t> selected;
        for (std::size_t i = 0; i < k; ++i) {
            std::size_t j = static_cast<std::size_t>(randbelow(r, n));
            while (selected.count(j))
                j = static_cast<std::size_t>(randbelow(r, n));
            selected.insert(j);
            result[i] = j;
        }
    }
    return result;
}

/// `random.shuffle(x)`.
template <class T> inline void shuffle(python_random& r, std::vector<T>& x) {
    for (std::size_t i = x.size(); i-- > 1;) {
        const std::size_t j = static_cast<std::size_t>(randbelow(r, i + 1));
        std::swap(x[i], x[j]);
    }
}

} // namespace rscovlm::detail::py
