// generate.cpp: KV-cached decoding and sampling (generate.hpp).
#include "cpu/generate.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/error.hpp"
#include "cpu/ops.hpp"
#include "cpu/vec.hpp"
#include "model/rope.hpp"

namespace align::cpu {

Decoder::Decoder(const ModelConfig& c, const float* params)
    : c_(c), table_(c), w_(make_model_view(table_, params, c)) {
  c_.validate();
  if (c_.arch == Arch::Llama) rope_ = rope_cos_sin_table<float>(c_);
  k_cache_.assign(c_.n_layer, std::vector<float>((size_t)c_.max_seq_len * c_.kv_dim()));
  v_cache_.assign(c_.n_layer, std::vector<float>((size_t)c_.max_seq_len * c_.kv_dim()));
  x_.resize(c_.n_embd), norm_.resize(c_.n_embd), qkv_.resize(c_.qkv_dim()), atty_.resize(c_.q_dim());
  proj_.resize(c_.n_embd), mlp_pre_.resize(c_.mlp_in_dim()), mlp_act_.resize(c_.ffn_dim);
  logits_.resize(c_.padded_vocab_size), scores_.resize(c_.max_seq_len);
}

void Decoder::reset() { pos_ = 0; }

const std::vector<float>& Decoder::feed(int32_t token) {
  ALIGN_REQUIRE(pos_ < c_.max_seq_len, "generation reached the model's max_seq_len ", c_.max_seq_len);
  ALIGN_REQUIRE(token >= 0 && token < c_.vocab_size, "token ", token, " is outside the vocabulary (", c_.vocab_size, ")");
  const int C = c_.n_embd, HS = c_.head_dim, NH = c_.n_head, NKV = c_.n_kv_head, group = NH / NKV;
  const float eps = c_.norm_eps;
  float mean, rstd;
  auto norm = [&](float* out, const float* in, const float* w, const float* b) {
    if (c_.arch == Arch::GPT2) layernorm_forward(out, &mean, &rstd, in, w, b, 1, C, eps);
    else rmsnorm_forward(out, &rstd, in, w, 1, C, eps);
  };
  for (int i = 0; i < C; i++)
    x_[i] = w_.tok_embed[(size_t)token * C + i] + (w_.pos_embed ? w_.pos_embed[(size_t)pos_ * C + i] : 0.f);
  for (int l = 0; l < c_.n_layer; l++) {
    const LayerView<const float>& w = w_.layers[l];
    norm(norm_.data(), x_.data(), w.attn_norm_w, w.attn_norm_b);
    matmul_forward(qkv_.data(), norm_.data(), w.qkv_w, w.qkv_b, 1, C, c_.qkv_dim());
    // rope_forward treats the row as (N=1, T=1) at position 0; rotate at pos_ by offsetting the table.
    if (c_.arch == Arch::Llama)
      rope_forward(qkv_.data(), rope_.data() + (size_t)pos_ * HS, static_cast<const int32_t*>(nullptr), 1, 1, NH, NKV,
                   HS);
    std::copy(qkv_.begin() + c_.q_dim(), qkv_.begin() + c_.q_dim() + c_.kv_dim(),
              k_cache_[l].begin() + (size_t)pos_ * c_.kv_dim());
    std::copy(qkv_.begin() + c_.q_dim() + c_.kv_dim(), qkv_.end(), v_cache_[l].begin() + (size_t)pos_ * c_.kv_dim());
    const float scale = 1.f / std::sqrt((float)HS);
    for (int h = 0; h < NH; h++) {
      const int g = h / group;
      const float* q = qkv_.data() + h * HS;
      float maxv = -INFINITY;
      for (int j = 0; j <= pos_; j++) {
        scores_[j] = dot(q, k_cache_[l].data() + (size_t)j * c_.kv_dim() + g * HS, HS) * scale;
        maxv = std::max(maxv, scores_[j]);
      }
      float sum = 0;
      for (int j = 0; j <= pos_; j++) sum += (scores_[j] = std::exp(scores_[j] - maxv));
      float* o = atty_.data() + h * HS;
      std::fill(o, o + HS, 0.f);
      for (int j = 0; j <= pos_; j++) axpy(o, scores_[j] / sum, v_cache_[l].data() + (size_t)j * c_.kv_dim() + g * HS, HS);
    }
    matmul_forward(proj_.data(), atty_.data(), w.attn_out_w, w.attn_out_b, 1, c_.q_dim(), C);
    for (int i = 0; i < C; i++) x_[i] += proj_[i];
    norm(norm_.data(), x_.data(), w.mlp_norm_w, w.mlp_norm_b);
    matmul_forward(mlp_pre_.data(), norm_.data(), w.mlp_in_w, w.mlp_in_b, 1, C, c_.mlp_in_dim());
    if (c_.arch == Arch::GPT2) gelu_forward(mlp_act_.data(), mlp_pre_.data(), c_.ffn_dim);
    else swiglu_forward(mlp_act_.data(), mlp_pre_.data(), 1, c_.ffn_dim);
    matmul_forward(proj_.data(), mlp_act_.data(), w.mlp_out_w, w.mlp_out_b, 1, c_.ffn_dim, C);
    for (int i = 0; i < C; i++) x_[i] += proj_[i];
  }
  norm(norm_.data(), x_.data(), w_.final_norm_w, w_.final_norm_b);
  matmul_forward(logits_.data(), norm_.data(), w_.lm_head, static_cast<const float*>(nullptr), 1, C,
                 c_.padded_vocab_size);
  pos_++;
  next_.assign(logits_.begin(), logits_.begin() + c_.vocab_size);  // the padded columns are never predicted
  return next_;
}

int32_t sample_token(const std::vector<float>& logits, const SamplingOptions& opt, Rng& rng) {
  const int V = (int)logits.size();
  if (opt.temperature <= 0) return (int32_t)(std::max_element(logits.begin(), logits.end()) - logits.begin());
  std::vector<int> idx(V);
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](int a, int b) { return logits[a] > logits[b]; });  // most likely first
  int keep = opt.top_k > 0 ? std::min(opt.top_k, V) : V;
  std::vector<double> p(keep);
  double sum = 0;
  for (int k = 0; k < keep; k++) sum += (p[k] = std::exp((logits[idx[k]] - logits[idx[0]]) / opt.temperature));
  if (opt.top_p < 1.0) {  // the smallest prefix whose probability reaches top_p
    double cum = 0;
    for (int k = 0; k < keep; k++) {
      cum += p[k] / sum;
      if (cum >= opt.top_p) {
        keep = k + 1;
        break;
      }
    }
    sum = std::accumulate(p.begin(), p.begin() + keep, 0.0);
  }
  double u = rng.uniform() * sum;
  for (int k = 0; k < keep; k++)
    if ((u -= p[k]) <= 0) return idx[k];
  return idx[keep - 1];
}

}  // namespace align::cpu
