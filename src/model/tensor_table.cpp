// tensor_table.cpp: derives every parameter tensor from a ModelConfig (tensor_table.hpp).
#include "model/tensor_table.hpp"

#include "common/error.hpp"

namespace align {

std::string tensor_names::layer(int i, const char* suffix) {
  return cat("layers.", i, ".", suffix);
}

void TensorTable::add(std::string name, std::vector<int64_t> shape, bool decay) {
  TensorSpec t;
  t.name = std::move(name);
  t.numel = 1;
  for (int64_t d : shape) t.numel *= static_cast<size_t>(d);
  t.shape = std::move(shape);
  t.offset = (total_size_ + kAlign - 1) / kAlign * kAlign;
  t.decay = decay;
  total_size_ = t.offset + t.numel;
  num_parameters_ += t.numel;
  tensors_.push_back(std::move(t));
}

TensorTable::TensorTable(const ModelConfig& c) {
  namespace n = tensor_names;
  const int64_t C = c.n_embd, Vp = c.padded_vocab_size;
  n_layer_ = c.n_layer;
  // Weight decay: linear-layer matrices only. Embeddings, norms and biases are
  // not decayed (the usual transformer recipe; the tied head follows tok_embed).
  add(n::kTokEmbed, {Vp, C}, false);
  if (c.arch == Arch::GPT2) add(n::kPosEmbed, {c.max_seq_len, C}, false);
  for (int i = 0; i < c.n_layer; i++) {
    add(n::layer(i, n::kAttnNormW), {C}, false);
    if (c.has_norm_bias()) add(n::layer(i, n::kAttnNormB), {C}, false);
    add(n::layer(i, n::kQkvW), {c.qkv_dim(), C}, true);
    if (c.has_qkv_bias()) add(n::layer(i, n::kQkvB), {c.qkv_dim()}, false);
    add(n::layer(i, n::kAttnOutW), {C, c.q_dim()}, true);
    if (c.has_linear_bias()) add(n::layer(i, n::kAttnOutB), {C}, false);
    add(n::layer(i, n::kMlpNormW), {C}, false);
    if (c.has_norm_bias()) add(n::layer(i, n::kMlpNormB), {C}, false);
    add(n::layer(i, n::kMlpInW), {c.mlp_in_dim(), C}, true);
    if (c.has_linear_bias()) add(n::layer(i, n::kMlpInB), {c.mlp_in_dim()}, false);
    add(n::layer(i, n::kMlpOutW), {C, c.ffn_dim}, true);
    if (c.has_linear_bias()) add(n::layer(i, n::kMlpOutB), {C}, false);
  }
  add(n::kFinalNormW, {C}, false);
  if (c.has_norm_bias()) add(n::kFinalNormB, {C}, false);
  if (!c.tied_head) add(n::kLmHead, {Vp, C}, true);
  total_size_ = (total_size_ + kAlign - 1) / kAlign * kAlign;
}

std::vector<Slice> TensorTable::backward_slices() const {
  // Layer i starts at its first tensor (the attention norm); the tail at the final norm.
  std::vector<size_t> start(n_layer_ + 1);
  for (int i = 0; i < n_layer_; i++) start[i] = at(tensor_names::layer(i, tensor_names::kAttnNormW)).offset;
  start[n_layer_] = at(tensor_names::kFinalNormW).offset;
  std::vector<Slice> out{{start[n_layer_], total_size_}};
  for (int i = n_layer_ - 1; i >= 0; i--) out.push_back({start[i], start[i + 1]});
  out.push_back({0, start[0]});
  return out;
}

const TensorSpec* TensorTable::find(std::string_view name) const {
  for (const TensorSpec& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

const TensorSpec& TensorTable::at(std::string_view name) const {
  const TensorSpec* t = find(name);
  ALIGN_ASSERT(t != nullptr, "no tensor named ", name);
  return *t;
}

}  // namespace align
