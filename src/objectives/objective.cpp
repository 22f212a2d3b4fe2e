// objective.cpp: every preference loss with its analytic gradient, and the
// metrics (objective.hpp). docs/dpo.md derives the formulas; each case below
// cites the per-pair loss ℓ and its derivatives.
#include "objectives/objective.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/error.hpp"
#include "objectives/stable_math.hpp"

namespace align::objectives {

namespace {

bool is_reference_free_family(LossType t) { return t == LossType::Simpo || t == LossType::Orpo; }

bool supports_f_divergence(LossType t) {
  // TRL's set: the f-DPO reparameterisation only cancels log Z(x) in the chosen-rejected difference.
  return t == LossType::Sigmoid || t == LossType::SigmoidNorm || t == LossType::Hinge || t == LossType::Ipo ||
         t == LossType::ExoPair || t == LossType::Robust || t == LossType::Discopop || t == LossType::Sft;
}

struct Score {
  double s, ds;  // f(Δ) and f'(Δ)
};

Score score(const ObjectiveConfig& c, double delta) {
  switch (c.f_divergence) {
    case FDivergence::ReverseKL:
      return {delta, 1.0};
    case FDivergence::ForwardKL: {  // f'(t) = 1 - 1/t at t = e^Δ
      const double e = std::exp(-delta);
      return {1.0 - e, e};
    }
    case FDivergence::JsDivergence:  // log 2 + log σ(Δ)
      return {std::log(2.0) + log_sigmoid(delta), sigmoid(-delta)};
    case FDivergence::AlphaDivergence: {  // (e^((α-1)Δ) - 1)/(α-1), reverse KL at α = 1
      const double a = c.f_alpha;
      if (std::abs(a - 1.0) < 1e-6) return {delta, 1.0};
      // TRL clamps (α-1)Δ at 80 so that exp stays finite in float32; the clamped side has zero gradient.
      const double t = (a - 1.0) * delta;
      if (t > 80.0) return {(std::exp(80.0) - 1.0) / (a - 1.0), 0.0};
      return {(std::exp(t) - 1.0) / (a - 1.0), std::exp(t)};
    }
  }
  return {delta, 1.0};
}

// ℓ = -(1-ε)·log σ(z) - ε·log σ(-z) and dℓ/dz: DPO/cDPO, AOT, SimPO.
struct Smoothed {
  double loss, dz;
};
Smoothed smoothed_sigmoid_loss(double z, double eps) {
  return {-(1.0 - eps) * log_sigmoid(z) - eps * log_sigmoid(-z), -(1.0 - eps) * sigmoid(-z) + eps * sigmoid(z)};
}

// Per-pair result: the loss and its derivatives with respect to the row sums
// of the pair (completion sums through Δ, raw completion sums).
struct PairLoss {
  double loss = 0, d_comp_c = 0, d_comp_r = 0, d_raw_c = 0, d_raw_r = 0;
};

std::vector<int> argsort(const std::vector<double>& v) {
  std::vector<int> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return v[a] < v[b]; });
  return idx;
}

}  // namespace

bool ObjectiveConfig::has(LossType t) const {
  for (const LossTerm& l : losses)
    if (l.type == t) return true;
  return false;
}

bool ObjectiveConfig::needs_reference() const {
  if (reference_free) return false;
  for (const LossTerm& l : losses)
    if (l.type != LossType::Sft && !is_reference_free_family(l.type)) return true;
  return false;
}

void ObjectiveConfig::validate() const {
  ALIGN_REQUIRE(!losses.empty(), "loss_type: no loss given");
  ALIGN_REQUIRE(std::isfinite(beta) && beta > 0, "beta = ", beta, ", expected a positive number");
  ALIGN_REQUIRE(label_smoothing >= 0 && label_smoothing < 1, "label_smoothing = ", label_smoothing,
                ", expected 0 <= ε < 1");
  ALIGN_REQUIRE(std::isfinite(discopop_tau) && discopop_tau > 0, "discopop_tau = ", discopop_tau, ", expected > 0");
  ALIGN_REQUIRE(std::isfinite(simpo_gamma), "simpo_gamma = ", simpo_gamma, ", expected a number");
  ALIGN_REQUIRE(std::isfinite(f_alpha), "f_alpha_divergence_coef = ", f_alpha, ", expected a number");
  if (ld_alpha) ALIGN_REQUIRE(*ld_alpha >= 0 && *ld_alpha <= 1, "ld_alpha = ", *ld_alpha, ", expected 0..1");
  bool reference_family = false, reference_based = false;
  for (const LossTerm& l : losses) {
    const char* name = loss_name(l.type);
    ALIGN_REQUIRE(std::isfinite(l.weight), "loss weight of ", name, " = ", l.weight, ", expected a number");
    if (f_divergence != FDivergence::ReverseKL)
      ALIGN_REQUIRE(supports_f_divergence(l.type), "f_divergence_type ", f_divergence_name(f_divergence),
                    " is defined for sigmoid, sigmoid_norm, hinge, ipo, exo_pair, robust, discopop and sft, not ", name);
    if (l.type == LossType::Robust)
      ALIGN_REQUIRE(label_smoothing < 0.5, "label_smoothing = ", label_smoothing, ", robust needs 0 <= ε < 0.5");
    if (l.type == LossType::ExoPair)
      ALIGN_REQUIRE(label_smoothing > 0, "label_smoothing = 0, exo_pair needs ε > 0 (the EXO paper uses 1e-3)");
    if (wpo_weighting)
      ALIGN_REQUIRE(l.type != LossType::Aot && l.type != LossType::AotUnpaired && !is_reference_free_family(l.type),
                    "WPO weighting is not defined for ", name, " (aot sorts pairs; simpo and orpo have no weights)");
    if (is_reference_free_family(l.type)) reference_family = true;
    else if (l.type != LossType::Sft) reference_based = true;
  }
  ALIGN_REQUIRE(!(reference_family && reference_based),
                "simpo and orpo cannot be combined with reference-based losses (only with sft)");
  if (reference_family) ALIGN_REQUIRE(!ld_alpha, "ld_alpha applies to reference-based losses, not simpo or orpo");
}

void RowSums::resize(int n) {
  N = n;
  for (auto* v : {&completion_logp, &raw_completion_logp, &completion_len, &all_logp, &all_len, &entropy, &mean_logit,
                  &top1, &log_sum_sq_probs})
    v->assign(n, 0.0);
}

double ObjectiveResult::metric(const std::string& name) const {
  for (const Metric& m : metrics)
    if (m.name == name) return m.value;
  ALIGN_ASSERT(false, "no metric named ", name);
  return 0;
}

ObjectiveResult evaluate_objective(const ObjectiveConfig& cfg, const RowSums& p, const std::vector<double>& ref_in) {
  cfg.validate();
  const int N = p.N, B = N / 2;
  ALIGN_ASSERT(N >= 2 && N % 2 == 0, "a preference batch has 2B rows, got ", N);
  for (const auto* v : {&p.completion_logp, &p.raw_completion_logp, &p.completion_len, &p.all_logp, &p.all_len,
                        &p.entropy, &p.mean_logit, &p.top1, &p.log_sum_sq_probs})
    ALIGN_ASSERT((int)v->size() == N, "row sums of size ", v->size(), ", expected ", N);
  for (int n = 0; n < N; n++)
    ALIGN_REQUIRE(p.completion_len[n] >= 1, "pair ", n % B, ": the ", n < B ? "chosen" : "rejected",
                  " completion has no tokens (such pairs carry no signal; data preparation drops them)");
  // The reference enters the loss only where needs_reference(); when given it also enters the
  // rewards metrics (TRL logs β·Δ for every DPO-family run, an SFT-only one included).
  ALIGN_ASSERT(!cfg.needs_reference() || (int)ref_in.size() == N, "reference sums of size ", ref_in.size(),
               ", expected ", N);
  ALIGN_ASSERT(ref_in.empty() || (int)ref_in.size() == N, "reference sums of size ", ref_in.size(), ", expected ", N);
  const bool use_ref = !cfg.reference_free && !ref_in.empty();
  std::vector<double> ref(N, 0.0);
  if (use_ref) ref = ref_in;

  ObjectiveResult r;
  r.grads.completion_logp.assign(N, 0.0);
  r.grads.raw_completion_logp.assign(N, 0.0);
  r.grads.all_logp.assign(N, 0.0);
  std::vector<double>& g_comp = r.grads.completion_logp;
  std::vector<double>& g_raw = r.grads.raw_completion_logp;
  std::vector<double>& g_all = r.grads.all_logp;
  const double beta = cfg.beta, eps = cfg.label_smoothing;

  // WPO: w_i = Π over the pair's rows of exp(mean over completion tokens of (log p - log Σ_v p_v²)), a constant.
  std::vector<double> wpo(B, 1.0);
  if (cfg.wpo_weighting)
    for (int i = 0; i < B; i++)
      for (int n : {i, B + i})
        wpo[i] *= std::exp((p.raw_completion_logp[n] - p.log_sum_sq_probs[n]) / std::max(p.completion_len[n], 1.0));
  const double mean_wpo = std::accumulate(wpo.begin(), wpo.end(), 0.0) / B;

  std::vector<double> delta_c(B), delta_r(B), avg_c(B), avg_r(B);
  for (int i = 0; i < B; i++) {
    delta_c[i] = p.completion_logp[i] - ref[i];
    delta_r[i] = p.completion_logp[B + i] - ref[B + i];
    avg_c[i] = p.raw_completion_logp[i] / p.completion_len[i];
    avg_r[i] = p.raw_completion_logp[B + i] / p.completion_len[B + i];
  }
  double nll = 0, log_odds_ratio = 0, log_odds_chosen = 0;
  bool have_nll = false;

  for (const LossTerm& term : cfg.losses) {
    const double scale = term.weight / B;  // mean over pairs, times the term's weight
    switch (term.type) {
      case LossType::Sft: {
        // Token-mean NLL over the chosen completions of the batch (TRL: per_token_logps[chosen_mask].mean()).
        double tokens = 0, sum = 0;
        for (int i = 0; i < B; i++) tokens += p.completion_len[i], sum += p.raw_completion_logp[i];
        const double value = -sum / tokens;
        r.loss += term.weight * value * mean_wpo;
        for (int i = 0; i < B; i++) g_raw[i] += term.weight * mean_wpo * (-1.0 / tokens);
        if (!have_nll) nll = value, have_nll = true;
        break;
      }
      case LossType::Orpo: {
        // NLL over prompt + chosen completion (TRL's ORPO), plus mean_i(-λ·log σ(log_odds_i)).
        double tokens = 0, sum = 0;
        for (int i = 0; i < B; i++) tokens += p.all_len[i], sum += p.all_logp[i];
        nll = -sum / tokens;
        have_nll = true;
        r.loss += term.weight * nll;
        for (int i = 0; i < B; i++) g_all[i] += term.weight * (-1.0 / tokens);
        for (int i = 0; i < B; i++) {
          // log_odds = (a_c - a_r) - (log(1 - e^a_c) - log(1 - e^a_r)), a = length-averaged log-prob
          const double lo = (avg_c[i] - avg_r[i]) - (log1mexp(avg_c[i]) - log1mexp(avg_r[i]));
          const double ratio = log_sigmoid(lo);
          log_odds_ratio += ratio / B;
          log_odds_chosen += lo / B;
          r.loss += scale * (-beta * ratio);
          const double d_lo = -beta * sigmoid(-lo);
          g_raw[i] += scale * d_lo * (1.0 - log1mexp_grad(avg_c[i])) / p.completion_len[i];
          g_raw[B + i] += scale * d_lo * -(1.0 - log1mexp_grad(avg_r[i])) / p.completion_len[B + i];
        }
        break;
      }
      case LossType::Aot:
      case LossType::AotUnpaired: {
        // Sort across the batch and pair the k-th smallest values:
        //   aot:          δ_k = sort(logp_c - logp_r)_k - sort(ref_c - ref_r)_k
        //   aot_unpaired: δ_k = sort(Δc)_k - sort(Δr)_k
        // ℓ_k = -(1-ε)·log σ(βδ_k) - ε·log σ(-βδ_k); the gradient follows the permutation.
        const bool paired = term.type == LossType::Aot;
        std::vector<double> x(B), y(B);
        for (int i = 0; i < B; i++) {
          x[i] = paired ? p.completion_logp[i] - p.completion_logp[B + i] : delta_c[i];
          y[i] = paired ? ref[i] - ref[B + i] : delta_r[i];
        }
        const std::vector<int> px = argsort(x), py = argsort(y);
        for (int k = 0; k < B; k++) {
          const Smoothed s = smoothed_sigmoid_loss(beta * (x[px[k]] - y[py[k]]), eps);
          r.loss += scale * s.loss;
          const double g = scale * beta * s.dz;
          g_comp[px[k]] += g;  // ∂x/∂logp_c = 1 for both forms
          if (paired) g_comp[B + px[k]] -= g;
          else g_comp[B + py[k]] -= g;  // y = Δr is the policy's too
        }
        break;
      }
      default: {
        for (int i = 0; i < B; i++) {
          const Score sc = score(cfg, delta_c[i]), sr = score(cfg, delta_r[i]);
          const double d = sc.s - sr.s;
          const double rc = beta * delta_c[i], rr = beta * delta_r[i];
          PairLoss pl;
          double dd = 0;  // ∂ℓ/∂d, for the losses of the score difference
          double ds_c = 0, ds_r = 0;  // ∂ℓ/∂s_c, ∂ℓ/∂s_r, for the length-averaged ones
          switch (term.type) {
            case LossType::Sigmoid: {  // -(1-ε)·log σ(βd) - ε·log σ(-βd)
              const Smoothed s = smoothed_sigmoid_loss(beta * d, eps);
              pl.loss = s.loss, dd = beta * s.dz;
              break;
            }
            case LossType::Robust: {  // [-(1-ε)·log σ(βd) + ε·log σ(-βd)] / (1-2ε)
              const double z = beta * d;
              pl.loss = (-(1 - eps) * log_sigmoid(z) + eps * log_sigmoid(-z)) / (1 - 2 * eps);
              dd = beta * (-(1 - eps) * sigmoid(-z) - eps * sigmoid(z)) / (1 - 2 * eps);
              break;
            }
            case LossType::Hinge: {  // max(0, 1 - βd)
              const double z = beta * d;
              pl.loss = std::max(0.0, 1.0 - z);
              dd = 1.0 - z > 0 ? -beta : 0.0;
              break;
            }
            case LossType::ExoPair: {  // σ(z)(log σ(z) - log(1-ε)) + σ(-z)(log σ(-z) - log ε), z = βd
              const double z = beta * d, l1 = std::log1p(-eps), l0 = std::log(eps);
              pl.loss = sigmoid(z) * (log_sigmoid(z) - l1) + sigmoid(-z) * (log_sigmoid(-z) - l0);
              dd = beta * sigmoid_grad(z) * (z - l1 + l0);  // the log σ terms' own derivatives cancel
              break;
            }
            case LossType::Discopop: {  // (1-m)·(-log σ(z)) + m·e^-z, m = σ(z/τ), z = βd
              const double z = beta * d, tau = cfg.discopop_tau;
              const double m = sigmoid(z / tau), dm = sigmoid_grad(z / tau) / tau;
              const double m_exp = std::exp(log_sigmoid(z / tau) - z);  // m·e^-z without e^-z overflowing
              const double dm_exp = std::exp(log_sigmoid(z / tau) + log_sigmoid(-z / tau) - z) / tau;  // m'·e^-z
              pl.loss = (1 - m) * -log_sigmoid(z) + m_exp;
              dd = beta * (dm * log_sigmoid(z) - (1 - m) * sigmoid(-z) + dm_exp - m_exp);
              break;
            }
            case LossType::SigmoidNorm:  // -log σ(β·(s_c/|y_c| - s_r/|y_r|))
            case LossType::Ipo: {        // (s_c/|y_c| - s_r/|y_r| - 1/(2β))²
              const double nc = std::max(p.completion_len[i], 1.0), nr = std::max(p.completion_len[B + i], 1.0);
              const double dbar = sc.s / nc - sr.s / nr;
              double dl;
              if (term.type == LossType::Ipo) {
                pl.loss = (dbar - 0.5 / beta) * (dbar - 0.5 / beta);
                dl = 2 * (dbar - 0.5 / beta);
              } else {
                pl.loss = -log_sigmoid(beta * dbar);
                dl = -beta * sigmoid(-beta * dbar);
              }
              ds_c = dl / nc, ds_r = -dl / nr;
              break;
            }
            case LossType::NcaPair:  // -log σ(βΔc) - ½·log σ(-βΔc) - ½·log σ(-βΔr)
              pl.loss = -log_sigmoid(rc) - 0.5 * log_sigmoid(-rc) - 0.5 * log_sigmoid(-rr);
              pl.d_comp_c = beta * (-sigmoid(-rc) + 0.5 * sigmoid(rc));
              pl.d_comp_r = beta * 0.5 * sigmoid(rr);
              break;
            case LossType::BcoPair:  // -log σ(βΔc) - log σ(-βΔr)
              pl.loss = -log_sigmoid(rc) - log_sigmoid(-rr);
              pl.d_comp_c = -beta * sigmoid(-rc);
              pl.d_comp_r = beta * sigmoid(rr);
              break;
            case LossType::SppoHard:  // (Δc - 1/(2β))² + (Δr + 1/(2β))²
              pl.loss = std::pow(delta_c[i] - 0.5 / beta, 2) + std::pow(delta_r[i] + 0.5 / beta, 2);
              pl.d_comp_c = 2 * (delta_c[i] - 0.5 / beta);
              pl.d_comp_r = 2 * (delta_r[i] + 0.5 / beta);
              break;
            case LossType::ApoZero:  // 1 - σ(βΔc) + σ(βΔr)
              pl.loss = 1 - sigmoid(rc) + sigmoid(rr);
              pl.d_comp_c = -beta * sigmoid_grad(rc);
              pl.d_comp_r = beta * sigmoid_grad(rr);
              break;
            case LossType::ApoDown: {  // σ(βΔc) + 1 - σ(β(Δc - Δr))
              const double zm = beta * (delta_c[i] - delta_r[i]);
              pl.loss = sigmoid(rc) + 1 - sigmoid(zm);
              pl.d_comp_c = beta * sigmoid_grad(rc) - beta * sigmoid_grad(zm);
              pl.d_comp_r = beta * sigmoid_grad(zm);
              break;
            }
            case LossType::Simpo: {  // -(1-ε)·log σ(β(a_c - a_r) - γ) - ε·log σ(-(β(a_c - a_r) - γ))
              const Smoothed s = smoothed_sigmoid_loss(beta * (avg_c[i] - avg_r[i]) - cfg.simpo_gamma, eps);
              pl.loss = s.loss;
              pl.d_raw_c = beta * s.dz / p.completion_len[i];
              pl.d_raw_r = -beta * s.dz / p.completion_len[B + i];
              break;
            }
            default:
              ALIGN_ASSERT(false, "unhandled loss ", loss_name(term.type));
          }
          // Chain through the scores: d = s_c - s_r, s = f(Δ).
          pl.d_comp_c += (dd + ds_c) * sc.ds;
          pl.d_comp_r += (-dd + ds_r) * sr.ds;
          r.loss += scale * pl.loss * wpo[i];
          g_comp[i] += scale * wpo[i] * pl.d_comp_c;
          g_comp[B + i] += scale * wpo[i] * pl.d_comp_r;
          g_raw[i] += scale * wpo[i] * pl.d_raw_c;
          g_raw[B + i] += scale * wpo[i] * pl.d_raw_r;
        }
      }
    }
  }

  // ---- metrics (TRL's names) --------------------------------------------------------------------
  // The reference-free length-averaged family (SimPO via TRL's CPO trainer, ORPO) reports β·(average
  // log-prob) as rewards and the averages as logps; the DPO family β·Δ and the sums.
  bool averaged = false;
  for (const LossTerm& l : cfg.losses) averaged |= is_reference_free_family(l.type);
  double rew_c = 0, rew_r = 0, acc = 0, logp_c = 0, logp_r = 0;
  for (int i = 0; i < B; i++) {
    const double a = averaged ? beta * avg_c[i] : beta * delta_c[i];
    const double b = averaged ? beta * avg_r[i] : beta * delta_r[i];
    rew_c += a / B, rew_r += b / B, acc += (a > b ? 1.0 : 0.0) / B;
    logp_c += (averaged ? avg_c[i] : p.completion_logp[i]) / B;
    logp_r += (averaged ? avg_r[i] : p.completion_logp[B + i]) / B;
  }
  double ent = 0, tokens = 0, logit_c = 0, logit_r = 0, tok_c = 0, tok_r = 0, top1 = 0;
  for (int n = 0; n < N; n++) {
    ent += p.entropy[n], tokens += p.completion_len[n];
    (n < B ? logit_c : logit_r) += p.mean_logit[n];
    (n < B ? tok_c : tok_r) += p.completion_len[n];
    if (n < B) top1 += p.top1[n];
  }
  r.metrics = {{"loss", r.loss},
               {"entropy", ent / tokens},
               {"mean_token_accuracy", top1 / tok_c},
               {"rewards/chosen", rew_c},
               {"rewards/rejected", rew_r},
               {"rewards/accuracies", acc},
               {"rewards/margins", rew_c - rew_r},
               {"logps/chosen", logp_c},
               {"logps/rejected", logp_r},
               {"logits/chosen", logit_c / tok_c},
               {"logits/rejected", logit_r / tok_r}};
  if (have_nll) r.metrics.push_back({"nll_loss", nll});
  if (cfg.has(LossType::Orpo)) {
    r.metrics.push_back({"log_odds_ratio", log_odds_ratio});
    r.metrics.push_back({"log_odds_chosen", log_odds_chosen});
  }
  return r;
}

}  // namespace align::objectives
