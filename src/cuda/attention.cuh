// attention.cuh: grouped-query attention within a batch's visibility rule
// (causal over right-padded rows, or packed sequences and shared prompts) as
// batched cuBLAS GEMMs around the fused causal softmax of kernels/attention.cu
// (the straightforward GPU version; flash and cuDNN attention come later).
// The sequence of GEMMs and kernels, with its math, is attention_steps.hpp
// (shared with a host test of every GEMM's layout); this class runs it on the
// GPU. Q, K and V are read in place from the (M, QKV) projection, Y written in
// place into (M, NH·HS): no transposes or copies. The batch pointer arrays are
// filled on the device by a small kernel before each GEMM, so nothing waits for
// the host. Masked and padded entries of A, dS, Y, dQ, dK, dV come out 0, as
// the CPU reference's (src/cpu/attention.cpp).
//
// Precision: fp32, or bf16 operands (the backend's bf16 mode, as torch.autocast
// runs attention): each GEMM reads bf16 casts of its operands (qkv, dout, and
// A or dS, cast into scratch) and accumulates and writes fp32; scores,
// probabilities, the softmax and its backward stay fp32.
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>

#include "cuda/attention_steps.hpp"
#include "cuda/device_buffer.cuh"

namespace align::cuda {

class BatchedAttention {
 public:
  explicit BatchedAttention(bool bf16_operands = false);
  ~BatchedAttention();
  BatchedAttention(const BatchedAttention&) = delete;
  BatchedAttention& operator=(const BatchedAttention&) = delete;

  // rule: the batch's visibility rule, device pointers (lengths (N), the rest (N,T) or null).
  void forward(float* out /*(N,T,NH*HS)*/, float* att /*(N,NH,T,T)*/, const float* qkv /*(N,T,QKV)*/,
               const VisibilityRule& rule, int N, int T, int NH, int NKV, int HS, cudaStream_t s);
  // dqkv overwritten; ds is scratch of att's size.
  void backward(float* dqkv /*(N,T,QKV)*/, float* ds /*(N,NH,T,T)*/, const float* dout /*(N,T,NH*HS)*/,
                const float* qkv, const float* att, const VisibilityRule& rule, int N, int T, int NH, int NKV, int HS,
                cudaStream_t s);

  // The Ops of attention_steps.hpp, on the GPU (on the stream of the current call).
  int bytes() const { return bf16_ ? 2 : 4; }
  const void* cast(const float* x, size_t n, CastSlot slot);
  void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const BatchOperand& a, int lda, const BatchOperand& b,
            int ldb, float beta, const BatchOperand& c, int ldc, int N, int H);
  void softmax_forward(float* att, const VisibilityRule& rule, int N, int NH, int T);
  void softmax_backward(float* ds, const float* att, const VisibilityRule& rule, int N, int NH, int T);

 private:
  bool bf16_;
  cudaStream_t stream_ = nullptr;  // of the current forward/backward
  cublasHandle_t handle_ = nullptr;
  DeviceBuffer<const void*> pointers_;                    // 3 arrays of N·H pointers: A, B, C
  DeviceBuffer<__nv_bfloat16> qkv16_, dout16_, probs16_;  // bf16 casts (bf16 mode only)
};

}  // namespace align::cuda
