// config.cpp: ModelConfig validation, factories and printing (config.hpp).
#include "model/config.hpp"

#include <cmath>

#include "common/error.hpp"

namespace align {

const char* arch_name(Arch a) { return a == Arch::GPT2 ? "gpt2" : "llama"; }

Arch parse_arch(const std::string& s) {
  if (s == "gpt2") return Arch::GPT2;
  if (s == "llama") return Arch::Llama;
  throw InputError(cat("arch '", s, "' is not known, expected 'gpt2' or 'llama'"));
}

int pad_vocab(int vocab_size, int multiple) { return (vocab_size + multiple - 1) / multiple * multiple; }

namespace {
void require_range(const std::string& where, const char* field, long long v, long long lo, long long hi) {
  ALIGN_REQUIRE(v >= lo && v <= hi, where, ": field ", field, " = ", v, ", expected ", lo, "..", hi);
}
void require_positive(const std::string& where, const char* field, float v, float hi) {
  ALIGN_REQUIRE(std::isfinite(v) && v > 0.f && v <= hi, where, ": field ", field, " = ", v, ", expected a number in (0, ",
                hi, "]");
}
}  // namespace

void ModelConfig::validate(const std::string& where) const {
  ALIGN_REQUIRE(arch == Arch::GPT2 || arch == Arch::Llama, where, ": field arch = ", static_cast<uint32_t>(arch),
                ", expected 0 (gpt2) or 1 (llama)");
  require_range(where, "vocab_size", vocab_size, 1, 1 << 24);
  require_range(where, "padded_vocab_size", padded_vocab_size, vocab_size, (long long)vocab_size + 65536);
  require_range(where, "n_layer", n_layer, 1, 1024);
  require_range(where, "n_head", n_head, 1, 1024);
  require_range(where, "n_kv_head", n_kv_head, 1, n_head);
  ALIGN_REQUIRE(n_head % n_kv_head == 0, where, ": field n_kv_head = ", n_kv_head, " does not divide n_head = ", n_head);
  require_range(where, "n_embd", n_embd, 1, 1 << 16);
  require_range(where, "head_dim", head_dim, 1, 1024);
  require_range(where, "ffn_dim", ffn_dim, 1, 1 << 18);
  require_range(where, "max_seq_len", max_seq_len, 1, 1 << 20);
  require_positive(where, "norm_eps", norm_eps, 1.f);
  if (arch == Arch::GPT2) {
    ALIGN_REQUIRE(n_kv_head == n_head, where, ": field n_kv_head = ", n_kv_head, ", gpt2 needs n_kv_head == n_head = ",
                  n_head);
    ALIGN_REQUIRE(head_dim * n_head == n_embd, where, ": field head_dim = ", head_dim, ", gpt2 needs n_embd / n_head = ",
                  n_embd / n_head, " (n_embd ", n_embd, ", n_head ", n_head, ")");
    ALIGN_REQUIRE(rope_scaling == RopeScaling::None, where, ": field rope_scaling set on a gpt2 model, expected none");
  } else {
    ALIGN_REQUIRE(head_dim % 2 == 0, where, ": field head_dim = ", head_dim, ", RoPE needs an even head_dim");
    require_positive(where, "rope_theta", rope_theta, 1e12f);
    ALIGN_REQUIRE(rope_scaling == RopeScaling::None || rope_scaling == RopeScaling::Llama3, where,
                  ": field rope_scaling = ", static_cast<uint32_t>(rope_scaling), ", expected 0 (none) or 1 (llama3)");
    if (rope_scaling == RopeScaling::Llama3) {
      require_positive(where, "rope_factor", rope_factor, 1e6f);
      require_positive(where, "rope_low_freq_factor", rope_low_freq_factor, 1e6f);
      require_positive(where, "rope_high_freq_factor", rope_high_freq_factor, 1e6f);
      ALIGN_REQUIRE(rope_high_freq_factor > rope_low_freq_factor, where, ": field rope_high_freq_factor = ",
                    rope_high_freq_factor, ", expected more than rope_low_freq_factor = ", rope_low_freq_factor);
      require_range(where, "rope_original_max_pos", rope_original_max_pos, 1, 1 << 24);
    }
  }
}

std::string ModelConfig::summary() const {
  std::string s = cat(arch_name(arch), " V=", vocab_size, " (padded ", padded_vocab_size, ") L=", n_layer,
                      " NH=", n_head, " NKV=", n_kv_head, " C=", n_embd, " HS=", head_dim, " F=", ffn_dim,
                      " T_max=", max_seq_len, " eps=", norm_eps, tied_head ? " tied-head" : " untied-head");
  if (arch == Arch::Llama) {
    s += cat(" rope_theta=", rope_theta, qkv_bias ? " qkv-bias" : "");
    if (rope_scaling == RopeScaling::Llama3)
      s += cat(" rope=llama3(factor ", rope_factor, ", low ", rope_low_freq_factor, ", high ", rope_high_freq_factor,
               ", orig ", rope_original_max_pos, ")");
  }
  return s;
}

ModelConfig ModelConfig::gpt2(int vocab_size, int n_layer, int n_head, int n_embd, int max_seq_len) {
  ModelConfig c;
  c.arch = Arch::GPT2;
  c.vocab_size = vocab_size;
  c.padded_vocab_size = pad_vocab(vocab_size);
  c.n_layer = n_layer;
  c.n_head = c.n_kv_head = n_head;
  c.n_embd = n_embd;
  c.head_dim = n_head > 0 ? n_embd / n_head : 0;  // n_head <= 0 is refused by validate()
  c.ffn_dim = 4 * n_embd;
  c.max_seq_len = max_seq_len;
  c.norm_eps = 1e-5f;
  c.tied_head = true;
  return c;
}

ModelConfig ModelConfig::llama(int vocab_size, int n_layer, int n_head, int n_kv_head, int n_embd, int ffn_dim,
                               int max_seq_len, bool tied_head, bool qkv_bias) {
  ModelConfig c;
  c.arch = Arch::Llama;
  c.vocab_size = vocab_size;
  c.padded_vocab_size = pad_vocab(vocab_size);
  c.n_layer = n_layer;
  c.n_head = n_head;
  c.n_kv_head = n_kv_head;
  c.n_embd = n_embd;
  c.head_dim = n_head > 0 ? n_embd / n_head : 0;  // n_head <= 0 is refused by validate()
  c.ffn_dim = ffn_dim;
  c.max_seq_len = max_seq_len;
  c.norm_eps = 1e-5f;
  c.rope_theta = 10000.f;
  c.tied_head = tied_head;
  c.qkv_bias = qkv_bias;
  return c;
}

}  // namespace align
