// test_hf_golden.cpp: our CPU model, loaded through the Hugging Face layout,
// reproduces transformers' logits (tests/data/hf/*, written by
// dev/reference/make_hf_golden.py) on a right-padded batch.
//
// Tolerance: relative error max|ours - hf| / max|hf| <= 1e-4 in float32.
// Both sides compute in float32 with different summation orders; for logits of
// magnitude ~3 built from width-32 dot products over 2 layers the rounding
// difference is ~1e-6 relative, so 1e-4 leaves room while a wrong layout,
// convention (RoPE halves, Conv1D transpose, GELU variant) or epsilon shows
// up as 1e-2 or more. The float64 model is held to the same bound.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "cpu/model_cpu.hpp"
#include "model/hf_layout.hpp"
#include "model/safetensors.hpp"
#include "model/tensor_table.hpp"

namespace align {
namespace {

const std::string kDir = std::string(ALIGN_TEST_DATA) + "/hf/";

template <typename T>
double max_rel_error(const std::string& name, ModelConfig* out_config = nullptr) {
  const ModelConfig c = read_hf_config(kDir + name + "/config.json");
  if (out_config) *out_config = c;
  const SafetensorsSet weights(kDir + name);
  std::vector<float> params(TensorTable(c).total_size());
  const HfLoadReport report = load_hf_weights(c, weights, params.data());
  EXPECT_TRUE(report.unused.empty()) << name << ": unused tensor " << report.unused.front();
  cpu::CpuModel<T> model(c);
  std::copy(params.begin(), params.end(), model.params().begin());

  const SafetensorsFile golden(kDir + name + "/golden.safetensors");
  const std::vector<int64_t> ids = golden.to_int64("input_ids"), lengths = golden.to_int64("lengths");
  const std::vector<float> logits = golden.to_float("logits");
  const int N = (int)golden.at("input_ids").shape[0], Tn = (int)golden.at("input_ids").shape[1];
  EXPECT_EQ(golden.at("logits").shape[2], c.vocab_size);
  std::vector<int32_t> tokens(ids.begin(), ids.end()), targets(N * Tn, -1), lens(lengths.begin(), lengths.end());
  std::vector<T> logp(N * Tn);
  model.forward(Batch{N, Tn, tokens.data(), targets.data(), lens.data()}, logp.data());

  double max_diff = 0, max_ref = 0;
  for (int n = 0; n < N; n++)
    for (int t = 0; t < lens[n]; t++)
      for (int v = 0; v < c.vocab_size; v++) {
        const double ref = logits[((size_t)n * Tn + t) * c.vocab_size + v];
        const double ours = model.logits()[((size_t)n * Tn + t) * c.padded_vocab_size + v];
        max_diff = std::max(max_diff, std::abs(ours - ref));
        max_ref = std::max(max_ref, std::abs(ref));
      }
  return max_diff / max_ref;
}

class HfGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(HfGolden, LogitsMatchTransformersFloat32) {
  const double err = max_rel_error<float>(GetParam());
  std::printf("[ %s ] float32 max relative logit error %.3g\n", GetParam().c_str(), err);
  EXPECT_LE(err, 1e-4);
}

TEST_P(HfGolden, LogitsMatchTransformersFloat64) {
  const double err = max_rel_error<double>(GetParam());
  std::printf("[ %s ] float64 max relative logit error %.3g\n", GetParam().c_str(), err);
  EXPECT_LE(err, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Models, HfGolden,
                         ::testing::Values("gpt2_tiny", "llama_gqa", "llama3_rope_headdim", "qwen2_bias_tied"));

TEST(HfConfig, GoldenConfigsMapToTheExpectedArchitectures) {
  ModelConfig c = read_hf_config(kDir + "gpt2_tiny/config.json");
  EXPECT_EQ(c.arch, Arch::GPT2);
  EXPECT_TRUE(c.tied_head);
  EXPECT_EQ(c.ffn_dim, 128);
  c = read_hf_config(kDir + "llama3_rope_headdim/config.json");
  EXPECT_EQ(c.arch, Arch::Llama);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.n_kv_head, 1);
  EXPECT_EQ(c.rope_scaling, RopeScaling::Llama3);
  EXPECT_EQ(c.rope_theta, 500000.f);
  c = read_hf_config(kDir + "qwen2_bias_tied/config.json");
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_TRUE(c.tied_head);
}

TEST(HfConfig, TransformersV4SpellingGivesTheSameConfig) {
  // transformers v4 keeps rope_theta at the top level and the scaling in rope_scaling.
  const nlohmann::json v4 = {
      {"model_type", "llama"}, {"vocab_size", 101}, {"hidden_size", 32}, {"intermediate_size", 40},
      {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 1}, {"head_dim", 16},
      {"max_position_embeddings", 64}, {"rms_norm_eps", 1e-5}, {"tie_word_embeddings", true},
      {"rope_theta", 500000.0},
      {"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                        {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8}}}};
  EXPECT_EQ(config_from_hf_json(v4, "v4"), read_hf_config(kDir + "llama3_rope_headdim/config.json"));
}

TEST(HfConfig, UnsupportedFeaturesAreNamed) {
  nlohmann::json j = {{"model_type", "llama"}, {"vocab_size", 10}, {"hidden_size", 8}, {"intermediate_size", 8},
                      {"num_hidden_layers", 1}, {"num_attention_heads", 2}, {"max_position_embeddings", 8},
                      {"mlp_bias", true}};
  EXPECT_THROW(config_from_hf_json(j, "c.json"), InputError);
  j["mlp_bias"] = false;
  EXPECT_NO_THROW(config_from_hf_json(j, "c.json"));
  j["model_type"] = "bert";
  try {
    config_from_hf_json(j, "c.json");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model_type 'bert' is not supported"), std::string::npos) << e.what();
  }
  j.erase("model_type");
  EXPECT_THROW(config_from_hf_json(j, "c.json"), InputError);
  j["model_type"] = "llama";
  j.erase("hidden_size");
  EXPECT_THROW(config_from_hf_json(j, "c.json"), InputError);  // a missing field is an InputError, not a crash
}

TEST(HfLayout, WrongShapesAreReported) {
  // The gpt2 golden weights cannot load into a config with a different width.
  ModelConfig c = read_hf_config(kDir + "gpt2_tiny/config.json");
  c.n_embd = 16;
  c.head_dim = 4;
  c.ffn_dim = 64;
  const SafetensorsSet weights(kDir + "gpt2_tiny");
  std::vector<float> params(TensorTable(c).total_size());
  EXPECT_THROW(load_hf_weights(c, weights, params.data()), InputError);
}

}  // namespace
}  // namespace align
