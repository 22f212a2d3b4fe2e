// model_cpu.cpp: sequences the CPU reference ops into the gpt2 / llama forward
// and backward passes (model_cpu.hpp).
//
// Per layer l (pre-norm transformer):
//   mid   = x + attn_out( attention( rope?( qkv( norm1(x) ) ) ) )
//   x'    = mid + mlp_out( act( mlp_in( norm2(mid) ) ) )
// then logits = normf(x) · headᵀ and logp = logits[target] - logsumexp(logits),
// either in full or over vocabulary chunks without keeping the logits
// (chunked_logprob.hpp; set_vocab_chunk).
// norm is LayerNorm (gpt2) or RMSNorm (llama); act is tanh-GELU or SwiGLU;
// gpt2 adds learned position embeddings to the token embeddings, llama rotates
// q and k, both at the batch's position ids; attention follows its visibility
// rule (a packed row holds several sequences; batch.hpp). The backward pass
// walks the same list in reverse; the residual gradient `dx` is the one
// activation gradient that accumulates.
#include "cpu/model_cpu.hpp"

#include <algorithm>
#include <cstring>

#include "common/error.hpp"
#include "cpu/chunked_logprob.hpp"
#include "cpu/ops.hpp"
#include "model/rope.hpp"

namespace align::cpu {

template <typename T>
CpuModel<T>::CpuModel(const ModelConfig& config)
    : config_(config), table_(config), params_(table_.total_size(), T(0)), grads_(table_.total_size(), T(0)) {
  config_.validate();
  w_ = make_model_view(table_, params_.data(), config_);
  g_ = make_model_view(table_, grads_.data(), config_);
  if (config_.arch == Arch::Llama) rope_ = rope_cos_sin_table<T>(config_);
}

template <typename T>
void CpuModel<T>::zero_grad() {
  std::fill(grads_.begin(), grads_.end(), T(0));
}

template <typename T>
void CpuModel<T>::ensure_activations(int N, int Tn) {
  if (N == N_ && Tn == T_ && !acts_.empty()) return;
  N_ = N;
  T_ = Tn;
  const ModelConfig& c = config_;
  const size_t M = (size_t)N * Tn, C = c.n_embd;
  acts_.assign(c.n_layer, LayerActs{});
  for (LayerActs& a : acts_) {
    a.resid_in.resize(M * C);
    a.norm1.resize(M * C), a.mean1.resize(M), a.rstd1.resize(M);
    a.qkv.resize(M * c.qkv_dim());
    a.atty.resize(M * c.q_dim());
    a.mid.resize(M * C);
    a.norm2.resize(M * C), a.mean2.resize(M), a.rstd2.resize(M);
    a.mlp_pre.resize(M * c.mlp_in_dim());
    a.mlp_act.resize(M * c.ffn_dim);
  }
  resid_out_.resize(M * C);
  normf_.resize(M * C), meanf_.resize(M), rstdf_.resize(M);
  if (vocab_chunk_ == 0)
    logits_.resize(M * c.padded_vocab_size);
  else
    std::vector<T>().swap(logits_);
  lse_.resize(M);
}

template <typename T>
const T* CpuModel<T>::logits() const {
  ALIGN_ASSERT(vocab_chunk_ == 0, "logits() needs full-logits mode (set_vocab_chunk(0))");
  return logits_.data();
}

template <typename T>
void CpuModel<T>::set_vocab_chunk(int columns) {
  ALIGN_ASSERT(columns >= 0, "vocab chunk must be >= 0, got ", columns);
  vocab_chunk_ = columns;
  N_ = T_ = 0;  // re-size the activations at the next forward
  have_forward_ = false;
}

template <typename T>
void CpuModel<T>::norm_forward(T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, int M) {
  const T eps = static_cast<T>(config_.norm_eps);
  if (config_.arch == Arch::GPT2)
    layernorm_forward(out, mean, rstd, inp, w, b, M, config_.n_embd, eps);
  else
    rmsnorm_forward(out, rstd, inp, w, M, config_.n_embd, eps);
}

template <typename T>
void CpuModel<T>::norm_backward(T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w, const T* mean,
                                const T* rstd, int M) {
  if (config_.arch == Arch::GPT2)
    layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, M, config_.n_embd, GradMode::Accumulate);
  else
    rmsnorm_backward(dinp, dw, dout, inp, w, rstd, M, config_.n_embd, GradMode::Accumulate);
}

template <typename T>
void CpuModel<T>::forward(const Batch& batch, T* logp, TokenStats* stats) {
  const ModelConfig& c = config_;
  PreparedBatch pb = prepare_batch(batch, c.vocab_size, c.max_seq_len);
  const int N = batch.N, Tn = batch.T, M = N * Tn, C = c.n_embd, E = pb.E;
  tokens_ = std::move(pb.tokens);
  targets_ = std::move(pb.targets);
  lengths_ = std::move(pb.lengths);
  positions_ = std::move(pb.positions);
  rule_ = AttentionRule::of(lengths_.data(), pb.seq_start.data(), pb.prefix_start.data(), pb.prefix_end.data(), N, Tn);
  extra_at_ = std::move(pb.extra_at);
  targets2_.assign(M, -1);
  promoted_.assign(E, 0);
  for (int e = 0; e < E; e++) {
    const int m = extra_at_[e];
    if (targets_[m] >= 0) {
      targets2_[m] = pb.extra_targets[e];
    } else {
      targets_[m] = pb.extra_targets[e];
      promoted_[e] = 1;
    }
  }
  ensure_activations(N, Tn);
  for (LayerActs& a : acts_) a.att.resize((size_t)c.n_head * rule_.visible());

  // Embeddings: x[n,t] = tok_embed[token] (+ pos_embed[position id] for gpt2).
  T* x = acts_[0].resid_in.data();
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; m++) {
    const T* te = w_.tok_embed + (int64_t)tokens_[m] * C;
    T* xm = x + (int64_t)m * C;
    for (int i = 0; i < C; i++) xm[i] = te[i];
    if (w_.pos_embed) {
      const T* pe = w_.pos_embed + (int64_t)positions_[m] * C;
      for (int i = 0; i < C; i++) xm[i] += pe[i];
    }
  }

  std::vector<T> proj((size_t)M * C);  // (M, C) output of a projection before the residual add
  for (int l = 0; l < c.n_layer; l++) {
    LayerActs& a = acts_[l];
    const LayerView<T>& w = w_.layers[l];
    norm_forward(a.norm1.data(), a.mean1.data(), a.rstd1.data(), a.resid_in.data(), w.attn_norm_w, w.attn_norm_b, M);
    matmul_forward(a.qkv.data(), a.norm1.data(), w.qkv_w, w.qkv_b, M, C, c.qkv_dim());
    if (c.arch == Arch::Llama)
      rope_forward(a.qkv.data(), rope_.data(), positions_.data(), N, Tn, c.n_head, c.n_kv_head, c.head_dim);
    attention_forward(a.atty.data(), a.att.data(), a.qkv.data(), rule_, c.n_head, c.n_kv_head, c.head_dim);
    matmul_forward(proj.data(), a.atty.data(), w.attn_out_w, w.attn_out_b, M, c.q_dim(), C);
    for (size_t i = 0; i < (size_t)M * C; i++) a.mid[i] = a.resid_in[i] + proj[i];
    norm_forward(a.norm2.data(), a.mean2.data(), a.rstd2.data(), a.mid.data(), w.mlp_norm_w, w.mlp_norm_b, M);
    matmul_forward(a.mlp_pre.data(), a.norm2.data(), w.mlp_in_w, w.mlp_in_b, M, C, c.mlp_in_dim());
    if (c.arch == Arch::GPT2)
      gelu_forward(a.mlp_act.data(), a.mlp_pre.data(), (int64_t)M * c.ffn_dim);
    else
      swiglu_forward(a.mlp_act.data(), a.mlp_pre.data(), M, c.ffn_dim);
    matmul_forward(proj.data(), a.mlp_act.data(), w.mlp_out_w, w.mlp_out_b, M, c.ffn_dim, C);
    T* next = l + 1 < c.n_layer ? acts_[l + 1].resid_in.data() : resid_out_.data();
    for (size_t i = 0; i < (size_t)M * C; i++) next[i] = a.mid[i] + proj[i];
  }
  norm_forward(normf_.data(), meanf_.data(), rstdf_.data(), resid_out_.data(), w_.final_norm_w, w_.final_norm_b, M);
  if (stats)
    stats->entropy.resize(M + E), stats->mean_logit.resize(M + E), stats->log_sum_sq_probs.resize(M + E),
        stats->is_top1.resize(M + E);
  std::vector<T> logp2(E > 0 ? M : 0);         // (M) log-probs of the second targets
  std::vector<uint8_t> top1_2(E > 0 ? M : 0);  // (M)
  if (vocab_chunk_ > 0) {
    const SecondTargets<T> second{targets2_.data(), logp2.data(), top1_2.data(), nullptr};
    chunked_logprob_forward(
        logp, lse_.data(), stats ? stats->entropy.data() : nullptr, stats ? stats->mean_logit.data() : nullptr,
        stats ? stats->log_sum_sq_probs.data() : nullptr, stats ? stats->is_top1.data() : nullptr, normf_.data(),
        w_.lm_head, targets_.data(), M, C, c.vocab_size, vocab_chunk_, E > 0 ? &second : nullptr);
  } else {
    matmul_forward(logits_.data(), normf_.data(), w_.lm_head, static_cast<const T*>(nullptr), M, C,
                   c.padded_vocab_size);
    logprob_forward(logp, lse_.data(), logits_.data(), targets_.data(), M, c.vocab_size, c.padded_vocab_size);
    if (stats)
      token_stats(stats->entropy.data(), stats->mean_logit.data(), stats->log_sum_sq_probs.data(),
                  stats->is_top1.data(), logits_.data(), lse_.data(), targets_.data(), M, c.vocab_size,
                  c.padded_vocab_size);
    for (int e = 0; e < E; e++) {  // the second target's log-prob from the same logits and lse
      const int m = extra_at_[e];
      if (targets2_[m] < 0) continue;
      const T* z = logits_.data() + (int64_t)m * c.padded_vocab_size;
      logp2[m] = z[targets2_[m]] - lse_[m];
      top1_2[m] = std::max_element(z, z + c.vocab_size) - z == targets2_[m];  // first maximum, as torch.argmax
    }
  }
  // The extra predictions after the N·T ordinary ones; a promoted one moves out of its column.
  for (int e = 0; e < E; e++) {
    const int m = extra_at_[e];
    logp[M + e] = promoted_[e] ? logp[m] : logp2[m];
    if (promoted_[e]) logp[m] = T(0);
    if (!stats) continue;
    stats->entropy[M + e] = stats->entropy[m];
    stats->mean_logit[M + e] = stats->mean_logit[m];
    stats->log_sum_sq_probs[M + e] = stats->log_sum_sq_probs[m];
    stats->is_top1[M + e] = promoted_[e] ? stats->is_top1[m] : top1_2[m];
    if (promoted_[e]) stats->entropy[m] = stats->mean_logit[m] = stats->log_sum_sq_probs[m] = 0, stats->is_top1[m] = 0;
  }
  have_forward_ = true;
}

template <typename T>
void CpuModel<T>::backward(const T* dlogp) {
  ALIGN_ASSERT(have_forward_, "backward() needs a forward() first");
  have_forward_ = false;  // the logits buffer becomes dlogits below
  const ModelConfig& c = config_;
  const int N = N_, Tn = T_, M = N * Tn, C = c.n_embd;

  // The gradients of each column's first and second target (the extra predictions, back in their columns).
  const int E = (int)extra_at_.size();
  std::vector<T> d1(dlogp, dlogp + M), d2(E > 0 ? M : 0, T(0));  // (M), (M)
  for (int e = 0; e < E; e++) (promoted_[e] ? d1 : d2)[extra_at_[e]] = dlogp[M + e];
  std::vector<T> dnorm((size_t)M * C), dx((size_t)M * C, T(0));  // (M, C) each
  if (vocab_chunk_ > 0) {
    const SecondTargets<T> second{targets2_.data(), nullptr, nullptr, d2.data()};
    chunked_logprob_backward(dnorm.data(), g_.lm_head, d1.data(), normf_.data(), w_.lm_head, lse_.data(),
                             targets_.data(), M, C, c.vocab_size, vocab_chunk_, GradMode::Overwrite,
                             E > 0 ? &second : nullptr);
  } else {
    // dz = d1·onehot(t1) + d2·onehot(t2) - (d1 + d2)·softmax: the one-target backward with d1 + d2, moved.
    std::vector<T> dsum = d1;
    for (int e = 0; e < E; e++) dsum[extra_at_[e]] += d2[extra_at_[e]];
    logprob_backward(logits_.data(), dsum.data(), lse_.data(), targets_.data(), M, c.vocab_size, c.padded_vocab_size);
    for (int e = 0; e < E; e++) {
      const int m = extra_at_[e];
      if (targets2_[m] < 0) continue;
      T* dz = logits_.data() + (int64_t)m * c.padded_vocab_size;
      dz[targets_[m]] -= d2[m];
      dz[targets2_[m]] += d2[m];
    }
    matmul_backward(dnorm.data(), g_.lm_head, static_cast<T*>(nullptr), logits_.data(), normf_.data(), w_.lm_head, M, C,
                    c.padded_vocab_size, GradMode::Overwrite);
  }
  norm_backward(dx.data(), g_.final_norm_w, g_.final_norm_b, dnorm.data(), resid_out_.data(), w_.final_norm_w,
                meanf_.data(), rstdf_.data(), M);

  std::vector<T> dact((size_t)M * c.ffn_dim), dpre((size_t)M * c.mlp_in_dim());
  std::vector<T> datty((size_t)M * c.q_dim()), dqkv((size_t)M * c.qkv_dim());
  for (int l = c.n_layer - 1; l >= 0; l--) {
    LayerActs& a = acts_[l];
    const LayerView<T>& w = w_.layers[l];
    const LayerView<T>& g = g_.layers[l];
    // MLP branch: dx holds d x' here and becomes d mid.
    matmul_backward(dact.data(), g.mlp_out_w, g.mlp_out_b, dx.data(), a.mlp_act.data(), w.mlp_out_w, M, c.ffn_dim, C,
                    GradMode::Overwrite);
    if (c.arch == Arch::GPT2)
      gelu_backward(dpre.data(), a.mlp_pre.data(), dact.data(), (int64_t)M * c.ffn_dim);
    else
      swiglu_backward(dpre.data(), a.mlp_pre.data(), dact.data(), M, c.ffn_dim);
    matmul_backward(dnorm.data(), g.mlp_in_w, g.mlp_in_b, dpre.data(), a.norm2.data(), w.mlp_in_w, M, C, c.mlp_in_dim(),
                    GradMode::Overwrite);
    norm_backward(dx.data(), g.mlp_norm_w, g.mlp_norm_b, dnorm.data(), a.mid.data(), w.mlp_norm_w, a.mean2.data(),
                  a.rstd2.data(), M);
    // Attention branch: dx becomes d resid_in.
    matmul_backward(datty.data(), g.attn_out_w, g.attn_out_b, dx.data(), a.atty.data(), w.attn_out_w, M, c.q_dim(), C,
                    GradMode::Overwrite);
    attention_backward(dqkv.data(), datty.data(), a.qkv.data(), a.att.data(), rule_, c.n_head, c.n_kv_head, c.head_dim);
    if (c.arch == Arch::Llama)
      rope_backward(dqkv.data(), rope_.data(), positions_.data(), N, Tn, c.n_head, c.n_kv_head, c.head_dim);
    matmul_backward(dnorm.data(), g.qkv_w, g.qkv_b, dqkv.data(), a.norm1.data(), w.qkv_w, M, C, c.qkv_dim(),
                    GradMode::Overwrite);
    norm_backward(dx.data(), g.attn_norm_w, g.attn_norm_b, dnorm.data(), a.resid_in.data(), w.attn_norm_w,
                  a.mean1.data(), a.rstd1.data(), M);
  }

  // Embedding backward, parallel over channels and serial over positions: every
  // token's rows are summed in position order, deterministic without atomics.
#pragma omp parallel for schedule(static)
  for (int i = 0; i < C; i++) {
    for (int m = 0; m < M; m++) {
      if (m % Tn >= lengths_[m / Tn]) continue;
      const T d = dx[(size_t)m * C + i];
      g_.tok_embed[(int64_t)tokens_[m] * C + i] += d;
      if (g_.pos_embed) g_.pos_embed[(int64_t)positions_[m] * C + i] += d;
    }
  }
}

template class CpuModel<float>;
template class CpuModel<double>;

}  // namespace align::cpu
