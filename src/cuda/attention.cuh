// attention.cuh: causal grouped-query attention over right-padded rows as
// batched cuBLAS GEMMs around the fused causal softmax of kernels/attention.cu
// (the straightforward GPU version; flash and cuDNN attention come later).
// For each sequence n and query head h (kv head g = h / (NH/NKV)), in the
// row-major terms of the CPU reference (src/cpu/attention.cpp, the spec):
//   forward    S = Q_h·K_gᵀ / √HS          (T, T) into att     one batched GEMM
//              A = causal_softmax(S)        in place            kernel
//              Y_h = A·V_g                  into out (M, NH·HS)  one batched GEMM
//   backward   dA = dY_h·V_gᵀ               (T, T) into ds       one batched GEMM
//              dS = A ⊙ (dA − rowsum(A ⊙ dA)) in place          kernel
//              dQ_h = dS·K_g / √HS                                one batched GEMM
//              dK_g = Σ_{h in g} dSᵀ·Q_h / √HS,  dV_g = Σ_{h in g} Aᵀ·dY_h
//                  one batched GEMM per head of the group (β = 0, then 1), so
//                  no two GEMMs of a batch write the same dK_g: deterministic.
// Q, K and V are read in place from the (M, QKV) projection (leading dimension
// QKV), Y written in place into (M, NH·HS): no transposes or copies. The batch
// pointer arrays are filled on the device by a small kernel before each GEMM,
// so nothing waits for the host. Masked and padded entries of A, dS, Y, dQ,
// dK, dV come out 0, as the reference's.
//
// Precision: fp32, or bf16 operands (the backend's bf16 mode, as torch.autocast
// runs attention): each GEMM reads bf16 casts of its operands (qkv, dout, and
// A or dS, cast into scratch) and accumulates and writes fp32; scores,
// probabilities and the softmax and its backward stay fp32.
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>

#include "cuda/device_buffer.cuh"

namespace align::cuda {

class BatchedAttention {
 public:
  explicit BatchedAttention(bool bf16_operands = false);
  ~BatchedAttention();
  BatchedAttention(const BatchedAttention&) = delete;
  BatchedAttention& operator=(const BatchedAttention&) = delete;

  void forward(float* out /*(N,T,NH*HS)*/, float* att /*(N,NH,T,T)*/, const float* qkv /*(N,T,QKV)*/,
               const int32_t* lengths /*(N), device*/, int N, int T, int NH, int NKV, int HS, cudaStream_t s);
  // dqkv overwritten; ds is scratch of att's size.
  void backward(float* dqkv /*(N,T,QKV)*/, float* ds /*(N,NH,T,T)*/, const float* dout /*(N,T,NH*HS)*/,
                const float* qkv, const float* att, const int32_t* lengths, int N, int T, int NH, int NKV, int HS,
                cudaStream_t s);

  // Where an operand of batch entry b = n·H + j starts, in elements of `bytes` each:
  // base + n·stride_n + ((j·mul + add) / div)·stride_head.
  struct Operand {
    const void* base;
    int64_t stride_n, stride_head;
    int mul = 1, add = 0, div = 1, bytes = 4;
  };

 private:
  // One call's sizes, scale and operand type, and q, k, v as its GEMMs read them (the bf16
  // cast of qkv in bf16 mode; k and v indexed by query head, mapped to its kv head).
  struct Call {
    int QKV, group, Y, bytes;
    int64_t seq, tt;  // elements per sequence of qkv, per head of att
    float scale;
    cudaDataType_t in;
    Operand q, k, v;
  };
  Call setup(const float* qkv, int N, int T, int NH, int NKV, int HS, cudaStream_t s);
  // C_b (fp32) = alpha·op(A_b)·op(B_b) + beta·C_b for the N·H entries b (cuBLAS column-major
  // terms); A and B of type `in` (fp32 or bf16).
  void batched(cudaDataType_t in, bool ta, bool tb, int m, int n, int k, float alpha, const Operand& a, int lda,
               const Operand& b, int ldb, float beta, const Operand& c, int ldc, int N, int H, cudaStream_t s);
  // The operand as the GEMMs read it: itself (fp32), or its bf16 cast in `scratch` (n elements).
  const void* operand(const float* x, size_t n, DeviceBuffer<__nv_bfloat16>& scratch, cudaStream_t s);
  bool bf16_;
  cublasHandle_t handle_ = nullptr;
  DeviceBuffer<const void*> pointers_;                    // 3 arrays of N·H pointers: A, B, C
  DeviceBuffer<__nv_bfloat16> qkv16_, dout16_, probs16_;  // bf16 casts (bf16 mode only)
};

}  // namespace align::cuda
