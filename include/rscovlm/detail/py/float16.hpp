#pragma once
/// \file detail/py/float16.hpp
/// float32 <-> bfloat16 / IEEE binary16 bit conversions as torch does them (`tensor.to(dtype)`,
/// `c10::BFloat16` / `c10::Half`): round to nearest, ties to even; overflow gives infinity.
/// NaN: bfloat16 always becomes the quiet NaN 0x7FC0 (torch's `round_to_nearest_even`, whatever
/// the sign or payload); binary16 keeps the sign and becomes 0x7E00 / 0xFE00 (as
/// `fp16_ieee_from_fp32_value`). The widening conversions are exact.

#include <cstdint>
#include <cstring>

namespace rscovlm::detail::py {

/// float32 -> bfloat16 bits (torch `.to(torch.bfloat16)`): round to nearest even, NaN -> 0x7FC0.
inline std::uint16_t f32_to_bf16(float f) noexcept {
    std::uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
    const std::uint32_t lsb = (u >> 16) & 1u;
    u += 0x7fffu + lsb;
    return static_cast<std::uint16_t>(u >> 16);
}

/// bfloat16 bits -> float32 (exact).
inline float bf16_to_f32(std::uint16_t b) noexcept {
    const std::uint32_t u = static_cast<std::uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

/// IEEE binary16 bits -> float.
inline float f16_to_f32(std::uint16_t h) noexcept {
    std::uint32_t sign = (static_cast<std::uint32_t>(h) & 0x8000u) << 16;
    std::uint32_t exp = (h >> 10) & 0x1fu;
    std::uint32_t mant = h & 0x3ffu;
    std::uint32_t u;
    if (exp == 0) {
        if (mant == 0) {
            u = sign;
        } else { // subnormal: normalise
            int e = -1;
            do {
                ++e;
                mant <<= 1;
            } while ((mant & 0x400u) == 0);
            u = sign | (static_cast<std::uint32_t>(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 0x1f) {
        u = sign | 0x7f800000u | (mant << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

/// float -> IEEE binary16 bits, round to nearest even; overflow gives infinity.
inline std::uint16_t f32_to_f16(float f) noexcept {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    std::uint32_t sign = (u >> 16) & 0x8000u;
    std::uint32_t absu = u & 0x7fffffffu;
    if (absu > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u);  // NaN
    if (absu >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u); // >= 65520 rounds to inf
    if (absu < 0x38800000u) {                                                   // subnormal or zero in half
        if (absu < 0x33000000u) return static_cast<std::uint16_t>(sign);        // < 2^-25 rounds to 0
        std::uint32_t e = absu >> 23;
        std::uint32_t mant = (absu & 0x7fffffu) | 0x800000u;
        // value = mant * 2^(e-150); the half subnormal unit is 2^-24, so the result is mant >> (126 - e)
        std::uint32_t shift = 126u - e;
        std::uint32_t res = mant >> shift;
        std::uint32_t rem = mant & ((1u << shift) - 1u);
        std::uint32_t halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (res & 1u))) ++res;
        return static_cast<std::uint16_t>(sign | res);
    }
    std::uint32_t res = ((absu >> 13) - (112u << 10));
    std::uint32_t rem = absu & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (res & 1u))) ++res;
    return static_cast<std::uint16_t>(sign | res);
}

} // namespace rscovlm::detail::py
