// preference_step.hpp: one preference step on any backend: forward, reduce,
// objective, and the gradient back through the backend.
//
//   logp, stats = model.forward(batch)                 per-prediction log-probs (N·T + E)
//   sums        = reduce_rows(logp)                    per-sequence sums (2B)
//   loss, dsums = evaluate_objective(sums, ref)        objective.hpp
//   dlogp       = token_gradients(dsums)               per-prediction weights (N·T + E)
//   model.backward(dlogp)                              parameter gradients +=
// Model is any backend with `Scalar`, forward(batch, logp, stats*) and
// backward(dlogp): the CPU reference, the CUDA backend. The SequenceMap built
// with the batch (src/train/batches.hpp) makes the sums independent of the layout.
#pragma once

#include <vector>

#include "model/batch.hpp"
#include "objectives/objective.hpp"
#include "objectives/sequence_sums.hpp"

namespace align::objectives {

// The sequences of a right-padded batch (each row one sequence).
inline SequenceMap row_sequences(const Batch& batch, const uint8_t* completion /*(N,T)*/) {
  return row_sequences(RowMasks{batch.N, batch.T, batch.targets, batch.lengths, completion});
}

// The reference model's completion sums (2B) for this batch, with the objective's token weights.
template <typename Model>
std::vector<double> reference_sums(Model& reference, const Batch& batch, const SequenceMap& map,
                                   const ObjectiveConfig& config) {
  std::vector<typename Model::Scalar> logp(batch.predictions());
  reference.forward(batch, logp.data(), nullptr);
  return weighted_sums(map, logp.data(), completion_weights(map, config.ld_alpha));
}

// Loss and metrics of the batch. With grad_scale != 0 the policy's parameter gradients accumulate
// grad_scale·∂loss/∂θ (1/accumulation steps when micro-batches share an optimizer step).
template <typename Model>
ObjectiveResult preference_step(Model& policy, const Batch& batch, const SequenceMap& map,
                                const ObjectiveConfig& config, const std::vector<double>& ref_sums, double grad_scale) {
  const std::vector<double> weights = completion_weights(map, config.ld_alpha);
  std::vector<typename Model::Scalar> logp(batch.predictions());
  TokenStats stats;
  policy.forward(batch, logp.data(), &stats);
  ObjectiveResult result = evaluate_objective(config, reduce_rows(map, logp.data(), &stats, weights), ref_sums);
  if (grad_scale != 0.0) {
    token_gradients(logp.data(), result.grads, map, weights);  // logp's buffer now holds dlogp
    for (auto& d : logp) d = static_cast<typename Model::Scalar>(d * grad_scale);
    policy.backward(logp.data());
  }
  return result;
}

// Right-padded forms: completion (N, T) marks the trained targets of each row.
template <typename Model>
std::vector<double> reference_sums(Model& reference, const Batch& batch, const uint8_t* completion,
                                   const ObjectiveConfig& config) {
  return reference_sums(reference, batch, row_sequences(batch, completion), config);
}
template <typename Model>
ObjectiveResult preference_step(Model& policy, const Batch& batch, const uint8_t* completion,
                                const ObjectiveConfig& config, const std::vector<double>& ref_sums, double grad_scale) {
  return preference_step(policy, batch, row_sequences(batch, completion), config, ref_sums, grad_scale);
}

}  // namespace align::objectives
