// config.hpp: ModelConfig, the one description of a model's architecture.
//
// Everything about a model's shape is derived from this struct: the tensor
// table (tensor_table.hpp), the CPU and CUDA forward passes, the model.bin
// header and the Hugging Face config.json mapping. Two families:
//   gpt2  - learned positions, LayerNorm (with bias), tanh-GELU MLP, biases on
//           every linear layer, head_dim * n_head == n_embd.
//   llama - RoPE (rotate-half convention, optional llama3 frequency scaling),
//           RMSNorm, SwiGLU MLP, grouped-query attention (n_kv_head divides
//           n_head), no biases except an optional q/k/v bias (Qwen2).
// Shape letters used across the code base:
//   B pairs, N rows (= 2B in preference batches), T sequence length,
//   C n_embd, V vocab_size, Vp padded_vocab_size, L n_layer, NH n_head,
//   NKV n_kv_head, HS head_dim, F ffn_dim.
#pragma once

#include <cstdint>
#include <string>

namespace align {

enum class Arch : uint32_t { GPT2 = 0, Llama = 1 };
enum class RopeScaling : uint32_t { None = 0, Llama3 = 1 };

const char* arch_name(Arch a);
Arch parse_arch(const std::string& s);  // "gpt2" | "llama"; throws InputError otherwise

struct ModelConfig {
  Arch arch = Arch::GPT2;
  int vocab_size = 0;         // V: real tokens
  int padded_vocab_size = 0;  // Vp >= V: rows of the embedding / head (extra rows are zero, never predicted)
  int n_layer = 0;            // L
  int n_head = 0;             // NH: query heads
  int n_kv_head = 0;          // NKV: key/value heads, divides NH (== NH for gpt2)
  int n_embd = 0;             // C: residual width
  int head_dim = 0;           // HS: per-head width
  int ffn_dim = 0;            // F: MLP hidden width (4C for gpt2)
  int max_seq_len = 0;        // T_max: positions (gpt2's wpe rows; llama's RoPE table)
  float norm_eps = 1e-5f;     // LayerNorm / RMSNorm epsilon
  float rope_theta = 10000.f; // llama: RoPE base
  bool tied_head = true;      // LM head shares the token embedding
  bool qkv_bias = false;      // llama family: bias on q, k, v projections (Qwen2); gpt2 always has biases
  RopeScaling rope_scaling = RopeScaling::None;
  float rope_factor = 1.f;            // llama3 scaling: factor
  float rope_low_freq_factor = 1.f;   // llama3 scaling: low_freq_factor
  float rope_high_freq_factor = 4.f;  // llama3 scaling: high_freq_factor
  int rope_original_max_pos = 8192;   // llama3 scaling: original_max_position_embeddings

  int q_dim() const { return n_head * head_dim; }      // NH*HS
  int kv_dim() const { return n_kv_head * head_dim; }  // NKV*HS
  int qkv_dim() const { return q_dim() + 2 * kv_dim(); }
  int mlp_in_dim() const { return arch == Arch::Llama ? 2 * ffn_dim : ffn_dim; }  // [gate; up] for SwiGLU
  bool has_linear_bias() const { return arch == Arch::GPT2; }
  bool has_qkv_bias() const { return arch == Arch::GPT2 || qkv_bias; }
  bool has_norm_bias() const { return arch == Arch::GPT2; }

  // Throws InputError naming the first field out of range; `where` prefixes the message (a file name).
  void validate(const std::string& where = "model config") const;
  std::string summary() const;  // one line, for logs and `inspect`

  bool operator==(const ModelConfig&) const = default;

  // Factories with each family's fixed choices filled in.
  static ModelConfig gpt2(int vocab_size, int n_layer, int n_head, int n_embd, int max_seq_len);
  static ModelConfig llama(int vocab_size, int n_layer, int n_head, int n_kv_head, int n_embd, int ffn_dim,
                           int max_seq_len, bool tied_head = false, bool qkv_bias = false);
};

// Vocabulary rows rounded up to a multiple (128 keeps GPU tiles whole: 50257 -> 50304).
int pad_vocab(int vocab_size, int multiple = 128);

}  // namespace align
