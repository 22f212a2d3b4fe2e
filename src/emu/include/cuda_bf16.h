// cuda_bf16.h (software device): __nv_bfloat16 as CUDA defines it for the
// host and device code of align.cu: 16 bits, float -> bf16 rounds to nearest
// even (NaN stays a quiet NaN), bf16 -> float is exact. Arithmetic goes
// through float, as CUDA's operators do on hardware without native bf16 math.
#pragma once

#include <cstdint>
#include <cstring>

#include "emu/qualifiers.hpp"

struct __nv_bfloat16_raw {
  unsigned short x;
};

namespace emu {
inline unsigned short float_to_bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<unsigned short>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<unsigned short>(u >> 16);
}
inline float bf16_bits_to_float(unsigned short h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace emu

struct __nv_bfloat16 {
  unsigned short __x;
  __nv_bfloat16() = default;
  __nv_bfloat16(const __nv_bfloat16_raw& r) : __x(r.x) {}
  __nv_bfloat16(float f) : __x(emu::float_to_bf16_bits(f)) {}
  __nv_bfloat16(double d) : __x(emu::float_to_bf16_bits(static_cast<float>(d))) {}
  __nv_bfloat16(int i) : __x(emu::float_to_bf16_bits(static_cast<float>(i))) {}
  operator float() const { return emu::bf16_bits_to_float(__x); }
  operator __nv_bfloat16_raw() const { return __nv_bfloat16_raw{__x}; }
};
static_assert(sizeof(__nv_bfloat16) == 2, "bf16 is 16 bits");

struct __nv_bfloat162 {
  __nv_bfloat16 x, y;
};

inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  return __nv_bfloat16(f);
}
inline __nv_bfloat16 __float2bfloat16(float f) {
  return __nv_bfloat16(f);
}
inline float __bfloat162float(__nv_bfloat16 h) {
  return static_cast<float>(h);
}
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) {
  return h.__x;
}
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) {
  return __nv_bfloat16(__nv_bfloat16_raw{u});
}
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) {
  return __nv_bfloat162{__nv_bfloat16(a), __nv_bfloat16(b)};
}
inline __nv_bfloat162 __float22bfloat162_rn(float2 f) {
  return __floats2bfloat162_rn(f.x, f.y);
}
inline float2 __bfloat1622float2(__nv_bfloat162 h) {
  return float2{(float)h.x, (float)h.y};
}
