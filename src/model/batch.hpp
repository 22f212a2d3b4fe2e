// batch.hpp: the token batch every backend consumes.
//
// N rows of T positions, right-padded: row n holds lengths[n] real tokens and
// positions t >= lengths[n] are padding whose token ids are ignored. In a
// preference batch of B pairs, N = 2B with the chosen rows first, then the
// rejected rows (the objective, not the model, knows this).
// targets[n, t] is the token whose log-probability position t predicts
// (normally tokens[n, t+1]); a negative target means "no prediction here"
// (prompt positions may keep theirs; the objective masks what it sums).
#pragma once

#include <cstdint>
#include <vector>

namespace align {

struct Batch {
  int N = 0;                        // rows
  int T = 0;                        // positions per row
  const int32_t* tokens = nullptr;  // (N, T)
  const int32_t* targets = nullptr; // (N, T), < 0 = ignored
  const int32_t* lengths = nullptr; // (N), 0 <= lengths[n] <= T
};

// A batch checked against a model and normalised for the kernels: padding
// tokens become 0 (never read), padding and out-of-row targets become -1.
// InputError names the row and position of the first bad id or length.
struct PreparedBatch {
  int N = 0, T = 0;
  std::vector<int32_t> tokens, targets, lengths;  // (N,T), (N,T), (N)
};
PreparedBatch prepare_batch(const Batch& batch, int vocab_size, int max_seq_len);

// Per-position statistics of the model's next-token distribution p = softmax(z)
// over the V real tokens, as TRL's fused LM head reports them (for metrics and
// WPO). Positions with nothing to predict hold zeros.
struct TokenStats {
  std::vector<double> entropy;           // (N, T) -Σ p·log p
  std::vector<double> mean_logit;        // (N, T) Σ z / V
  std::vector<double> log_sum_sq_probs;  // (N, T) log Σ p²
  std::vector<uint8_t> is_top1;          // (N, T) target is the first argmax of z
};

}  // namespace align
