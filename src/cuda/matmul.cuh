// matmul.cuh: the linear layer on the GPU through cuBLASLt, in the CPU
// reference's terms (src/cpu/ops.hpp): row-major out (M,N) = inp (M,K) · w (N,K)ᵀ,
// and its backward dinp (M,K) = dout · w (overwrite or accumulate),
// dw (N,K) += doutᵀ · inp, as the column-major GEMMs of linear_gemms.hpp.
// Matmul descriptors, layouts and the chosen algorithm are cached per shape,
// not rebuilt per call. Inputs are float32 (the test mode) or bfloat16 (tensor
// cores); outputs, accumulation and the scale are always float32 (cuBLASLt's
// "BF16 in, FP32 out, COMPUTE_32F" case), so gradients accumulate in fp32.
// The forward's bias is added in cuBLASLt's epilogue (a kernel where no
// algorithm offers it); the bias gradient stays a deterministic kernel because
// the epilogue's (BGRADB) overwrites and parameter gradients here accumulate. Owns its handle and
// workspace (RAII); no global state.
#pragma once

#include <cublasLt.h>
#include <cuda_bf16.h>

#include <cstdint>
#include <map>
#include <tuple>

#include "cuda/device_buffer.cuh"
#include "cuda/linear_gemms.hpp"

namespace align::cuda {

class Matmul {
 public:
  Matmul();
  ~Matmul();
  Matmul(const Matmul&) = delete;
  Matmul& operator=(const Matmul&) = delete;

  // T: float or __nv_bfloat16 (the inputs); out, dinp, dw, bias and dbias are float.
  template <typename T>
  void forward(float* out /*(M,N)*/, const T* inp /*(M,K)*/, const T* w /*(N,K)*/, const float* bias /*(N)*/, int M,
               int K, int N, cudaStream_t s);
  template <typename T>
  void backward(float* dinp /*(M,K)*/, float* dw /*(N,K)*/, float* dbias /*(N)*/, const T* dout /*(M,N)*/,
                const T* inp /*(M,K)*/, const T* w /*(N,K)*/, int M, int K, int N, bool accumulate_dinp,
                cudaStream_t s);

 private:
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool bias_in_epilogue = false;  // the forward's bias is added by the GEMM (CUBLASLT_EPILOGUE_BIAS)
  };
  // One GEMM of linear_gemms.hpp (A and B of type `in`, C float), with bias (m) added when
  // given. Returns whether the bias was added (by the epilogue); when no algorithm takes the
  // epilogue for this shape, the caller adds it.
  bool run(cudaDataType_t in, const GemmCall& g, cudaStream_t s, const float* bias = nullptr);
  // Plans are cached per shape, type and operand alignment (see alignment_of in matmul.cu).
  const Plan& plan(cudaDataType_t in, bool ta, bool tb, int m, int n, int k, int lda, int ldb, int ldc,
                   uint32_t align_a, uint32_t align_b, uint32_t align_c, bool bias);
  cublasLtHandle_t handle_ = nullptr;
  DeviceBuffer<unsigned char> workspace_;
  std::map<std::tuple<int, bool, bool, int, int, int, int, int, int, uint32_t, uint32_t, uint32_t, bool>, Plan> plans_;
};

}  // namespace align::cuda
