// attention.cpp: RoPE and grouped-query attention within a batch's visibility
// rule, forward and backward (ops.hpp).
//
// RoPE (rotate-half): for i < HS/2, with (c, s) = (cos, sin)(p·inv_freq[i]) at the
// token's position id p,
//   x'[i] = x[i]·c - x[i+HS/2]·s,   x'[i+HS/2] = x[i+HS/2]·c + x[i]·s
// and the backward applies the transposed rotation (angle -θ) to the gradient.
//
// Attention, per row n, query head h (key/value head g = h / (NH/NKV)) and t,
// over the keys j visible to t (V(t) = [prefix_start, prefix_end) ∪ [seq_start, t]):
//   a[j] = softmax_j( q_t·k_j / √HS ),  j ∈ V(t)        out_t = Σ_j a[j]·v_j
// backward, with da[j] = dout_t·v_j:
//   dv_j += a[j]·dout_t,  ds[j] = a[j]·(da[j] - Σ_i a[i]·da[i]),
//   dq_t += Σ_j ds[j]·k_j/√HS,  dk_j += ds[j]·q_t/√HS
// The keys are visited in column order, so a padded row and the same sequence
// inside a packed row (or the rejected answer after its shared prompt) add the
// same terms in the same order: float64 results agree bit for bit.
// Work is split over (n, g): the query heads of one group share dk and dv, so
// one task owns them and there is no race and no float atomic.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common/error.hpp"
#include "cpu/ops.hpp"
#include "cpu/vec.hpp"

namespace align::cpu {

namespace {
template <typename T>
void rotate(T* x, const T* cos_sin, int half, T sign) {
  for (int i = 0; i < half; i++) {
    const T c = cos_sin[2 * i], s = sign * cos_sin[2 * i + 1];
    const T a = x[i], b = x[i + half];
    x[i] = a * c - b * s;
    x[i + half] = b * c + a * s;
  }
}

template <typename T>
void rope_apply(T* qkv, const T* cos_sin, const int32_t* positions, int N, int T_, int NH, int NKV, int HS, T sign) {
  const int QKV = (NH + 2 * NKV) * HS, half = HS / 2;
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < N; n++)
    for (int t = 0; t < T_; t++) {
      const int64_t m = (int64_t)n * T_ + t;
      const int64_t pos = positions ? positions[m] : t;
      T* row = qkv + m * QKV;
      for (int h = 0; h < NH + NKV; h++) rotate(row + h * HS, cos_sin + pos * half * 2, half, sign);
    }
}

// The visible key runs of query column t: [r0, r1) then [r2, t].
struct Runs {
  int r0, r1, r2;
  int count(int t) const { return (r1 - r0) + (t + 1 - r2); }
};
}  // namespace

AttentionRule AttentionRule::causal(const int32_t* lengths, int N, int T) {
  const std::vector<int32_t> zero((size_t)N * T, 0);
  return of(lengths, zero.data(), zero.data(), zero.data(), N, T);
}

AttentionRule AttentionRule::of(const int32_t* lengths, const int32_t* seq_start, const int32_t* prefix_start,
                                const int32_t* prefix_end, int N, int T) {
  AttentionRule r;
  r.N = N, r.T = T;
  const size_t M = (size_t)N * T;
  r.lengths.assign(lengths, lengths + N);
  r.seq_start.assign(seq_start, seq_start + M);
  r.prefix_start.assign(prefix_start, prefix_start + M);
  r.prefix_end.assign(prefix_end, prefix_end + M);
  r.offset.assign(M + 1, 0);
  for (int n = 0; n < N; n++)
    for (int t = 0; t < T; t++) {
      const size_t i = (size_t)n * T + t;
      int64_t count = 0;
      if (t < lengths[n]) {
        ALIGN_ASSERT(seq_start[i] <= t && prefix_start[i] <= prefix_end[i] && prefix_end[i] <= seq_start[i],
                     "attention rule at row ", n, " column ", t, ": runs out of order");
        count = (prefix_end[i] - prefix_start[i]) + (t + 1 - seq_start[i]);
      }
      r.offset[i + 1] = r.offset[i] + count;
    }
  return r;
}

template <typename T>
void rope_forward(T* qkv, const T* cos_sin, const int32_t* positions, int N, int T_, int NH, int NKV, int HS) {
  rope_apply(qkv, cos_sin, positions, N, T_, NH, NKV, HS, T(1));
}

template <typename T>
void rope_backward(T* dqkv, const T* cos_sin, const int32_t* positions, int N, int T_, int NH, int NKV, int HS) {
  rope_apply(dqkv, cos_sin, positions, N, T_, NH, NKV, HS, T(-1));
}

template <typename T>
void attention_forward(T* out, T* att, const T* qkv, const AttentionRule& rule, int NH, int NKV, int HS) {
  const int N = rule.N, T_ = rule.T;
  const int QKV = (NH + 2 * NKV) * HS, group = NH / NKV;
  const int k_off = NH * HS, v_off = (NH + NKV) * HS;
  const T scale = T(1) / std::sqrt(T(HS));
  const int64_t V = rule.visible();
#pragma omp parallel for collapse(2) schedule(dynamic)
  for (int n = 0; n < N; n++)
    for (int h = 0; h < NH; h++) {
      const int g = h / group;
      const T* base = qkv + (int64_t)n * T_ * QKV;
      for (int t = 0; t < T_; t++) {
        const int64_t i = (int64_t)n * T_ + t;
        T* o = out + i * NH * HS + h * HS;
        std::fill(o, o + HS, T(0));
        if (t >= rule.lengths[n]) continue;
        T* a = att + h * V + rule.offset[i];
        const Runs runs{rule.prefix_start[i], rule.prefix_end[i], rule.seq_start[i]};
        const int count = runs.count(t);
        auto key = [&](int k) { return k < runs.r1 - runs.r0 ? runs.r0 + k : runs.r2 + k - (runs.r1 - runs.r0); };
        const T* q = base + (int64_t)t * QKV + h * HS;
        T maxv = -std::numeric_limits<T>::infinity();
        for (int k = 0; k < count; k++) {
          a[k] = dot(q, base + (int64_t)key(k) * QKV + k_off + g * HS, HS) * scale;
          maxv = std::max(maxv, a[k]);
        }
        T sum = 0;
        for (int k = 0; k < count; k++) {
          a[k] = std::exp(a[k] - maxv);
          sum += a[k];
        }
        for (int k = 0; k < count; k++) {
          a[k] /= sum;
          axpy(o, a[k], base + (int64_t)key(k) * QKV + v_off + g * HS, HS);
        }
      }
    }
}

template <typename T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* att, const AttentionRule& rule, int NH, int NKV,
                        int HS) {
  const int N = rule.N, T_ = rule.T;
  const int QKV = (NH + 2 * NKV) * HS, group = NH / NKV;
  const int k_off = NH * HS, v_off = (NH + NKV) * HS;
  const T scale = T(1) / std::sqrt(T(HS));
  const int64_t V = rule.visible();
  std::memset(dqkv, 0, sizeof(T) * (size_t)N * T_ * QKV);
#pragma omp parallel for collapse(2) schedule(dynamic)
  for (int n = 0; n < N; n++)
    for (int g = 0; g < NKV; g++) {
      std::vector<T> da(T_);
      const T* base = qkv + (int64_t)n * T_ * QKV;
      T* dbase = dqkv + (int64_t)n * T_ * QKV;
      for (int h = g * group; h < (g + 1) * group; h++)
        for (int t = 0; t < rule.lengths[n]; t++) {
          const int64_t i = (int64_t)n * T_ + t;
          const T* a = att + h * V + rule.offset[i];
          const Runs runs{rule.prefix_start[i], rule.prefix_end[i], rule.seq_start[i]};
          const int count = runs.count(t);
          auto key = [&](int k) { return k < runs.r1 - runs.r0 ? runs.r0 + k : runs.r2 + k - (runs.r1 - runs.r0); };
          const T* dy = dout + i * NH * HS + h * HS;
          const T* q = base + (int64_t)t * QKV + h * HS;
          T* dq = dbase + (int64_t)t * QKV + h * HS;
          T dot_a_da = 0;
          for (int k = 0; k < count; k++) {
            const int64_t j = key(k);
            da[k] = dot(dy, base + j * QKV + v_off + g * HS, HS);
            axpy(dbase + j * QKV + v_off + g * HS, a[k], dy, HS);
            dot_a_da += a[k] * da[k];
          }
          for (int k = 0; k < count; k++) {
            const int64_t j = key(k);
            const T ds = a[k] * (da[k] - dot_a_da) * scale;
            axpy(dq, ds, base + j * QKV + k_off + g * HS, HS);
            axpy(dbase + j * QKV + k_off + g * HS, ds, q, HS);
          }
        }
    }
}

template <typename T>
void dense_probabilities(T* dense, const T* att, const AttentionRule& rule, int NH) {
  const int N = rule.N, T_ = rule.T;
  const int64_t V = rule.visible();
  std::fill(dense, dense + (size_t)N * NH * T_ * T_, T(0));
  for (int n = 0; n < N; n++)
    for (int h = 0; h < NH; h++)
      for (int t = 0; t < rule.lengths[n]; t++) {
        const int64_t i = (int64_t)n * T_ + t;
        const Runs runs{rule.prefix_start[i], rule.prefix_end[i], rule.seq_start[i]};
        const T* a = att + h * V + rule.offset[i];
        T* d = dense + (((int64_t)n * NH + h) * T_ + t) * T_;
        int k = 0;
        for (int j = runs.r0; j < runs.r1; j++) d[j] = a[k++];
        for (int j = runs.r2; j <= t; j++) d[j] = a[k++];
      }
}

#define ALIGN_INSTANTIATE_ATT(T)                                                                              \
  template void rope_forward<T>(T*, const T*, const int32_t*, int, int, int, int, int);                       \
  template void rope_backward<T>(T*, const T*, const int32_t*, int, int, int, int, int);                      \
  template void attention_forward<T>(T*, T*, const T*, const AttentionRule&, int, int, int);                  \
  template void attention_backward<T>(T*, const T*, const T*, const T*, const AttentionRule&, int, int, int); \
  template void dense_probabilities<T>(T*, const T*, const AttentionRule&, int);
ALIGN_INSTANTIATE_ATT(float)
ALIGN_INSTANTIATE_ATT(double)

}  // namespace align::cpu
