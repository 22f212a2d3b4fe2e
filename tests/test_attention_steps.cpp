// test_attention_steps.cpp: the batched attention's sequence of GEMMs and
// softmax kernels (src/cuda/attention_steps.hpp, what the GPU runs through
// cuBLAS) executed by plain host loops with cuBLAS's column-major semantics,
// against the CPU reference attention. This checks, on a machine without a GPU,
// every GEMM's transposes, sizes, leading dimensions and GQA head mapping, that
// every output element is written (outputs poisoned with NaN; β = 0 never reads
// C, as in cuBLAS), and that no two GEMMs of one batched call write the same
// memory (the determinism the GPU version claims).
//
// Tolerance: the host GEMMs sum in double, the reference in float over at most
// T·HS = 40·64 products of O(1) values: 1e-5 of the largest magnitude.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "common/rng.hpp"
#include "cpu/ops.hpp"
#include "cuda/attention_steps.hpp"
#include "float_checks.hpp"
#include "host_gemm.hpp"

namespace align::cuda {
namespace {

struct HostOps {
  int gemm_calls = 0;
  int bytes() const { return 4; }
  const void* cast(const float* x, size_t, CastSlot) { return x; }
  void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const BatchOperand& a, int lda, const BatchOperand& b,
            int ldb, float beta, const BatchOperand& c, int ldc, int N, int H) {
    gemm_calls++;
    std::vector<std::pair<const float*, const float*>> written;  // [first, last] element of each C_b
    for (int bn = 0; bn < N; bn++)
      for (int j = 0; j < H; j++) {
        const float* A = static_cast<const float*>(batch_operand_at(a, bn, j));
        const float* B = static_cast<const float*>(batch_operand_at(b, bn, j));
        float* C = const_cast<float*>(static_cast<const float*>(batch_operand_at(c, bn, j)));
        test::host_gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
        written.push_back({C, C + (int64_t)(n - 1) * ldc + (m - 1)});
      }
    for (size_t x = 0; x < written.size(); x++)
      for (size_t y = x + 1; y < written.size(); y++) {
        // Column-major blocks with ldc >= m: disjoint unless their columns interleave; compare element sets exactly.
        if (written[x].second < written[y].first || written[y].second < written[x].first) continue;
        for (const float* p = written[x].first; p <= written[x].second; p++) {
          const int64_t off = p - written[x].first;
          if (off % ldc >= m) continue;  // not an element of C_x
          const int64_t rel = p - written[y].first;
          ASSERT_FALSE(rel >= 0 && p <= written[y].second && rel % ldc < m)
              << "GEMM call " << gemm_calls << ": batch entries " << x << " and " << y << " both write one element";
        }
      }
  }
  // The causal softmax kernels' contract (kernels/attention.cu), row (n, h, t) of width T.
  void softmax_forward(float* att, const int32_t* lengths, int N, int NH, int T) {
    for (int64_t r = 0; r < (int64_t)N * NH * T; r++) {
      float* a = att + r * T;
      const int t = (int)(r % T), n = (int)(r / ((int64_t)T * NH));
      if (t >= lengths[n]) {
        std::fill(a, a + T, 0.f);
        continue;
      }
      float mx = -std::numeric_limits<float>::infinity();
      for (int j = 0; j <= t; j++) mx = std::max(mx, a[j]);
      double sum = 0;
      for (int j = 0; j <= t; j++) sum += std::exp((double)a[j] - mx);
      for (int j = 0; j < T; j++) a[j] = j <= t ? (float)(std::exp((double)a[j] - mx) / sum) : 0.f;
    }
  }
  void softmax_backward(float* ds, const float* att, const int32_t* lengths, int N, int NH, int T) {
    for (int64_t r = 0; r < (int64_t)N * NH * T; r++) {
      float* d = ds + r * T;
      const float* a = att + r * T;
      const int t = (int)(r % T), n = (int)(r / ((int64_t)T * NH));
      double dot = 0;
      if (t < lengths[n])
        for (int j = 0; j <= t; j++) dot += (double)a[j] * d[j];
      for (int j = 0; j < T; j++) d[j] = t < lengths[n] && j <= t ? (float)(a[j] * (d[j] - dot)) : 0.f;
    }
  }
};

void expect_close(const std::vector<float>& got, const std::vector<float>& ref, const char* what) {
  test::expect_near_scaled(got, ref, 1e-5, what);
}

TEST(AttentionSteps, GemmLayoutsMatchTheCpuReference) {
  struct Shape {
    int N, T, NH, NKV, HS;
  };
  // MHA, GQA (2 and 3 heads per group), MQA, a head size that is not a multiple of 8, padding.
  for (const Shape sh : {Shape{2, 7, 4, 2, 8}, Shape{3, 40, 6, 1, 64}, Shape{1, 33, 2, 2, 16}, Shape{4, 17, 4, 4, 6},
                         Shape{2, 11, 6, 2, 5}}) {
    SCOPED_TRACE("N" + std::to_string(sh.N) + " T" + std::to_string(sh.T) + " NH" + std::to_string(sh.NH) + " NKV" +
                 std::to_string(sh.NKV) + " HS" + std::to_string(sh.HS));
    const int QKV = (sh.NH + 2 * sh.NKV) * sh.HS, M = sh.N * sh.T;
    std::vector<int32_t> lengths(sh.N);
    for (int n = 0; n < sh.N; n++) lengths[n] = n == 0 ? sh.T : 1 + (5 * n) % sh.T;
    const std::vector<float> qkv = test::randn((size_t)M * QKV, 80 + sh.T),
                             dout = test::randn((size_t)M * sh.NH * sh.HS, 81);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> out(dout.size(), nan), att((size_t)sh.N * sh.NH * sh.T * sh.T, nan), ds(att.size(), nan),
        dqkv(qkv.size(), nan);
    HostOps ops;
    attention_forward_steps(ops, out.data(), att.data(), qkv.data(), lengths.data(), sh.N, sh.T, sh.NH, sh.NKV, sh.HS);
    attention_backward_steps(ops, dqkv.data(), ds.data(), dout.data(), qkv.data(), att.data(), lengths.data(), sh.N,
                             sh.T, sh.NH, sh.NKV, sh.HS);
    EXPECT_EQ(ops.gemm_calls, 2 + 2 + 2 * (sh.NH / sh.NKV));  // S, Y; dA, dQ; dK and dV per group head
    std::vector<float> rout(out.size()), ratt(att.size()), rdqkv(qkv.size());
    const cpu::AttentionRule rule = cpu::AttentionRule::causal(lengths.data(), sh.N, sh.T);
    std::vector<float> compact((size_t)sh.NH * rule.visible());
    cpu::attention_forward(rout.data(), compact.data(), qkv.data(), rule, sh.NH, sh.NKV, sh.HS);
    cpu::attention_backward(rdqkv.data(), dout.data(), qkv.data(), compact.data(), rule, sh.NH, sh.NKV, sh.HS);
    cpu::dense_probabilities(ratt.data(), compact.data(), rule, sh.NH);
    expect_close(out, rout, "out");
    expect_close(att, ratt, "probabilities");
    expect_close(dqkv, rdqkv, "dqkv");
  }
}

}  // namespace
}  // namespace align::cuda
