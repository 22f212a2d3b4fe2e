// test_preference_gradcheck.cpp: end to end, the preference loss of a tiny
// GPT-2, Llama and Qwen2 model (policy against a separately initialised
// reference), and the gradient of every parameter against float64 central
// finite differences of that loss. Three objectives cover the three gradient
// channels: DPO (completion sums), RPO with LD-DPO (weighted and raw sums),
// ORPO (prompt+completion sums and length-averaged raw sums).
// Tolerance as in test_cpu_gradcheck.cpp: 1e-7·(1 + |g|) at h = 1e-5.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "cpu/model_cpu.hpp"
#include "objectives/preference_step.hpp"
#include "test_util.hpp"

namespace align::objectives {
namespace {

struct E2ECase {
  std::string name;
  int model;  // index into test::tiny_configs()
  ObjectiveConfig objective;
};

void PrintTo(const E2ECase& c, std::ostream* os) { *os << c.name; }

std::vector<E2ECase> e2e_cases() {
  ObjectiveConfig dpo;
  dpo.beta = 0.5;
  ObjectiveConfig rpo;
  rpo.losses = {{LossType::Sigmoid, 1.0}, {LossType::Sft, 0.7}};
  rpo.ld_alpha = 0.4;
  ObjectiveConfig orpo;
  orpo.losses = {{LossType::Orpo, 1.0}};
  orpo.beta = 0.3;
  std::vector<E2ECase> out;
  for (int m : {0, 2, 3}) {
    const std::string model = test::tiny_configs()[m].name;
    out.push_back({model + "_dpo", m, dpo});
    out.push_back({model + "_rpo_ld", m, rpo});
    out.push_back({model + "_orpo", m, orpo});
  }
  return out;
}

class PreferenceGradCheck : public ::testing::TestWithParam<E2ECase> {};

TEST_P(PreferenceGradCheck, EveryParameterMatchesFiniteDifferences) {
  const E2ECase& c = GetParam();
  const ModelConfig cfg = test::tiny_configs()[c.model].config;
  omp_set_num_threads(1);
  cpu::CpuModel<double> policy(cfg), reference(cfg);
  test::fill_random_params(cfg, policy.params().data(), 100);
  test::fill_random_params(cfg, reference.params().data(), 200);
  // B = 2 pairs, T = 7: a 2-token prompt, completions to each row's length.
  const int B = 2, N = 2 * B, T = 7;
  test::RandomBatch rb = test::random_batch(cfg, N, T, 17);
  const int lengths[N] = {7, 5, 6, 4};
  std::vector<uint8_t> completion(N * T, 0);
  for (int n = 0; n < N; n++) {
    rb.lengths[n] = lengths[n];
    for (int t = 0; t < T; t++) {
      rb.targets[n * T + t] = t + 1 < lengths[n] ? (5 * n + 3 * t + 1) % cfg.vocab_size : -1;
      rb.tokens[n * T + t] = t < lengths[n] ? (7 * n + 2 * t) % cfg.vocab_size : 0;
      if (t >= 1 && t + 1 < lengths[n]) completion[n * T + t] = 1;  // target t+1 >= 2 is completion
    }
  }
  const Batch batch = rb.view();
  const std::vector<double> ref =
      c.objective.needs_reference() ? reference_sums(reference, batch, completion.data(), c.objective)
                                    : std::vector<double>{};
  policy.zero_grad();
  const ObjectiveResult r = preference_step(policy, batch, completion.data(), c.objective, ref, 1.0);
  ASSERT_TRUE(std::isfinite(r.loss));
  const std::vector<double> grad = policy.grads();
  double worst = 0;
  std::vector<double>& p = policy.params();
  const double h = 1e-5;
  for (const TensorSpec& t : policy.table().tensors())
    for (size_t i = 0; i < t.numel; i++) {
      const size_t k = t.offset + i;
      const double saved = p[k];
      p[k] = saved + h;
      const double up = preference_step(policy, batch, completion.data(), c.objective, ref, 0.0).loss;
      p[k] = saved - h;
      const double down = preference_step(policy, batch, completion.data(), c.objective, ref, 0.0).loss;
      p[k] = saved;
      const double fd = (up - down) / (2 * h);
      const double err = std::abs(grad[k] - fd) / (1 + std::abs(fd));
      worst = std::max(worst, err);
      ASSERT_LE(err, 1e-7) << c.name << ": " << t.name << "[" << i << "] analytic " << grad[k] << ", fd " << fd;
    }
  std::printf("[ %s ] loss %.6f, largest relative gradient error %.2e\n", c.name.c_str(), r.loss, worst);
}

INSTANTIATE_TEST_SUITE_P(TinyModels, PreferenceGradCheck, ::testing::ValuesIn(e2e_cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace align::objectives
