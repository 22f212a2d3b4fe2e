// batch.hpp: the token batch every backend consumes.
//
// N rows of T columns. Row n holds lengths[n] real tokens in columns
// 0..lengths[n]-1; later columns are padding whose ids are ignored.
// targets[n, t] is the token whose log-probability column t predicts; a
// negative target means "no prediction here" (the objective masks what it sums).
//
// A row may hold several sequences (the packed and shared layouts of
// src/train/batches.hpp, DESIGN.md §3). Three things describe them:
//   positions[n, t]   the token's position id within its sequence (learned
//                     position embeddings and RoPE read it, not the column);
//   the visibility rule, per query column t: key column j is visible iff
//                     seq_start[t] <= j <= t  or  prefix_start[t] <= j < prefix_end[t]
//                     (the second interval is a prompt shared by two answers:
//                     the rejected answer of [prompt | chosen | rejected] sees the
//                     prompt and itself, not the chosen answer). Both intervals are
//                     contiguous and end at or before t, so a flash kernel skips a
//                     key block by comparing its bounds with four numbers, and the
//                     CPU attention walks exactly the visible keys.
//   extra predictions: column extra_at[e] (flat index n·T + t) also predicts
//                     extra_targets[e]: the last prompt column of a shared row predicts
//                     the first token of both answers. The backend returns those
//                     log-probs after the N·T ordinary ones and takes their
//                     gradients in the same place, so a forward fills
//                     predictions() = N·T + E values.
// All of positions .. prefix_end null (the padded layout): each row is one
// sequence at positions 0..lengths[n]-1, causal, and T <= the model's max_seq_len.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace align {

struct Batch {
  int N = 0;                        // rows
  int T = 0;                        // columns per row
  const int32_t* tokens = nullptr;  // (N, T)
  const int32_t* targets = nullptr; // (N, T), < 0 = ignored
  const int32_t* lengths = nullptr; // (N), 0 <= lengths[n] <= T
  // Packed rows; null: one sequence per row at positions 0..T-1, causal.
  const int32_t* positions = nullptr;      // (N, T) position ids, < max_seq_len
  const int32_t* seq_start = nullptr;      // (N, T) first column of the query's own visible run
  const int32_t* prefix_start = nullptr;   // (N, T) shared-prefix run [prefix_start, prefix_end),
  const int32_t* prefix_end = nullptr;     // (N, T)   empty when equal; null: none anywhere
  int E = 0;                               // extra predictions
  const int32_t* extra_at = nullptr;       // (E) flat column index n·T + t, distinct
  const int32_t* extra_targets = nullptr;  // (E) token ids
  size_t predictions() const { return (size_t)N * T + E; }
};

// A batch checked against a model and normalised for the kernels: padding
// tokens become 0 (never read), padding and out-of-row targets become -1, and
// the packed-row fields are always present (filled in for a padded batch).
// InputError names the row and column of the first bad id, length, position or rule.
struct PreparedBatch {
  int N = 0, T = 0, E = 0;
  std::vector<int32_t> tokens, targets, lengths;                        // (N,T), (N,T), (N)
  std::vector<int32_t> positions, seq_start, prefix_start, prefix_end;  // (N,T) each
  std::vector<int32_t> extra_at, extra_targets;                         // (E), (E)
  // Visible (query, key) pairs of the real tokens: the work of exact attention.
  uint64_t visible_pairs() const;
};
PreparedBatch prepare_batch(const Batch& batch, int vocab_size, int max_seq_len);

// Per-prediction statistics of the model's next-token distribution p = softmax(z)
// over the V real tokens, as TRL's fused LM head reports them (for metrics and
// WPO), one per prediction (N·T + E). Predictions of nothing hold zeros.
struct TokenStats {
  std::vector<double> entropy;           // (N·T + E) -Σ p·log p
  std::vector<double> mean_logit;        // (N·T + E) Σ z / V
  std::vector<double> log_sum_sq_probs;  // (N·T + E) log Σ p²
  std::vector<uint8_t> is_top1;          // (N·T + E) target is the first argmax of z
};

}  // namespace align
