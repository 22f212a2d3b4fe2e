// preference_step.hpp: one preference step on any backend: forward, reduce,
// objective, and the gradient back through the backend.
//
//   logp, stats = model.forward(batch)                 per-token log-probs (N, T)
//   sums        = reduce_rows(logp)                    per-row sums (N)
//   loss, dsums = evaluate_objective(sums, ref)        objective.hpp
//   dlogp       = token_gradients(dsums)               per-token weights (N, T)
//   model.backward(dlogp)                              parameter gradients +=
// Model is any backend with `Scalar`, forward(batch, logp, stats*) and
// backward(dlogp): the CPU reference now, the CUDA backend later.
#pragma once

#include <vector>

#include "model/batch.hpp"
#include "objectives/objective.hpp"
#include "objectives/sequence_sums.hpp"

namespace align::objectives {

inline RowMasks row_masks(const Batch& batch, const uint8_t* completion /*(N,T)*/) {
  return RowMasks{batch.N, batch.T, batch.targets, batch.lengths, completion};
}

// The reference model's completion sums (N) for this batch, with the objective's token weights.
template <typename Model>
std::vector<double> reference_sums(Model& reference, const Batch& batch, const uint8_t* completion,
                                   const ObjectiveConfig& config) {
  const RowMasks masks = row_masks(batch, completion);
  std::vector<typename Model::Scalar> logp((size_t)batch.N * batch.T);
  reference.forward(batch, logp.data(), nullptr);
  return weighted_sums(masks, logp.data(), completion_weights(masks, config.ld_alpha));
}

// Loss and metrics of the batch. With grad_scale != 0 the policy's parameter gradients accumulate
// grad_scale·∂loss/∂θ (1/accumulation steps when micro-batches share an optimizer step).
template <typename Model>
ObjectiveResult preference_step(Model& policy, const Batch& batch, const uint8_t* completion,
                                const ObjectiveConfig& config, const std::vector<double>& ref_sums,
                                double grad_scale) {
  const RowMasks masks = row_masks(batch, completion);
  const std::vector<double> weights = completion_weights(masks, config.ld_alpha);
  std::vector<typename Model::Scalar> logp((size_t)batch.N * batch.T);
  TokenStats stats;
  policy.forward(batch, logp.data(), &stats);
  ObjectiveResult result = evaluate_objective(config, reduce_rows(masks, logp.data(), &stats, weights), ref_sums);
  if (grad_scale != 0.0) {
    token_gradients(logp.data(), result.grads, masks, weights);  // logp's buffer now holds dlogp
    for (auto& d : logp) d = static_cast<typename Model::Scalar>(d * grad_scale);
    policy.backward(logp.data());
  }
  return result;
}

}  // namespace align::objectives
