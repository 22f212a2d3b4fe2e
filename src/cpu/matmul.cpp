// matmul.cpp: the linear layer, out = inp · wᵀ + bias, and its backward (ops.hpp).
//
// Plain loops for any scalar (the float64 reference); float goes to BLAS
// sgemm, which is what makes the float32 CPU path usable for real runs.
// The two are checked against each other in tests/test_cpu_ops.cpp.
#include <cblas.h>

#include "cpu/ops.hpp"
#include "cpu/vec.hpp"

namespace align::cpu {

template <typename T>
void matmul_forward(T* out, const T* inp, const T* w, const T* bias, int M, int K, int N) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int m = 0; m < M; m++) {
    for (int n = 0; n < N; n++) {
      const T acc = dot(inp + (int64_t)m * K, w + (int64_t)n * K, K);
      out[(int64_t)m * N + n] = bias ? bias[n] + acc : acc;
    }
  }
}

template <typename T>
void matmul_backward(T* dinp, T* dw, T* dbias, const T* dout, const T* inp, const T* w, int M, int K, int N,
                     GradMode dinp_mode) {
  if (dinp) {
    // dinp[m,k] (=|+=) Σ_n dout[m,n]·w[n,k]
#pragma omp parallel for schedule(static)
    for (int m = 0; m < M; m++) {
      T* di = dinp + (int64_t)m * K;
      if (dinp_mode == GradMode::Overwrite)
        for (int k = 0; k < K; k++) di[k] = T(0);
      for (int n = 0; n < N; n++) axpy(di, dout[(int64_t)m * N + n], w + (int64_t)n * K, K);
    }
  }
  // dw[n,k] += Σ_m dout[m,n]·inp[m,k];  dbias[n] += Σ_m dout[m,n]
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; n++) {
    T* dwr = dw + (int64_t)n * K;
    T db = T(0);
    for (int m = 0; m < M; m++) {
      const T d = dout[(int64_t)m * N + n];
      db += d;
      axpy(dwr, d, inp + (int64_t)m * K, K);
    }
    if (dbias) dbias[n] += db;
  }
}

// ---- float: BLAS --------------------------------------------------------------------------
template <>
void matmul_forward<float>(float* out, const float* inp, const float* w, const float* bias, int M, int K, int N) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.f, inp, K, w, K, 0.f, out, N);
  if (bias) {
#pragma omp parallel for schedule(static)
    for (int m = 0; m < M; m++)
      for (int n = 0; n < N; n++) out[(int64_t)m * N + n] += bias[n];
  }
}

template <>
void matmul_backward<float>(float* dinp, float* dw, float* dbias, const float* dout, const float* inp, const float* w,
                            int M, int K, int N, GradMode dinp_mode) {
  if (dinp) {
    const float beta = dinp_mode == GradMode::Accumulate ? 1.f : 0.f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.f, dout, N, w, K, beta, dinp, K);
  }
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.f, dout, N, inp, K, 1.f, dw, K);
  if (dbias) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
      float db = 0.f;
      for (int m = 0; m < M; m++) db += dout[(int64_t)m * N + n];
      dbias[n] += db;
    }
  }
}

template void matmul_forward<double>(double*, const double*, const double*, const double*, int, int, int);
template void matmul_backward<double>(double*, double*, double*, const double*, const double*, const double*, int, int,
                                      int, GradMode);

}  // namespace align::cpu
