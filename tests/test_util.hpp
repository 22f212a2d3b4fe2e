// test_util.hpp: shared helpers for the test suites: tiny model configs that
// exercise every architectural option, random parameters and random batches.
#pragma once

#include <omp.h>

#include <ostream>
#include <string>
#include <vector>

#include "common/rng.hpp"
#include "data/pairs_file.hpp"
#include "model/batch.hpp"
#include "model/config.hpp"
#include "model/tensor_table.hpp"

namespace align::test {

// One OpenMP thread while it lives (tiny float64 shapes, where threads only add overhead);
// the previous count afterwards.
struct OneThread {
  int before = omp_get_max_threads();
  OneThread() { omp_set_num_threads(1); }
  ~OneThread() { omp_set_num_threads(before); }
  OneThread(const OneThread&) = delete;
  OneThread& operator=(const OneThread&) = delete;
};

struct NamedConfig {
  std::string name;
  ModelConfig config;
};
// GoogleTest prints a failing parameter with this instead of its raw bytes.
inline void PrintTo(const NamedConfig& nc, std::ostream* os) { *os << nc.name << " (" << nc.config.summary() << ")"; }

// Small enough for a float64 finite-difference check of every parameter, and
// covering: gpt2 tied/untied; llama with GQA (NKV < NH), MHA, tied and untied
// heads, Qwen2 qkv bias, explicit head_dim != C/NH, llama3 RoPE scaling.
// Vocabularies are padded (V < Vp) so the padding logic is always exercised.
inline std::vector<NamedConfig> tiny_configs() {
  std::vector<NamedConfig> out;
  ModelConfig g = ModelConfig::gpt2(37, 2, 4, 16, 8);
  g.padded_vocab_size = 40;
  out.push_back({"gpt2_tied", g});
  g.tied_head = false;
  out.push_back({"gpt2_untied", g});
  ModelConfig l = ModelConfig::llama(37, 2, 4, 2, 16, 24, 8, /*tied=*/false, /*qkv_bias=*/false);
  l.padded_vocab_size = 40;
  l.norm_eps = 1e-6f;
  out.push_back({"llama_gqa_untied", l});
  ModelConfig q = l;
  q.tied_head = true;
  q.qkv_bias = true;
  out.push_back({"qwen2_gqa_tied_qkvbias", q});
  ModelConfig m = l;
  m.n_kv_head = 4;
  m.head_dim = 6;  // q_dim 24 != C 16, as an explicit head_dim in config.json allows
  out.push_back({"llama_mha_headdim6", m});
  ModelConfig r = l;
  r.n_kv_head = 1;
  r.rope_scaling = RopeScaling::Llama3;
  r.rope_factor = 8.f;
  r.rope_low_freq_factor = 1.f;
  r.rope_high_freq_factor = 4.f;
  r.rope_original_max_pos = 4;  // small, so all three wavelength bands occur at head_dim 4
  r.rope_theta = 50.f;
  out.push_back({"llama3_rope_mqa", r});
  return out;
}

// Random parameters with O(1) spread so every path carries signal: matrices
// and embeddings ~ N(0, scale²), norm weights 1 + N(0, 0.1²), biases N(0, 0.1²).
// Padded vocabulary rows and alignment gaps stay zero, as in real models.
template <typename T>
void fill_random_params(const ModelConfig& c, T* params, uint64_t seed, double scale = 0.4) {
  const TensorTable table(c);
  for (size_t i = 0; i < table.total_size(); i++) params[i] = T(0);
  Rng rng(seed);
  for (const TensorSpec& t : table.tensors()) {
    const bool vocab = t.name == tensor_names::kTokEmbed || t.name == tensor_names::kLmHead;
    const size_t n = vocab ? (size_t)c.vocab_size * c.n_embd : t.numel;
    const bool norm = t.name.ends_with("norm.weight"), bias = t.name.ends_with(".bias");
    for (size_t i = 0; i < n; i++)
      params[t.offset + i] = static_cast<T>(norm ? 1.0 + 0.1 * rng.normal() : (bias ? 0.1 : scale) * rng.normal());
  }
}

// A right-padded batch: random lengths in [1, T] (row 0 always full), random
// tokens, targets = next token, the last real position and ~1/5 of the others
// ignored (-1), and garbage token ids in the padding to prove they are unread.
struct RandomBatch {
  int N, T;
  std::vector<int32_t> tokens, targets, lengths;
  Batch view() const { return Batch{N, T, tokens.data(), targets.data(), lengths.data()}; }
};

inline RandomBatch random_batch(const ModelConfig& c, int N, int T, uint64_t seed) {
  Rng rng(seed);
  RandomBatch b{N, T, std::vector<int32_t>(N * T), std::vector<int32_t>(N * T), std::vector<int32_t>(N)};
  for (int n = 0; n < N; n++) {
    b.lengths[n] = n == 0 ? T : rng.uniform_int(1, T);
    for (int t = 0; t < T; t++) b.tokens[n * T + t] = t < b.lengths[n] ? rng.uniform_int(0, c.vocab_size - 1) : 987654;
    for (int t = 0; t < T; t++) {
      const bool real = t + 1 < b.lengths[n] && rng.uniform() > 0.2;
      b.targets[n * T + t] = real ? b.tokens[n * T + t + 1] : (t < b.lengths[n] ? -1 : 123456);
    }
  }
  return b;
}

// A toy preference task with a known answer: prompts of random tokens 10..29; the chosen
// completion repeats token 3, the rejected one token 4 (lengths 2..4). Needs vocab >= 30.
inline std::vector<data::PairRecord> toy_preference_pairs(int n, uint64_t seed) {
  Rng rng(seed);
  std::vector<data::PairRecord> out;
  for (int i = 0; i < n; i++) {
    data::PairRecord p;
    for (int k = rng.uniform_int(2, 5); k > 0; k--) p.prompt.push_back(rng.uniform_int(10, 29));
    p.chosen.assign(rng.uniform_int(2, 4), 3);
    p.rejected.assign(rng.uniform_int(2, 4), 4);
    out.push_back(p);
  }
  return out;
}

}  // namespace align::test
