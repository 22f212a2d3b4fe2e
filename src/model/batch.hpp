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

namespace align {

struct Batch {
  int N = 0;                        // rows
  int T = 0;                        // positions per row
  const int32_t* tokens = nullptr;  // (N, T)
  const int32_t* targets = nullptr; // (N, T), < 0 = ignored
  const int32_t* lengths = nullptr; // (N), 0 <= lengths[n] <= T
};

}  // namespace align
