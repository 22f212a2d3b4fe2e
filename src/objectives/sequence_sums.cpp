// sequence_sums.cpp: per-token log-probs <-> per-row sums (sequence_sums.hpp).
#include "objectives/sequence_sums.hpp"

#include <algorithm>

#include "common/error.hpp"

namespace align::objectives {

namespace {
bool predicted(const RowMasks& m, int n, int t) {
  return t < m.lengths[n] && m.targets[(size_t)n * m.T + t] >= 0;
}
}  // namespace

std::vector<double> completion_weights(const RowMasks& m, std::optional<double> ld_alpha) {
  ALIGN_ASSERT(m.N >= 2 && m.N % 2 == 0, "a preference batch has 2B rows, got ", m.N);
  const int B = m.N / 2;
  std::vector<double> w((size_t)m.N * m.T, 0.0);
  std::vector<int> count(m.N, 0);
  for (int n = 0; n < m.N; n++)
    for (int t = 0; t < m.T; t++) {
      const size_t i = (size_t)n * m.T + t;
      if (!m.completion[i]) continue;
      ALIGN_REQUIRE(predicted(m, n, t), "row ", n, " position ", t,
                    ": marked as completion but has no target (padding or target < 0)");
      w[i] = 1.0;
      count[n]++;
    }
  if (ld_alpha) {
    // LD-DPO: the first min(|y_c|, |y_r|) completion tokens of each row count fully, later ones with α.
    for (int n = 0; n < m.N; n++) {
      const int shared = std::min(count[n % B], count[B + n % B]);
      int seen = 0;
      for (int t = 0; t < m.T; t++) {
        double& wt = w[(size_t)n * m.T + t];
        if (wt == 0.0) continue;
        if (++seen > shared) wt = *ld_alpha;
      }
    }
  }
  return w;
}

template <typename T>
RowSums reduce_rows(const RowMasks& m, const T* logp, const TokenStats* stats, const std::vector<double>& w) {
  RowSums s;
  s.resize(m.N);
  for (int n = 0; n < m.N; n++)
    for (int t = 0; t < m.T; t++) {
      const size_t i = (size_t)n * m.T + t;
      if (!predicted(m, n, t)) continue;
      s.all_logp[n] += logp[i];
      s.all_len[n] += 1;
      if (!m.completion[i]) continue;
      s.completion_logp[n] += w[i] * logp[i];
      s.raw_completion_logp[n] += logp[i];
      s.completion_len[n] += 1;
      if (stats) {
        s.entropy[n] += stats->entropy[i];
        s.mean_logit[n] += stats->mean_logit[i];
        s.top1[n] += stats->is_top1[i];
        s.log_sum_sq_probs[n] += stats->log_sum_sq_probs[i];
      }
    }
  return s;
}

template <typename T>
std::vector<double> weighted_sums(const RowMasks& m, const T* logp, const std::vector<double>& w) {
  std::vector<double> out(m.N, 0.0);
  for (int n = 0; n < m.N; n++)
    for (int t = 0; t < m.T; t++) out[n] += w[(size_t)n * m.T + t] * logp[(size_t)n * m.T + t];
  return out;
}

template <typename T>
void token_gradients(T* dlogp, const RowGrads& g, const RowMasks& m, const std::vector<double>& w) {
  for (int n = 0; n < m.N; n++)
    for (int t = 0; t < m.T; t++) {
      const size_t i = (size_t)n * m.T + t;
      double d = 0;
      if (predicted(m, n, t)) {
        d = g.all_logp[n];
        if (m.completion[i]) d += g.completion_logp[n] * w[i] + g.raw_completion_logp[n];
      }
      dlogp[i] = static_cast<T>(d);
    }
}

#define ALIGN_INSTANTIATE_SUMS(T)                                                                                   \
  template RowSums reduce_rows<T>(const RowMasks&, const T*, const TokenStats*, const std::vector<double>&);        \
  template std::vector<double> weighted_sums<T>(const RowMasks&, const T*, const std::vector<double>&);             \
  template void token_gradients<T>(T*, const RowGrads&, const RowMasks&, const std::vector<double>&);
ALIGN_INSTANTIATE_SUMS(float)
ALIGN_INSTANTIATE_SUMS(double)

}  // namespace align::objectives
