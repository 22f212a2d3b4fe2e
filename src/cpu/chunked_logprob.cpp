// chunked_logprob.cpp: the LM head and per-token log-probs over vocabulary
// chunks (chunked_logprob.hpp), the reference of the fused loss-layer kernel.
//
// Online log-sum-exp: a row keeps its running maximum m and s = Σ e^(z - m)
// over the columns seen so far. A new chunk with maximum m' > m rescales
// s ← s·e^(m - m') before adding its own terms, so no term ever exceeds 1 and
// the result equals the two-pass max-shifted sum up to rounding. The
// statistics ride along with the same rescaling:
//   pz = Σ e^(z-m)·z   → entropy    = lse - pz/s
//   sq = Σ e^(2(z-m))  → log Σ p²   = log sq - 2 log s
//   zsum = Σ z         → mean logit = zsum / V
//   first argmax (strict > keeps the earliest column, torch.argmax's rule)
// Accumulators are double: this is the specification, and rounding it
// differently from the unfused path only moves results by float rounding.
#include "cpu/chunked_logprob.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/error.hpp"

namespace align::cpu {
namespace {

struct OnlineRow {
  double max = -std::numeric_limits<double>::infinity();
  double sum = 0, pz = 0, sq = 0, zsum = 0, z_target = 0, z_target2 = 0;
  int argmax = -1;
};

void check_sizes(int M, int C, int V, int chunk) {
  if (M < 0 || C < 1 || V < 1 || chunk < 1)
    throw Error("chunked_logprob: sizes M=" + std::to_string(M) + " C=" + std::to_string(C) +
                " V=" + std::to_string(V) + " chunk=" + std::to_string(chunk) + ", expected M>=0 and C, V, chunk >= 1");
}

// z (M, n) = h · W[v0 : v0+n]ᵀ, the logits of one chunk.
template <typename T>
void chunk_logits(T* z, const T* h, const T* w, int M, int C, int v0, int n) {
  matmul_forward<T>(z, h, w + (int64_t)v0 * C, nullptr, M, C, n);
}

}  // namespace

template <typename T>
void chunked_logprob_forward(T* logp, T* lse, double* entropy, double* mean_logit, double* log_sum_sq, uint8_t* is_top1,
                             const T* h, const T* w, const int32_t* targets, int M, int C, int V, int chunk,
                             const SecondTargets<T>* second) {
  check_sizes(M, C, V, chunk);
  const int32_t* targets2 = second ? second->targets : nullptr;
  if (targets2)
    for (int m = 0; m < M; m++)
      ALIGN_ASSERT(targets2[m] < 0 || targets[m] >= 0, "row ", m, " has a second target but no first");
  chunk = std::min(chunk, V);
  std::vector<OnlineRow> rows(M);
  std::vector<T> z((size_t)M * chunk);  // (M, chunk): the only logits in memory
  const bool want_stats = entropy || mean_logit || log_sum_sq || is_top1;
  for (int v0 = 0; v0 < V; v0 += chunk) {
    const int n = std::min(chunk, V - v0);
    chunk_logits(z.data(), h, w, M, C, v0, n);
#pragma omp parallel for schedule(static)
    for (int m = 0; m < M; m++) {
      const int target = targets[m];
      if (target < 0) continue;
      OnlineRow& r = rows[m];
      const T* zr = z.data() + (int64_t)m * n;
      double chunk_max = -std::numeric_limits<double>::infinity();
      int chunk_argmax = -1;
      for (int j = 0; j < n; j++)
        if (zr[j] > chunk_max) chunk_max = zr[j], chunk_argmax = v0 + j;
      if (chunk_max > r.max) {  // rescale what was summed under the old maximum
        const double scale = std::exp(r.max - chunk_max);
        r.sum *= scale;
        r.pz *= scale;
        r.sq *= scale * scale;
        r.max = chunk_max;
        r.argmax = chunk_argmax;  // strictly greater: an earlier column keeps a tie
      }
      if (want_stats) {
        for (int j = 0; j < n; j++) {
          const double zj = zr[j], e = std::exp(zj - r.max);
          r.sum += e;
          r.pz += e * zj;
          r.sq += e * e;
          r.zsum += zj;
        }
      } else {
        for (int j = 0; j < n; j++) r.sum += std::exp((double)zr[j] - r.max);
      }
      if (target >= v0 && target < v0 + n) r.z_target = zr[target - v0];
      if (targets2 && targets2[m] >= v0 && targets2[m] < v0 + n) r.z_target2 = zr[targets2[m] - v0];
    }
  }
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; m++) {
    const OnlineRow& r = rows[m];
    const bool ignored = targets[m] < 0;
    const double l = ignored ? 0.0 : r.max + std::log(r.sum);
    lse[m] = (T)l;
    logp[m] = ignored ? T(0) : (T)(r.z_target - l);
    if (entropy) entropy[m] = ignored ? 0.0 : l - r.pz / r.sum;
    if (mean_logit) mean_logit[m] = ignored ? 0.0 : r.zsum / V;
    if (log_sum_sq) log_sum_sq[m] = ignored ? 0.0 : std::log(r.sq) - 2.0 * std::log(r.sum);
    if (is_top1) is_top1[m] = !ignored && r.argmax == targets[m];
    if (targets2) {
      const bool none = targets2[m] < 0;
      second->logp[m] = none ? T(0) : (T)(r.z_target2 - l);
      if (second->is_top1) second->is_top1[m] = !none && r.argmax == targets2[m];
    }
  }
}

template <typename T>
void chunked_logprob_backward(T* dh, T* dw, const T* dlogp, const T* h, const T* w, const T* lse,
                              const int32_t* targets, int M, int C, int V, int chunk, GradMode dh_mode,
                              const SecondTargets<T>* second) {
  check_sizes(M, C, V, chunk);
  const int32_t* targets2 = second ? second->targets : nullptr;
  chunk = std::min(chunk, V);
  std::vector<T> z((size_t)M * chunk);  // (M, chunk): logits, then dlogits, of one chunk
  for (int v0 = 0; v0 < V; v0 += chunk) {
    const int n = std::min(chunk, V - v0);
    chunk_logits(z.data(), h, w, M, C, v0, n);
#pragma omp parallel for schedule(static)
    for (int m = 0; m < M; m++) {
      T* zr = z.data() + (int64_t)m * n;
      const int target = targets[m], target2 = targets2 ? targets2[m] : -1;
      const T d1 = dlogp[m], d2 = target2 >= 0 ? second->dlogp[m] : T(0);
      if (target < 0 || (d1 == T(0) && d2 == T(0))) {
        std::fill(zr, zr + n, T(0));
        continue;
      }
      const T d = d1 + d2;
      for (int j = 0; j < n; j++) zr[j] = -d * std::exp(zr[j] - lse[m]);
      if (target >= v0 && target < v0 + n) zr[target - v0] += d1;
      if (target2 >= v0 && target2 < v0 + n) zr[target2 - v0] += d2;
    }
    // The first chunk writes dh as the caller asked; later chunks add to it.
    const GradMode mode = v0 == 0 ? dh_mode : GradMode::Accumulate;
    matmul_backward<T>(dh, dw + (int64_t)v0 * C, nullptr, z.data(), h, w + (int64_t)v0 * C, M, C, n, mode);
  }
}

#define ALIGN_INSTANTIATE_CHUNKED(T)                                                                                  \
  template void chunked_logprob_forward<T>(T*, T*, double*, double*, double*, uint8_t*, const T*, const T*,           \
                                           const int32_t*, int, int, int, int, const SecondTargets<T>*);              \
  template void chunked_logprob_backward<T>(T*, T*, const T*, const T*, const T*, const T*, const int32_t*, int, int, \
                                            int, int, GradMode, const SecondTargets<T>*);
ALIGN_INSTANTIATE_CHUNKED(float)
ALIGN_INSTANTIATE_CHUNKED(double)

}  // namespace align::cpu
