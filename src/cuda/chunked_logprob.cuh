// chunked_logprob.cuh: the fused loss layer on the GPU. From the last hidden
// states h (M, C) and the LM head W (Vp, C) straight to per-token log p(target)
// (and the token statistics), and back to dh and dW, one vocabulary chunk at a
// time: the only logits in memory are one (M, chunk) float tile, never the
// (M, V) logits or a log-softmax. The CPU reference of the same algorithm is
// src/cpu/chunked_logprob.cpp; docs/kernels.md explains it for a student.
//
// Pass order, and why the backward recomputes:
//   forward   for each chunk: z = h·W[v0:v1]ᵀ (cuBLASLt, float out) → fold z
//             into each row's online log-sum-exp and statistics (row kernels in
//             kernels/chunked_logprob.cu) → after the last chunk, logp and lse.
//   between   the caller turns the per-token logp into per-sequence sums and
//             evaluates the objective on them. DPO's weight on a token,
//             −β·σ(−βd)·(1 or −1), depends on the whole pair's sums, so dlogp is
//             not known until every token's logp is: a single fused pass cannot
//             produce the gradient, and keeping the tiles for later would cost
//             the (M, V) memory this layer exists to avoid.
//   backward  for each chunk again: recompute z (one more matmul; the price of
//             the memory), dz = dlogp·(onehot − e^(z − lse)) → dh (+)= dz·W[v0:v1]
//             and dW[v0:v1] += dzᵀ·h (cuBLASLt, float accumulation).
// SFT (dlogp known in advance) and the reference model's log-probs (forward
// only) use the same two calls.
//
// T is the storage type of h and W: float (the test mode) or __nv_bfloat16
// (tensor cores; dz is then rounded to bf16 for the two backward matmuls,
// which is the precision of every other bf16 matmul input). Outputs are float.
#pragma once

#include <cuda_bf16.h>

#include "cuda/device_buffer.cuh"
#include "cuda/matmul.cuh"
#include "kernels/kernels.cuh"

namespace align::cuda {

// Device outputs of the token statistics; any pointer may be null to skip it (all null: skip all).
struct DeviceTokenStats {
  double* entropy = nullptr;     // (M)
  double* mean_logit = nullptr;  // (M)
  double* log_sum_sq = nullptr;  // (M)
  uint8_t* is_top1 = nullptr;    // (M)
};

// Vocabulary columns per chunk for M rows when each tile element costs `bytes_per_element`:
// within the budget, a multiple of 128 (whole tensor-core tiles), at least 128, at most V.
int chunk_columns(int M, int V, size_t budget_bytes, size_t bytes_per_element);

template <typename T>
class ChunkedLogprob {
 public:
  // The tile budget in bytes bounds the extra memory: chunk = budget / (M·bytes per column).
  explicit ChunkedLogprob(Matmul& mm, size_t tile_budget_bytes = 256u << 20) : mm_(mm), budget_(tile_budget_bytes) {}

  // Columns per chunk for M rows (chunk_columns with this layer's budget and element
  // size: the float tile, plus the bf16 dz for bf16); set_fixed_chunk > 0 overrides it.
  int chunk_for(int M, int V) const;
  void set_fixed_chunk(int columns) { fixed_ = columns; }

  void forward(float* logp /*(M)*/, float* lse /*(M)*/, const DeviceTokenStats& stats, const T* h /*(M,C)*/,
               const T* w /*(Vp,C)*/, const int32_t* targets /*(M)*/, int M, int C, int V, cudaStream_t s);
  // dh (M,C) written (or added to when accumulate_dh), dw (Vp,C) += on its V real rows.
  void backward(float* dh /*(M,C)*/, float* dw /*(Vp,C)*/, const float* dlogp /*(M)*/, const T* h /*(M,C)*/,
                const T* w /*(Vp,C)*/, const float* lse /*(M)*/, const int32_t* targets /*(M)*/, int M, int C, int V,
                bool accumulate_dh, cudaStream_t s);

  // Device memory this layer holds (tile, bf16 dz, row states): its whole footprint.
  size_t workspace_bytes() const;

 private:
  void ensure(int M, int chunk);
  Matmul& mm_;
  size_t budget_;
  int fixed_ = 0;
  DeviceBuffer<float> z_;                     // (M, chunk) logits of one chunk
  DeviceBuffer<T> dz_;                        // (M, chunk) their gradient, bf16 only (float: in place in z_)
  DeviceBuffer<kernels::LogSumExpRow> rows_;  // (M)
};

extern template class ChunkedLogprob<float>;
extern template class ChunkedLogprob<__nv_bfloat16>;

}  // namespace align::cuda
