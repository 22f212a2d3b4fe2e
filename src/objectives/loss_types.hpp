// loss_types.hpp: the names of the preference losses and f-divergences, as
// TRL spells them, so recipes and flags carry over unchanged.
#pragma once

#include <string>
#include <vector>

namespace align::objectives {

enum class LossType {
  Sigmoid,      // DPO; with label smoothing ε: conservative DPO (cDPO)
  Robust,       // robust DPO
  Ipo,          // IPO, length-averaged log-ratios
  Hinge,        // SLiC hinge
  ExoPair,      // EXO
  NcaPair,      // NCA
  BcoPair,      // BCO (pairwise)
  SppoHard,     // SPPO, hard labels
  ApoZero,      // APO-zero
  ApoDown,      // APO-down
  Discopop,     // DiscoPOP
  SigmoidNorm,  // DPO on length-averaged log-ratios
  Aot,          // AOT, paired
  AotUnpaired,  // AOT, unpaired
  Sft,          // token-mean NLL of the chosen completions
  Simpo,        // SimPO (reference-free, length-averaged, margin γ)
  Orpo,         // ORPO (NLL of prompt+chosen, plus λ·odds-ratio term; λ = beta)
};

enum class FDivergence { ReverseKL, ForwardKL, JsDivergence, AlphaDivergence };

const char* loss_name(LossType t);
LossType parse_loss(const std::string& name);  // throws InputError listing the known names
std::vector<std::string> loss_names();
const char* f_divergence_name(FDivergence f);
FDivergence parse_f_divergence(const std::string& name);

}  // namespace align::objectives
