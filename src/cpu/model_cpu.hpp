// model_cpu.hpp: the CPU reference model, forward and backward for gpt2 and llama.
//
// CpuModel<T> owns one flat parameter buffer and one flat gradient buffer laid
// out by the tensor table, plus the activations of the last forward pass.
//   forward(batch, logp[, stats]):  logp[n·T + t] = log p(targets[n, t] | the tokens column t sees)
//                          for t < lengths[n] and targets >= 0, else 0; then the batch's
//                          E extra predictions (batch.hpp): N·T + E values.
//   backward(dlogp):       grads += ∂(Σ dlogp·logp)/∂θ for that same batch.
// A row may pack several sequences: positions come from the batch's position
// ids and attention follows its visibility rule (ops.hpp, AttentionRule), with
// work and memory in proportion to the visible (query, key) pairs.
// That pair is the backend contract (DESIGN.md §3): every objective (DPO and
// its family, SFT, ORPO) reduces to weights on per-token log-probs.
// T is float (BLAS matmuls; the working precision) or double (gradient checks).
// Parameter gradients accumulate across backward calls until zero_grad().
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/ops.hpp"
#include "model/batch.hpp"
#include "model/config.hpp"
#include "model/model_view.hpp"
#include "model/tensor_table.hpp"

namespace align::cpu {

template <typename T>
class CpuModel {
 public:
  using Scalar = T;
  explicit CpuModel(const ModelConfig& config);  // parameters start at zero
  CpuModel(const CpuModel&) = delete;
  CpuModel& operator=(const CpuModel&) = delete;

  const ModelConfig& config() const { return config_; }
  const TensorTable& table() const { return table_; }
  std::vector<T>& params() { return params_; }  // (table().total_size())
  const std::vector<T>& params() const { return params_; }
  std::vector<T>& grads() { return grads_; }  // (table().total_size())
  const ModelView<T>& weights() const { return w_; }
  void zero_grad();

  // stats, when given, is filled with the per-position TokenStats (costs one more pass over the logits).
  void forward(const Batch& batch, T* logp /*(N·T + E)*/, TokenStats* stats = nullptr);
  // Logits (N, T, Vp) of the last forward; valid until backward(), which reuses the buffer.
  // Only in full-logits mode (vocab_chunk 0).
  const T* logits() const;
  // 0 (the default): the LM head writes full (N, T, Vp) logits, which logits() exposes (sampling,
  // golden tests). > 0: the head runs over vocabulary chunks of this many columns
  // (chunked_logprob.hpp) and no logits are kept, the training mode: at T = 1024 and V = 50257
  // that saves 3.3 GB per 16 rows. Results agree to rounding (test_cpu_padding.cpp).
  void set_vocab_chunk(int columns);
  int vocab_chunk() const { return vocab_chunk_; }
  void backward(const T* dlogp /*(N·T + E)*/);

 private:
  struct LayerActs {
    std::vector<T> resid_in;             // (M, C) input to the layer
    std::vector<T> norm1, mean1, rstd1;  // (M, C), (M), (M)
    std::vector<T> qkv;                  // (M, QKV), after RoPE
    std::vector<T> att;                  // (NH, visible pairs) softmax probabilities (ops.hpp)
    std::vector<T> atty;                 // (M, NH*HS) attention output before projection
    std::vector<T> mid;                  // (M, C) residual after attention
    std::vector<T> norm2, mean2, rstd2;  // (M, C), (M), (M)
    std::vector<T> mlp_pre;              // (M, F or 2F)
    std::vector<T> mlp_act;              // (M, F)
  };
  void ensure_activations(int N, int Tn);
  void norm_forward(T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, int M);
  void norm_backward(T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w, const T* mean, const T* rstd,
                     int M);

  ModelConfig config_;
  TensorTable table_;
  std::vector<T> params_, grads_;
  ModelView<T> w_, g_;
  std::vector<T> rope_;  // (T_max, HS/2, 2) cos/sin, llama only

  int N_ = 0, T_ = 0;                                // shape of the last forward
  std::vector<int32_t> tokens_, targets_, lengths_;  // the last forward's batch, targets masked to -1 where unused
  std::vector<int32_t> positions_;                   // (N, T) position ids
  AttentionRule rule_;                               // the visibility rule of the last forward
  // Extra predictions ride on their column as its second target (targets2_); where the column
  // predicts nothing itself the extra becomes its first target instead (promoted_[e]).
  std::vector<int32_t> extra_at_, targets2_;  // (E), (M) < 0: none
  std::vector<uint8_t> promoted_;             // (E)
  std::vector<LayerActs> acts_;
  std::vector<T> resid_out_;              // (M, C) after the last layer
  std::vector<T> normf_, meanf_, rstdf_;  // (M, C), (M), (M)
  std::vector<T> logits_, lse_;           // (M, Vp) (empty when chunked), (M)
  int vocab_chunk_ = 0;
  bool have_forward_ = false;
};

}  // namespace align::cpu
