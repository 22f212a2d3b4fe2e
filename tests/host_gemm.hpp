// host_gemm.hpp: cuBLAS's GEMM semantics as plain host loops, for the tests that
// check, without a GPU, the GEMM arguments the CUDA code passes to cuBLAS:
// C (m×n, column-major, ldc) = alpha·op(A)·op(B) + beta·C, where op(A) is A
// (m×k, lda) or, with ta, the transpose of A stored k×m; op(B) likewise (k×n, or
// n×k with tb). Products summed in double; β = 0 never reads C (it may hold NaN
// poison), as in cuBLAS.
#pragma once

#include <cstdint>

namespace align::test {

inline void host_gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B,
                      int ldb, float beta, float* C, int ldc) {
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double s = 0;
      for (int p = 0; p < k; p++)
        s += (double)(ta ? A[p + (int64_t)i * lda] : A[i + (int64_t)p * lda]) *
             (tb ? B[j + (int64_t)p * ldb] : B[p + (int64_t)j * ldb]);
      float& out = C[i + (int64_t)j * ldc];
      out = beta == 0.f ? (float)(alpha * s) : (float)(alpha * s + beta * out);
    }
}

}  // namespace align::test
