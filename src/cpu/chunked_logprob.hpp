// chunked_logprob.hpp: the LM head, per-token log-probs and their backward,
// computed over the vocabulary in chunks so that no (M, V) logits exist.
//
// This is the CPU reference of the fused loss-layer kernel
// (docs/kernels.md): the same pass structure, written as plain loops, so the
// algorithm is proven against the unfused path (matmul_forward → logprob_forward
// → token_stats, and back) before the kernel is. Peak extra memory is one
// (M, chunk) tile instead of the (M, Vp) logits.
//
// Pass structure, and why it has two passes:
//   forward  for each vocabulary chunk [v0, v1): z = h·W[v0:v1]ᵀ (M, chunk);
//            update each row's online log-sum-exp and statistics; pick up
//            z[target] when the target falls in the chunk.
//   (between) the objective needs every row's sum Σ_t logp_t before it can say
//            how much each token's log-prob matters (DPO's σ(-βd) depends on
//            the whole pair), so dlogp is known only after the forward pass.
//   backward for each chunk again: recompute z, then
//            dz = dlogp·(onehot(target) - e^(z - lse)),
//            dh (M, C) += dz·W[v0:v1],  dW[v0:v1] (chunk, C) += dzᵀ·h.
// SFT (dlogp known in advance) could run both in one pass; the reference
// model's log-probs use the forward pass alone.
//
// A row may carry a second target (SecondTargets): the shared layout's last
// prompt column predicts the first token of both answers (batch.hpp). Both
// log-probs come from the one row of logits, and the backward adds both
// terms: dz = d1·onehot(t1) + d2·onehot(t2) - (d1 + d2)·e^(z - lse).
#pragma once

#include <cstdint>

#include "cpu/ops.hpp"

namespace align::cpu {

// The second targets of the rows (null pointer: none). A row with a second target has a first one.
template <typename T>
struct SecondTargets {
  const int32_t* targets = nullptr;  // (M) < 0: none
  T* logp = nullptr;                 // (M) forward: log p(second target), 0 where none
  uint8_t* is_top1 = nullptr;        // (M) forward, or null: the second target is the first argmax
  const T* dlogp = nullptr;          // (M) backward: the gradient of the second log-prob
};

// Forward: logp and lse as logprob_forward, the token statistics as token_stats
// (any of entropy..is_top1 may be null to skip them), from h and W directly.
// Rows with target < 0 get zeros. chunk: vocabulary columns per tile, >= 1.
template <typename T>
void chunked_logprob_forward(T* logp /*(M)*/, T* lse /*(M)*/, double* entropy /*(M)*/, double* mean_logit /*(M)*/,
                             double* log_sum_sq /*(M)*/, uint8_t* is_top1 /*(M)*/, const T* h /*(M,C)*/,
                             const T* w /*(Vp,C)*/, const int32_t* targets /*(M)*/, int M, int C, int V, int chunk,
                             const SecondTargets<T>* second = nullptr);

// Backward: dh (M,C) per dh_mode, dw (Vp,C) += on its V real rows (the padding
// rows get nothing, as in logprob_backward). lse from the forward pass.
template <typename T>
void chunked_logprob_backward(T* dh /*(M,C)*/, T* dw /*(Vp,C)*/, const T* dlogp /*(M)*/, const T* h /*(M,C)*/,
                              const T* w /*(Vp,C)*/, const T* lse /*(M)*/, const int32_t* targets /*(M)*/, int M, int C,
                              int V, int chunk, GradMode dh_mode, const SecondTargets<T>* second = nullptr);

}  // namespace align::cpu
