// test_mma.cu: the tensor-core vocabulary of kernels/mma.cuh (mma.m16n8k16
// bf16 with fp32 accumulation, ldmatrix x1/x2/x4 and .trans) against a plain
// host matrix product on random inputs. The fragments are loaded and stored
// by the PTX ISA's layouts (§9.7.14.5.8, §9.7.14.5.15), written out here
// independently of the emulation; a kernel that takes a fragment register
// from the wrong place must fail the same comparison, as it would on a card.
// On the software device the same kernels also run under the reverse schedule.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/rng.hpp"
#include "cuda/check.cuh"
#include "cuda/device_buffer.cuh"
#include "kernels/mma.cuh"
#include "schedules.hpp"

namespace align {
namespace {

using cuda::DeviceBuffer;
using kernels::FragA;
using kernels::FragB;
using kernels::FragC;

enum class Load : int {
  Ldmatrix,         // A by ldmatrix.x4, B from its transpose (n rows of k) by ldmatrix.x2
  LdmatrixTrans,    // A by ldmatrix.x4, B from its rows (k rows of n) by ldmatrix.x2.trans
  ByIndex,          // every element placed by the layout formulas, no ldmatrix
  SwappedRegisters  // as Ldmatrix with a1 and a2 exchanged: a wrong fragment
};

// d (16,8) = a (16,16) · b (16,8) + c (16,8), one warp; operands row-major in global memory.
__global__ void mma_kernel(float* d, const __nv_bfloat16* a, const __nv_bfloat16* b, const float* c, int load) {
  __align__(16) __shared__ __nv_bfloat16 sa[16 * 16], sb[16 * 8], sbt[8 * 16];
  const int lane = threadIdx.x;
  for (int i = lane; i < 256; i += 32) sa[i] = a[i];
  for (int i = lane; i < 128; i += 32) sb[i] = b[i], sbt[(i % 8) * 16 + i / 8] = b[i];
  __syncwarp();
  const int group = lane / 4, tig = lane % 4;
  FragA fa;
  FragB fb;
  if (load == (int)Load::ByIndex) {
    // A: register r holds (row group + 8·(r&1), cols 2·tig + 8·(r>>1) + {0,1}); B: register r holds
    // (k rows 2·tig + 8r + {0,1}, col group).
    for (int r = 0; r < 4; r++) {
      const int row = group + 8 * (r & 1), col = 2 * tig + 8 * (r >> 1);
      fa.x[r] = kernels::pack_bf16(sa[row * 16 + col], sa[row * 16 + col + 1]);
    }
    for (int r = 0; r < 2; r++) {
      const int k = 2 * tig + 8 * r;
      fb.x[r] = kernels::pack_bf16(sb[k * 8 + group], sb[(k + 1) * 8 + group]);
    }
  } else {
    // A's four 8x8 quarters: matrix m = rows 8·(m&1).., cols 8·(m>>1)..; lane gives row lane % 8 of matrix lane / 8.
    const int m = lane / 8, r = lane % 8;
    kernels::ldmatrix<4>(fa.x, &sa[(r + 8 * (m & 1)) * 16 + 8 * (m >> 1)]);
    if (load == (int)Load::LdmatrixTrans)  // matrix m = k rows 8m..8m+7 of b
      kernels::ldmatrix_trans<2>(fb.x, &sb[(lane % 16) * 8]);
    else  // matrix m = cols k 8m..8m+7 of b's transpose
      kernels::ldmatrix<2>(fb.x, &sbt[(lane % 8) * 16 + 8 * ((lane / 8) % 2)]);
    if (load == (int)Load::SwappedRegisters) {
      const uint32_t t = fa.x[1];
      fa.x[1] = fa.x[2], fa.x[2] = t;
    }
  }
  FragC acc;
  for (int i = 0; i < 4; i++) acc.x[i] = c[(group + 8 * (i / 2)) * 8 + 2 * tig + i % 2];
  kernels::mma_bf16(acc, fa, fb);
  for (int i = 0; i < 4; i++) d[(group + 8 * (i / 2)) * 8 + 2 * tig + i % 2] = acc.x[i];
}

struct Product {
  std::vector<__nv_bfloat16> a, b;
  std::vector<float> c;
  std::vector<double> want;  // a·b + c in double from the bf16 values
};

Product random_product(uint64_t seed) {
  Rng rng(seed);
  Product p;
  for (int i = 0; i < 256; i++) p.a.push_back(__float2bfloat16_rn((float)rng.normal()));
  for (int i = 0; i < 128; i++) p.b.push_back(__float2bfloat16_rn((float)rng.normal()));
  for (int i = 0; i < 128; i++) p.c.push_back((float)rng.normal());
  p.want.assign(128, 0.0);
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 8; j++) {
      double s = p.c[i * 8 + j];
      for (int k = 0; k < 16; k++) s += (double)(float)p.a[i * 16 + k] * (double)(float)p.b[k * 8 + j];
      p.want[i * 8 + j] = s;
    }
  return p;
}

std::vector<float> run_mma(const Product& p, Load load) {
  DeviceBuffer<__nv_bfloat16> a(p.a), b(p.b);
  DeviceBuffer<float> c(p.c), d(128);
  d.poison();
  ALIGN_LAUNCH(mma_kernel, 1, 32, 0, 0)(d.data(), a.data(), b.data(), c.data(), (int)load);
  CUDA_CHECK_LAUNCH();
  return d.download();
}

// The largest |got − want| over the tile.
double max_error(const std::vector<float>& got, const std::vector<double>& want) {
  double e = 0;
  for (size_t i = 0; i < want.size(); i++) e = std::max(e, std::isnan(got[i]) ? INFINITY : std::fabs(got[i] - want[i]));
  return e;
}

TEST(Mma, M16N8K16MatchesTheHostProductForEveryWayOfLoadingTheFragments) {
  for (uint64_t seed = 1; seed <= 4; seed++) {
    const Product p = random_product(seed);
    for (Load load : {Load::Ldmatrix, Load::LdmatrixTrans, Load::ByIndex}) {
      const std::vector<float> got = run_mma(p, load);
      // 16 exact bf16 products (|x| ≲ 4 each) summed onto c in float: the rounding error is a few
      // float ulps of the partial sums (≲ 2^-24 · 16 · 20), far below 1e-4.
      EXPECT_LT(max_error(got, p.want), 1e-4) << "seed " << seed << " load " << (int)load;
      std::vector<float> again;
      {
        test::ReverseSchedule reverse;
        again = run_mma(p, load);
      }
      EXPECT_EQ(got, again) << "seed " << seed << " load " << (int)load;
    }
  }
}

TEST(Mma, AFragmentTakenFromTheWrongRegisterGivesTheWrongProduct) {
  const Product p = random_product(7);
  // Rows 0..7 would pair with A's columns 8..15 in place of 0..7: errors of the size of the entries.
  EXPECT_GT(max_error(run_mma(p, Load::SwappedRegisters), p.want), 0.5);
}

// out (32, 4): the registers of ldmatrix x1, x2, x4 and x4.trans of a 32x8 matrix m (rows 8k..8k+7
// form matrix k), packed as lane-major words: out[lane·11 + word].
__global__ void ldmatrix_kernel(uint32_t* out, const __nv_bfloat16* m) {
  __align__(16) __shared__ __nv_bfloat16 sm[32 * 8];
  const int lane = threadIdx.x;
  for (int i = lane; i < 256; i += 32) sm[i] = m[i];
  __syncwarp();
  uint32_t r1[1], r2[2], r4[4], t4[4];
  kernels::ldmatrix<1>(r1, &sm[(lane % 8) * 8]);
  kernels::ldmatrix<2>(r2, &sm[(lane % 16) * 8]);
  kernels::ldmatrix<4>(r4, &sm[lane * 8]);
  kernels::ldmatrix_trans<4>(t4, &sm[lane * 8]);
  uint32_t* o = out + lane * 11;
  o[0] = r1[0];
  for (int i = 0; i < 2; i++) o[1 + i] = r2[i];
  for (int i = 0; i < 4; i++) o[3 + i] = r4[i], o[7 + i] = t4[i];
}

TEST(Mma, LdmatrixDealsTheElementsAsThePtxIsaSays) {
  Rng rng(11);
  std::vector<__nv_bfloat16> m(256);
  for (auto& x : m) x = __float2bfloat16_rn((float)rng.normal());
  DeviceBuffer<__nv_bfloat16> dm(m);
  DeviceBuffer<uint32_t> out(32 * 11);
  out.poison();
  ALIGN_LAUNCH(ldmatrix_kernel, 1, 32, 0, 0)(out.data(), dm.data());
  CUDA_CHECK_LAUNCH();
  const std::vector<uint32_t> got = out.download();
  auto bits = [&](int row, int col) { return (uint32_t)__bfloat16_as_ushort(m[row * 8 + col]); };
  for (int lane = 0; lane < 32; lane++) {
    const uint32_t* o = got.data() + lane * 11;
    const int g = lane / 4, c = 2 * (lane % 4);
    auto plain = [&](int k) { return bits(8 * k + g, c) | bits(8 * k + g, c + 1) << 16; };
    auto trans = [&](int k) { return bits(8 * k + c, g) | bits(8 * k + c + 1, g) << 16; };
    EXPECT_EQ(o[0], plain(0)) << lane;
    for (int k = 0; k < 2; k++) EXPECT_EQ(o[1 + k], plain(k)) << lane;
    for (int k = 0; k < 4; k++) EXPECT_EQ(o[3 + k], plain(k)) << lane;
    for (int k = 0; k < 4; k++) EXPECT_EQ(o[7 + k], trans(k)) << lane;
  }
}

}  // namespace
}  // namespace align
