// sequence_sums.hpp: between the backend's per-token log-probs and the
// objective's per-row sums, in both directions.
//
//   forward:  logp (N, T) ──reduce_rows──▶ RowSums (N)        objective ──▶ loss, RowGrads
//   backward: RowGrads (N) ──token_gradients──▶ dlogp (N, T) ──▶ backend backward
// Since every sum is linear in the per-token log-probs, each token's gradient
// is its row's gradient times the token's weight in that sum:
//   dlogp[n,t] = g_comp[n]·w[n,t] + g_raw[n]·c[n,t] + g_all[n]·a[n,t]
// with c the completion mask, w the completion weights (c, or LD-DPO's α past
// the pair's shared length) and a the mask of predicted positions.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "model/batch.hpp"
#include "objectives/objective.hpp"

namespace align::objectives {

// The positions of a preference batch (N = 2B rows, chosen rows first) that the objective reads.
struct RowMasks {
  int N = 0, T = 0;
  const int32_t* targets = nullptr;     // (N, T) next-token ids, < 0 where nothing is predicted
  const int32_t* lengths = nullptr;     // (N) real tokens per row
  const uint8_t* completion = nullptr;  // (N, T) 1 where the target at t is a completion token
};

// Validates the masks (completion ⊆ predicted positions) and returns the per-token
// weights w (N, T) of the completion sums: 1 on completion tokens, and with LD-DPO
// α on those past min(|y_c|, |y_r|) of the pair.
std::vector<double> completion_weights(const RowMasks& masks, std::optional<double> ld_alpha);

template <typename T>
RowSums reduce_rows(const RowMasks& masks, const T* logp /*(N,T)*/, const TokenStats* stats /*or null*/,
                    const std::vector<double>& weights /*(N,T)*/);

// Σ_t w[n,t]·logp[n,t] per row: the reference model's completion sums.
template <typename T>
std::vector<double> weighted_sums(const RowMasks& masks, const T* logp /*(N,T)*/, const std::vector<double>& weights);

template <typename T>
void token_gradients(T* dlogp /*(N,T), overwritten*/, const RowGrads& grads, const RowMasks& masks,
                     const std::vector<double>& weights);

}  // namespace align::objectives
