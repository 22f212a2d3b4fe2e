// bf16.hpp: bfloat16 <-> float conversion on the host (checkpoints, tests).
// float -> bf16 rounds to nearest, ties to even; NaN stays a (quiet) NaN.
#pragma once

#include <cstdint>
#include <cstring>

namespace align {

inline uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline float bf16_to_float(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// IEEE half -> float (safetensors F16 weights).
inline float fp16_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, u;
  if (exp == 0) {
    if (man == 0) {
      u = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((man & 0x400u) == 0) { man <<= 1; exp--; }
      u = sign | (exp << 23) | ((man & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (man << 13);
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// float -> IEEE half, round to nearest even; overflow gives ±inf, NaN stays NaN, tiny values
// become subnormals or ±0 (safetensors F16 export).
inline uint16_t float_to_fp16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00u;                 // NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00u;                // >= 65520 rounds to inf
  if (abs < 0x38800000u) {                                      // below the smallest normal half, 2^-14
    if (abs < 0x33000000u) return sign;                         // below half the smallest subnormal, 2^-25
    const uint32_t man = (abs & 0x7fffffu) | 0x800000u;         // implicit bit
    const int shift = 126 - static_cast<int>(abs >> 23);        // 14 + (113 - exp) - 1 ... aligns to 2^-24 units
    const uint32_t half_ulp = 1u << (shift - 1), rest = man & ((1u << shift) - 1);
    uint32_t h = man >> shift;
    if (rest > half_ulp || (rest == half_ulp && (h & 1u))) h++;
    return sign | static_cast<uint16_t>(h);
  }
  uint32_t h = ((abs >> 23) - 112) << 10 | ((abs >> 13) & 0x3ffu);  // rebias 127 -> 15
  const uint32_t rest = abs & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;      // may carry into the exponent: still correct
  return sign | static_cast<uint16_t>(h);
}

}  // namespace align
