// logprob.cpp: per-token log-probability of the target and its gradient (ops.hpp).
//
//   lse = log Σ_{v<V} exp(z_v)   (max-shifted, so no overflow)
//   logp = z_target - lse
//   d logp / d z_v = 1[v = target] - softmax(z)_v
// Only the V real columns take part; the Vp - V padding columns get zero
// gradient, so padded vocabulary rows of the head stay zero.
#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/ops.hpp"

namespace align::cpu {

template <typename T>
void logprob_forward(T* logp, T* lse, const T* logits, const int32_t* targets, int M, int V, int Vp) {
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; m++) {
    if (targets[m] < 0) {
      logp[m] = lse[m] = T(0);
      continue;
    }
    const T* z = logits + (int64_t)m * Vp;
    T maxv = -std::numeric_limits<T>::infinity();
    for (int v = 0; v < V; v++) maxv = std::max(maxv, z[v]);
    // A double sum: summed in float over V = 152k terms, lse drifts by 2e-4
    // and the entropy computed from it by 3e-3 (test_chunked_logprob.cpp).
    double sum = 0;
    for (int v = 0; v < V; v++) sum += std::exp((double)(z[v] - maxv));
    lse[m] = (T)(maxv + std::log(sum));
    logp[m] = z[targets[m]] - lse[m];
  }
}

template <typename T>
void logprob_backward(T* logits_to_dlogits, const T* dlogp, const T* lse, const int32_t* targets, int M, int V,
                      int Vp) {
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; m++) {
    T* z = logits_to_dlogits + (int64_t)m * Vp;
    if (targets[m] < 0 || dlogp[m] == T(0)) {
      std::fill(z, z + Vp, T(0));
      continue;
    }
    const T d = dlogp[m];
    for (int v = 0; v < V; v++) z[v] = -d * std::exp(z[v] - lse[m]);
    for (int v = V; v < Vp; v++) z[v] = T(0);
    z[targets[m]] += d;
  }
}

template <typename T>
void token_stats(double* entropy, double* mean_logit, double* log_sum_sq, uint8_t* is_top1, const T* logits,
                 const T* lse, const int32_t* targets, int M, int V, int Vp) {
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; m++) {
    if (targets[m] < 0) {
      entropy[m] = mean_logit[m] = log_sum_sq[m] = 0;
      is_top1[m] = 0;
      continue;
    }
    const T* z = logits + (int64_t)m * Vp;
    const double l = lse[m];
    double pz = 0, zsum = 0, sq = 0, max_before = -std::numeric_limits<double>::infinity();
    for (int v = 0; v < V; v++) {
      const double p = std::exp(z[v] - l);
      pz += p * z[v];
      zsum += z[v];
      sq += p * p;
      if (v < targets[m]) max_before = std::max(max_before, (double)z[v]);
    }
    double max_all = max_before;
    for (int v = targets[m]; v < V; v++) max_all = std::max(max_all, (double)z[v]);
    entropy[m] = l - pz;
    mean_logit[m] = zsum / V;
    log_sum_sq[m] = std::log(sq);
    is_top1[m] = z[targets[m]] >= max_all && z[targets[m]] > max_before;
  }
}

#define ALIGN_INSTANTIATE_LOGPROB(T)                                                              \
  template void logprob_forward<T>(T*, T*, const T*, const int32_t*, int, int, int);             \
  template void logprob_backward<T>(T*, const T*, const T*, const int32_t*, int, int, int);  \
  template void token_stats<T>(double*, double*, double*, uint8_t*, const T*, const T*, const int32_t*, int, int, int);
ALIGN_INSTANTIATE_LOGPROB(float)
ALIGN_INSTANTIATE_LOGPROB(double)

}  // namespace align::cpu
