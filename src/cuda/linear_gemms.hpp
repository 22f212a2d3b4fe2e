// linear_gemms.hpp: the linear layer of the CPU reference (src/cpu/ops.hpp) as
// the column-major GEMMs cuBLAS computes. Row-major matrices are column-major
// transposes (a row-major (r, c) matrix with leading dimension ld is the
// column-major (c, r) one), so for out (M,N) = inp (M,K) · w (N,K)ᵀ:
//   forward  C(N,M) = op_T(w as K×N) · (inp as K×M)          outᵀ = w·inpᵀ
//   dinp     C(K,M) = (w as K×N) · (dout as N×M)              dinpᵀ = wᵀ·doutᵀ
//   dw       C(K,N) = (inp as K×M) · op_T(dout as N×M), β = 1  dwᵀ += inpᵀ·dout
// Matmul (matmul.cu) runs these through cuBLASLt; tests/test_linear_gemms.cpp
// runs them with host loops against the CPU reference, without a GPU. Plain C++.
#pragma once

namespace align::cuda {

// C (m×n, column-major, leading dimension ldc) = op(A)·op(B) + beta·C, A m×k or (ta) k×m
// stored with lda, B k×n or (tb) n×k stored with ldb: cuBLAS's argument convention.
struct GemmCall {
  bool ta, tb;
  int m, n, k;
  const void* A;
  int lda;
  const void* B;
  int ldb;
  float* C;
  int ldc;
  float beta;
};

inline GemmCall linear_forward_gemm(float* out, const void* inp, const void* w, int M, int K, int N) {
  return {true, false, N, M, K, w, K, inp, K, out, N, 0.f};
}
inline GemmCall linear_dinp_gemm(float* dinp, const void* dout, const void* w, int M, int K, int N, bool accumulate) {
  return {false, false, K, M, N, w, K, dout, N, dinp, K, accumulate ? 1.f : 0.f};
}
inline GemmCall linear_dw_gemm(float* dw, const void* dout, const void* inp, int M, int K, int N) {
  return {false, true, K, N, M, inp, K, dout, N, dw, K, 1.f};
}

}  // namespace align::cuda
