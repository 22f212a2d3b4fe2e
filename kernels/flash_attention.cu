// flash_attention.cu: exact causal grouped-query attention that never stores
// the (T, T) scores (FlashAttention-2, Dao 2023), forward and backward, on
// tensor cores: bf16 q, k, v, dout operands on mma.m16n8k16 with fp32
// accumulation, tiles in shared memory, fragments by ldmatrix (kernels/mma.cuh).
// The math is that of src/cpu/attention.cpp; docs/kernels.md explains it.
//
// Visibility. Query column t of row n sees key j iff
//   j <= t < len_n  and  ( seq_start[t] <= j  or  prefix_start[t] <= j < prefix_end[t] )
// (the packed and shared-prompt rule of src/model/batch.hpp); with the three
// arrays null, seq_start = 0 and no prefix: plain causal over right-padded rows.
// A tile pair no query of the tile may see is skipped; a pair every query
// sees whole needs no mask; the rest is masked per element (tile_flags).
//
// Forward, one block per (query tile of Br rows, head h, row n), one warp per
// 16 query rows: for each visible key tile (Bc keys)
//   S = Q Kᵀ (16 × Bc per warp, registers)          m' = max(m, rowmax S)
//   P = e^{(S − m')/√HS}, l = l·e^{(m − m')/√HS} + rowsum P,  O = O·e^{(m − m')/√HS} + P V
// then O /= l and lse = m/√HS + log l are written (fp32): O(T) memory.
// Backward, with delta_t = dout_t·out_t (flash_delta_kernel) and
// P = e^{S/√HS − lse} recomputed from the saved lse, dS = P∘(dP − delta), dP = dO Vᵀ:
//   dK/dV: one block per (key tile, kv head g, row n), one warp per 16 keys, loops
//          over the heads of the group and the visible query tiles in order:
//          dV += Pᵀ dO,  dK += dSᵀ Q /√HS  (each element of dK, dV has one owner)
//   dQ:    one block per (query tile, head h, row n), as the forward:
//          dQ += dS K /√HS
// No atomics: the same bits every run. Rows and keys past len_n come out 0.
// Head dims 64 and 128 (flash_attention_supported); other head dims use the
// batched-GEMM attention (src/cuda/attention.cuh), as the backend does.
#include "cuda/check.cuh"
#include "kernels/kernels.cuh"
#include "kernels/mma.cuh"
#include "kernels/reduce.cuh"

namespace align::kernels {

namespace {

using bf16 = __nv_bfloat16;

// Every tiling choice of the three kernels. Predicted, not yet measured on a card
// (dev/bench/NOTES.md): Br = Bc = 64 with 4 warps is FlashAttention-2's choice for
// head dims 64 and 128 on sm_80/sm_90. At HS 128 the backward's other axis halves (the dK/dV
// kernel's query tile, the dQ kernel's key tile) so that the accumulators (2·HS/8 fragments)
// and the 16 × 32 scores fit in the registers: with 64, ptxas (sm_90) reports 255 registers and
// 344 bytes of spills for the dQ kernel; with 32, 240 and none (dK/dV: 255, 16 bytes).
template <int HS_>
struct FlashTraits {
  static constexpr int HS = HS_;
  static constexpr int kWarps = 4;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kRows = 16 * kWarps;  // Br: query rows per forward/dQ block, 16 per warp (the mma's M)
  static constexpr int kKeys = 64;           // Bc: keys per tile (forward, dQ); keys per dK/dV block, 16 per warp
  static constexpr int kBwdQueries = HS == 128 ? 32 : 64;  // queries per tile in the dK/dV kernel
  static constexpr int kBwdKeys = HS == 128 ? 32 : 64;     // keys per tile in the dQ kernel
  // Shared-memory rows are padded by 16 bytes: the 8 row addresses of an ldmatrix then fall in
  // 8 different bank groups (an unpadded HS·2-byte stride puts them all in one: 8-way conflicts).
  static constexpr int kStride = HS + 8;
  static_assert(HS % 32 == 0, "score fragments are loaded 32 columns at a time");
  static_assert(kKeys == 16 * kWarps, "the dK/dV block gives each warp 16 keys");
};

// ---- visibility ----------------------------------------------------------------------------

struct Visibility {
  const int32_t* lengths;       // (N)
  const int32_t* seq_start;     // (N,T) or null
  const int32_t* prefix_start;  // (N,T) or null (no shared prefix)
  const int32_t* prefix_end;    // (N,T) or null, with prefix_start
  int T;
};

// The keys one query sees: [lo, hi] ∪ [plo, phi); none for padding and rows past T.
struct RowKeys {
  int lo, hi, plo, phi;
};

__device__ __forceinline__ RowKeys row_keys(const Visibility& v, int n, int t) {
  if (t >= v.T || t >= v.lengths[n]) return {0, -1, 0, 0};
  if (!v.seq_start) return {0, t, 0, 0};
  const int64_t i = (int64_t)n * v.T + t;
  if (!v.prefix_start) return {v.seq_start[i], t, 0, 0};
  return {v.seq_start[i], t, v.prefix_start[i], v.prefix_end[i]};
}
__device__ __forceinline__ bool sees(const RowKeys& r, int j) {
  return (r.lo <= j && j <= r.hi) || (r.plo <= j && j < r.phi);
}
// Whether the query sees some / every key of [k0, k1).
__device__ __forceinline__ bool sees_some(const RowKeys& r, int k0, int k1) {
  return (r.lo < k1 && k0 <= r.hi && r.lo <= r.hi) || (r.plo < k1 && k0 < r.phi && r.plo < r.phi);
}
__device__ __forceinline__ bool sees_all(const RowKeys& r, int k0, int k1) {
  return (r.lo <= k0 && k1 - 1 <= r.hi) || (r.plo <= k0 && k1 <= r.phi);
}

// Per tile of the block's other axis: some[i] = some query of the pair sees some key of it,
// every[i] = every query sees every key (no mask needed). The block's fixed tile is
// [f0, f0 + fixed) on the queries axis (queries_fixed) or the keys axis; the others are
// tiles of `other` rows. Ends with a barrier.
__device__ void tile_flags(int* some, int* every, const Visibility& v, int n, bool queries_fixed, int f0, int fixed,
                           int other) {
  const int tiles = (v.T + other - 1) / other;
  for (int i = threadIdx.x; i < tiles; i += blockDim.x) some[i] = 0, every[i] = 1;
  __syncthreads();
  if (queries_fixed) {  // one thread per query row of the block, every key tile
    for (int t = f0 + (int)threadIdx.x; t < f0 + fixed; t += blockDim.x) {
      const RowKeys r = row_keys(v, n, t);
      for (int i = 0; i < tiles; i++) {
        const int k0 = i * other, k1 = min(k0 + other, v.T);
        if (sees_some(r, k0, k1)) atomicMax(&some[i], 1);
        if (!sees_all(r, k0, k0 + other)) atomicMin(&every[i], 0);
      }
    }
  } else {  // the block's keys against every query row, each vote to the row's tile
    for (int t = (int)threadIdx.x; t < v.T; t += blockDim.x) {
      const RowKeys r = row_keys(v, n, t);
      if (sees_some(r, f0, f0 + fixed)) atomicMax(&some[t / other], 1);
      if (!sees_all(r, f0, f0 + fixed)) atomicMin(&every[t / other], 0);
    }
    // A tile running past T has rows that see nothing.
    if (threadIdx.x == 0 && v.T % other) atomicMin(&every[tiles - 1], 0);
  }
  __syncthreads();
}

// ---- tiles and fragments: the vocabulary ---------------------------------------------------

// tile (rows, HS) in shared memory (row stride kStride) = rows [r0, r0 + rows) of `src`
// (rows `ld` bf16 apart, already offset to the head's columns); rows >= valid are zeros.
template <class Tr>
__device__ __forceinline__ void load_tile(bf16* tile, const bf16* src, int64_t ld, int r0, int rows, int valid) {
  constexpr int kChunks = Tr::HS / 8;  // 16-byte chunks per row
  for (int i = threadIdx.x; i < rows * kChunks; i += blockDim.x) {
    const int r = i / kChunks, c = (i % kChunks) * 8;
    uint4 x{0u, 0u, 0u, 0u};
    if (r0 + r < valid) x = *reinterpret_cast<const uint4*>(src + (int64_t)(r0 + r) * ld + c);
    *reinterpret_cast<uint4*>(tile + r * Tr::kStride + c) = x;
  }
}

// a = the A fragments of the 16 rows of `tile` from row r0: 16 × HS as HS/16 k-steps.
template <class Tr>
__device__ __forceinline__ void load_a(FragA (&a)[Tr::HS / 16], const bf16* tile, int r0) {
  const int lane = threadIdx.x % 32, m = lane / 8;  // lanes 8m.. address matrix m: rows +8·(m&1), cols +8·(m>>1)
  for (int ks = 0; ks < Tr::HS / 16; ks++)
    ldmatrix<4>(a[ks].x, tile + (r0 + lane % 8 + 8 * (m & 1)) * Tr::kStride + 16 * ks + 8 * (m >> 1));
}

// acc (16 × 8·NB) += a (16 × 16·KS) · Bᵀ, where `bt` holds B transposed: 8·NB rows of 16·KS
// (keys × dims for S = Q Kᵀ). Two k-steps per ldmatrix.x4.
template <int KS, int NB, int kStride>
__device__ __forceinline__ void mma_abt(FragC (&acc)[NB], const FragA (&a)[KS], const bf16* bt) {
  static_assert(KS % 2 == 0, "two k-steps per ldmatrix");
  const int lane = threadIdx.x % 32;
  for (int nb = 0; nb < NB; nb++)
    for (int ks = 0; ks < KS; ks += 2) {
      FragB b[2];
      uint32_t r[4];
      ldmatrix<4>(r, bt + (8 * nb + lane % 8) * kStride + 16 * ks + 8 * (lane / 8));
      b[0].x[0] = r[0], b[0].x[1] = r[1], b[1].x[0] = r[2], b[1].x[1] = r[3];
      mma_bf16(acc[nb], a[ks], b[0]);
      mma_bf16(acc[nb], a[ks + 1], b[1]);
    }
}

// acc (16 × 8·NB) += a (16 × 16·KS) · B, where `b` holds B: 16·KS rows of 8·NB (keys × dims
// for O = P V). Two n-blocks per ldmatrix.x4.trans.
template <int KS, int NB, int kStride>
__device__ __forceinline__ void mma_ab(FragC (&acc)[NB], const FragA (&a)[KS], const bf16* b) {
  static_assert(NB % 2 == 0, "two n-blocks per ldmatrix");
  const int lane = threadIdx.x % 32;
  for (int ks = 0; ks < KS; ks++)
    for (int nb = 0; nb < NB; nb += 2) {
      FragB f[2];
      uint32_t r[4];
      ldmatrix_trans<4>(r, b + (16 * ks + lane % 8 + 8 * ((lane / 8) % 2)) * kStride + 8 * (nb + lane / 16));
      f[0].x[0] = r[0], f[0].x[1] = r[1], f[1].x[0] = r[2], f[1].x[1] = r[3];
      mma_bf16(acc[nb], a[ks], f[0]);
      mma_bf16(acc[nb + 1], a[ks], f[1]);
    }
}

// The accumulators of a 16 × 16·KS product as the A operand of the next one (bf16): the C
// layout of two neighbouring n-blocks is the A layout of one k-step.
template <int KS>
__device__ __forceinline__ void to_a(FragA (&a)[KS], const FragC (&c)[2 * KS]) {
  for (int ks = 0; ks < KS; ks++) {
    a[ks].x[0] = pack_bf16(c[2 * ks].x[0], c[2 * ks].x[1]);
    a[ks].x[1] = pack_bf16(c[2 * ks].x[2], c[2 * ks].x[3]);
    a[ks].x[2] = pack_bf16(c[2 * ks + 1].x[0], c[2 * ks + 1].x[1]);
    a[ks].x[3] = pack_bf16(c[2 * ks + 1].x[2], c[2 * ks + 1].x[3]);
  }
}

template <int NB>
__device__ __forceinline__ void fill(FragC (&c)[NB], float v) {
  for (int nb = 0; nb < NB; nb++)
    for (int i = 0; i < 4; i++) c[nb].x[i] = v;
}

// Where a lane's accumulator element i of n-block nb sits in the 16 × 8·NB tile.
__device__ __forceinline__ int frag_row(int i) {
  return (int)(threadIdx.x % 32) / 4 + 8 * (i / 2);
}
__device__ __forceinline__ int frag_col(int nb, int i) {
  return 8 * nb + 2 * (int)(threadIdx.x % 32 % 4) + i % 2;
}

// The maximum of each of the lane's two rows (x[0..1]: row lane/4, x[2..3]: +8) over the tile;
// a row's 8·NB values are spread over the 4 lanes of its quad.
template <int NB>
__device__ __forceinline__ void row_max(float (&m)[2], const FragC (&s)[NB]) {
  for (int r = 0; r < 2; r++) {
    float x = -INFINITY;
    for (int nb = 0; nb < NB; nb++) x = fmaxf(x, fmaxf(s[nb].x[2 * r], s[nb].x[2 * r + 1]));
    x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
    m[r] = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
  }
}
template <int NB>
__device__ __forceinline__ void row_sum(float (&l)[2], const FragC (&s)[NB]) {
  for (int r = 0; r < 2; r++) {
    float x = 0.f;
    for (int nb = 0; nb < NB; nb++) x += s[nb].x[2 * r] + s[nb].x[2 * r + 1];
    x += __shfl_xor_sync(0xffffffffu, x, 1);
    l[r] = x + __shfl_xor_sync(0xffffffffu, x, 2);
  }
}
// Each of the lane's two rows times f[row].
template <int NB>
__device__ __forceinline__ void rescale(FragC (&o)[NB], const float (&f)[2]) {
  for (int nb = 0; nb < NB; nb++)
    for (int i = 0; i < 4; i++) o[nb].x[i] *= f[i / 2];
}

// ---- forward --------------------------------------------------------------------------------

constexpr float kLog2e = 1.4426950408889634f;

template <class Tr>
__global__ void __launch_bounds__(Tr::kThreads)
    flash_forward_kernel(float* out, float* lse, const bf16* qkv, Visibility vis, int NH, int NKV) {
  constexpr int HS = Tr::HS, Br = Tr::kRows, Bc = Tr::kKeys, KS = HS / 16;
  const int T = vis.T, n = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * Br;
  const int QKV = (NH + 2 * NKV) * HS, g = h / (NH / NKV), len = vis.lengths[n];
  const int warp = threadIdx.x / 32, tiles = (T + Bc - 1) / Bc;
  bf16* sQ = align_dynamic_shared<bf16>();
  bf16* sK = sQ + Br * Tr::kStride;
  bf16* sV = sK + Bc * Tr::kStride;
  int* some = reinterpret_cast<int*>(sV + Bc * Tr::kStride);
  int* every = some + tiles;
  const bf16* rows = qkv + (int64_t)n * T * QKV;

  load_tile<Tr>(sQ, rows + h * HS, QKV, q0, Br, min(len, T));
  tile_flags(some, every, vis, n, true, q0, Br, Bc);  // ends with a barrier: sQ is there
  FragA q[KS];
  load_a<Tr>(q, sQ, 16 * warp);
  RowKeys mine[2];
  for (int r = 0; r < 2; r++) mine[r] = row_keys(vis, n, q0 + 16 * warp + frag_row(2 * r));

  FragC o[HS / 8];
  fill(o, 0.f);
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  const float c = kLog2e * rsqrtf((float)HS);  // e^{x/√HS} = 2^{c·x}
  for (int kt = 0; kt < tiles; kt++) {
    if (!some[kt]) continue;  // the same for the whole block
    const int k0 = kt * Bc;
    __syncthreads();  // every warp is done with the previous K and V
    load_tile<Tr>(sK, rows + (NH + g) * HS, QKV, k0, Bc, len);
    load_tile<Tr>(sV, rows + (NH + NKV + g) * HS, QKV, k0, Bc, len);
    __syncthreads();
    FragC s[Bc / 8];  // S = Q Kᵀ
    fill(s, 0.f);
    mma_abt<KS, Bc / 8, Tr::kStride>(s, q, sK);
    if (!every[kt])
      for (int nb = 0; nb < Bc / 8; nb++)
        for (int i = 0; i < 4; i++)
          if (!sees(mine[i / 2], k0 + frag_col(nb, i))) s[nb].x[i] = -INFINITY;
    float mt[2], alpha[2];
    row_max(mt, s);
    for (int r = 0; r < 2; r++) {
      const float m_new = fmaxf(m[r], mt[r]);
      alpha[r] = m_new == -INFINITY ? 1.f : exp2f(c * (m[r] - m_new));
      m[r] = m_new;
    }
    for (int nb = 0; nb < Bc / 8; nb++)  // P = e^{(S − m)/√HS}; masked entries give 0
      for (int i = 0; i < 4; i++) s[nb].x[i] = m[i / 2] == -INFINITY ? 0.f : exp2f(c * (s[nb].x[i] - m[i / 2]));
    float lt[2];
    row_sum(lt, s);
    for (int r = 0; r < 2; r++) l[r] = l[r] * alpha[r] + lt[r];
    rescale(o, alpha);
    FragA p[Bc / 16];
    to_a(p, s);
    mma_ab<Bc / 16, HS / 8, Tr::kStride>(o, p, sV);  // O += P V
  }

  // O /= l and lse = m/√HS + log l; a row that sees nothing (padding) gets O = 0 and lse = 0.
  for (int r = 0; r < 2; r++) {
    const int t = q0 + 16 * warp + frag_row(2 * r);
    const bool any = l[r] > 0.f;
    const float inv = any ? 1.f / l[r] : 0.f;
    if (t >= T) continue;
    float* orow = out + ((int64_t)n * T + t) * NH * HS + h * HS;
    for (int nb = 0; nb < HS / 8; nb++) {
      const int d = frag_col(nb, 2 * r);
      orow[d] = o[nb].x[2 * r] * inv;
      orow[d + 1] = o[nb].x[2 * r + 1] * inv;
    }
    if (threadIdx.x % 4 == 0) lse[((int64_t)n * NH + h) * T + t] = any ? m[r] * c / kLog2e + logf(l[r]) : 0.f;
  }
}

// ---- backward -------------------------------------------------------------------------------

// delta (N,NH,T) = Σ_d dout·out per query and head (0 for padding), one warp each.
__global__ void flash_delta_kernel(float* delta, const float* dout, const float* out, const int32_t* lengths, int N,
                                   int T, int NH, int HS) {
  const int64_t w = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (w >= (int64_t)N * NH * T) return;
  const int t = (int)(w % T), h = (int)(w / T % NH), n = (int)(w / ((int64_t)T * NH));
  const int64_t at = ((int64_t)n * T + t) * NH * HS + (int64_t)h * HS;
  float s = 0.f;
  for (int d = lane; d < HS; d += 32) s += dout[at + d] * out[at + d];
  s = warp_sum(s);
  if (lane == 0) delta[w] = t < lengths[n] ? s : 0.f;
}

// dK, dV of the block's Bc keys of kv head g, from every head of the group.
template <class Tr>
__global__ void __launch_bounds__(Tr::kThreads)
    flash_backward_kv_kernel(float* dqkv, const bf16* qkv, const bf16* dout, const float* lse, const float* delta,
                             Visibility vis, int NH, int NKV) {
  constexpr int HS = Tr::HS, Bc = Tr::kKeys, Bq = Tr::kBwdQueries, KS = HS / 16;
  const int T = vis.T, n = blockIdx.z, g = blockIdx.y, k0 = blockIdx.x * Bc;
  const int QKV = (NH + 2 * NKV) * HS, group = NH / NKV, len = vis.lengths[n];
  const int warp = threadIdx.x / 32, tiles = (T + Bq - 1) / Bq;
  bf16* sK = align_dynamic_shared<bf16>();
  bf16* sV = sK + Bc * Tr::kStride;
  bf16* sQ = sV + Bc * Tr::kStride;
  bf16* sO = sQ + Bq * Tr::kStride;  // dout
  float* sLse = reinterpret_cast<float*>(sO + Bq * Tr::kStride);
  float* sDelta = sLse + Bq;
  RowKeys* sRows = reinterpret_cast<RowKeys*>(sDelta + Bq);
  int* some = reinterpret_cast<int*>(sRows + Bq);
  int* every = some + tiles;
  const bf16* rows = qkv + (int64_t)n * T * QKV;
  const bf16* drows = dout + (int64_t)n * T * NH * HS;

  load_tile<Tr>(sK, rows + (NH + g) * HS, QKV, k0, Bc, len);
  load_tile<Tr>(sV, rows + (NH + NKV + g) * HS, QKV, k0, Bc, len);
  tile_flags(some, every, vis, n, false, k0, Bc, Bq);
  FragA k[KS], v[KS];  // the warp's 16 keys
  load_a<Tr>(k, sK, 16 * warp);
  load_a<Tr>(v, sV, 16 * warp);
  const int key0 = k0 + 16 * warp;  // + frag_row(i): the key of the lane's row

  FragC dk[HS / 8], dv[HS / 8];
  fill(dk, 0.f), fill(dv, 0.f);
  const float c = kLog2e * rsqrtf((float)HS);
  for (int h = g * group; h < (g + 1) * group; h++)
    for (int qt = 0; qt < tiles; qt++) {
      if (!some[qt]) continue;
      const int q0 = qt * Bq;
      __syncthreads();
      load_tile<Tr>(sQ, rows + h * HS, QKV, q0, Bq, min(len, T));
      load_tile<Tr>(sO, drows + h * HS, NH * HS, q0, Bq, min(len, T));
      for (int i = threadIdx.x; i < Bq; i += blockDim.x) {
        const int t = q0 + i;
        const bool in = t < T;
        sLse[i] = in ? lse[((int64_t)n * NH + h) * T + t] * kLog2e : 0.f;
        sDelta[i] = in ? delta[((int64_t)n * NH + h) * T + t] : 0.f;
        sRows[i] = row_keys(vis, n, t);
      }
      __syncthreads();
      FragC s[Bq / 8];  // Sᵀ = K Qᵀ (keys × queries)
      fill(s, 0.f);
      mma_abt<KS, Bq / 8, Tr::kStride>(s, k, sQ);
      for (int nb = 0; nb < Bq / 8; nb++)  // Pᵀ = e^{S/√HS − lse}, 0 where hidden
        for (int i = 0; i < 4; i++) {
          const int qi = frag_col(nb, i);
          const bool seen = every[qt] || sees(sRows[qi], key0 + frag_row(i));
          s[nb].x[i] = seen ? exp2f(c * s[nb].x[i] - sLse[qi]) : 0.f;
        }
      FragA p[Bq / 16];
      to_a(p, s);
      mma_ab<Bq / 16, HS / 8, Tr::kStride>(dv, p, sO);  // dV += Pᵀ dO
      FragC dp[Bq / 8];                                 // dPᵀ = V dOᵀ
      fill(dp, 0.f);
      mma_abt<KS, Bq / 8, Tr::kStride>(dp, v, sO);
      for (int nb = 0; nb < Bq / 8; nb++)  // dSᵀ = Pᵀ∘(dPᵀ − delta)
        for (int i = 0; i < 4; i++) dp[nb].x[i] = s[nb].x[i] * (dp[nb].x[i] - sDelta[frag_col(nb, i)]);
      FragA ds[Bq / 16];
      to_a(ds, dp);
      mma_ab<Bq / 16, HS / 8, Tr::kStride>(dk, ds, sQ);  // dK += dSᵀ Q
    }

  const float scale = rsqrtf((float)HS);
  for (int i = 0; i < 4; i += 2) {
    const int j = key0 + frag_row(i);
    if (j >= T) continue;
    float* krow = dqkv + ((int64_t)n * T + j) * QKV + (NH + g) * HS;
    float* vrow = krow + NKV * HS;
    for (int nb = 0; nb < HS / 8; nb++) {
      const int d = frag_col(nb, i);
      krow[d] = dk[nb].x[i] * scale, krow[d + 1] = dk[nb].x[i + 1] * scale;
      vrow[d] = dv[nb].x[i], vrow[d + 1] = dv[nb].x[i + 1];
    }
  }
}

// dQ of the block's Br queries of head h.
template <class Tr>
__global__ void __launch_bounds__(Tr::kThreads)
    flash_backward_q_kernel(float* dqkv, const bf16* qkv, const bf16* dout, const float* lse, const float* delta,
                            Visibility vis, int NH, int NKV) {
  constexpr int HS = Tr::HS, Br = Tr::kRows, Bc = Tr::kBwdKeys, KS = HS / 16;
  const int T = vis.T, n = blockIdx.z, h = blockIdx.y, q0 = blockIdx.x * Br;
  const int QKV = (NH + 2 * NKV) * HS, g = h / (NH / NKV), len = vis.lengths[n];
  const int warp = threadIdx.x / 32, tiles = (T + Bc - 1) / Bc;
  bf16* sQ = align_dynamic_shared<bf16>();
  bf16* sO = sQ + Br * Tr::kStride;  // dout
  bf16* sK = sO + Br * Tr::kStride;
  bf16* sV = sK + Bc * Tr::kStride;
  int* some = reinterpret_cast<int*>(sV + Bc * Tr::kStride);
  int* every = some + tiles;
  const bf16* rows = qkv + (int64_t)n * T * QKV;

  load_tile<Tr>(sQ, rows + h * HS, QKV, q0, Br, min(len, T));
  load_tile<Tr>(sO, dout + (int64_t)n * T * NH * HS + h * HS, NH * HS, q0, Br, min(len, T));
  tile_flags(some, every, vis, n, true, q0, Br, Bc);
  FragA q[KS], dy[KS];  // the warp's 16 queries and their dout
  load_a<Tr>(q, sQ, 16 * warp);
  load_a<Tr>(dy, sO, 16 * warp);
  RowKeys mine[2];
  float lse2[2], dl[2];  // lse·log2 e and delta of the lane's two rows
  for (int r = 0; r < 2; r++) {
    const int t = q0 + 16 * warp + frag_row(2 * r);
    mine[r] = row_keys(vis, n, t);
    lse2[r] = t < T ? lse[((int64_t)n * NH + h) * T + t] * kLog2e : 0.f;
    dl[r] = t < T ? delta[((int64_t)n * NH + h) * T + t] : 0.f;
  }

  FragC dq[HS / 8];
  fill(dq, 0.f);
  const float c = kLog2e * rsqrtf((float)HS);
  for (int kt = 0; kt < tiles; kt++) {
    if (!some[kt]) continue;
    const int k0 = kt * Bc;
    __syncthreads();
    load_tile<Tr>(sK, rows + (NH + g) * HS, QKV, k0, Bc, len);
    load_tile<Tr>(sV, rows + (NH + NKV + g) * HS, QKV, k0, Bc, len);
    __syncthreads();
    FragC s[Bc / 8], dp[Bc / 8];
    fill(s, 0.f), fill(dp, 0.f);
    mma_abt<KS, Bc / 8, Tr::kStride>(s, q, sK);    // S = Q Kᵀ
    mma_abt<KS, Bc / 8, Tr::kStride>(dp, dy, sV);  // dP = dO Vᵀ
    for (int nb = 0; nb < Bc / 8; nb++)            // dS = P∘(dP − delta), P = e^{S/√HS − lse}, 0 where hidden
      for (int i = 0; i < 4; i++) {
        const bool seen = every[kt] || sees(mine[i / 2], k0 + frag_col(nb, i));
        const float p = seen ? exp2f(c * s[nb].x[i] - lse2[i / 2]) : 0.f;
        dp[nb].x[i] = p * (dp[nb].x[i] - dl[i / 2]);
      }
    FragA ds[Bc / 16];
    to_a(ds, dp);
    mma_ab<Bc / 16, HS / 8, Tr::kStride>(dq, ds, sK);  // dQ += dS K
  }

  const float scale = rsqrtf((float)HS);
  for (int i = 0; i < 4; i += 2) {
    const int t = q0 + 16 * warp + frag_row(i);
    if (t >= T) continue;
    float* qrow = dqkv + ((int64_t)n * T + t) * QKV + h * HS;
    for (int nb = 0; nb < HS / 8; nb++) {
      const int d = frag_col(nb, i);
      qrow[d] = dq[nb].x[i] * scale, qrow[d + 1] = dq[nb].x[i + 1] * scale;
    }
  }
}

// ---- launches -------------------------------------------------------------------------------

int tiles_of(int T, int rows) {
  return (T + rows - 1) / rows;
}

template <class Tr>
void forward_launch(float* out, float* lse, const bf16* qkv, const Visibility& vis, int N, int NH, int NKV,
                    cudaStream_t stream) {
  const size_t shared =
      sizeof(bf16) * (Tr::kRows + 2 * Tr::kKeys) * Tr::kStride + sizeof(int) * 2 * tiles_of(vis.T, Tr::kKeys);
  CUDA_CHECK(cudaFuncSetAttribute(flash_forward_kernel<Tr>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shared));
  ALIGN_LAUNCH(flash_forward_kernel<Tr>, dim3(tiles_of(vis.T, Tr::kRows), NH, N), Tr::kThreads, shared, stream)
  (out, lse, qkv, vis, NH, NKV);
  CUDA_CHECK_LAUNCH();
}

template <class Tr>
void backward_launch(float* dqkv, const bf16* qkv, const bf16* dout, const float* lse, const float* delta,
                     const Visibility& vis, int N, int NH, int NKV, cudaStream_t stream) {
  const size_t kv_shared = sizeof(bf16) * (2 * Tr::kKeys + 2 * Tr::kBwdQueries) * Tr::kStride +
                           (2 * sizeof(float) + sizeof(RowKeys)) * Tr::kBwdQueries +
                           sizeof(int) * 2 * tiles_of(vis.T, Tr::kBwdQueries);
  CUDA_CHECK(
      cudaFuncSetAttribute(flash_backward_kv_kernel<Tr>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)kv_shared));
  ALIGN_LAUNCH(flash_backward_kv_kernel<Tr>, dim3(tiles_of(vis.T, Tr::kKeys), NKV, N), Tr::kThreads, kv_shared, stream)
  (dqkv, qkv, dout, lse, delta, vis, NH, NKV);
  CUDA_CHECK_LAUNCH();
  const size_t q_shared =
      sizeof(bf16) * (2 * Tr::kRows + 2 * Tr::kBwdKeys) * Tr::kStride + sizeof(int) * 2 * tiles_of(vis.T, Tr::kBwdKeys);
  CUDA_CHECK(
      cudaFuncSetAttribute(flash_backward_q_kernel<Tr>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)q_shared));
  ALIGN_LAUNCH(flash_backward_q_kernel<Tr>, dim3(tiles_of(vis.T, Tr::kRows), NH, N), Tr::kThreads, q_shared, stream)
  (dqkv, qkv, dout, lse, delta, vis, NH, NKV);
  CUDA_CHECK_LAUNCH();
}

Visibility visibility(const VisibilityRule& rule, int T) {
  ALIGN_ASSERT(rule.lengths, "flash attention: the visibility rule has no lengths");
  ALIGN_ASSERT((rule.prefix_start == nullptr) == (rule.prefix_end == nullptr) && (rule.seq_start || !rule.prefix_start),
               "flash attention: prefix_start and prefix_end are given together, and only with seq_start");
  return Visibility{rule.lengths, rule.seq_start, rule.prefix_start, rule.prefix_end, T};
}

}  // namespace

bool flash_attention_supported(int HS) {
  return HS == 64 || HS == 128;
}

void flash_attention_forward(float* out, float* lse, const __nv_bfloat16* qkv, const VisibilityRule& rule, int N, int T,
                             int NH, int NKV, int HS, cudaStream_t stream) {
  ALIGN_ASSERT(flash_attention_supported(HS), "flash attention: head dim ", HS, " (64 or 128)");
  ALIGN_ASSERT(NKV > 0 && NH % NKV == 0, "flash attention: ", NH, " heads over ", NKV, " kv heads");
  const Visibility vis = visibility(rule, T);
  if (N == 0 || T == 0) return;
  if (HS == 64)
    forward_launch<FlashTraits<64>>(out, lse, qkv, vis, N, NH, NKV, stream);
  else
    forward_launch<FlashTraits<128>>(out, lse, qkv, vis, N, NH, NKV, stream);
}

void flash_attention_backward(float* dqkv, float* delta, const float* dout, const __nv_bfloat16* dout16,
                              const float* out, const __nv_bfloat16* qkv, const float* lse, const VisibilityRule& rule,
                              int N, int T, int NH, int NKV, int HS, cudaStream_t stream) {
  ALIGN_ASSERT(flash_attention_supported(HS), "flash attention: head dim ", HS, " (64 or 128)");
  ALIGN_ASSERT(NKV > 0 && NH % NKV == 0, "flash attention: ", NH, " heads over ", NKV, " kv heads");
  const Visibility vis = visibility(rule, T);
  if (N == 0 || T == 0) return;
  const int64_t warps = (int64_t)N * NH * T;
  ALIGN_LAUNCH(flash_delta_kernel, (unsigned)((warps * 32 + 255) / 256), 256, 0, stream)
  (delta, dout, out, rule.lengths, N, T, NH, HS);
  CUDA_CHECK_LAUNCH();
  if (HS == 64)
    backward_launch<FlashTraits<64>>(dqkv, qkv, dout16, lse, delta, vis, N, NH, NKV, stream);
  else
    backward_launch<FlashTraits<128>>(dqkv, qkv, dout16, lse, delta, vis, N, NH, NKV, stream);
}

}  // namespace align::kernels
