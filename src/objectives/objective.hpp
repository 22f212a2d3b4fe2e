// objective.hpp: the preference objective, one pure function from per-row
// sums of token log-probabilities to the loss, its gradient with respect to
// each sum, and TRL's metrics. Backend-independent: the CPU reference, the
// CUDA backend and the fused CUDA kernel all reduce to this (DESIGN.md §3),
// and the fused kernel is tested against it.
//
// A batch of B pairs has N = 2B rows: chosen rows 0..B-1, then rejected rows
// B..2B-1. For each row the backend's per-token log-probs are reduced
// (sequence_sums.hpp) into:
//   completion_logp       Σ w_t·logp_t over completion tokens (w = 1, or LD-DPO's α past the shared length)
//   raw_completion_logp   Σ logp_t over completion tokens (SFT, SimPO, ORPO, WPO)
//   all_logp              Σ logp_t over every predicted token, prompt included (ORPO's NLL, as TRL computes it)
//   completion_len, all_len, and token statistics summed over completion tokens
// The per-pair quantities are then (notation of docs/dpo.md)
//   Δc = completion_logp[c] - ref[c], Δr = completion_logp[r] - ref[r],
//   scores s = f(Δ) for the f-divergence f, d = s_c - s_r,
// and loss = Σ_k weight_k · mean_i(ℓ_k(pair i) · wpo_i).
// The gradient comes back as ∂loss/∂(each row sum); sequence_sums.hpp turns
// it into per-token weights dlogp for the backend's backward pass.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "objectives/loss_types.hpp"

namespace align::objectives {

struct LossTerm {
  LossType type = LossType::Sigmoid;
  double weight = 1.0;
};

struct ObjectiveConfig {
  std::vector<LossTerm> losses{LossTerm{}};     // weighted sum (MPO-style); RPO = {sigmoid 1, sft α}
  double beta = 0.1;                           // β; ORPO's λ (TRL's naming)
  double label_smoothing = 0.0;                // ε: cDPO (sigmoid), robust, exo_pair, aot, simpo
  double simpo_gamma = 0.5;                    // SimPO's target margin γ
  double discopop_tau = 0.05;                  // DiscoPOP's τ
  FDivergence f_divergence = FDivergence::ReverseKL;
  double f_alpha = 0.5;                        // α of alpha_divergence
  bool reference_free = false;                 // reference log-probs taken as 0
  bool wpo_weighting = false;                  // WPO: weight each pair by its length-normalised probability
  std::optional<double> ld_alpha;              // LD-DPO: weight of completion tokens past the pair's shared length

  // InputError naming the setting that is out of range or a combination that is not defined.
  void validate() const;
  // Whether reference log-probs are needed (false for reference-free, SimPO, ORPO, SFT-only).
  bool needs_reference() const;
  bool has(LossType t) const;
};

struct RowSums {
  int N = 0;                                 // rows, 2B
  std::vector<double> completion_logp;       // (N)
  std::vector<double> raw_completion_logp;   // (N)
  std::vector<double> completion_len;        // (N)
  std::vector<double> all_logp;              // (N)
  std::vector<double> all_len;               // (N)
  std::vector<double> entropy;               // (N) Σ over completion tokens
  std::vector<double> mean_logit;            // (N) Σ over completion tokens of the mean of the V logits
  std::vector<double> top1;                  // (N) completion tokens whose target is the argmax
  std::vector<double> log_sum_sq_probs;      // (N) Σ over completion tokens of log Σ_v p_v² (WPO)
  void resize(int n);
};

struct RowGrads {                            // ∂loss/∂ row sums, (N) each
  std::vector<double> completion_logp, raw_completion_logp, all_logp;
};

struct Metric {
  std::string name;
  double value;
};

struct ObjectiveResult {
  double loss = 0;
  RowGrads grads;
  std::vector<Metric> metrics;               // TRL's names, in a fixed order
  double metric(const std::string& name) const;  // throws Error when absent
};

// ref_completion_logp: (N) reference sums with the same token weights; may be empty when
// config.needs_reference() is false (the rewards metrics then use a zero reference).
ObjectiveResult evaluate_objective(const ObjectiveConfig& config, const RowSums& policy,
                                   const std::vector<double>& ref_completion_logp);

}  // namespace align::objectives
