// test_trl_golden.cpp: losses, metrics and gradients against TRL itself.
//
// tests/data/trl/ (written by dev/reference/make_trl_golden.py) holds three
// random preference batches as logits and masks, and for each of 65 cases
// TRL's loss, logged metrics and d loss / d logits. Here the same logits go
// through the whole align.cu path — cpu::logprob_forward and token_stats,
// reduce_rows, evaluate_objective, token_gradients, cpu::logprob_backward —
// and every number is compared.
//
// Tolerance: 1e-6 relative for cases TRL computes in float64 and 1e-5 for
// those it computes in float32 (alpha-divergence, whose clamp table has no
// float64 entry, and ORPO, whose odds-ratio term casts to float32). Both
// sides evaluate the same formulas in float64 otherwise, so the observed
// errors are ~1e-14; TRL's float32 metrics (accuracies) round at ~6e-8.
// Gradients are compared relative to the largest gradient entry (floor 1e-12, see below).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <type_traits>
#include <nlohmann/json.hpp>

#include "cpu/ops.hpp"
#include "model/safetensors.hpp"
#include "objectives/objective.hpp"
#include "objectives/sequence_sums.hpp"

namespace align::objectives {
namespace {

const std::string kDir = std::string(ALIGN_TEST_DATA) + "/trl/";

const nlohmann::json& golden() {
  static const nlohmann::json j = [] {
    std::ifstream f(kDir + "cases.json");
    return nlohmann::json::parse(f);
  }();
  return j;
}

ObjectiveConfig config_from(const nlohmann::json& c, const std::string& source) {
  ObjectiveConfig cfg;
  cfg.losses.clear();
  const auto& types = c.at("loss_type");
  for (size_t k = 0; k < types.size(); k++) {
    const double w = c.contains("loss_weights") ? c["loss_weights"][k].get<double>() : 1.0;
    cfg.losses.push_back({parse_loss(types[k].get<std::string>()), w});
  }
  cfg.beta = c.at("beta").get<double>();
  cfg.label_smoothing = c.value("label_smoothing", 0.0);
  cfg.f_divergence = parse_f_divergence(c.value("f_divergence_type", std::string("reverse_kl")));
  cfg.f_alpha = c.value("f_alpha_divergence_coef", 0.5);
  cfg.wpo_weighting = c.value("use_weighting", false);
  cfg.simpo_gamma = c.value("simpo_gamma", 0.5);
  if (c.contains("ld_alpha") && !c["ld_alpha"].is_null()) cfg.ld_alpha = c["ld_alpha"].get<double>();
  return cfg;
}

// Largest relative errors of one case, by kind, for the printed summary.
struct CaseResult {
  double loss = 0, grad = 0, metric = 0;
  std::string metric_name;
};

double rel(double ours, double ref) {
  const double d = std::abs(ours - ref);
  return d == 0 ? 0 : d / std::max(std::abs(ref), 1e-12);
}

// Runs case `index` with the log-prob path (logprob_forward, token_stats,
// token_gradients, logprob_backward) in scalar S; the objective is float64 host
// code either way. S = float is held to 1e-5 (the float32 bound):
// float32 log-probs carry ~1e-7 relative rounding, amplified by at most the
// ratio |logp| / |Δ| ~ 10 in these batches.
template <typename S>
void run_case(int index) {
  const nlohmann::json& c = golden()["cases"][index];
  const std::string name = c["name"], set = c["inputs"], source = c["source"];
  const int B = golden()["B"], T = golden()["T"], V = golden()["V"], N = 2 * B, P = T - 1;  // P predicted positions
  const double tol = c["precision"] == "float32" || std::is_same_v<S, float> ? 1e-5 : 1e-6;

  const SafetensorsFile inputs(kDir + "inputs.safetensors"), grads(kDir + "grads.safetensors");
  // The logits are float64 in the file; read them exactly, not through to_float.
  const SafeTensor& lt = inputs.at(set + ".logits");
  ASSERT_EQ(lt.dtype, "F64");
  std::vector<double> logits64((size_t)N * P * V);
  std::memcpy(logits64.data(), lt.data, lt.bytes);
  const std::vector<S> logits(logits64.begin(), logits64.end());
  const std::vector<int64_t> ids = inputs.to_int64(set + ".input_ids"), att = inputs.to_int64(set + ".attention_mask"),
                             comp = inputs.to_int64(set + ".completion_mask");
  auto f64 = [&](const SafetensorsFile& f, const std::string& key) {
    const SafeTensor& t = f.at(key);
    std::vector<double> v(t.numel());
    std::memcpy(v.data(), t.data, t.bytes);
    return v;
  };
  std::vector<double> ref = f64(inputs, set + ".ref_chosen_logps");
  const std::vector<double> ref_r = f64(inputs, set + ".ref_rejected_logps");
  ref.insert(ref.end(), ref_r.begin(), ref_r.end());

  // Our batch: position t predicts token t+1 (TRL shifts the same way).
  std::vector<int32_t> targets((size_t)N * P, -1), lengths(N);
  std::vector<uint8_t> completion((size_t)N * P, 0);
  for (int n = 0; n < N; n++) {
    int len = 0;
    for (int t = 0; t < T; t++) len += (int)att[(size_t)n * T + t];
    lengths[n] = len - 1;
    for (int t = 0; t + 1 < len; t++) {
      targets[(size_t)n * P + t] = (int32_t)ids[(size_t)n * T + t + 1];
      completion[(size_t)n * P + t] = (uint8_t)comp[(size_t)n * T + t + 1];
    }
  }
  std::vector<S> logp((size_t)N * P), lse((size_t)N * P);
  cpu::logprob_forward(logp.data(), lse.data(), logits.data(), targets.data(), N * P, V, V);
  TokenStats stats;
  stats.entropy.resize(N * P), stats.mean_logit.resize(N * P), stats.log_sum_sq_probs.resize(N * P),
      stats.is_top1.resize(N * P);
  cpu::token_stats(stats.entropy.data(), stats.mean_logit.data(), stats.log_sum_sq_probs.data(), stats.is_top1.data(),
                   logits.data(), lse.data(), targets.data(), N * P, V, V);

  const ObjectiveConfig cfg = config_from(c["config"], source);
  const RowMasks masks{N, P, targets.data(), lengths.data(), completion.data()};
  const std::vector<double> w = completion_weights(masks, cfg.ld_alpha);
  const RowSums sums = reduce_rows(masks, logp.data(), &stats, w);
  const ObjectiveResult r = evaluate_objective(cfg, sums, ref);

  CaseResult worst;
  auto check = [&](const std::string& what, double ours, double theirs) {
    const double e = rel(ours, theirs);
    if (what == "loss") worst.loss = e;
    else if (e > worst.metric) worst.metric = e, worst.metric_name = what;
    EXPECT_LE(e, tol) << name << ": " << what << " ours " << ours << ", TRL " << theirs;
  };
  check("loss", r.loss, c["loss"].template get<double>());
  for (const auto& [metric, value] : c["metrics"].items()) {
    if (source == "simpo" && metric == "nll_loss") {
      // CPO's NLL term (cpo_alpha) is 0 for SimPO; align.cu has none and logs none.
      EXPECT_EQ(value.template get<double>(), 0.0);
      continue;
    }
    check(metric, r.metric(metric), value.template get<double>());
  }

  std::vector<S> dlogp((size_t)N * P);
  token_gradients(dlogp.data(), r.grads, masks, w);
  std::vector<S> dlogits = logits;  // becomes d loss / d logits in place
  cpu::logprob_backward(dlogits.data(), dlogp.data(), lse.data(), targets.data(), N * P, V, V);
  const std::vector<double> g = f64(grads, name);
  ASSERT_EQ(g.size(), dlogits.size());
  double gmax = 0, gdiff = 0;
  for (size_t i = 0; i < g.size(); i++) {
    gmax = std::max(gmax, std::abs(g[i]));
    gdiff = std::max(gdiff, std::abs(g[i] - (double)dlogits[i]));
  }
  // Relative to the largest entry, with a floor of 1e-12: TRL's torch.sigmoid saturates to exactly
  // 0 or 1 in float64 beyond |z| ~ 37, so where the true gradient is below ~1e-16 TRL reports 0
  // and we report the tiny correct value (apo_zero_large); an all-zero gradient (hinge_large) is 0/0.
  const double ge = gdiff / std::max(gmax, 1e-12);
  worst.grad = ge;
  EXPECT_LE(ge, tol) << name << ": gradient max error " << gdiff << " of max " << gmax;
  std::printf("[ %-28s %s ] relative error: loss %.1e, d/dlogits %.1e, metrics %.1e (%s)\n", name.c_str(),
              std::is_same_v<S, float> ? "f32" : "f64", worst.loss, worst.grad, worst.metric, worst.metric_name.c_str());
}

class TrlGolden : public ::testing::TestWithParam<int> {};

TEST_P(TrlGolden, Float64) { run_case<double>(GetParam()); }
TEST_P(TrlGolden, Float32) { run_case<float>(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Cases, TrlGolden, ::testing::Range(0, (int)golden()["cases"].size()),
                         [](const auto& info) {
                           std::string s = golden()["cases"][info.param]["name"];
                           for (char& ch : s)
                             if (!std::isalnum((unsigned char)ch)) ch = '_';
                           return s;
                         });

}  // namespace
}  // namespace align::objectives
