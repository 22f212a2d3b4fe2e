// matmul.cuh: the linear layer on the GPU through cuBLASLt, in the CPU
// reference's terms (src/cpu/ops.hpp): row-major out (M,N) = inp (M,K) · w (N,K)ᵀ,
// and its backward dinp (M,K) = dout · w (overwrite or accumulate),
// dw (N,K) += doutᵀ · inp. Row-major matrices are column-major transposes, so
//   forward: C(N,M) = op_T(w as K×N) · inp(K×M)         transa = T, transb = N
//   dinp:    C(K,M) = w(K×N) · dout(N×M)                 transa = N, transb = N
//   dw:      C(K,N) = inp(K×M) · op_T(dout as N×M)       transa = N, transb = T, beta = 1
// Matmul descriptors, layouts and the chosen algorithm are cached per shape,
// not rebuilt per call. fp32 with fp32 accumulation (the test mode); the bias
// is added by a separate kernel for now. Owns its handle and workspace (RAII);
// no global state.
#pragma once

#include <cublasLt.h>

#include <map>
#include <tuple>

#include "cuda/device_buffer.cuh"

namespace align::cuda {

class Matmul {
 public:
  Matmul();
  ~Matmul();
  Matmul(const Matmul&) = delete;
  Matmul& operator=(const Matmul&) = delete;

  void forward(float* out, const float* inp, const float* w, const float* bias, int M, int K, int N, cudaStream_t s);
  void backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp, const float* w, int M, int K,
                int N, bool accumulate_dinp, cudaStream_t s);

 private:
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  // C(m,n) = op(A)·op(B) column-major; lda/ldb/ldc as stored.
  void gemm(bool ta, bool tb, int m, int n, int k, const float* A, int lda, const float* B, int ldb, float* C, int ldc,
            float beta, cudaStream_t s);
  const Plan& plan(bool ta, bool tb, int m, int n, int k, int lda, int ldb, int ldc);
  cublasLtHandle_t handle_ = nullptr;
  DeviceBuffer<unsigned char> workspace_;
  std::map<std::tuple<bool, bool, int, int, int, int, int, int>, Plan> plans_;
};

}  // namespace align::cuda
