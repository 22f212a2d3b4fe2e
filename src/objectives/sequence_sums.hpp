// sequence_sums.hpp: between the backend's per-prediction log-probs and the
// objective's per-sequence sums, in both directions.
//
//   forward:  logp (P) ──reduce_rows──▶ RowSums (S)        objective ──▶ loss, RowGrads
//   backward: RowGrads (S) ──token_gradients──▶ dlogp (P) ──▶ backend backward
// P = N·T + E predictions of a batch (batch.hpp); S = 2B sequences, chosen then
// rejected, whatever the layout: a SequenceMap says which sequence each
// prediction belongs to, so the objective sees the same sums for the padded,
// packed and shared layouts (src/train/batches.hpp builds the map with the batch).
// Since every sum is linear in the per-token log-probs, each prediction's
// gradient is its sequence's gradient times the prediction's weight in that sum:
//   dlogp[i] = g_comp[s]·w[i] + g_raw[s]·c[i] + g_all[s]·a[i] (+ g_all[s2] for a shared prompt)
// with c the completion mask, w the completion weights (c, or LD-DPO's α past
// the pair's shared length) and a the mask of predicted positions.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "model/batch.hpp"
#include "objectives/objective.hpp"

namespace align::objectives {

// Where each prediction of a batch goes. A prediction of a token of a shared
// prompt belongs to the chosen sequence (seq) and also to the rejected one
// (seq2) in the sums over all predicted tokens: in the padded layout both rows
// predict it, with the same log-prob.
struct SequenceMap {
  int S = 0;                        // sequences (2B: chosen 0..B-1, then rejected)
  std::vector<int32_t> targets;     // (P) < 0 where nothing is predicted
  std::vector<int32_t> seq;         // (P) its sequence, -1 for none
  std::vector<int32_t> seq2;        // (P) a second sequence for the all-token sums, -1 for none
  std::vector<uint8_t> completion;  // (P) 1 where the target is a trained (completion) token
  std::vector<int32_t> order;       // (P) the predicting token's position in its sequence (LD-DPO counts in it)
  size_t size() const { return targets.size(); }
};

// The positions of a right-padded preference batch (N = 2B rows, chosen rows first): each row is a sequence.
struct RowMasks {
  int N = 0, T = 0;
  const int32_t* targets = nullptr;     // (N, T) next-token ids, < 0 where nothing is predicted
  const int32_t* lengths = nullptr;     // (N) real tokens per row
  const uint8_t* completion = nullptr;  // (N, T) 1 where the target at t is a completion token
};
SequenceMap row_sequences(const RowMasks& masks);

// Validates the map (completion ⊆ predicted) and returns the per-prediction
// weights w (P) of the completion sums: 1 on completion tokens, and with LD-DPO
// α on those past min(|y_c|, |y_r|) of the pair (counted in sequence order).
std::vector<double> completion_weights(const SequenceMap& map, std::optional<double> ld_alpha);

template <typename T>
RowSums reduce_rows(const SequenceMap& map, const T* logp /*(P)*/, const TokenStats* stats /*or null*/,
                    const std::vector<double>& weights /*(P)*/);

// Σ_i w[i]·logp[i] per sequence: the reference model's completion sums.
template <typename T>
std::vector<double> weighted_sums(const SequenceMap& map, const T* logp /*(P)*/, const std::vector<double>& weights);

template <typename T>
void token_gradients(T* dlogp /*(P), overwritten*/, const RowGrads& grads, const SequenceMap& map,
                     const std::vector<double>& weights);

// The padded-row forms (tests, golden files): the same functions on row_sequences(masks).
inline std::vector<double> completion_weights(const RowMasks& m, std::optional<double> a) {
  return completion_weights(row_sequences(m), a);
}
template <typename T>
RowSums reduce_rows(const RowMasks& m, const T* logp, const TokenStats* stats, const std::vector<double>& w) {
  return reduce_rows(row_sequences(m), logp, stats, w);
}
template <typename T>
std::vector<double> weighted_sums(const RowMasks& m, const T* logp, const std::vector<double>& w) {
  return weighted_sums(row_sequences(m), logp, w);
}
template <typename T>
void token_gradients(T* dlogp, const RowGrads& g, const RowMasks& m, const std::vector<double>& w) {
  token_gradients(dlogp, g, row_sequences(m), w);
}

}  // namespace align::objectives
