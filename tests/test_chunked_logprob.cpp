// test_chunked_logprob.cpp: the chunked loss layer (cpu/chunked_logprob.hpp,
// the CPU reference of the fused kernel's algorithm) against the unfused path
// it replaces: matmul_forward into full (M, Vp) logits, logprob_forward,
// token_stats, and back through logprob_backward and matmul_backward.
//
// Covered: every loss of the objective on the sums it produces (loss, every
// metric, d hidden, d LM head); vocabularies of 50257, 128256 and 151936;
// chunk sizes 1, odd, not dividing V, equal to V and above it; completion
// lengths from 1 to T-1 with heavy padding and ignored targets; logits near
// ±800, where e^z overflows even in double; float and double; and the chunked
// gradient itself against float64 central finite differences.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "loss_layer_case.hpp"

namespace align {
namespace {

using namespace test;
using objectives::ObjectiveConfig;

// Double tolerance 1e-10: the two paths sum up to 152k terms in different
// orders; the worst-case accumulation error V·ε ≈ 1.7e-11 of the scale, while a
// wrong chunk boundary or rescale is off by orders of magnitude more.
constexpr double kDoubleTol = 1e-10;

TEST(ChunkedLogprob, EveryLossMatchesTheUnfusedPathAtEveryChunkSize) {
  const Problem<double> p = make_problem<double>(301, 3.0, 11);
  for (const std::string& loss : objectives::loss_names()) {
    const ObjectiveConfig config = config_for(loss);
    const LayerOutput<double> want = loss_layer(p, config, 0);
    for (int chunk : {1, 7, 64, 300, 301, 400}) {
      SCOPED_TRACE(loss + " chunk " + std::to_string(chunk));
      expect_same_layer(loss_layer(p, config, chunk), want, kDoubleTol);
    }
  }
}

TEST(ChunkedLogprob, LdDpoWpoAndSummedLossesMatch) {
  const Problem<double> p = make_problem<double>(257, 3.0, 12);
  ObjectiveConfig ld = config_for("sigmoid");
  ld.ld_alpha = 0.3;
  ObjectiveConfig wpo = config_for("sigmoid");
  wpo.wpo_weighting = true;
  ObjectiveConfig rpo = config_for("sigmoid");
  rpo.losses.push_back({objectives::LossType::Sft, 0.7});
  for (const ObjectiveConfig& config : {ld, wpo, rpo})
    expect_same_layer(loss_layer(p, config, 50), loss_layer(p, config, 0), kDoubleTol);
}

TEST(ChunkedLogprob, RealVocabularySizes) {
  for (int V : {50257, 128256, 151936}) {
    SCOPED_TRACE("V = " + std::to_string(V));
    const Problem<double> p = make_problem<double>(V, 4.0, (uint64_t)V);
    for (const char* loss : {"sigmoid", "orpo"}) {
      const ObjectiveConfig config = config_for(loss);
      const LayerOutput<double> want = loss_layer(p, config, 0);
      for (int chunk : {4096, 10007}) expect_same_layer(loss_layer(p, config, chunk), want, kDoubleTol);
    }
  }
}

TEST(ChunkedLogprob, LogitsNear800WhereTheExponentialOverflows) {
  // logit_scale 300 puts |z| up to ~800 (e^710 overflows double). The online
  // rescaling must keep every term <= 1, as the two-pass max shift does.
  const Problem<double> p = make_problem<double>(2000, 300.0, 13);
  const ObjectiveConfig config = config_for("sigmoid");
  const LayerOutput<double> want = loss_layer(p, config, 0);
  double max_logit = 0;
  for (size_t m = 0; m < want.lse.size(); m++) max_logit = std::max(max_logit, std::fabs(want.lse[m]));
  ASSERT_GT(max_logit, 710.0) << "the case must overflow a naive e^z";
  const LayerOutput<double> got = loss_layer(p, config, 97);
  for (double x : got.logp) ASSERT_TRUE(std::isfinite(x));
  for (double x : got.dh) ASSERT_TRUE(std::isfinite(x));
  expect_same_layer(got, want, kDoubleTol);
}

TEST(ChunkedLogprob, FloatIsAsAccurateAsItsInputsAllow) {
  // Against the double evaluation of the same float inputs, for the chunked
  // path and the unfused one. Logits come from float GEMMs over C = 8
  // (relative error ~1e-7·|z|, |z| ≲ 30) and the log-sum-exp accumulates in
  // double, so results land within a few 1e-7 of their scale (measured:
  // ≤ 2e-7); 2e-6 leaves room for the float dh/dW GEMMs summing over V. A
  // float log-sum-exp over V = 152k terms was off by 2e-4 (entropy by 3e-3),
  // and a lost or mis-rescaled chunk (≥ 1/38 of the sums) is far outside.
  for (int V : {50257, 151936}) {
    SCOPED_TRACE("V = " + std::to_string(V));
    const Problem<float> p = make_problem<float>(V, 4.0, 21);
    const ObjectiveConfig config = config_for("sigmoid");
    const LayerOutput<double> truth = loss_layer(widen(p), config, 0);
    for (int chunk : {4096, 0}) {
      SCOPED_TRACE(chunk ? "chunked" : "unfused");
      expect_same_layer(widen(loss_layer(p, config, chunk)), truth, 2e-6);
    }
  }
}

TEST(ChunkedLogprob, GradientMatchesFiniteDifferences) {
  // L(h, W) = Σ_m g_m·logp_m for random g. Central differences with step 1e-6:
  // truncation ~1e-12·|L'''|, rounding ~ε·|L|/step ≈ 1e-9; tolerance 1e-7·(1 + |grad|).
  const int M = 7, C = 5, V = 37, Vp = 40, chunk = 4;
  Rng rng(5);
  std::vector<double> h(M * C), w(Vp * C), g(M);
  std::vector<int32_t> targets(M);
  for (double& x : h) x = rng.normal();
  for (double& x : w) x = rng.normal();
  for (int m = 0; m < M; m++) g[m] = rng.normal(), targets[m] = m == 3 ? -1 : (int32_t)(rng.uniform() * V);
  auto loss = [&] {
    std::vector<double> logp(M), lse(M);
    cpu::chunked_logprob_forward<double>(logp.data(), lse.data(), nullptr, nullptr, nullptr, nullptr, h.data(),
                                         w.data(), targets.data(), M, C, V, chunk);
    double L = 0;
    for (int m = 0; m < M; m++) L += g[m] * logp[m];
    return L;
  };
  std::vector<double> logp(M), lse(M), dh(M * C, 99.0), dw(Vp * C, 0.0);
  cpu::chunked_logprob_forward<double>(logp.data(), lse.data(), nullptr, nullptr, nullptr, nullptr, h.data(), w.data(),
                                       targets.data(), M, C, V, chunk);
  cpu::chunked_logprob_backward<double>(dh.data(), dw.data(), g.data(), h.data(), w.data(), lse.data(), targets.data(),
                                        M, C, V, chunk, cpu::GradMode::Overwrite);
  auto check = [&](std::vector<double>& x, const std::vector<double>& grad, const char* name) {
    for (size_t i = 0; i < x.size(); i++) {
      const double x0 = x[i], step = 1e-6;
      x[i] = x0 + step;
      const double up = loss();
      x[i] = x0 - step;
      const double down = loss();
      x[i] = x0;
      EXPECT_NEAR(grad[i], (up - down) / (2 * step), 1e-7 * (1 + std::fabs(grad[i]))) << name << "[" << i << "]";
    }
  };
  check(h, dh, "d hidden");
  check(w, dw, "d lm_head");  // padding rows 37..39: L does not read them, gradient 0
}

TEST(ChunkedLogprob, RejectsBadSizes) {
  std::vector<float> x(8);
  std::vector<int32_t> t(2, 0);
  EXPECT_THROW(cpu::chunked_logprob_forward<float>(x.data(), x.data(), nullptr, nullptr, nullptr, nullptr, x.data(),
                                                   x.data(), t.data(), 2, 2, 2, 0),
               Error);
}

}  // namespace
}  // namespace align
