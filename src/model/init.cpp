// init.cpp: GPT-2-style random initialisation (init.hpp).
#include "model/init.hpp"

#include <algorithm>
#include <cmath>

#include "common/rng.hpp"
#include "model/tensor_table.hpp"

namespace align {

void init_params(const ModelConfig& c, float* params, uint64_t seed) {
  const TensorTable table(c);
  std::fill(params, params + table.total_size(), 0.f);
  Rng rng(seed);
  const double residual_std = 0.02 / std::sqrt(2.0 * c.n_layer);
  for (const TensorSpec& t : table.tensors()) {
    float* p = params + t.offset;
    const std::string& n = t.name;
    if (n.ends_with("norm.weight")) {
      std::fill(p, p + t.numel, 1.f);
    } else if (n.ends_with(".bias")) {
      // zeros
    } else {
      const double std = n.ends_with("attn.out.weight") || n.ends_with("mlp.out.weight") ? residual_std : 0.02;
      const bool vocab = n == tensor_names::kTokEmbed || n == tensor_names::kLmHead;
      const size_t rows = vocab ? (size_t)c.vocab_size : (size_t)t.shape[0];  // padded vocab rows stay zero
      const size_t cols = t.numel / t.shape[0];
      for (size_t i = 0; i < rows * cols; i++) p[i] = static_cast<float>(std * rng.normal());
    }
  }
}

}  // namespace align
