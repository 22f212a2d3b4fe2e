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
#include "common/rng.hpp"
#include "cpu/chunked_logprob.hpp"
#include "cpu/ops.hpp"
#include "objectives/objective.hpp"
#include "objectives/sequence_sums.hpp"

namespace align {
namespace {

using objectives::ObjectiveConfig;
using objectives::ObjectiveResult;

// A preference batch at the loss layer: last hidden states, LM head, masks.
template <typename T>
struct Problem {
  int B = 3, N = 6, T_ = 9, C = 8, V = 0, Vp = 0;
  std::vector<T> h;                 // (N*T, C)
  std::vector<T> w;                 // (Vp, C); padding rows random too, they must get no gradient
  std::vector<T> dw_before;         // (Vp, C) random: dW accumulates onto it
  std::vector<int32_t> targets;     // (N, T)  -1 past each row's last prediction
  std::vector<int32_t> lengths;     // (N)
  std::vector<uint8_t> completion;  // (N, T)
  std::vector<double> ref;          // (N) reference completion sums
  int M() const { return N * T_; }
};

// Rows of every length from 2 to T (heavy padding); completions from 1 token
// (row 0) to every predicted position (the longest row); a few prompt targets ignored.
template <typename T>
Problem<T> make_problem(int V, double logit_scale, uint64_t seed) {
  Problem<T> p;
  p.V = V;
  p.Vp = (V + 63) / 64 * 64;
  Rng rng(seed);
  const double hs = logit_scale / std::sqrt((double)p.C);
  for (int i = 0; i < p.M() * p.C; i++) p.h.push_back((T)(hs * rng.normal()));
  for (int i = 0; i < p.Vp * p.C; i++) p.w.push_back((T)rng.normal());
  for (int i = 0; i < p.Vp * p.C; i++) p.dw_before.push_back((T)rng.normal());
  p.targets.assign((size_t)p.M(), -1);
  p.completion.assign((size_t)p.M(), 0);
  for (int n = 0; n < p.N; n++) {
    const int len = n == p.N - 1 ? p.T_ : 2 + (int)(rng.uniform() * (p.T_ - 1));
    p.lengths.push_back(len);
    const int prompt = n == 0 ? len - 2 : n == p.N - 1 ? 0 : (int)(rng.uniform() * (len - 1));
    for (int t = 0; t < len - 1; t++) {
      const size_t i = (size_t)n * p.T_ + t;
      p.targets[i] = (int32_t)(rng.uniform() * V);
      if (t >= prompt)
        p.completion[i] = 1;
      else if (rng.uniform() < 0.3)
        p.targets[i] = -1;  // an ignored prompt label
    }
    p.ref.push_back(-3.0 * (len - prompt) + rng.normal());
  }
  // The target of one row at the top of the vocabulary, in the last (partial) chunk.
  p.targets[(size_t)(p.N - 1) * p.T_] = V - 1;
  return p;
}

template <typename T>
struct LayerOutput {
  std::vector<T> logp, lse;  // (M)
  TokenStats stats;          // (M) each
  ObjectiveResult result;
  std::vector<T> dh, dw;  // (M, C), (Vp, C)
};

// The loss layer end to end; chunk = 0 runs the unfused path.
template <typename T>
LayerOutput<T> loss_layer(const Problem<T>& p, const ObjectiveConfig& config, int chunk) {
  const int M = p.M(), C = p.C, V = p.V, Vp = p.Vp;
  LayerOutput<T> o;
  o.logp.assign(M, T(-7));  // poison: every element must be written
  o.lse.assign(M, T(-7));
  o.stats.entropy.assign(M, -7);
  o.stats.mean_logit.assign(M, -7);
  o.stats.log_sum_sq_probs.assign(M, -7);
  o.stats.is_top1.assign(M, 7);
  std::vector<T> logits;
  if (chunk == 0) {
    logits.resize((size_t)M * Vp);
    cpu::matmul_forward<T>(logits.data(), p.h.data(), p.w.data(), nullptr, M, C, Vp);
    cpu::logprob_forward<T>(o.logp.data(), o.lse.data(), logits.data(), p.targets.data(), M, V, Vp);
    cpu::token_stats<T>(o.stats.entropy.data(), o.stats.mean_logit.data(), o.stats.log_sum_sq_probs.data(),
                        o.stats.is_top1.data(), logits.data(), o.lse.data(), p.targets.data(), M, V, Vp);
  } else {
    cpu::chunked_logprob_forward<T>(o.logp.data(), o.lse.data(), o.stats.entropy.data(), o.stats.mean_logit.data(),
                                    o.stats.log_sum_sq_probs.data(), o.stats.is_top1.data(), p.h.data(), p.w.data(),
                                    p.targets.data(), M, C, V, chunk);
  }
  const objectives::RowMasks masks{p.N, p.T_, p.targets.data(), p.lengths.data(), p.completion.data()};
  const std::vector<double> weights = objectives::completion_weights(masks, config.ld_alpha);
  o.result = objectives::evaluate_objective(config, objectives::reduce_rows(masks, o.logp.data(), &o.stats, weights),
                                            config.needs_reference() ? p.ref : std::vector<double>{});
  std::vector<T> dlogp(M);
  objectives::token_gradients(dlogp.data(), o.result.grads, masks, weights);
  o.dh.assign((size_t)M * C, T(-7));  // poison; overwritten
  o.dw = p.dw_before;                 // accumulated onto
  if (chunk == 0) {
    cpu::logprob_backward<T>(logits.data(), dlogp.data(), o.lse.data(), p.targets.data(), M, V, Vp);
    cpu::matmul_backward<T>(o.dh.data(), o.dw.data(), nullptr, logits.data(), p.h.data(), p.w.data(), M, C, Vp,
                            cpu::GradMode::Overwrite);
  } else {
    cpu::chunked_logprob_backward<T>(o.dh.data(), o.dw.data(), dlogp.data(), p.h.data(), p.w.data(), o.lse.data(),
                                     p.targets.data(), M, C, V, chunk, cpu::GradMode::Overwrite);
  }
  return o;
}

// |a - b| <= tol·(1 + max|b|) elementwise: the scale is the array's own, since a
// chunk lost or mis-rescaled moves the results by a fraction of that scale.
template <typename A, typename B>
void expect_close(const std::string& what, const std::vector<A>& a, const std::vector<B>& b, double tol) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double scale = 0;
  for (const B& x : b) scale = std::max(scale, std::fabs((double)x));
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < a.size(); i++)
    if (!(std::fabs((double)a[i] - (double)b[i]) <= tol * (1 + scale)) && bad++ == 0) first = i;
  EXPECT_EQ(bad, 0u) << what << ": first mismatch at " << first << ": " << (double)a[first] << " vs "
                     << (double)b[first] << " (scale " << scale << ", tol " << tol << ")";
}

template <typename T>
void expect_same_layer(const LayerOutput<T>& got, const LayerOutput<T>& want, double tol) {
  expect_close("logp", got.logp, want.logp, tol);
  expect_close("lse", got.lse, want.lse, tol);
  expect_close("entropy", got.stats.entropy, want.stats.entropy, tol);
  expect_close("mean_logit", got.stats.mean_logit, want.stats.mean_logit, tol);
  expect_close("log_sum_sq_probs", got.stats.log_sum_sq_probs, want.stats.log_sum_sq_probs, tol);
  EXPECT_EQ(got.stats.is_top1, want.stats.is_top1);
  EXPECT_NEAR(got.result.loss, want.result.loss, tol * (1 + std::fabs(want.result.loss)));
  ASSERT_EQ(got.result.metrics.size(), want.result.metrics.size());
  for (size_t i = 0; i < want.result.metrics.size(); i++) {
    EXPECT_EQ(got.result.metrics[i].name, want.result.metrics[i].name);
    EXPECT_NEAR(got.result.metrics[i].value, want.result.metrics[i].value,
                tol * (1 + std::fabs(want.result.metrics[i].value)))
        << want.result.metrics[i].name;
  }
  expect_close("d hidden", got.dh, want.dh, tol);
  expect_close("d lm_head", got.dw, want.dw, tol);
}

ObjectiveConfig config_for(const std::string& loss) {
  ObjectiveConfig c;
  c.losses = {{objectives::parse_loss(loss), 1.0}};
  if (loss == "exo_pair") c.label_smoothing = 1e-3;
  if (loss == "orpo" || loss == "simpo") c.beta = 0.5;
  return c;
}

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

// The same problem in double, from the float inputs: the truth the float paths are measured against.
Problem<double> widen(const Problem<float>& p) {
  Problem<double> d;
  d.B = p.B, d.N = p.N, d.T_ = p.T_, d.C = p.C, d.V = p.V, d.Vp = p.Vp;
  d.h.assign(p.h.begin(), p.h.end());
  d.w.assign(p.w.begin(), p.w.end());
  d.dw_before.assign(p.dw_before.begin(), p.dw_before.end());
  d.targets = p.targets, d.lengths = p.lengths, d.completion = p.completion, d.ref = p.ref;
  return d;
}

template <typename T>
LayerOutput<double> widen(const LayerOutput<T>& o) {
  LayerOutput<double> d;
  d.logp.assign(o.logp.begin(), o.logp.end());
  d.lse.assign(o.lse.begin(), o.lse.end());
  d.stats = o.stats;
  d.result = o.result;
  d.dh.assign(o.dh.begin(), o.dh.end());
  d.dw.assign(o.dw.begin(), o.dw.end());
  return d;
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
