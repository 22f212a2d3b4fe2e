// batch.cpp: batch validation shared by every backend (batch.hpp).
#include "model/batch.hpp"

#include "common/error.hpp"

namespace align {

PreparedBatch prepare_batch(const Batch& batch, int vocab_size, int max_seq_len) {
  ALIGN_REQUIRE(batch.N >= 1 && batch.T >= 1, "batch: ", batch.N, " rows of ", batch.T, " positions, expected >= 1 of each");
  ALIGN_REQUIRE(batch.T <= max_seq_len, "batch: ", batch.T, " positions, the model has ", max_seq_len);
  PreparedBatch p;
  p.N = batch.N, p.T = batch.T;
  const size_t M = (size_t)batch.N * batch.T;
  p.tokens.assign(batch.tokens, batch.tokens + M);
  p.targets.assign(batch.targets, batch.targets + M);
  p.lengths.assign(batch.lengths, batch.lengths + batch.N);
  for (int n = 0; n < p.N; n++) {
    ALIGN_REQUIRE(p.lengths[n] >= 0 && p.lengths[n] <= p.T, "batch: row ", n, " length ", p.lengths[n],
                  ", expected 0..", p.T);
    for (int t = 0; t < p.T; t++) {
      int32_t& tok = p.tokens[(size_t)n * p.T + t];
      int32_t& tgt = p.targets[(size_t)n * p.T + t];
      if (t >= p.lengths[n]) {  // padding: never read, never predicted
        tok = 0;
        tgt = -1;
        continue;
      }
      ALIGN_REQUIRE(tok >= 0 && tok < vocab_size, "batch: row ", n, " position ", t, " token ", tok, ", expected 0..",
                    vocab_size - 1);
      ALIGN_REQUIRE(tgt < vocab_size, "batch: row ", n, " position ", t, " target ", tgt, ", expected < ", vocab_size);
    }
  }
  return p;
}

}  // namespace align
