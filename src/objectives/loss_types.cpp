// loss_types.cpp: names of losses and f-divergences (loss_types.hpp).
#include "objectives/loss_types.hpp"

#include <utility>

#include "common/error.hpp"

namespace align::objectives {

namespace {
const std::pair<LossType, const char*> kLosses[] = {
    {LossType::Sigmoid, "sigmoid"},     {LossType::Robust, "robust"},         {LossType::Ipo, "ipo"},
    {LossType::Hinge, "hinge"},         {LossType::ExoPair, "exo_pair"},      {LossType::NcaPair, "nca_pair"},
    {LossType::BcoPair, "bco_pair"},    {LossType::SppoHard, "sppo_hard"},    {LossType::ApoZero, "apo_zero"},
    {LossType::ApoDown, "apo_down"},    {LossType::Discopop, "discopop"},     {LossType::SigmoidNorm, "sigmoid_norm"},
    {LossType::Aot, "aot"},             {LossType::AotUnpaired, "aot_unpaired"}, {LossType::Sft, "sft"},
    {LossType::Simpo, "simpo"},         {LossType::Orpo, "orpo"},
};
const std::pair<FDivergence, const char*> kDivergences[] = {
    {FDivergence::ReverseKL, "reverse_kl"},
    {FDivergence::ForwardKL, "forward_kl"},
    {FDivergence::JsDivergence, "js_divergence"},
    {FDivergence::AlphaDivergence, "alpha_divergence"},
};
}  // namespace

const char* loss_name(LossType t) {
  for (const auto& [type, name] : kLosses)
    if (type == t) return name;
  return "?";
}

std::vector<std::string> loss_names() {
  std::vector<std::string> out;
  for (const auto& entry : kLosses) out.push_back(entry.second);
  return out;
}

LossType parse_loss(const std::string& s) {
  std::string known;
  for (const auto& [type, name] : kLosses) {
    if (s == name) return type;
    known += known.empty() ? name : std::string(", ") + name;
  }
  if (s == "aot_pair") return LossType::AotUnpaired;  // TRL v0.27's name for aot_unpaired
  throw InputError(cat("loss type '", s, "' is not known, expected one of: ", known));
}

const char* f_divergence_name(FDivergence f) {
  for (const auto& [type, name] : kDivergences)
    if (type == f) return name;
  return "?";
}

FDivergence parse_f_divergence(const std::string& s) {
  for (const auto& [type, name] : kDivergences)
    if (s == name) return type;
  throw InputError(cat("f_divergence_type '", s, "' is not known, expected reverse_kl, forward_kl, js_divergence or ",
                       "alpha_divergence"));
}

}  // namespace align::objectives
