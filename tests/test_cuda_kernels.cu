// test_cuda_kernels.cu: every CUDA kernel against the CPU reference
// (src/cpu/ops.hpp) on random inputs, outputs poisoned with NaN first so an
// element a kernel fails to write shows up, and the kernels that combine
// threads (reductions, shuffles) run a second time under the software device's
// other thread schedule (schedules.hpp), which must give the same bits: a race
// fails here. Skips (GTEST_SKIP) without a GPU.
//
// Tolerance: float32 on both sides with different summation orders (warp
// shuffles vs sequential loops): reductions over C ≤ 1024 or V ≤ 50k terms of
// O(1) values differ by ~1e-6 relative; 1e-5 of the largest magnitude bounds
// it (the issue's fp32 bound). Elementwise kernels agree to a few ulps.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/bf16.hpp"
#include "common/rng.hpp"
#include "cpu/ops.hpp"
#include "cuda/attention.cuh"
#include "cuda/device_buffer.cuh"
#include "float_checks.hpp"
#include "schedules.hpp"
#include "cuda/matmul.cuh"
#include "kernels/kernels.cuh"

namespace align::kernels {
namespace {

using cuda::DeviceBuffer;

using test::randn;
void expect_close(const std::vector<float>& gpu, const std::vector<float>& cpu, double rel, const std::string& what) {
  test::expect_near_scaled(gpu, cpu, rel, what);
}

// The CPU reference attention over right-padded causal rows, its probabilities spread into the
// dense (N, NH, T, T) matrix the GPU keeps; the backward recomputes them from qkv.
void cpu_attention_forward(std::vector<float>& out, std::vector<float>& att_dense, const std::vector<float>& qkv,
                           const std::vector<int32_t>& lengths, int N, int T, int NH, int NKV, int HS) {
  const cpu::AttentionRule rule = cpu::AttentionRule::causal(lengths.data(), N, T);
  std::vector<float> att((size_t)NH * rule.visible());
  cpu::attention_forward(out.data(), att.data(), qkv.data(), rule, NH, NKV, HS);
  cpu::dense_probabilities(att_dense.data(), att.data(), rule, NH);
}
void cpu_attention_backward(std::vector<float>& dqkv, const std::vector<float>& dout, const std::vector<float>& qkv,
                            const std::vector<int32_t>& lengths, int N, int T, int NH, int NKV, int HS) {
  const cpu::AttentionRule rule = cpu::AttentionRule::causal(lengths.data(), N, T);
  std::vector<float> att((size_t)NH * rule.visible()), out((size_t)N * T * NH * HS);
  cpu::attention_forward(out.data(), att.data(), qkv.data(), rule, NH, NKV, HS);
  cpu::attention_backward(dqkv.data(), dout.data(), qkv.data(), att.data(), rule, NH, NKV, HS);
}

class CudaKernels : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda::device_available()) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_F(CudaKernels, Embedding) {
  const int N = 3, T = 17, C = 96, Vp = 64, M = N * T;
  std::vector<int32_t> tokens(M), lengths = {17, 9, 1};
  Rng rng(1);
  for (int& t : tokens) t = rng.uniform_int(0, Vp - 1);
  const std::vector<float> tok = randn((size_t)Vp * C, 2), pos = randn((size_t)T * C, 3),
                           dout = randn((size_t)M * C, 4);
  DeviceBuffer<int32_t> dt(tokens), dl(lengths);
  DeviceBuffer<float> dtok(tok), dpos(pos), ddout(dout), out((size_t)M * C);
  out.poison();
  embedding_forward(out.data(), dt.data(), nullptr, dtok.data(), dpos.data(), M, T, C, 0);
  std::vector<float> ref((size_t)M * C);
  for (int m = 0; m < M; m++)
    for (int c = 0; c < C; c++) ref[(size_t)m * C + c] = tok[(size_t)tokens[m] * C + c] + pos[(size_t)(m % T) * C + c];
  expect_close(out.download(), ref, 0, "embedding forward");
  // Backward accumulates into the existing gradients, over real positions only.
  std::vector<float> gtok = randn((size_t)Vp * C, 5), gpos = randn((size_t)T * C, 6);
  DeviceBuffer<float> dgtok(gtok), dgpos(gpos);
  embedding_backward(dgtok.data(), dgpos.data(), ddout.data(), dt.data(), nullptr, dl.data(), M, T, C, 0);
  for (int c = 0; c < C; c++)
    for (int m = 0; m < M; m++) {
      if (m % T >= lengths[m / T]) continue;
      gtok[(size_t)tokens[m] * C + c] += dout[(size_t)m * C + c];
      gpos[(size_t)(m % T) * C + c] += dout[(size_t)m * C + c];
    }
  expect_close(dgtok.download(), gtok, 0, "embedding backward dtok (same order: exact)");
  expect_close(dgpos.download(), gpos, 0, "embedding backward dpos");
  // Packed rows: the position ids of the batch, not the column, pick the position embedding.
  std::vector<int32_t> positions(M);
  for (int& p : positions) p = rng.uniform_int(0, T - 1);
  DeviceBuffer<int32_t> dp(positions);
  embedding_forward(out.data(), dt.data(), dp.data(), dtok.data(), dpos.data(), M, T, C, 0);
  for (int m = 0; m < M; m++)
    for (int c = 0; c < C; c++)
      ref[(size_t)m * C + c] = tok[(size_t)tokens[m] * C + c] + pos[(size_t)positions[m] * C + c];
  expect_close(out.download(), ref, 0, "embedding forward at position ids");
  embedding_backward(dgtok.data(), dgpos.data(), ddout.data(), dt.data(), dp.data(), dl.data(), M, T, C, 0);
  for (int c = 0; c < C; c++)
    for (int m = 0; m < M; m++) {
      if (m % T >= lengths[m / T]) continue;
      gtok[(size_t)tokens[m] * C + c] += dout[(size_t)m * C + c];
      gpos[(size_t)positions[m] * C + c] += dout[(size_t)m * C + c];
    }
  expect_close(dgpos.download(), gpos, 0, "embedding backward dpos at position ids");
}

TEST_F(CudaKernels, LayerNormAndRmsNorm) {
  for (int C : {32, 100, 768}) {
    const int M = 37;
    const std::vector<float> x = randn((size_t)M * C, 10 + C), w = randn(C, 11), b = randn(C, 12),
                             dy = randn((size_t)M * C, 13);
    DeviceBuffer<float> dx(x), dw(w), db(b), ddy(dy), out((size_t)M * C), mean(M), rstd(M);
    out.poison(), mean.poison(), rstd.poison();
    layernorm_forward(out.data(), mean.data(), rstd.data(), dx.data(), dw.data(), db.data(), M, C, 1e-5f, 0);
    std::vector<float> rout((size_t)M * C), rmean(M), rrstd(M);
    cpu::layernorm_forward(rout.data(), rmean.data(), rrstd.data(), x.data(), w.data(), b.data(), M, C, 1e-5f);
    expect_close(out.download(), rout, 1e-5, "layernorm out");
    expect_close(rstd.download(), rrstd, 1e-5, "layernorm rstd");
    {
      test::ReverseSchedule reverse;
      DeviceBuffer<float> out2((size_t)M * C), mean2(M), rstd2(M);
      layernorm_forward(out2.data(), mean2.data(), rstd2.data(), dx.data(), dw.data(), db.data(), M, C, 1e-5f, 0);
      EXPECT_EQ(out2.download(), out.download()) << "layernorm under the other schedule";
      EXPECT_EQ(rstd2.download(), rstd.download());
    }
    std::vector<float> gx = randn((size_t)M * C, 14), gw = randn(C, 15), gb = randn(C, 16);
    std::vector<float> rgx = gx, rgw = gw, rgb = gb;
    DeviceBuffer<float> dgx(gx), dgw(gw), dgb(gb);
    layernorm_backward(dgx.data(), dgw.data(), dgb.data(), ddy.data(), dx.data(), dw.data(), mean.data(), rstd.data(),
                       M, C, true, 0);
    cpu::layernorm_backward(rgx.data(), rgw.data(), rgb.data(), dy.data(), x.data(), w.data(), rmean.data(),
                            rrstd.data(), M, C, cpu::GradMode::Accumulate);
    expect_close(dgx.download(), rgx, 1e-5, "layernorm dinp (accumulated)");
    expect_close(dgw.download(), rgw, 1e-5, "layernorm dw");
    expect_close(dgb.download(), rgb, 1e-5, "layernorm db");

    out.poison(), rstd.poison();
    rmsnorm_forward(out.data(), rstd.data(), dx.data(), dw.data(), M, C, 1e-6f, 0);
    cpu::rmsnorm_forward(rout.data(), rrstd.data(), x.data(), w.data(), M, C, 1e-6f);
    expect_close(out.download(), rout, 1e-5, "rmsnorm out");
    DeviceBuffer<float> over((size_t)M * C), dgw2(gw);
    over.poison();
    rmsnorm_backward(over.data(), dgw2.data(), ddy.data(), dx.data(), dw.data(), rstd.data(), M, C, false, 0);
    std::vector<float> rover((size_t)M * C), rgw2 = gw;
    cpu::rmsnorm_backward(rover.data(), rgw2.data(), dy.data(), x.data(), w.data(), rrstd.data(), M, C,
                          cpu::GradMode::Overwrite);
    expect_close(over.download(), rover, 1e-5, "rmsnorm dinp (overwrite)");
    expect_close(dgw2.download(), rgw2, 1e-5, "rmsnorm dw");
    // Deterministic: a second backward, under the other schedule, gives the same bits.
    test::ReverseSchedule reverse;
    DeviceBuffer<float> again((size_t)M * C), dgw3(gw);
    rmsnorm_backward(again.data(), dgw3.data(), ddy.data(), dx.data(), dw.data(), rstd.data(), M, C, false, 0);
    EXPECT_EQ(again.download(), over.download());
    EXPECT_EQ(dgw3.download(), dgw2.download());

    // The residual variants: sum = x + r (exact in float on both sides), then the norm of sum.
    const std::vector<float> r = randn((size_t)M * C, 17);
    std::vector<float> rsum((size_t)M * C);
    for (size_t i = 0; i < rsum.size(); i++) rsum[i] = x[i] + r[i];
    DeviceBuffer<float> dr(r), sum((size_t)M * C);
    sum.poison(), out.poison(), mean.poison(), rstd.poison();
    residual_layernorm_forward(sum.data(), out.data(), mean.data(), rstd.data(), dx.data(), dr.data(), dw.data(),
                               db.data(), M, C, 1e-5f, 0);
    cpu::layernorm_forward(rout.data(), rmean.data(), rrstd.data(), rsum.data(), w.data(), b.data(), M, C, 1e-5f);
    EXPECT_EQ(sum.download(), rsum) << "residual sum";
    expect_close(out.download(), rout, 1e-5, "residual layernorm out");
    expect_close(mean.download(), rmean, 1e-5, "residual layernorm mean");
    expect_close(rstd.download(), rrstd, 1e-5, "residual layernorm rstd");
    sum.poison(), out.poison(), rstd.poison();
    residual_rmsnorm_forward(sum.data(), out.data(), rstd.data(), dx.data(), dr.data(), dw.data(), M, C, 1e-6f, 0);
    cpu::rmsnorm_forward(rout.data(), rrstd.data(), rsum.data(), w.data(), M, C, 1e-6f);
    EXPECT_EQ(sum.download(), rsum) << "residual sum (rms)";
    expect_close(out.download(), rout, 1e-5, "residual rmsnorm out");
    expect_close(rstd.download(), rrstd, 1e-5, "residual rmsnorm rstd");
  }
}

TEST_F(CudaKernels, Activations) {
  const int M = 29, F = 77;
  const std::vector<float> x = randn((size_t)M * 2 * F, 20, 2.f), dy = randn((size_t)M * 2 * F, 21);
  DeviceBuffer<float> dx(x), ddy(dy), out((size_t)M * 2 * F), din((size_t)M * 2 * F);
  out.poison(), din.poison();
  gelu_forward(out.data(), dx.data(), (int64_t)M * 2 * F, 0);
  gelu_backward(din.data(), dx.data(), ddy.data(), (int64_t)M * 2 * F, 0);
  std::vector<float> r((size_t)M * 2 * F), rd((size_t)M * 2 * F);
  cpu::gelu_forward(r.data(), x.data(), (int64_t)M * 2 * F);
  cpu::gelu_backward(rd.data(), x.data(), dy.data(), (int64_t)M * 2 * F);
  expect_close(out.download(), r, 1e-6, "gelu");
  expect_close(din.download(), rd, 1e-6, "gelu backward");
  DeviceBuffer<float> sout((size_t)M * F), sdin((size_t)M * 2 * F);
  sout.poison(), sdin.poison();
  swiglu_forward(sout.data(), dx.data(), M, F, 0);
  swiglu_backward(sdin.data(), dx.data(), ddy.data(), M, F, 0);
  std::vector<float> rs((size_t)M * F), rsd((size_t)M * 2 * F);
  cpu::swiglu_forward(rs.data(), x.data(), M, F);
  cpu::swiglu_backward(rsd.data(), x.data(), dy.data(), M, F);
  expect_close(sout.download(), rs, 1e-6, "swiglu");
  expect_close(sdin.download(), rsd, 1e-6, "swiglu backward");
}

TEST_F(CudaKernels, RopeAndAttention) {
  struct Shape {
    int N, T, NH, NKV, HS;
  };
  for (const Shape sh : {Shape{2, 7, 4, 2, 8}, Shape{3, 40, 6, 1, 64}, Shape{1, 33, 2, 2, 16}}) {
    const int QKV = (sh.NH + 2 * sh.NKV) * sh.HS, M = sh.N * sh.T;
    std::vector<int32_t> lengths(sh.N);
    for (int n = 0; n < sh.N; n++) lengths[n] = n == 0 ? sh.T : 1 + (5 * n) % sh.T;
    std::vector<float> qkv = randn((size_t)M * QKV, 50 + sh.T), dout = randn((size_t)M * sh.NH * sh.HS, 51);
    std::vector<float> table((size_t)sh.T * sh.HS);  // (T, HS/2, 2) cos, sin
    for (int t = 0; t < sh.T; t++)
      for (int i = 0; i < sh.HS / 2; i++) {
        const double ang = t * std::pow(10000.0, -2.0 * i / sh.HS);
        table[((size_t)t * sh.HS / 2 + i) * 2] = (float)std::cos(ang);
        table[((size_t)t * sh.HS / 2 + i) * 2 + 1] = (float)std::sin(ang);
      }
    DeviceBuffer<float> dq(qkv), dtab(table), dy(dout), out((size_t)M * sh.NH * sh.HS),
        att((size_t)sh.N * sh.NH * sh.T * sh.T), ds(att.size()), dqkv(qkv.size());
    DeviceBuffer<int32_t> dl(lengths);
    rope_apply(dq.data(), dtab.data(), nullptr, sh.N, sh.T, sh.NH, sh.NKV, sh.HS, 1.f, 0);
    cpu::rope_forward(qkv.data(), table.data(), nullptr, sh.N, sh.T, sh.NH, sh.NKV, sh.HS);
    expect_close(dq.download(), qkv, 1e-6, "rope");
    out.poison(), att.poison(), ds.poison(), dqkv.poison();
    attention_forward(out.data(), att.data(), dq.data(), dl.data(), sh.N, sh.T, sh.NH, sh.NKV, sh.HS, 0);
    std::vector<float> rout(out.size()), ratt(att.size()), rdqkv(qkv.size());
    cpu_attention_forward(rout, ratt, qkv, lengths, sh.N, sh.T, sh.NH, sh.NKV, sh.HS);
    expect_close(out.download(), rout, 1e-5, "attention out");
    expect_close(att.download(), ratt, 1e-5, "attention probabilities");
    {
      test::ReverseSchedule reverse;
      DeviceBuffer<float> out2(out.size()), att2(att.size());
      attention_forward(out2.data(), att2.data(), dq.data(), dl.data(), sh.N, sh.T, sh.NH, sh.NKV, sh.HS, 0);
      EXPECT_EQ(out2.download(), out.download()) << "attention under the other schedule";
      EXPECT_EQ(att2.download(), att.download());
    }
    attention_backward(dqkv.data(), ds.data(), dy.data(), dq.data(), att.data(), dl.data(), sh.N, sh.T, sh.NH, sh.NKV,
                       sh.HS, 0);
    cpu_attention_backward(rdqkv, dout, qkv, lengths, sh.N, sh.T, sh.NH, sh.NKV, sh.HS);
    expect_close(dqkv.download(), rdqkv, 1e-5, "attention dqkv");
    DeviceBuffer<float> again(qkv.size());
    test::ReverseSchedule reverse;
    attention_backward(again.data(), ds.data(), dy.data(), dq.data(), att.data(), dl.data(), sh.N, sh.T, sh.NH, sh.NKV,
                       sh.HS, 0);
    EXPECT_EQ(again.download(), dqkv.download());  // deterministic, whatever the schedule
    // The inverse rotation undoes RoPE.
    rope_apply(dq.data(), dtab.data(), nullptr, sh.N, sh.T, sh.NH, sh.NKV, sh.HS, -1.f, 0);
    cpu::rope_backward(qkv.data(), table.data(), nullptr, sh.N, sh.T, sh.NH, sh.NKV, sh.HS);
    expect_close(dq.download(), qkv, 1e-6, "rope inverse");
  }
}

// The cuBLAS-batched attention the backend runs (src/cuda/attention.cuh) against the CPU
// reference: MHA, GQA, MQA and head sizes that are not multiples of 8; rows of every length
// down to 1 (padding); outputs poisoned first; the backward twice for bit-identity. Same 1e-5;
// then with bf16 operands.
TEST_F(CudaKernels, BatchedAttention) {
  struct Shape {
    int N, T, NH, NKV, HS;
  };
  cuda::BatchedAttention attention, attention16(true);
  for (const Shape sh : {Shape{2, 7, 4, 2, 8}, Shape{3, 40, 6, 1, 64}, Shape{1, 33, 2, 2, 16}, Shape{4, 17, 4, 4, 6},
                         Shape{2, 128, 12, 12, 64}}) {
    const int QKV = (sh.NH + 2 * sh.NKV) * sh.HS, M = sh.N * sh.T;
    std::vector<int32_t> lengths(sh.N);
    for (int n = 0; n < sh.N; n++) lengths[n] = n == 0 ? sh.T : 1 + (5 * n) % sh.T;
    const std::vector<float> qkv = randn((size_t)M * QKV, 70 + sh.T), dout = randn((size_t)M * sh.NH * sh.HS, 71);
    DeviceBuffer<float> dq(qkv), dy(dout), out((size_t)M * sh.NH * sh.HS), att((size_t)sh.N * sh.NH * sh.T * sh.T),
        ds(att.size()), dqkv(qkv.size());
    DeviceBuffer<int32_t> dl(lengths);
    out.poison(), att.poison(), ds.poison(), dqkv.poison();
    attention.forward(out.data(), att.data(), dq.data(), VisibilityRule{dl.data()}, sh.N, sh.T, sh.NH, sh.NKV, sh.HS,
                      0);
    std::vector<float> rout(out.size()), ratt(att.size()), rdqkv(qkv.size());
    cpu_attention_forward(rout, ratt, qkv, lengths, sh.N, sh.T, sh.NH, sh.NKV, sh.HS);
    expect_close(out.download(), rout, 1e-5, "batched attention out");
    expect_close(att.download(), ratt, 1e-5, "batched attention probabilities");
    attention.backward(dqkv.data(), ds.data(), dy.data(), dq.data(), att.data(), VisibilityRule{dl.data()}, sh.N, sh.T,
                       sh.NH, sh.NKV, sh.HS, 0);
    cpu_attention_backward(rdqkv, dout, qkv, lengths, sh.N, sh.T, sh.NH, sh.NKV, sh.HS);
    expect_close(dqkv.download(), rdqkv, 1e-5, "batched attention dqkv");
    DeviceBuffer<float> again(qkv.size()), att2(att.size()), out2(out.size());
    again.poison();
    {
      test::ReverseSchedule reverse;
      attention.forward(out2.data(), att2.data(), dq.data(), VisibilityRule{dl.data()}, sh.N, sh.T, sh.NH, sh.NKV, sh.HS, 0);
      EXPECT_EQ(att2.download(), att.download()) << "batched attention's softmax under the other schedule";
      EXPECT_EQ(out2.download(), out.download());
      attention.backward(again.data(), ds.data(), dy.data(), dq.data(), att.data(), VisibilityRule{dl.data()}, sh.N, sh.T,
                         sh.NH, sh.NKV, sh.HS, 0);
    }
    EXPECT_EQ(again.download(), dqkv.download());  // deterministic, whatever the schedule

    // bf16 operands: the scores come from bf16 casts of q and k, exact products summed in float,
    // so against the CPU on the same rounded qkv the probabilities agree to float rounding (1e-5);
    // A, dY and dS are cast to bf16 (2^-9 relative) before the other GEMMs: 2e-2 of the largest.
    std::vector<float> q16(qkv);
    for (float& x : q16) x = bf16_to_float(float_to_bf16(x));
    cpu_attention_forward(rout, ratt, q16, lengths, sh.N, sh.T, sh.NH, sh.NKV, sh.HS);
    cpu_attention_backward(rdqkv, dout, q16, lengths, sh.N, sh.T, sh.NH, sh.NKV, sh.HS);
    out.poison(), att.poison(), dqkv.poison();
    attention16.forward(out.data(), att.data(), dq.data(), VisibilityRule{dl.data()}, sh.N, sh.T, sh.NH, sh.NKV, sh.HS,
                        0);
    attention16.backward(dqkv.data(), ds.data(), dy.data(), dq.data(), att.data(), VisibilityRule{dl.data()}, sh.N,
                         sh.T, sh.NH, sh.NKV, sh.HS, 0);
    expect_close(att.download(), ratt, 1e-5, "bf16 attention probabilities");
    expect_close(out.download(), rout, 2e-2, "bf16 attention out");
    expect_close(dqkv.download(), rdqkv, 2e-2, "bf16 attention dqkv");
  }
}

TEST_F(CudaKernels, LogProb) {
  for (int V : {97, 50257}) {
    const int M = 19, Vp = (V + 127) / 128 * 128;
    std::vector<float> z = randn((size_t)M * Vp, 30 + V, 3.f);
    std::vector<int32_t> targets(M);
    Rng rng(31);
    for (int m = 0; m < M; m++) targets[m] = m % 5 == 4 ? -1 : rng.uniform_int(0, V - 1);
    const std::vector<float> dlogp = randn(M, 32);
    DeviceBuffer<float> dz(z), logp(M), lse(M), dd(dlogp);
    DeviceBuffer<int32_t> dt(targets);
    logp.poison(), lse.poison();
    logprob_forward(logp.data(), lse.data(), dz.data(), dt.data(), M, V, Vp, 0);
    std::vector<float> rlogp(M), rlse(M);
    cpu::logprob_forward(rlogp.data(), rlse.data(), z.data(), targets.data(), M, V, Vp);
    expect_close(logp.download(), rlogp, 1e-5, "logp");
    expect_close(lse.download(), rlse, 1e-5, "lse");
    {
      test::ReverseSchedule reverse;
      DeviceBuffer<float> logp2(M), lse2(M);
      logprob_forward(logp2.data(), lse2.data(), dz.data(), dt.data(), M, V, Vp, 0);
      EXPECT_EQ(logp2.download(), logp.download()) << "logprob under the other schedule";
      EXPECT_EQ(lse2.download(), lse.download());
    }
    logprob_backward(dz.data(), dd.data(), lse.data(), dt.data(), M, V, Vp, 0);
    cpu::logprob_backward(z.data(), dlogp.data(), rlse.data(), targets.data(), M, V, Vp);
    expect_close(dz.download(), z, 1e-5, "dlogits");
  }
}

// cuBLASLt against the CPU's plain float64 loops (the BLAS path has its own test). K up to 1000
// products of O(1) values in fp32: ~1e-6·√K relative; 1e-5 of the largest magnitude.
TEST_F(CudaKernels, Matmul) {
  cuda::Matmul mm;
  struct Shape {
    int M, K, N;
  };
  for (const Shape sh : {Shape{37, 67, 29}, Shape{128, 256, 768}, Shape{5, 1000, 3}}) {
    const std::vector<float> inp = randn((size_t)sh.M * sh.K, 60), w = randn((size_t)sh.N * sh.K, 61),
                             b = randn(sh.N, 62), dout = randn((size_t)sh.M * sh.N, 63);
    auto to_d = [](const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); };
    std::vector<double> rout((size_t)sh.M * sh.N), rdin((size_t)sh.M * sh.K), rdw((size_t)sh.N * sh.K, 0.0),
        rdb(sh.N, 0.0);
    const std::vector<double> inp_d = to_d(inp), w_d = to_d(w), b_d = to_d(b), dout_d = to_d(dout);
    cpu::matmul_forward(rout.data(), inp_d.data(), w_d.data(), b_d.data(), sh.M, sh.K, sh.N);
    cpu::matmul_backward(rdin.data(), rdw.data(), rdb.data(), dout_d.data(), inp_d.data(), w_d.data(), sh.M, sh.K, sh.N,
                         cpu::GradMode::Overwrite);
    auto to_f = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
    DeviceBuffer<float> di(inp), dwt(w), dbias(b), dy(dout), out(rout.size()), din(rdin.size()),
        dw(std::vector<float>(rdw.size(), 0.f)), db(std::vector<float>(sh.N, 0.f));
    out.poison(), din.poison();
    mm.forward(out.data(), di.data(), dwt.data(), dbias.data(), sh.M, sh.K, sh.N, 0);
    mm.backward(din.data(), dw.data(), db.data(), dy.data(), di.data(), dwt.data(), sh.M, sh.K, sh.N, false, 0);
    expect_close(out.download(), to_f(rout), 1e-5, "matmul out");
    expect_close(din.download(), to_f(rdin), 1e-5, "matmul dinp");
    expect_close(dw.download(), to_f(rdw), 1e-5, "matmul dw");
    expect_close(db.download(), to_f(rdb), 1e-5, "matmul dbias");
  }
}

TEST_F(CudaKernels, AdamWAndGradNorm) {
  const size_t n = 100003;
  std::vector<float> p = randn(n, 40), g = randn(n, 41), m(n, 0.f), v(n, 0.f);
  std::vector<uint8_t> decay(n);
  for (size_t i = 0; i < n; i++) decay[i] = i % 3 != 0;
  DeviceBuffer<float> dp(p), dg(g), dm(m), dv(v), out(1), scratch(1024);
  DeviceBuffer<uint8_t> ddecay(decay);
  adamw_step(dp.data(), dm.data(), dv.data(), dg.data(), ddecay.data(), n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, 0.1f,
             0.001f, 0.5f, 0);  // grad_scale 0.5: a clipped step
  for (size_t i = 0; i < n; i++) {
    const float gi = 0.5f * g[i];
    if (decay[i]) p[i] -= 1e-3f * 0.1f * p[i];
    m[i] = 0.1f * gi, v[i] = 0.001f * gi * gi;
    p[i] -= (1e-3f / 0.1f) * m[i] / (std::sqrt(v[i]) / std::sqrt(0.001f) + 1e-8f);
  }
  expect_close(dp.download(), p, 1e-6, "adamw params");
  sum_of_squares(out.data(), scratch.data(), dg.data(), n, 0);
  double ref = 0;
  for (float x : g) ref += (double)x * x;
  EXPECT_NEAR(out.download()[0], ref, 1e-5 * ref);
  DeviceBuffer<float> out2(1);
  test::ReverseSchedule reverse;
  sum_of_squares(out2.data(), scratch.data(), dg.data(), n, 0);
  EXPECT_EQ(out2.download()[0], out.download()[0]);  // deterministic, whatever the schedule
}

}  // namespace
}  // namespace align::kernels
