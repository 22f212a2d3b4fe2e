// sequence_sums.cpp: per-prediction log-probs <-> per-sequence sums (sequence_sums.hpp).
#include "objectives/sequence_sums.hpp"

#include <algorithm>

#include "common/error.hpp"

namespace align::objectives {

namespace {
bool predicted(const SequenceMap& m, size_t i) {
  return m.targets[i] >= 0 && m.seq[i] >= 0;
}
}  // namespace

SequenceMap row_sequences(const RowMasks& r) {
  SequenceMap m;
  m.S = r.N;
  const size_t P = (size_t)r.N * r.T;
  m.targets.assign(P, -1), m.seq.assign(P, -1), m.seq2.assign(P, -1), m.completion.assign(P, 0), m.order.assign(P, 0);
  for (int n = 0; n < r.N; n++)
    for (int t = 0; t < r.T; t++) {
      const size_t i = (size_t)n * r.T + t;
      m.order[i] = t;
      m.completion[i] = r.completion[i];
      if (t >= r.lengths[n]) continue;
      m.targets[i] = r.targets[i];
      m.seq[i] = n;
    }
  return m;
}

std::vector<double> completion_weights(const SequenceMap& m, std::optional<double> ld_alpha) {
  ALIGN_ASSERT(m.S >= 2 && m.S % 2 == 0, "a preference batch has 2B sequences, got ", m.S);
  const int B = m.S / 2;
  const size_t P = m.size();
  std::vector<double> w(P, 0.0);
  std::vector<int> count(m.S, 0);
  for (size_t i = 0; i < P; i++) {
    if (!m.completion[i]) continue;
    ALIGN_REQUIRE(predicted(m, i), "prediction ", i, ": marked as completion but has no target or sequence");
    w[i] = 1.0;
    count[m.seq[i]]++;
  }
  if (ld_alpha) {
    // LD-DPO: the first min(|y_c|, |y_r|) completion tokens of each sequence count fully, later ones
    // with α. "First" in sequence order, which a packed row need not follow, hence the sort.
    std::vector<std::vector<std::pair<int32_t, size_t>>> by_seq(m.S);  // (order, prediction)
    for (size_t i = 0; i < P; i++)
      if (w[i] != 0.0) by_seq[m.seq[i]].push_back({m.order[i], i});
    for (int s = 0; s < m.S; s++) {
      std::sort(by_seq[s].begin(), by_seq[s].end());
      const size_t shared = std::min(count[s % B], count[B + s % B]);
      for (size_t k = shared; k < by_seq[s].size(); k++) w[by_seq[s][k].second] = *ld_alpha;
    }
  }
  return w;
}

template <typename T>
RowSums reduce_rows(const SequenceMap& m, const T* logp, const TokenStats* stats, const std::vector<double>& w) {
  RowSums s;
  s.resize(m.S);
  for (size_t i = 0; i < m.size(); i++) {
    if (!predicted(m, i)) continue;
    const int n = m.seq[i];
    s.all_logp[n] += logp[i];
    s.all_len[n] += 1;
    if (m.seq2[i] >= 0) s.all_logp[m.seq2[i]] += logp[i], s.all_len[m.seq2[i]] += 1;
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
std::vector<double> weighted_sums(const SequenceMap& m, const T* logp, const std::vector<double>& w) {
  std::vector<double> out(m.S, 0.0);
  for (size_t i = 0; i < m.size(); i++)
    if (w[i] != 0.0) out[m.seq[i]] += w[i] * logp[i];
  return out;
}

template <typename T>
void token_gradients(T* dlogp, const RowGrads& g, const SequenceMap& m, const std::vector<double>& w) {
  for (size_t i = 0; i < m.size(); i++) {
    double d = 0;
    if (predicted(m, i)) {
      const int n = m.seq[i];
      d = g.all_logp[n];
      if (m.seq2[i] >= 0) d += g.all_logp[m.seq2[i]];
      if (m.completion[i]) d += g.completion_logp[n] * w[i] + g.raw_completion_logp[n];
    }
    dlogp[i] = static_cast<T>(d);
  }
}

#define ALIGN_INSTANTIATE_SUMS(T)                                                                               \
  template RowSums reduce_rows<T>(const SequenceMap&, const T*, const TokenStats*, const std::vector<double>&); \
  template std::vector<double> weighted_sums<T>(const SequenceMap&, const T*, const std::vector<double>&);      \
  template void token_gradients<T>(T*, const RowGrads&, const SequenceMap&, const std::vector<double>&);
ALIGN_INSTANTIATE_SUMS(float)
ALIGN_INSTANTIATE_SUMS(double)

}  // namespace align::objectives
