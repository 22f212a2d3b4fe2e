// ops.hpp: the CPU reference's layer operations, each a forward/backward pair.
//
// This is the specification every CUDA kernel is tested against, so it is
// written for clarity: plain loops, OpenMP over independent rows, no float
// atomics (every reduction has a fixed order, so results are deterministic).
// Templated on the scalar: float (the working precision; matmuls go to BLAS)
// and double (plain loops everywhere; used by the finite-difference tests).
//
// Argument order everywhere: outputs, inputs, sizes. Gradients carry a `d`.
// Gradient convention:
//   * parameter gradients (dw, db) always ACCUMULATE (+=), so several
//     micro-batches or a tied weight simply add up;
//   * activation gradients OVERWRITE (=) unless the call passes
//     GradMode::Accumulate, which the residual stream uses.
// Shapes: M rows (= N*T positions), C channels, see config.hpp for letters.
#pragma once

#include <cstdint>
#include <vector>

namespace align::cpu {

enum class GradMode { Overwrite, Accumulate };

// ---- linear layer: out = inp · wᵀ + bias -------------------------------------------------
template <typename T>
void matmul_forward(T* out /*(M,N)*/, const T* inp /*(M,K)*/, const T* w /*(N,K)*/, const T* bias /*(N) or null*/,
                    int M, int K, int N);
// dinp (M,K) per mode (skipped when null); dw (N,K) +=; dbias (N) += (skipped when null).
template <typename T>
void matmul_backward(T* dinp, T* dw, T* dbias, const T* dout /*(M,N)*/, const T* inp /*(M,K)*/, const T* w /*(N,K)*/,
                     int M, int K, int N, GradMode dinp_mode);

// ---- LayerNorm: y = (x - mean)·rstd·w + b, rstd = 1/sqrt(var + eps) --------------------
template <typename T>
void layernorm_forward(T* out /*(M,C)*/, T* mean /*(M)*/, T* rstd /*(M)*/, const T* inp /*(M,C)*/, const T* w,
                       const T* b, int M, int C, T eps);
template <typename T>
void layernorm_backward(T* dinp /*(M,C)*/, T* dw /*(C)*/, T* db /*(C)*/, const T* dout /*(M,C)*/, const T* inp,
                        const T* w, const T* mean, const T* rstd, int M, int C, GradMode dinp_mode);

// ---- RMSNorm: y = x·rstd·w, rstd = 1/sqrt(mean(x²) + eps) ---------------------------------
template <typename T>
void rmsnorm_forward(T* out /*(M,C)*/, T* rstd /*(M)*/, const T* inp /*(M,C)*/, const T* w, int M, int C, T eps);
template <typename T>
void rmsnorm_backward(T* dinp /*(M,C)*/, T* dw /*(C)*/, const T* dout /*(M,C)*/, const T* inp, const T* w,
                      const T* rstd, int M, int C, GradMode dinp_mode);

// ---- tanh-GELU: y = ½x(1 + tanh(√(2/π)(x + 0.044715x³))) --------------------------------
template <typename T>
void gelu_forward(T* out, const T* inp, int64_t n);
template <typename T>
void gelu_backward(T* dinp, const T* inp, const T* dout, int64_t n);  // overwrites dinp

// ---- SwiGLU: y = silu(gate)·up, inp row = [gate (F) | up (F)] -----------------------------
template <typename T>
void swiglu_forward(T* out /*(M,F)*/, const T* inp /*(M,2F)*/, int M, int F);
template <typename T>
void swiglu_backward(T* dinp /*(M,2F)*/, const T* inp /*(M,2F)*/, const T* dout /*(M,F)*/, int M, int F);

// ---- RoPE, rotate-half convention (dims i and i + HS/2 form a pair) ------------------------
// In place on the q and k heads of a qkv activation; the token at (n, t) is rotated by the
// angle of positions[n·T + t] (null: by t, a row that is one sequence from position 0).
// cos_sin: (T_max, HS/2, 2) table from rope_table(). Backward is the inverse rotation.
template <typename T>
void rope_forward(T* qkv /*(N,T,QKV)*/, const T* cos_sin, const int32_t* positions /*(N,T) or null*/, int N, int T_,
                  int NH, int NKV, int HS);
template <typename T>
void rope_backward(T* dqkv /*(N,T,QKV)*/, const T* cos_sin, const int32_t* positions /*(N,T) or null*/, int N, int T_,
                   int NH, int NKV, int HS);

// ---- the visibility rule of attention (batch.hpp) ------------------------------------------
// Query column t of row n sees the keys [prefix_start, prefix_end) then [seq_start, t], in
// that order; columns t >= lengths[n] see nothing. The softmax probabilities are kept
// compactly, only for visible pairs: query (n, t)'s of head h are
//   att[h·visible() + offset[n·T + t] + k],  k = 0 .. count-1 in the order above,
// so memory and work follow the visible pairs, not N·T², for long packed rows.
struct AttentionRule {
  int N = 0, T = 0;
  std::vector<int32_t> lengths;                              // (N)
  std::vector<int32_t> seq_start, prefix_start, prefix_end;  // (N, T)
  std::vector<int64_t> offset;                               // (N·T + 1) prefix sums of the visible counts
  int64_t visible() const { return offset.back(); }
  // Right-padded rows, each causal from column 0.
  static AttentionRule causal(const int32_t* lengths /*(N)*/, int N, int T);
  // A batch's rule (its prefix arrays as prepare_batch leaves them: never null).
  static AttentionRule of(const int32_t* lengths /*(N)*/, const int32_t* seq_start /*(N,T)*/,
                          const int32_t* prefix_start /*(N,T)*/, const int32_t* prefix_end /*(N,T)*/, int N, int T);
};

// ---- grouped-query attention within the rule ------------------------------------------------
// Query head h reads key/value head h / (NH/NKV). Outputs at padded columns are zero.
// att keeps the softmax probabilities (compact, above) for the backward pass.
template <typename T>
void attention_forward(T* out /*(N,T,NH*HS)*/, T* att /*(NH, rule.visible())*/, const T* qkv /*(N,T,QKV)*/,
                       const AttentionRule& rule, int NH, int NKV, int HS);
template <typename T>
void attention_backward(T* dqkv /*(N,T,QKV), overwritten*/, const T* dout /*(N,T,NH*HS)*/, const T* qkv, const T* att,
                        const AttentionRule& rule, int NH, int NKV, int HS);
// The compact probabilities spread into the dense (N, NH, T, T) matrix the CUDA attention
// keeps (zeros where hidden): for tests that compare the two.
template <typename T>
void dense_probabilities(T* dense /*(N,NH,T,T)*/, const T* att /*(NH, rule.visible())*/, const AttentionRule& rule,
                         int NH);

// ---- per-token log-probability of the target ----------------------------------------------
// logp[m] = logits[m, target] - logsumexp(logits[m, 0:V]); V real columns of Vp.
// Positions with target < 0 (ignored) get logp = 0 and lse = 0.
template <typename T>
void logprob_forward(T* logp /*(M)*/, T* lse /*(M)*/, const T* logits /*(M,Vp)*/, const int32_t* targets /*(M)*/,
                     int M, int V, int Vp);
// In place: logits (M,Vp) become dlogits = dlogp·(onehot(target) - softmax) (zero on ignored rows and padded columns).
template <typename T>
void logprob_backward(T* logits_to_dlogits /*(M,Vp)*/, const T* dlogp /*(M)*/, const T* lse, const int32_t* targets,
                      int M, int V, int Vp);

// Token statistics from the logits and lse of logprob_forward (see TokenStats in batch.hpp):
//   entropy = lse - Σ p·z,  mean_logit = Σ z / V,  log_sum_sq = log Σ e^(2(z - lse)),
//   is_top1 = z[target] is the maximum and no earlier column reaches it (torch.argmax's tie rule).
// Rows with target < 0 get zeros.
template <typename T>
void token_stats(double* entropy /*(M)*/, double* mean_logit /*(M)*/, double* log_sum_sq /*(M)*/, uint8_t* is_top1 /*(M)*/,
                 const T* logits /*(M,Vp)*/, const T* lse /*(M)*/, const int32_t* targets /*(M)*/, int M, int V, int Vp);

}  // namespace align::cpu
