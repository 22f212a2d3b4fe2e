// test_attention_steps.cpp: the batched attention's sequence of GEMMs and
// softmax kernels (src/cuda/attention_steps.hpp, what the GPU runs through
// cuBLAS) executed by plain host loops with cuBLAS's column-major semantics,
// against the CPU reference attention, on right-padded causal rows and on
// packed rows with shared prompts (the visibility rule). This checks, on a machine without a GPU,
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
  // The softmax kernels' contract (kernels/attention.cu), row (n, h, t) of width T, over the keys
  // the visibility rule shows query t.
  void softmax_forward(float* att, const VisibilityRule& rule, int N, int NH, int T) {
    for (int64_t r = 0; r < (int64_t)N * NH * T; r++) {
      float* a = att + r * T;
      const int t = (int)(r % T), n = (int)(r / ((int64_t)T * NH));
      if (t >= rule.lengths[n]) {
        std::fill(a, a + T, 0.f);
        continue;
      }
      float mx = -std::numeric_limits<float>::infinity();
      for (int j = 0; j <= t; j++)
        if (key_visible(rule, n, T, t, j)) mx = std::max(mx, a[j]);
      double sum = 0;
      for (int j = 0; j <= t; j++)
        if (key_visible(rule, n, T, t, j)) sum += std::exp((double)a[j] - mx);
      for (int j = 0; j < T; j++)
        a[j] = key_visible(rule, n, T, t, j) ? (float)(std::exp((double)a[j] - mx) / sum) : 0.f;
    }
  }
  void softmax_backward(float* ds, const float* att, const VisibilityRule& rule, int N, int NH, int T) {
    for (int64_t r = 0; r < (int64_t)N * NH * T; r++) {
      float* d = ds + r * T;
      const float* a = att + r * T;
      const int t = (int)(r % T), n = (int)(r / ((int64_t)T * NH));
      double dot = 0;
      if (t < rule.lengths[n])
        for (int j = 0; j <= t; j++) dot += (double)a[j] * d[j];
      for (int j = 0; j < T; j++) d[j] = t < rule.lengths[n] && j <= t ? (float)(a[j] * (d[j] - dot)) : 0.f;
    }
  }
};

void expect_close(const std::vector<float>& got, const std::vector<float>& ref, const char* what) {
  test::expect_near_scaled(got, ref, 1e-5, what);
}

// Rows of a batch and their visibility rule (model/visibility.hpp): right-padded causal rows,
// or rows packed with random units (plain sequences, and shared pairs [prompt | chosen |
// rejected] whose rejected part sees the prompt as its prefix run), as src/train/batches.cpp
// lays them out.
struct Rows {
  std::vector<int32_t> lengths, seq_start, prefix_start, prefix_end;
  VisibilityRule rule() const { return {lengths.data(), seq_start.data(), prefix_start.data(), prefix_end.data()}; }
};

Rows make_rows(int N, int T, bool packed, uint64_t seed) {
  Rng rng(seed);
  Rows r;
  r.lengths.resize(N);
  r.seq_start.assign((size_t)N * T, 0), r.prefix_start.assign((size_t)N * T, 0), r.prefix_end.assign((size_t)N * T, 0);
  for (int n = 0; n < N; n++) {
    r.lengths[n] = n == 0 ? T : 1 + (5 * n) % T;
    for (int col = 0; packed && col < r.lengths[n];) {
      const int left = r.lengths[n] - col, i0 = n * T + col;
      auto set = [&](int c, int s, int ps, int pe) {
        r.seq_start[i0 + c] = s, r.prefix_start[i0 + c] = ps, r.prefix_end[i0 + c] = pe;
      };
      if (left >= 3 && rng.uniform() < 0.5) {  // a shared pair
        const int P = rng.uniform_int(1, left - 2), C = rng.uniform_int(1, left - P - 1);
        const int R = rng.uniform_int(1, left - P - C);
        for (int c = 0; c < P + C; c++) set(c, col, col, col);
        for (int c = P + C; c < P + C + R; c++) set(c, col + P + C, col, col + P);
        col += P + C + R;
      } else {
        const int len = rng.uniform_int(1, left);
        for (int c = 0; c < len; c++) set(c, col, col, col);
        col += len;
      }
    }
  }
  return r;
}

TEST(AttentionSteps, GemmLayoutsMatchTheCpuReference) {
  struct Shape {
    int N, T, NH, NKV, HS;
  };
  // MHA, GQA (2 and 3 heads per group), MQA, a head size that is not a multiple of 8, padding;
  // each with right-padded rows and with packed rows holding sequences and shared prompts.
  for (const bool packed : {false, true})
    for (const Shape sh : {Shape{2, 7, 4, 2, 8}, Shape{3, 40, 6, 1, 64}, Shape{1, 33, 2, 2, 16}, Shape{4, 17, 4, 4, 6},
                           Shape{2, 11, 6, 2, 5}}) {
      SCOPED_TRACE(std::string(packed ? "packed" : "padded") + " N" + std::to_string(sh.N) + " T" +
                   std::to_string(sh.T) + " NH" + std::to_string(sh.NH) + " NKV" + std::to_string(sh.NKV) + " HS" +
                   std::to_string(sh.HS));
      const int QKV = (sh.NH + 2 * sh.NKV) * sh.HS, M = sh.N * sh.T;
      const Rows rows = make_rows(sh.N, sh.T, packed, 90 + sh.T);
      const std::vector<float> qkv = test::randn((size_t)M * QKV, 80 + sh.T),
                               dout = test::randn((size_t)M * sh.NH * sh.HS, 81);
      const float nan = std::numeric_limits<float>::quiet_NaN();
      std::vector<float> out(dout.size(), nan), att((size_t)sh.N * sh.NH * sh.T * sh.T, nan), ds(att.size(), nan),
          dqkv(qkv.size(), nan);
      HostOps ops;
      attention_forward_steps(ops, out.data(), att.data(), qkv.data(), rows.rule(), sh.N, sh.T, sh.NH, sh.NKV, sh.HS);
      attention_backward_steps(ops, dqkv.data(), ds.data(), dout.data(), qkv.data(), att.data(), rows.rule(), sh.N,
                               sh.T, sh.NH, sh.NKV, sh.HS);
      EXPECT_EQ(ops.gemm_calls, 2 + 2 + 2 * (sh.NH / sh.NKV));  // S, Y; dA, dQ; dK and dV per group head
      std::vector<float> rout(out.size()), ratt(att.size()), rdqkv(qkv.size());
      const cpu::AttentionRule rule = cpu::AttentionRule::of(
          rows.lengths.data(), rows.seq_start.data(), rows.prefix_start.data(), rows.prefix_end.data(), sh.N, sh.T);
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
