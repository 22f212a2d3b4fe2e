// test_generate.cpp: KV-cached decoding gives the full forward pass's logits at
// every position, for every architecture; sampling honours greedy, top-k and
// top-p, and is reproducible from its seed.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "cpu/generate.hpp"
#include "cpu/model_cpu.hpp"
#include "test_util.hpp"

namespace align::cpu {
namespace {

class DecoderTest : public ::testing::TestWithParam<test::NamedConfig> {};

// Same float32 arithmetic up to summation order (BLAS on M = T rows vs M = 1): logits of
// magnitude ~1-10 agree to 1e-4 relative to the largest.
TEST_P(DecoderTest, CachedLogitsEqualTheFullForward) {
  const ModelConfig& c = GetParam().config;
  CpuModel<float> model(c);
  test::fill_random_params(c, model.params().data(), 77);
  const int T = c.max_seq_len;
  std::vector<int32_t> tokens(T), targets(T, -1), lengths{T};
  for (int t = 0; t < T; t++) tokens[t] = (5 * t + 3) % c.vocab_size;
  std::vector<float> logp(T);
  model.forward(Batch{1, T, tokens.data(), targets.data(), lengths.data()}, logp.data());
  Decoder dec(c, model.params().data());
  double worst = 0, scale = 0;
  for (int t = 0; t < T; t++) {
    const std::vector<float>& l = dec.feed(tokens[t]);
    ASSERT_EQ((int)l.size(), c.vocab_size);
    for (int v = 0; v < c.vocab_size; v++) {
      const float full = model.logits()[(size_t)t * c.padded_vocab_size + v];
      worst = std::max(worst, (double)std::abs(l[v] - full));
      scale = std::max(scale, (double)std::abs(full));
    }
  }
  EXPECT_LE(worst, 1e-4 * scale) << GetParam().name;
  dec.reset();
  EXPECT_EQ(dec.position(), 0);
}

INSTANTIATE_TEST_SUITE_P(TinyModels, DecoderTest, ::testing::ValuesIn(test::tiny_configs()),
                         [](const auto& info) { return info.param.name; });

TEST(Sampling, GreedyTopKTopPAndSeeds) {
  const std::vector<float> logits = {0.f, 3.f, 1.f, 2.5f, -1.f};
  Rng rng(1);
  EXPECT_EQ(sample_token(logits, {0.0, 0, 1.0}, rng), 1);  // greedy: the argmax
  std::map<int, int> seen;
  for (int i = 0; i < 2000; i++) seen[sample_token(logits, {1.0, 2, 1.0}, rng)]++;
  EXPECT_EQ(seen.size(), 2u);  // top-k 2: only tokens 1 and 3
  EXPECT_GT(seen[1], seen[3]);
  // top-p 0.5: token 1 alone holds p = e^3/Σ ≈ 0.54 of the mass, so it is the only choice.
  for (int i = 0; i < 100; i++) EXPECT_EQ(sample_token(logits, {1.0, 0, 0.5}, rng), 1);
  Rng a(9), b(9);
  for (int i = 0; i < 50; i++) EXPECT_EQ(sample_token(logits, {1.0, 0, 1.0}, a), sample_token(logits, {1.0, 0, 1.0}, b));
}

}  // namespace
}  // namespace align::cpu
