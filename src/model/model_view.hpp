// model_view.hpp: named pointers into a flat parameter (or gradient) buffer.
//
// A ModelView is built from the tensor table by name, once per buffer, so the
// forward and backward code reads `w.layers[l].qkv_w` instead of an index.
// P is the element type (float, double, a bf16 type, a device pointer's type);
// the same view type serves parameters and their gradients, CPU and CUDA.
// Tensors the architecture does not have are nullptr.
#pragma once

#include <vector>

#include "model/tensor_table.hpp"

namespace align {

template <typename P>
struct LayerView {
  P* attn_norm_w = nullptr;  // (C)
  P* attn_norm_b = nullptr;  // (C) gpt2
  P* qkv_w = nullptr;        // (NH*HS + 2*NKV*HS, C)
  P* qkv_b = nullptr;        // (NH*HS + 2*NKV*HS) gpt2, qwen2
  P* attn_out_w = nullptr;   // (C, NH*HS)
  P* attn_out_b = nullptr;   // (C) gpt2
  P* mlp_norm_w = nullptr;   // (C)
  P* mlp_norm_b = nullptr;   // (C) gpt2
  P* mlp_in_w = nullptr;     // gpt2 (F, C); llama (2F, C) = [gate; up]
  P* mlp_in_b = nullptr;     // (F) gpt2
  P* mlp_out_w = nullptr;    // (C, F)
  P* mlp_out_b = nullptr;    // (C) gpt2
};

template <typename P>
struct ModelView {
  P* tok_embed = nullptr;     // (Vp, C)
  P* pos_embed = nullptr;     // (T_max, C) gpt2
  std::vector<LayerView<P>> layers;
  P* final_norm_w = nullptr;  // (C)
  P* final_norm_b = nullptr;  // (C) gpt2
  P* lm_head = nullptr;       // (Vp, C): tok_embed when the head is tied
};

template <typename P>
ModelView<P> make_model_view(const TensorTable& table, P* base, const ModelConfig& config) {
  namespace n = tensor_names;
  auto ptr = [&](const std::string& name) -> P* {
    const TensorSpec* t = table.find(name);
    return t ? base + t->offset : nullptr;
  };
  ModelView<P> v;
  v.tok_embed = ptr(n::kTokEmbed);
  v.pos_embed = ptr(n::kPosEmbed);
  v.layers.resize(config.n_layer);
  for (int i = 0; i < config.n_layer; i++) {
    LayerView<P>& l = v.layers[i];
    l.attn_norm_w = ptr(n::layer(i, n::kAttnNormW));
    l.attn_norm_b = ptr(n::layer(i, n::kAttnNormB));
    l.qkv_w = ptr(n::layer(i, n::kQkvW));
    l.qkv_b = ptr(n::layer(i, n::kQkvB));
    l.attn_out_w = ptr(n::layer(i, n::kAttnOutW));
    l.attn_out_b = ptr(n::layer(i, n::kAttnOutB));
    l.mlp_norm_w = ptr(n::layer(i, n::kMlpNormW));
    l.mlp_norm_b = ptr(n::layer(i, n::kMlpNormB));
    l.mlp_in_w = ptr(n::layer(i, n::kMlpInW));
    l.mlp_in_b = ptr(n::layer(i, n::kMlpInB));
    l.mlp_out_w = ptr(n::layer(i, n::kMlpOutW));
    l.mlp_out_b = ptr(n::layer(i, n::kMlpOutB));
  }
  v.final_norm_w = ptr(n::kFinalNormW);
  v.final_norm_b = ptr(n::kFinalNormB);
  v.lm_head = config.tied_head ? v.tok_embed : ptr(n::kLmHead);
  return v;
}

}  // namespace align
