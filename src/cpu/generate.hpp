// generate.hpp: autoregressive decoding on the CPU with a KV cache.
//
// Decoder feeds one token at a time: each layer appends the token's rotated
// key and its value to the layer's cache and attends over the cache, so a
// sequence of n tokens costs O(n) matmul-vectors per layer instead of
// recomputing the whole prefix per token. The logits of every fed position
// equal those of the full forward pass (tests/test_generate.cpp).
// sample_token() draws from the logits with temperature, top-k and top-p.
#pragma once

#include <cstdint>
#include <vector>

#include "common/rng.hpp"
#include "model/config.hpp"
#include "model/model_view.hpp"
#include "model/tensor_table.hpp"

namespace align::cpu {

class Decoder {
 public:
  // params: the flat float32 parameters (TensorTable(config) layout), borrowed for the Decoder's life.
  Decoder(const ModelConfig& config, const float* params);
  void reset();                                    // empty the cache
  const std::vector<float>& feed(int32_t token);   // logits (V) predicting the next token
  int position() const { return pos_; }

 private:
  ModelConfig c_;
  TensorTable table_;
  ModelView<const float> w_;
  std::vector<float> rope_;                           // (T_max, HS/2, 2)
  std::vector<std::vector<float>> k_cache_, v_cache_;  // per layer (T_max, NKV*HS)
  std::vector<float> x_, norm_, qkv_, atty_, proj_, mlp_pre_, mlp_act_, logits_, scores_;  // scratch of one step
  std::vector<float> next_;  // (V) the returned logits
  int pos_ = 0;
};

struct SamplingOptions {
  double temperature = 1.0;  // 0: greedy
  int top_k = 0;             // 0: off
  double top_p = 1.0;        // 1: off
};

int32_t sample_token(const std::vector<float>& logits, const SamplingOptions& opt, Rng& rng);

}  // namespace align::cpu
