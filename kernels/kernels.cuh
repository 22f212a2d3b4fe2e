// kernels.cuh: the CUDA kernels of align.cu, declared in one place with the
// CPU reference's argument order (outputs, inputs, sizes) and gradient
// convention (parameter gradients +=, activation gradients =; see
// src/cpu/ops.hpp, their specification). Each kernels/*.cu file explains its
// math and how the work is split over blocks and threads. Activations are
// float32 in both of the backend's modes; bf16 enters as matmul operands
// (to_bf16 casts them) and as the fused loss layer's dz.
// All launches go to `stream` and are checked with CUDA_CHECK_LAUNCH.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "model/visibility.hpp"

namespace align::kernels {

// embedding.cu: out (M,C) = tok (Vp,C)[tokens] (+ pos (T_max,C)[positions[m]], or [m % T] when positions
// is null); tokens < 0 read row 0.
void embedding_forward(float* out, const int32_t* tokens, const int32_t* positions, const float* tok, const float* pos,
                       int M, int T, int C, cudaStream_t stream);
// dtok/dpos += dout rows of the real positions (lengths (N)), deterministic: one thread per channel.
void embedding_backward(float* dtok, float* dpos, const float* dout, const int32_t* tokens, const int32_t* positions,
                        const int32_t* lengths, int M, int T, int C, cudaStream_t stream);
// The extra predictions' rows (batch.hpp) of the loss layer: out rows M + e = rows[at[e]] (copy),
// then back: rows[at[e]] += rows[M + e] (the columns at[e] are distinct: one writer each).
void copy_rows(float* x /*(M+E, C)*/, const int32_t* at /*(E)*/, int M, int E, int C, cudaStream_t stream);
void add_rows(float* x /*(M+E, C)*/, const int32_t* at /*(E)*/, int M, int E, int C, cudaStream_t stream);

// norms.cu: LayerNorm (w, b) and RMSNorm (w), forward and backward; dinp accumulates when `accumulate`.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b, int M,
                       int C, float eps, cudaStream_t stream);
void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp, const float* w,
                        const float* mean, const float* rstd, int M, int C, bool accumulate, cudaStream_t stream);
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int M, int C, float eps,
                     cudaStream_t stream);
void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w, const float* rstd,
                      int M, int C, bool accumulate, cudaStream_t stream);
// The residual add fused with the norm after it: sum (M,C) = a + b, then out = norm(sum) as above.
void residual_layernorm_forward(float* sum, float* out, float* mean, float* rstd, const float* a, const float* b,
                                const float* w, const float* bias, int M, int C, float eps, cudaStream_t stream);
void residual_rmsnorm_forward(float* sum, float* out, float* rstd, const float* a, const float* b, const float* w,
                              int M, int C, float eps, cudaStream_t stream);

// activations.cu: tanh-GELU and SwiGLU ([gate | up] rows), forward and backward (overwrite).
void gelu_forward(float* out, const float* inp, int64_t n, cudaStream_t stream);
void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n, cudaStream_t stream);
void swiglu_forward(float* out, const float* inp, int M, int F, cudaStream_t stream);
void swiglu_backward(float* dinp, const float* inp, const float* dout, int M, int F, cudaStream_t stream);

// attention.cu: RoPE (sign +1 forward, −1 backward, in place on the q and k heads; cos_sin (T_max, HS/2, 2);
// the angle of positions[n·T + t], or of t when positions is null),
// causal GQA attention over right-padded rows (lengths (N), device); att (N,NH,T,T) keeps the softmax;
// backward needs a scratch `ds` of att's size and overwrites dqkv.
void rope_apply(float* qkv, const float* cos_sin, const int32_t* positions, int N, int T, int NH, int NKV, int HS,
                float sign, cudaStream_t stream);
void attention_forward(float* out, float* att, const float* qkv, const int32_t* lengths, int N, int T, int NH, int NKV,
                       int HS, cudaStream_t stream);
void attention_backward(float* dqkv, float* ds, const float* dout, const float* qkv, const float* att,
                        const int32_t* lengths, int N, int T, int NH, int NKV, int HS, cudaStream_t stream);

// The softmax of the cuBLAS-batched attention (src/cuda/attention.cuh), in place on (N,NH,T,T):
// scaled scores -> probabilities over the keys the rule makes visible (0 elsewhere, padded rows
// 0); then da -> ds = a·(da − Σ a·da). The rule's pointers are device memory.
void causal_softmax_forward(float* att, const VisibilityRule& rule, int N, int NH, int T, cudaStream_t stream);
void causal_softmax_backward(float* da_to_ds, const float* att, const VisibilityRule& rule, int N, int NH, int T,
                             cudaStream_t stream);

// flash_attention.cu: the same attention without the (N,NH,T,T) scores (FlashAttention-2 on tensor
// cores, bf16 operands, fp32 accumulation), for head dims where flash_attention_supported (64, 128;
// others use the batched-GEMM attention of src/cuda/attention.cuh). Visibility: the batch's rule
// (src/model/visibility.hpp, device pointers): query t of row n sees key j iff j <= t < lengths[n]
// and (seq_start[t] <= j or prefix_start[t] <= j < prefix_end[t]); seq_start null: plain causal rows.
// forward writes out (fp32) and lse (N,NH,T), the natural log-sum-exp of each query's scaled
// scores (0 for a query that sees nothing); backward overwrites dqkv, using delta (N,NH,T) as
// scratch, from dout (fp32, for delta) and its bf16 cast dout16. Deterministic: no atomics.
bool flash_attention_supported(int HS);
void flash_attention_forward(float* out, float* lse, const __nv_bfloat16* qkv, const VisibilityRule& rule, int N, int T,
                             int NH, int NKV, int HS, cudaStream_t stream);
void flash_attention_backward(float* dqkv, float* delta, const float* dout, const __nv_bfloat16* dout16,
                              const float* out, const __nv_bfloat16* qkv, const float* lse, const VisibilityRule& rule,
                              int N, int T, int NH, int NKV, int HS, cudaStream_t stream);

// logprob.cu: logp and lse of the target per row over V of Vp columns; backward in place to dlogits.
void logprob_forward(float* logp, float* lse, const float* logits, const int32_t* targets, int M, int V, int Vp,
                     cudaStream_t stream);
void logprob_backward(float* logits_to_dlogits, const float* dlogp, const float* lse, const int32_t* targets, int M,
                      int V, int Vp, cudaStream_t stream);

// chunked_logprob.cu: the row kernels of the fused loss layer (driver: src/cuda/chunked_logprob.cuh).
// One row's online log-sum-exp state over the vocabulary chunks seen so far: sums are relative
// to e^max; pz = Σ e^(z-max)·z, sq = Σ e^(2(z-max)) and zsum = Σ z only when statistics are asked.
struct LogSumExpRow {
  double max, sum, pz, sq, zsum;
  float z_target;
  int argmax;  // first column of the maximum
};
void online_rows_reset(LogSumExpRow* rows, int M, cudaStream_t stream);
// Folds the chunk z (M, n) of vocabulary columns [v0, v0 + n) into each row's state.
void online_rows_update(LogSumExpRow* rows, const float* z, const int32_t* targets, int M, int n, int v0,
                        bool with_stats, cudaStream_t stream);
// logp, lse (M) and the token statistics (each may be null) from the states; zeros where target < 0.
void online_rows_finish(float* logp, float* lse, double* entropy, double* mean_logit, double* log_sum_sq,
                        uint8_t* is_top1, const LogSumExpRow* rows, const int32_t* targets, int M, int V,
                        cudaStream_t stream);
// dz (M, n) = dlogp·(onehot(target) − e^(z − lse)) for the chunk at v0; T float (dz may be z) or __nv_bfloat16.
template <typename T>
void chunk_dlogits(T* dz, const float* z, const float* dlogp, const float* lse, const int32_t* targets, int M, int n,
                   int v0, cudaStream_t stream);

// convert.cu: out (n) = bf16(in), round to nearest even.
void to_bf16(__nv_bfloat16* out, const float* in, int64_t n, cudaStream_t stream);

// optimizer.cu: AdamW over n elements (decay mask per element; gradients times grad_scale first,
// for clipping), and the global gradient norm (partial sums per block, then one block, in a
// fixed order: deterministic).
void adamw_step(float* params, float* m, float* v, const float* grads, const uint8_t* decay, size_t n, float lr,
                float beta1, float beta2, float eps, float weight_decay, float bias_correction1, float bias_correction2,
                float grad_scale, cudaStream_t stream);
// sum of squares of g (n) into *out (device), using scratch (>= 1024 floats).
void sum_of_squares(float* out, float* scratch, const float* g, size_t n, cudaStream_t stream);

}  // namespace align::kernels
