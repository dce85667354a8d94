#pragma once
/// \file python_random.hpp
/// \brief A Mersenne Twister that reproduces CPython's `random` module for `seed(int)`, `random()` and
/// `uniform(a, b)`, so seeded augmentations match the Python reference draw for draw.

#include <array>
#include <cstdint>
#include <vector>

namespace rscovlm::resolution {

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
            m_state[i] = (m_state[i] ^ ((m_state[i - 1] ^ (m_state[i - 1] >> 30)) * 1664525u)) + key[j] + static_cast<std::uint32_t>(j);
            ++i;
            ++j;
            if (i >= n) {
                m_state[0] = m_state[n - 1];
                i = 1;
            }
            if (j >= klen) j = 0;
        }
        for (std::size_t k = n - 1; k; --k) {
            m_state[i] = (m_state[i] ^ ((m_state[i - 1] ^ (m_state[i - 1] >> 30)) * 1566083941u)) - static_cast<std::uint32_t>(i);
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

}  // namespace rscovlm::resolution
