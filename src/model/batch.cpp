// batch.cpp: batch validation shared by every backend (batch.hpp).
#include "model/batch.hpp"

#include <algorithm>

#include "common/error.hpp"

namespace align {

uint64_t PreparedBatch::visible_pairs() const {
  uint64_t n = 0;
  for (int r = 0; r < N; r++)
    for (int t = 0; t < lengths[r]; t++) {
      const size_t i = (size_t)r * T + t;
      n += (uint64_t)(t + 1 - seq_start[i]) + (uint64_t)(prefix_end[i] - prefix_start[i]);
    }
  return n;
}

PreparedBatch prepare_batch(const Batch& batch, int vocab_size, int max_seq_len) {
  ALIGN_REQUIRE(batch.N >= 1 && batch.T >= 1, "batch: ", batch.N, " rows of ", batch.T, " positions, expected >= 1 of each");
  const bool packed = batch.positions != nullptr;
  ALIGN_REQUIRE(packed == (batch.seq_start != nullptr), "batch: positions and seq_start are given together");
  ALIGN_REQUIRE((batch.prefix_start == nullptr) == (batch.prefix_end == nullptr),
                "batch: prefix_start and prefix_end are given together");
  ALIGN_REQUIRE(packed || batch.prefix_start == nullptr, "batch: a shared prefix needs positions and seq_start");
  ALIGN_REQUIRE(packed || batch.T <= max_seq_len, "batch: ", batch.T, " positions, the model has ", max_seq_len);
  ALIGN_REQUIRE(batch.E >= 0 && (batch.E == 0 || (batch.extra_at && batch.extra_targets)), "batch: ", batch.E,
                " extra predictions without their columns and targets");
  PreparedBatch p;
  p.N = batch.N, p.T = batch.T, p.E = batch.E;
  const size_t M = (size_t)batch.N * batch.T;
  p.tokens.assign(batch.tokens, batch.tokens + M);
  p.targets.assign(batch.targets, batch.targets + M);
  p.lengths.assign(batch.lengths, batch.lengths + batch.N);
  p.positions.assign(M, 0), p.seq_start.assign(M, 0), p.prefix_start.assign(M, 0), p.prefix_end.assign(M, 0);
  for (int n = 0; n < p.N; n++) {
    ALIGN_REQUIRE(p.lengths[n] >= 0 && p.lengths[n] <= p.T, "batch: row ", n, " length ", p.lengths[n],
                  ", expected 0..", p.T);
    for (int t = 0; t < p.T; t++) {
      const size_t i = (size_t)n * p.T + t;
      int32_t& tok = p.tokens[i];
      int32_t& tgt = p.targets[i];
      if (t >= p.lengths[n]) {  // padding: never read, never predicted, sees only itself
        tok = 0;
        tgt = -1;
        p.positions[i] = 0, p.seq_start[i] = t, p.prefix_start[i] = p.prefix_end[i] = t;
        continue;
      }
      ALIGN_REQUIRE(tok >= 0 && tok < vocab_size, "batch: row ", n, " position ", t, " token ", tok, ", expected 0..",
                    vocab_size - 1);
      ALIGN_REQUIRE(tgt < vocab_size, "batch: row ", n, " position ", t, " target ", tgt, ", expected < ", vocab_size);
      if (!packed) {
        p.positions[i] = t, p.seq_start[i] = 0;
        continue;
      }
      const int32_t pos = batch.positions[i], s = batch.seq_start[i];
      const int32_t ps = batch.prefix_start ? batch.prefix_start[i] : s;
      const int32_t pe = batch.prefix_start ? batch.prefix_end[i] : s;
      ALIGN_REQUIRE(pos >= 0 && pos < max_seq_len, "batch: row ", n, " column ", t, " position id ", pos,
                    ", expected 0..", max_seq_len - 1, " (the model's max_seq_len)");
      ALIGN_REQUIRE(s >= 0 && s <= t, "batch: row ", n, " column ", t, " seq_start ", s, ", expected 0..", t);
      ALIGN_REQUIRE(ps >= 0 && ps <= pe && pe <= s, "batch: row ", n, " column ", t, " shared prefix [", ps, ", ", pe,
                    "), expected 0 <= start <= end <= seq_start ", s);
      p.positions[i] = pos, p.seq_start[i] = s;
      p.prefix_start[i] = ps == pe ? s : ps, p.prefix_end[i] = ps == pe ? s : pe;  // empty runs normalised
    }
  }
  p.extra_at.assign(batch.extra_at, batch.extra_at + p.E);
  p.extra_targets.assign(batch.extra_targets, batch.extra_targets + p.E);
  std::vector<uint8_t> taken(M, 0);
  for (int e = 0; e < p.E; e++) {
    const int32_t at = p.extra_at[e], tgt = p.extra_targets[e];
    ALIGN_REQUIRE(at >= 0 && (size_t)at < M && at % p.T < p.lengths[at / p.T], "batch: extra prediction ", e,
                  " at column index ", at, ", expected a real token's n·T + t");
    ALIGN_REQUIRE(!taken[at], "batch: extra prediction ", e, " at column index ", at,
                  ", which already has one (at most one per column)");
    taken[at] = 1;
    ALIGN_REQUIRE(tgt >= 0 && tgt < vocab_size, "batch: extra prediction ", e, " target ", tgt, ", expected 0..",
                  vocab_size - 1);
  }
  return p;
}

}  // namespace align
