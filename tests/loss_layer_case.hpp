// loss_layer_case.hpp: a preference batch at the loss layer (last hidden states,
// LM head, masks, reference sums) and the layer run end to end on the CPU —
// forward, the objective between the passes, backward — shared by the CPU
// tests of the chunked algorithm (test_chunked_logprob.cpp) and the GPU tests
// of its kernel (test_cuda_chunked_logprob.cu), so both are measured against
// the same truth: the unfused path in double.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "common/rng.hpp"
#include "cpu/chunked_logprob.hpp"
#include "cpu/ops.hpp"
#include "objectives/objective.hpp"
#include "objectives/sequence_sums.hpp"

namespace align::test {

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

// Between the passes: per-row sums of the forward's logp, the objective on them (o.result), and
// the per-token weights dlogp the backward pass needs.
template <typename T, typename U>
std::vector<T> objective_between_passes(const Problem<U>& p, const ObjectiveConfig& config, LayerOutput<T>& o) {
  const objectives::RowMasks masks{p.N, p.T_, p.targets.data(), p.lengths.data(), p.completion.data()};
  const std::vector<double> weights = objectives::completion_weights(masks, config.ld_alpha);
  o.result = objectives::evaluate_objective(config, objectives::reduce_rows(masks, o.logp.data(), &o.stats, weights),
                                            config.needs_reference() ? p.ref : std::vector<double>{});
  std::vector<T> dlogp(p.M());
  objectives::token_gradients(dlogp.data(), o.result.grads, masks, weights);
  return dlogp;
}

// The loss layer end to end on the CPU; chunk = 0 runs the unfused path.
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
  const std::vector<T> dlogp = objective_between_passes(p, config, o);
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

// Forward outputs, loss and metrics within tol; gradients within grad_tol (default: tol).
template <typename T>
void expect_same_layer(const LayerOutput<T>& got, const LayerOutput<T>& want, double tol, double grad_tol = 0) {
  if (grad_tol == 0) grad_tol = tol;
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
  expect_close("d hidden", got.dh, want.dh, grad_tol);
  expect_close("d lm_head", got.dw, want.dw, grad_tol);
}

inline ObjectiveConfig config_for(const std::string& loss) {
  ObjectiveConfig c;
  c.losses = {{objectives::parse_loss(loss), 1.0}};
  if (loss == "exo_pair") c.label_smoothing = 1e-3;
  if (loss == "orpo" || loss == "simpo") c.beta = 0.5;
  return c;
}

// The same problem in double, from the float inputs: the truth the float paths are measured against.
inline Problem<double> widen(const Problem<float>& p) {
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

}  // namespace align::test
