// test_objective_gradcheck.cpp: every loss's gradient with respect to the row
// sums against float64 central finite differences, on random inputs and on the
// edge cases: completion length 1, |βd| large enough to overflow naive
// formulas (e^1000), ε at its limits, every f-divergence, LD-DPO, several
// losses summed with weights.
//
// Step h = 1e-6·max(1, |x|): truncation ~h²·|ℓ'''| is below 1e-8 relative for
// these inputs; rounding, 2·ε·|loss|/h, is added to the tolerance explicitly.
// The check allows 1e-6·(1 + |g|) on top, which any wrong term (O(|g|))
// exceeds by orders of magnitude.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.hpp"
#include "common/rng.hpp"
#include "objectives/objective.hpp"
#include "objectives/stable_math.hpp"

namespace align::objectives {
namespace {

struct Case {
  std::string name;
  ObjectiveConfig config;
  double spread = 5.0;   // |Δ| scale of the random log-prob sums
  bool length_one = false;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

ObjectiveConfig with(std::vector<LossTerm> losses, double beta = 0.1, double eps = 0.0) {
  ObjectiveConfig c;
  c.losses = std::move(losses);
  c.beta = beta;
  c.label_smoothing = eps;
  return c;
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (const std::string& name : loss_names()) {
    const LossType t = parse_loss(name);
    ObjectiveConfig c = with({{t, 1.0}}, 0.1, t == LossType::ExoPair ? 1e-3 : 0.0);
    if (t == LossType::Orpo || t == LossType::Simpo) c.beta = 0.5;
    out.push_back({name, c});
    out.push_back({name + "_len1", c, 5.0, true});
    out.push_back({name + "_huge", c, 20000.0});  // βΔ ~ 1e3: e^(βd) overflows double
  }
  out.push_back({"sigmoid_cdpo_eps0.3", with({{LossType::Sigmoid, 1}}, 0.1, 0.3)});
  out.push_back({"robust_eps0.49", with({{LossType::Robust, 1}}, 0.1, 0.49)});
  out.push_back({"exo_eps0.999", with({{LossType::ExoPair, 1}}, 0.1, 0.999)});
  out.push_back({"aot_eps0.2", with({{LossType::Aot, 1}}, 0.5, 0.2)});
  out.push_back({"simpo_eps0.1_gamma2", [] {
                   ObjectiveConfig c = with({{LossType::Simpo, 1}}, 2.0, 0.1);
                   c.simpo_gamma = 2.0;
                   return c;
                 }()});
  for (FDivergence f : {FDivergence::ForwardKL, FDivergence::JsDivergence, FDivergence::AlphaDivergence})
    for (LossType t : {LossType::Sigmoid, LossType::Ipo, LossType::Hinge, LossType::Robust, LossType::Discopop,
                       LossType::SigmoidNorm}) {
      ObjectiveConfig c = with({{t, 1}}, 0.2, t == LossType::Robust ? 0.1 : 0.0);
      c.f_divergence = f;
      out.push_back({std::string(loss_name(t)) + "_" + f_divergence_name(f), c, 1.5});
    }
  ObjectiveConfig mpo = with({{LossType::Sigmoid, 0.8}, {LossType::BcoPair, 0.2}, {LossType::Sft, 1.0}});
  out.push_back({"mpo_sigmoid_bco_sft", mpo});
  ObjectiveConfig ld = with({{LossType::Sigmoid, 1.0}, {LossType::Sft, 0.5}});
  ld.ld_alpha = 0.3;
  out.push_back({"rpo_with_ld_alpha", ld});
  ObjectiveConfig free = with({{LossType::Sigmoid, 1.0}});
  free.reference_free = true;
  out.push_back({"reference_free_dpo", free});
  ObjectiveConfig wpo = with({{LossType::Sigmoid, 1.0}, {LossType::Ipo, 0.5}});
  wpo.wpo_weighting = true;
  out.push_back({"wpo_sigmoid_ipo", wpo});
  return out;
}

struct Inputs {
  RowSums rows;
  std::vector<double> ref;
};

Inputs random_inputs(const Case& c, int B, uint64_t seed) {
  Rng rng(seed);
  Inputs in;
  in.rows.resize(2 * B);
  in.ref.resize(2 * B);
  for (int n = 0; n < 2 * B; n++) {
    const double len = c.length_one ? 1 : rng.uniform_int(1, 40);
    in.rows.completion_len[n] = len;
    in.rows.all_len[n] = len + rng.uniform_int(1, 10);
    // Log-probs are negative; averages stay below 0 (ORPO needs log(1 - e^a)).
    const double avg = -rng.uniform(0.05, 3.0);
    in.rows.raw_completion_logp[n] = avg * len;
    in.rows.completion_logp[n] = c.config.ld_alpha ? avg * len * rng.uniform(0.5, 1.0) : avg * len;
    in.rows.all_logp[n] = in.rows.raw_completion_logp[n] - rng.uniform(0.1, 20.0);
    in.ref[n] = in.rows.completion_logp[n] + c.spread * rng.normal();
    in.rows.entropy[n] = rng.uniform(0, 3) * len;
    in.rows.mean_logit[n] = rng.normal() * len;
    in.rows.top1[n] = rng.uniform_int(0, (int)len);
    in.rows.log_sum_sq_probs[n] = -rng.uniform(0.5, 4) * len;
  }
  return in;
}

class ObjectiveGradCheck : public ::testing::TestWithParam<Case> {};

TEST_P(ObjectiveGradCheck, MatchesFiniteDifferences) {
  const Case& c = GetParam();
  const int B = 5;
  for (uint64_t seed : {1, 2, 3}) {
    Inputs in = random_inputs(c, B, seed);
    const ObjectiveResult r = evaluate_objective(c.config, in.rows, in.ref);
    ASSERT_TRUE(std::isfinite(r.loss)) << c.name << ": loss " << r.loss;
    for (const Metric& m : r.metrics) ASSERT_TRUE(std::isfinite(m.value)) << c.name << ": " << m.name;
    auto loss_at = [&](std::vector<double>& v, int n, double x) {
      const double saved = v[n];
      v[n] = x;
      const double l = evaluate_objective(c.config, in.rows, in.ref).loss;
      v[n] = saved;
      return l;
    };
    struct Channel {
      const char* name;
      std::vector<double>* sums;
      const std::vector<double>* grad;
    };
    std::vector<Channel> channels = {{"completion_logp", &in.rows.completion_logp, &r.grads.completion_logp},
                                     {"all_logp", &in.rows.all_logp, &r.grads.all_logp}};
    // WPO weights are constants by definition (TRL computes them without gradient) but are
    // functions of the raw sums, so differences through raw sums would differentiate them too.
    if (!c.config.wpo_weighting)
      channels.push_back({"raw_completion_logp", &in.rows.raw_completion_logp, &r.grads.raw_completion_logp});
    for (const Channel& ch : channels)
      for (int n = 0; n < 2 * B; n++) {
        const double x = (*ch.sums)[n], h = 1e-6 * std::max(1.0, std::abs(x));
        const double fd = (loss_at(*ch.sums, n, x + h) - loss_at(*ch.sums, n, x - h)) / (2 * h);
        // Plus the rounding bound of the difference itself, 2·ε_mach·|loss|/h (it dominates
        // for the quadratic losses at |Δ| ~ 1e4, where the loss is ~1e9).
        const double rounding = 2 * 2.2e-16 * (1 + std::abs(r.loss)) / h;
        ASSERT_NEAR((*ch.grad)[n], fd, 1e-6 * (1 + std::abs(fd)) + rounding)
            << c.name << " seed " << seed << ": d loss / d " << ch.name << "[" << n << "]";
      }
  }
}

INSTANTIATE_TEST_SUITE_P(AllLosses, ObjectiveGradCheck, ::testing::ValuesIn(cases()),
                         [](const auto& info) {
                           std::string s = info.param.name;
                           for (char& ch : s)
                             if (!std::isalnum((unsigned char)ch)) ch = '_';
                           return s;
                         });

TEST(StableMath, NoOverflowAndCorrectValues) {
  EXPECT_DOUBLE_EQ(log_sigmoid(0.0), -std::log(2.0));
  EXPECT_DOUBLE_EQ(log_sigmoid(-1000.0), -1000.0);           // naive log(1/(1+e^1000)) = -inf
  EXPECT_NEAR(log_sigmoid(1000.0), 0.0, 1e-300);
  EXPECT_NEAR(log_sigmoid(40.0), -std::exp(-40.0), 1e-30);   // naive 1/(1+e^-40) rounds to 1: log = 0
  EXPECT_DOUBLE_EQ(sigmoid(-1000.0), 0.0);
  EXPECT_DOUBLE_EQ(sigmoid(1000.0), 1.0);
  EXPECT_NEAR(sigmoid_grad(3.0), sigmoid(3.0) * sigmoid(-3.0), 1e-16);
  EXPECT_NEAR(log1mexp(-1e-10), std::log(1e-10), 1e-6);     // naive log(1 - e^-1e-10) loses all digits
  EXPECT_NEAR(log1mexp(-50.0), -std::exp(-50.0), 1e-35);
  const double x = -0.3, h = 1e-7;
  EXPECT_NEAR(log1mexp_grad(x), (log1mexp(x + h) - log1mexp(x - h)) / (2 * h), 1e-7);
}

TEST(ObjectiveConfig, InvalidCombinationsAreRefused) {
  auto bad = [](ObjectiveConfig c, const std::string& expect) {
    try {
      c.validate();
      ADD_FAILURE() << "no error, expected: " << expect;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
    }
  };
  bad(with({{LossType::ExoPair, 1}}, 0.1, 0.0), "exo_pair needs ε > 0");
  bad(with({{LossType::Robust, 1}}, 0.1, 0.5), "robust needs 0 <= ε < 0.5");
  bad(with({}, 0.1), "no loss given");
  bad(with({{LossType::Sigmoid, 1}}, 0.0), "beta = 0");
  ObjectiveConfig f = with({{LossType::BcoPair, 1}});
  f.f_divergence = FDivergence::ForwardKL;
  bad(f, "not bco_pair");
  ObjectiveConfig w = with({{LossType::Aot, 1}});
  w.wpo_weighting = true;
  bad(w, "WPO weighting is not defined for aot");
  bad(with({{LossType::Orpo, 1}, {LossType::Sigmoid, 1}}), "cannot be combined");
  ObjectiveConfig ld = with({{LossType::Sigmoid, 1}});
  ld.ld_alpha = 1.5;
  bad(ld, "ld_alpha = 1.5");
  EXPECT_THROW(parse_loss("dpo"), InputError);
  EXPECT_EQ(parse_loss("aot_pair"), LossType::AotUnpaired);
  EXPECT_TRUE(with({{LossType::Sigmoid, 1}}).needs_reference());
  EXPECT_FALSE(with({{LossType::Orpo, 1}}).needs_reference());
  EXPECT_FALSE(with({{LossType::Sft, 1}}).needs_reference());
}

TEST(Objective, EmptyCompletionIsAClearError) {
  Case c{"sigmoid", with({{LossType::Sigmoid, 1}})};
  Inputs in = random_inputs(c, 2, 1);
  in.rows.completion_len[3] = 0;
  try {
    evaluate_objective(c.config, in.rows, in.ref);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("pair 1: the rejected completion has no tokens"), std::string::npos)
        << e.what();
  }
}

// The DPO gradient with respect to the policy is -β·σ(-βd)·(∇logp_c - ∇logp_r) (REFERENCE.md):
// pairs already ranked right get small weight. Checked in closed form, independent of the code's algebra.
TEST(Objective, DpoGradientHasTheClosedForm) {
  Case c{"sigmoid", with({{LossType::Sigmoid, 1}}, 0.25)};
  Inputs in = random_inputs(c, 4, 9);
  const ObjectiveResult r = evaluate_objective(c.config, in.rows, in.ref);
  for (int i = 0; i < 4; i++) {
    const double d = (in.rows.completion_logp[i] - in.ref[i]) - (in.rows.completion_logp[4 + i] - in.ref[4 + i]);
    const double w = -0.25 * sigmoid(-0.25 * d) / 4;  // mean over 4 pairs
    EXPECT_NEAR(r.grads.completion_logp[i], w, 1e-15);
    EXPECT_NEAR(r.grads.completion_logp[4 + i], -w, 1e-15);
  }
}

}  // namespace
}  // namespace align::objectives
