// mma.cuh: the tensor-core instructions of the flash attention kernels as a
// small device vocabulary, one source for both builds: inline PTX under nvcc
// (sm_80 and later), the emulation of src/emu/include/emu/mma.hpp on the
// software device, which keeps the PTX ISA's fragment layouts (which lane holds
// which element; written out there and in docs/kernels.md).
//   FragA, FragB, FragC   a lane's part of the 16x16 bf16 A, 16x8 bf16 B and
//                         16x8 f32 C/D operands of mma.m16n8k16
//   mma_bf16(acc, a, b)   acc += a·b, fp32 accumulation
//   ldmatrix<N>(r, row)   N (1, 2, 4) 8x8 bf16 matrices from shared memory,
//   ldmatrix_trans<N>     lanes 8m..8m+7 giving the row addresses of matrix m
//   pack_bf16(lo, hi)     two floats rounded to bf16 in one register (lo first)
// ldmatrix reads 16 bytes per row: row addresses are 16-byte aligned.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

#ifdef ALIGN_SOFTWARE_DEVICE
#include <source_location>

#include "emu/mma.hpp"
// The emulated collectives name the kernel line that called them in their error messages.
#define ALIGN_MMA_WHERE , const std::source_location& where = std::source_location::current()
#else
#define ALIGN_MMA_WHERE
#endif

namespace align::kernels {

struct FragA {
  uint32_t x[4];  // 8 bf16 of a 16x16 row-major tile
};
struct FragB {
  uint32_t x[2];  // 4 bf16 of a 16x8 tile, element (k, n)
};
struct FragC {
  float x[4];  // 4 floats of a 16x8 tile: rows lane/4 (x[0..1]) and lane/4 + 8 (x[2..3]), cols 2·(lane%4) + {0,1}
};

__device__ __forceinline__ void mma_bf16(FragC& acc, const FragA& a, const FragB& b ALIGN_MMA_WHERE) {
#ifdef ALIGN_SOFTWARE_DEVICE
  emu::mma_m16n8k16_bf16(acc.x, a.x, b.x, acc.x, where);
#else
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(acc.x[0]), "+f"(acc.x[1]), "+f"(acc.x[2]), "+f"(acc.x[3])
      : "r"(a.x[0]), "r"(a.x[1]), "r"(a.x[2]), "r"(a.x[3]), "r"(b.x[0]), "r"(b.x[1]));
#endif
}

template <int N>
__device__ __forceinline__ void ldmatrix(uint32_t (&r)[N], const __nv_bfloat16* row ALIGN_MMA_WHERE) {
  static_assert(N == 1 || N == 2 || N == 4, "ldmatrix loads 1, 2 or 4 matrices");
#ifdef ALIGN_SOFTWARE_DEVICE
  emu::ldmatrix_b16(r, N, false, row, where);
#else
  const unsigned address = (unsigned)__cvta_generic_to_shared(row);
  if constexpr (N == 1)
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(address));
  else if constexpr (N == 2)
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(address));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(address));
#endif
}

template <int N>
__device__ __forceinline__ void ldmatrix_trans(uint32_t (&r)[N], const __nv_bfloat16* row ALIGN_MMA_WHERE) {
  static_assert(N == 1 || N == 2 || N == 4, "ldmatrix loads 1, 2 or 4 matrices");
#ifdef ALIGN_SOFTWARE_DEVICE
  emu::ldmatrix_b16(r, N, true, row, where);
#else
  const unsigned address = (unsigned)__cvta_generic_to_shared(row);
  if constexpr (N == 1)
    asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(address));
  else if constexpr (N == 2)
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n"
                 : "=r"(r[0]), "=r"(r[1])
                 : "r"(address));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(address));
#endif
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat16 l = __float2bfloat16_rn(lo), h = __float2bfloat16_rn(hi);
  unsigned short bl, bh;
  std::memcpy(&bl, &l, 2);
  std::memcpy(&bh, &h, 2);
  return (uint32_t)bl | (uint32_t)bh << 16;
}

}  // namespace align::kernels
