// mma.hpp (software device): the warp-wide tensor-core instructions the flash
// attention kernels use, mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// and ldmatrix.sync.aligned.m8n8.{x1,x2,x4}[.trans].shared.b16, with exactly
// the fragment layouts of the PTX ISA (8.x), so that a kernel that reads a
// fragment element from the wrong lane or register computes the wrong product
// here as it would on a card:
//   §9.7.14.5.8  "Matrix Fragments for mma.m16n8k16 with floating point type"
//     groupID = lane >> 2, tig (threadID_in_group) = lane % 4; 16-bit elements
//     are packed two per .b32 register, the lower index in the lower half.
//     A (16x16, row): element i < 8 of the lane's a0..a3 (register i / 2):
//       row = groupID (+8 when i is 2,3,6,7), col = 2·tig + (i & 1) (+8 when i >= 4)
//     B (16x8, col):  element i < 4 of b0, b1:  row (k) = 2·tig + (i & 1) (+8 when i >= 2), col (n) = groupID
//     C, D (16x8 f32): element i < 4:           row = groupID (+8 when i >= 2), col = 2·tig + (i & 1)
//   §9.7.14.5.15 "Warp-level matrix load instruction: ldmatrix"
//     .xN loads N 8x8 matrices of 16-bit elements; lanes 8m..8m+7 give the
//     addresses of rows 0..7 of matrix m. Register m of every lane receives
//     matrix m's elements (row = lane / 4, cols 2·(lane % 4) and +1); with
//     .trans, those of the transposed matrix (rows 2·(lane % 4) and +1, col lane / 4).
// Both are warp collectives over all 32 lanes (.sync.aligned): they meet in
// emu::warp_exchange, which copies every lane's post at the rendezvous, as the
// hardware reads its operands when the instruction issues.
#pragma once

#include <cstdint>
#include <cstring>
#include <source_location>

#include "cuda_bf16.h"
#include "emu/device.hpp"

namespace emu {

struct FragmentIndex {
  int row, col;
};
// Element i of a lane's A (i < 8), B (i < 4) and C/D (i < 4) fragment of m16n8k16 (§9.7.14.5.8).
inline FragmentIndex mma_a_index(int lane, int i) {
  const int group = lane >> 2, tig = lane % 4;
  return {group + ((i & 2) ? 8 : 0), 2 * tig + (i & 1) + (i >= 4 ? 8 : 0)};
}
inline FragmentIndex mma_b_index(int lane, int i) {
  const int group = lane >> 2, tig = lane % 4;
  return {2 * tig + (i & 1) + (i >= 2 ? 8 : 0), group};
}
inline FragmentIndex mma_c_index(int lane, int i) {
  const int group = lane >> 2, tig = lane % 4;
  return {group + (i >= 2 ? 8 : 0), 2 * tig + (i & 1)};
}

inline float bf16_half(uint32_t reg, int half) {
  return bf16_bits_to_float(static_cast<unsigned short>(half ? reg >> 16 : reg & 0xffffu));
}
inline int this_lane() {
  const ThreadContext& c = *tl_thread;
  return (int)((c.thread_idx.x + c.thread_idx.y * c.block_dim.x + c.thread_idx.z * c.block_dim.x * c.block_dim.y) % 32);
}

// d = a·b + c over the warp; a (4 regs), b (2 regs), c and d (4 floats) are this lane's fragments.
// The products of two bf16 are exact in float; they are summed in k order onto c in float.
inline void mma_m16n8k16_bf16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4],
                              const std::source_location& where) {
  struct Post {
    uint32_t a[4], b[2];
  } mine;
  std::memcpy(mine.a, a, sizeof mine.a);
  std::memcpy(mine.b, b, sizeof mine.b);
  const void* const* all =
      warp_exchange(0xffffffffu, &mine, sizeof mine, "mma.sync.m16n8k16.row.col.f32.bf16.bf16.f32", where);
  float A[16][16], B[16][8];
  for (int l = 0; l < 32; l++) {
    const Post* p = static_cast<const Post*>(all[l]);
    for (int i = 0; i < 8; i++) {
      const FragmentIndex x = mma_a_index(l, i);
      A[x.row][x.col] = bf16_half(p->a[i / 2], i & 1);
    }
    for (int i = 0; i < 4; i++) {
      const FragmentIndex x = mma_b_index(l, i);
      B[x.row][x.col] = bf16_half(p->b[i / 2], i & 1);
    }
  }
  const int lane = this_lane();
  float out[4];
  for (int i = 0; i < 4; i++) {
    const FragmentIndex x = mma_c_index(lane, i);
    float s = c[i];
    for (int k = 0; k < 16; k++) s += A[x.row][k] * B[k][x.col];
    out[i] = s;
  }
  std::memcpy(d, out, sizeof out);
}

// ldmatrix .x`count` (1, 2, 4), .trans when `trans`: r[m] receives matrix m's fragment; `row`
// is this lane's row address (read when lane < 8·count, 16 bytes, as the instruction reads it).
inline void ldmatrix_b16(uint32_t* r, int count, bool trans, const void* row, const std::source_location& where) {
  struct Post {
    unsigned short e[8];
  } mine{};
  const int lane = this_lane();
  if (lane < 8 * count) std::memcpy(mine.e, row, sizeof mine.e);
  const void* const* all = warp_exchange(0xffffffffu, &mine, sizeof mine,
                                         trans ? "ldmatrix.sync.m8n8.trans.b16" : "ldmatrix.sync.m8n8.b16", where);
  for (int m = 0; m < count; m++) {
    unsigned short lo, hi;
    if (!trans) {  // (row lane/4, cols 2·(lane%4), +1)
      const Post* p = static_cast<const Post*>(all[8 * m + lane / 4]);
      lo = p->e[2 * (lane % 4)], hi = p->e[2 * (lane % 4) + 1];
    } else {  // (rows 2·(lane%4), +1, col lane/4)
      lo = static_cast<const Post*>(all[8 * m + 2 * (lane % 4)])->e[lane / 4];
      hi = static_cast<const Post*>(all[8 * m + 2 * (lane % 4) + 1])->e[lane / 4];
    }
    r[m] = (uint32_t)lo | (uint32_t)hi << 16;
  }
}

}  // namespace emu
