// test_config.cpp: ModelConfig validation names the bad field; factories are valid.
#include <gtest/gtest.h>

#include <functional>

#include "common/error.hpp"
#include "model/config.hpp"
#include "test_util.hpp"

namespace align {
namespace {

TEST(Config, FactoriesAndTinyConfigsAreValid) {
  EXPECT_NO_THROW(ModelConfig::gpt2(50257, 12, 12, 768, 1024).validate());
  EXPECT_NO_THROW(ModelConfig::llama(128256, 16, 32, 8, 2048, 8192, 131072, true).validate());
  for (const auto& nc : test::tiny_configs()) EXPECT_NO_THROW(nc.config.validate()) << nc.name;
}

TEST(Config, PadVocab) {
  EXPECT_EQ(pad_vocab(50257), 50304);
  EXPECT_EQ(pad_vocab(128256), 128256);
  EXPECT_EQ(pad_vocab(1), 128);
  EXPECT_EQ(pad_vocab(37, 8), 40);
}

struct BadField {
  const char* field;
  std::function<void(ModelConfig&)> spoil;
};

TEST(Config, EachBadFieldIsNamed) {
  const std::vector<BadField> cases = {
      {"arch", [](ModelConfig& c) { c.arch = static_cast<Arch>(7); }},
      {"vocab_size", [](ModelConfig& c) { c.vocab_size = 0; }},
      {"padded_vocab_size", [](ModelConfig& c) { c.padded_vocab_size = c.vocab_size - 1; }},
      {"n_layer", [](ModelConfig& c) { c.n_layer = -3; }},
      {"n_head", [](ModelConfig& c) { c.n_head = 0; }},
      {"n_kv_head", [](ModelConfig& c) { c.n_kv_head = 3; }},  // does not divide 4
      {"n_embd", [](ModelConfig& c) { c.n_embd = 0; }},
      {"head_dim", [](ModelConfig& c) { c.head_dim = 5; }},    // odd: no RoPE pairs
      {"ffn_dim", [](ModelConfig& c) { c.ffn_dim = 0; }},
      {"max_seq_len", [](ModelConfig& c) { c.max_seq_len = 0; }},
      {"norm_eps", [](ModelConfig& c) { c.norm_eps = -1.f; }},
      {"rope_theta", [](ModelConfig& c) { c.rope_theta = 0.f; }},
      {"rope_scaling", [](ModelConfig& c) { c.rope_scaling = static_cast<RopeScaling>(9); }},
      {"rope_high_freq_factor", [](ModelConfig& c) {
         c.rope_scaling = RopeScaling::Llama3;
         c.rope_high_freq_factor = 0.5f;
       }},
  };
  for (const BadField& bf : cases) {
    ModelConfig c = ModelConfig::llama(100, 2, 4, 2, 32, 64, 16);
    bf.spoil(c);
    try {
      c.validate("x.bin");
      ADD_FAILURE() << bf.field << ": no error";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(std::string("field ") + bf.field), std::string::npos) << msg;
      EXPECT_EQ(msg.rfind("x.bin: ", 0), 0u) << msg;
    }
  }
}

TEST(Config, Gpt2NeedsHeadDimTimesHeadsEqualWidth) {
  ModelConfig c = ModelConfig::gpt2(100, 2, 4, 32, 16);
  c.head_dim = 4;
  EXPECT_THROW(c.validate(), InputError);
  c = ModelConfig::gpt2(100, 2, 4, 32, 16);
  c.n_kv_head = 2;
  EXPECT_THROW(c.validate(), InputError);
}

TEST(Config, ParseNames) {
  EXPECT_EQ(parse_arch("gpt2"), Arch::GPT2);
  EXPECT_EQ(parse_arch("llama"), Arch::Llama);
  EXPECT_THROW(parse_arch("bert"), InputError);
}

}  // namespace
}  // namespace align
