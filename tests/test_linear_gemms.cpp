// test_linear_gemms.cpp: the column-major GEMMs the GPU linear layer hands to
// cuBLASLt (src/cuda/linear_gemms.hpp), executed with cuBLAS's semantics by host
// loops (host_gemm.hpp) against the CPU reference's matmul_forward and
// matmul_backward: checks the transposes, sizes and leading dimensions without a
// GPU, for shapes where every dimension differs, on whole matrices and on a
// vocabulary chunk of the LM head (the fused loss layer's W[v0:v1] rows, at an
// offset, with dw accumulating into the chunk's rows only).
// Tolerance: double sums against the reference's float ones over K ≤ 67 terms:
// 1e-5 of the largest magnitude.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/rng.hpp"
#include "cpu/ops.hpp"
#include "cuda/linear_gemms.hpp"
#include "float_checks.hpp"
#include "host_gemm.hpp"

namespace align::cuda {
namespace {

void run(const GemmCall& g) {
  test::host_gemm(g.ta, g.tb, g.m, g.n, g.k, 1.f, static_cast<const float*>(g.A), g.lda, static_cast<const float*>(g.B),
                  g.ldb, g.beta, g.C, g.ldc);
}

using test::randn;
void expect_close(const std::vector<float>& got, const std::vector<float>& ref, const char* what) {
  test::expect_near_scaled(got, ref, 1e-5, what);
}

TEST(LinearGemms, MatchTheCpuMatmul) {
  const int M = 13, K = 67, N = 29;
  const std::vector<float> inp = randn((size_t)M * K, 1), w = randn((size_t)N * K, 2), dout = randn((size_t)M * N, 3),
                           dw0 = randn((size_t)N * K, 4), din0 = randn((size_t)M * K, 5);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> out((size_t)M * N, nan), din((size_t)M * K, nan), dw = dw0, dacc = din0;
  run(linear_forward_gemm(out.data(), inp.data(), w.data(), M, K, N));
  run(linear_dinp_gemm(din.data(), dout.data(), w.data(), M, K, N, false));
  run(linear_dinp_gemm(dacc.data(), dout.data(), w.data(), M, K, N, true));
  run(linear_dw_gemm(dw.data(), dout.data(), inp.data(), M, K, N));
  std::vector<float> rout((size_t)M * N), rdin((size_t)M * K), rdw = dw0, racc = din0;
  cpu::matmul_forward<float>(rout.data(), inp.data(), w.data(), nullptr, M, K, N);
  cpu::matmul_backward<float>(rdin.data(), rdw.data(), nullptr, dout.data(), inp.data(), w.data(), M, K, N,
                              cpu::GradMode::Overwrite);
  std::vector<float> unused = dw0;
  cpu::matmul_backward<float>(racc.data(), unused.data(), nullptr, dout.data(), inp.data(), w.data(), M, K, N,
                              cpu::GradMode::Accumulate);
  expect_close(out, rout, "forward");
  expect_close(din, rdin, "dinp (overwrite)");
  expect_close(dacc, racc, "dinp (accumulate)");
  expect_close(dw, rdw, "dw (accumulates)");
}

// The fused loss layer's chunk: z (M, n) = h · W[v0 : v0+n]ᵀ, and dW[v0 : v0+n] += dzᵀ · h,
// with the chunk's rows passed as W + v0·C. Rows outside the chunk must stay as they were.
TEST(LinearGemms, AVocabularyChunkAtAnOffset) {
  const int M = 7, C = 9, V = 50, v0 = 17, n = 11;
  const std::vector<float> h = randn((size_t)M * C, 6), w = randn((size_t)V * C, 7), dz = randn((size_t)M * n, 8),
                           dw0 = randn((size_t)V * C, 9);
  std::vector<float> z((size_t)M * n, std::numeric_limits<float>::quiet_NaN()), dw = dw0;
  run(linear_forward_gemm(z.data(), h.data(), w.data() + (size_t)v0 * C, M, C, n));
  run(linear_dw_gemm(dw.data() + (size_t)v0 * C, dz.data(), h.data(), M, C, n));
  std::vector<float> rz((size_t)M * n), rdw = dw0, rdh((size_t)M * C);
  cpu::matmul_forward<float>(rz.data(), h.data(), w.data() + (size_t)v0 * C, nullptr, M, C, n);
  cpu::matmul_backward<float>(rdh.data(), rdw.data() + (size_t)v0 * C, nullptr, dz.data(), h.data(),
                              w.data() + (size_t)v0 * C, M, C, n, cpu::GradMode::Overwrite);
  expect_close(z, rz, "chunk logits");
  expect_close(dw, rdw, "chunk dW");
  for (size_t i = 0; i < (size_t)v0 * C; i++) ASSERT_EQ(dw[i], dw0[i]) << "row before the chunk, element " << i;
  for (size_t i = (size_t)(v0 + n) * C; i < dw.size(); i++) ASSERT_EQ(dw[i], dw0[i]) << "row after the chunk " << i;
}

}  // namespace
}  // namespace align::cuda
