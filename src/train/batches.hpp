// batches.hpp: token batches built from prepared data, and the seeded order
// in which examples are visited.
//
// A preference batch of B pairs is N = 2B right-padded rows, chosen rows then
// rejected rows; row = prompt + completion, targets the next token, and the
// completion mask marks positions whose target is a completion token (TRL's
// shifted completion_mask). An SFT batch is one row per example with the
// example's loss mask shifted the same way.
#pragma once

#include <cstdint>
#include <vector>

#include "data/pairs_file.hpp"
#include "data/sft_file.hpp"
#include "model/batch.hpp"

namespace align::train {

struct TokenBatch {
  int N = 0, T = 0;
  std::vector<int32_t> tokens, targets, lengths;  // (N,T), (N,T), (N)
  std::vector<uint8_t> completion;                // (N,T): the target at t is trained on
  Batch view() const { return Batch{N, T, tokens.data(), targets.data(), lengths.data()}; }
  uint64_t real_tokens() const;                   // Σ lengths (TRL's num_tokens counts these)
};

// Rows for pairs[indices] (chosen rows, then rejected rows). max_seq_len bounds T (InputError naming the pair).
TokenBatch pair_batch(const data::PairsFile& pairs, const std::vector<size_t>& indices, int max_seq_len);
// Rows for SFT examples[indices].
TokenBatch sft_batch(const data::SftFile& sft, const std::vector<size_t>& indices, int max_seq_len);

// The order of an epoch: a Fisher–Yates shuffle seeded by (seed, epoch), so any
// position of any epoch can be recomputed on resume.
std::vector<size_t> epoch_order(size_t n, uint64_t seed, uint64_t epoch, bool shuffle = true);

}  // namespace align::train
