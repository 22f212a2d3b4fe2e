// visibility.hpp: the attention visibility rule of a batch (batch.hpp) as the
// GPU kernels and the host steps of the batched attention read it: pointers to
// the prepared per-column arrays and one inline test, usable in host and
// device code alike (plain C++ without CUDA).
//
//   key j is visible to query t of row n  iff  t < lengths[n] and
//   (seq_start[t] <= j <= t  or  prefix_start[t] <= j < prefix_end[t])
// seq_start null: every row is one sequence from column 0 (causal, right-padded).
#pragma once

#include <cstdint>

#ifdef __CUDACC__
#define ALIGN_VISIBILITY_HD __host__ __device__
#else
#define ALIGN_VISIBILITY_HD
#endif

namespace align {

struct VisibilityRule {
  const int32_t* lengths = nullptr;       // (N)
  const int32_t* seq_start = nullptr;     // (N, T) or null
  const int32_t* prefix_start = nullptr;  // (N, T) or null (no shared prefix)
  const int32_t* prefix_end = nullptr;    // (N, T)
};

ALIGN_VISIBILITY_HD inline bool key_visible(const VisibilityRule& r, int n, int T, int t, int j) {
  if (t >= r.lengths[n] || j > t) return false;
  if (!r.seq_start) return true;
  const int64_t i = (int64_t)n * T + t;
  return j >= r.seq_start[i] || (r.prefix_start && j >= r.prefix_start[i] && j < r.prefix_end[i]);
}

}  // namespace align
