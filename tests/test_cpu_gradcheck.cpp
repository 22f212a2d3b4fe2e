// test_cpu_gradcheck.cpp: every parameter gradient of the CPU reference model
// against float64 central finite differences, for every tiny config
// (test_util.hpp), on random weights and a right-padded random batch.
//
// Loss L(θ) = Σ w[n,t]·logp[n,t] with random weights w, i.e. exactly the
// backend contract: backward(dlogp = w) must give ∂L/∂θ.
// Tolerance: central differences with h = 1e-5 have truncation error
// ~h²·|L'''|/6 ≈ 1e-10·|L'''| and rounding error ~ε·|L|/h ≈ 1e-16·10/1e-5 = 1e-10;
// with O(1) weights and logits the observed worst case is ~2e-8 (printed per
// config), so the check allows 1e-7·(1 + |g|); a real bug (a dropped term, a
// wrong sign) is O(|g|) ~ 1e-2 or more, as mutating any backward shows.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "cpu/model_cpu.hpp"
#include "test_util.hpp"

namespace align {
namespace {

class CpuGradCheck : public ::testing::TestWithParam<test::NamedConfig> {};

double weighted_logp(cpu::CpuModel<double>& model, const Batch& batch, const std::vector<double>& w) {
  std::vector<double> logp(w.size());
  model.forward(batch, logp.data());
  double sum = 0;
  for (size_t i = 0; i < w.size(); i++) sum += w[i] * logp[i];
  return sum;
}

TEST_P(CpuGradCheck, EveryParameterMatchesFiniteDifferences) {
  const ModelConfig& c = GetParam().config;
  omp_set_num_threads(1);  // tiny shapes: thread start-up would dominate
  cpu::CpuModel<double> model(c);
  test::fill_random_params(c, model.params().data(), 42);
  const test::RandomBatch rb = test::random_batch(c, 3, 7, 7);
  const Batch batch = rb.view();
  Rng rng(3);
  std::vector<double> w(batch.N * batch.T);
  for (double& x : w) x = rng.uniform(-1, 1);

  model.zero_grad();
  std::vector<double> logp(w.size());
  model.forward(batch, logp.data());
  // logp is exactly 0 where there is nothing to predict (padding, ignored targets).
  for (int i = 0; i < batch.N * batch.T; i++) {
    if (rb.targets[i] < 0 || i % batch.T >= rb.lengths[i / batch.T]) {
      EXPECT_EQ(logp[i], 0.0) << "position " << i;
    }
  }
  model.backward(w.data());
  const std::vector<double> grad = model.grads();

  const double h = 1e-5;
  double worst = 0;
  std::string worst_at;
  size_t checked = 0;
  std::vector<double>& p = model.params();
  for (const TensorSpec& t : model.table().tensors()) {
    for (size_t i = 0; i < t.numel; i++) {
      const size_t k = t.offset + i;
      const double saved = p[k];
      p[k] = saved + h;
      const double up = weighted_logp(model, batch, w);
      p[k] = saved - h;
      const double down = weighted_logp(model, batch, w);
      p[k] = saved;
      const double fd = (up - down) / (2 * h);
      const double err = std::abs(grad[k] - fd) / (1 + std::abs(fd));
      if (err > worst) worst = err, worst_at = t.name + "[" + std::to_string(i) + "]";
      ASSERT_LE(err, 1e-7) << t.name << "[" << i << "]: analytic " << grad[k] << ", finite difference " << fd;
      checked++;
    }
  }
  // Gradients outside every tensor (alignment gaps) must be untouched.
  std::vector<bool> inside(grad.size(), false);
  for (const TensorSpec& t : model.table().tensors())
    for (size_t i = 0; i < t.numel; i++) inside[t.offset + i] = true;
  for (size_t k = 0; k < grad.size(); k++) {
    if (!inside[k]) {
      ASSERT_EQ(grad[k], 0.0) << "gap element " << k;
    }
  }
  std::printf("[ %s ] %zu parameters checked, largest relative error %.3g at %s\n", GetParam().name.c_str(), checked,
              worst, worst_at.c_str());
}

TEST_P(CpuGradCheck, GradientsAccumulateAcrossBackwardCalls) {
  const ModelConfig& c = GetParam().config;
  cpu::CpuModel<double> model(c);
  test::fill_random_params(c, model.params().data(), 5);
  const test::RandomBatch rb = test::random_batch(c, 2, 6, 9);
  std::vector<double> logp(12), w(12, 0.5);
  model.forward(rb.view(), logp.data());
  model.backward(w.data());
  const std::vector<double> once = model.grads();
  model.forward(rb.view(), logp.data());
  model.backward(w.data());
  for (size_t k = 0; k < once.size(); k++) ASSERT_NEAR(model.grads()[k], 2 * once[k], 1e-12 * (1 + std::abs(once[k])));
}

INSTANTIATE_TEST_SUITE_P(TinyModels, CpuGradCheck, ::testing::ValuesIn(test::tiny_configs()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace align
