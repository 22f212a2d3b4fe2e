// attention.cpp: RoPE and causal grouped-query attention, forward and backward (ops.hpp).
//
// RoPE (rotate-half): for i < HS/2, with (c, s) = (cos, sin)(t·inv_freq[i]),
//   x'[i] = x[i]·c - x[i+HS/2]·s,   x'[i+HS/2] = x[i+HS/2]·c + x[i]·s
// and the backward applies the transposed rotation (angle -θ) to the gradient.
//
// Attention, per row n, query head h (key/value head g = h / (NH/NKV)) and t:
//   a[j] = softmax_j( q_t·k_j / √HS ),  j <= t        out_t = Σ_j a[j]·v_j
// backward, with da[j] = dout_t·v_j:
//   dv_j += a[j]·dout_t,  ds[j] = a[j]·(da[j] - Σ_i a[i]·da[i]),
//   dq_t += Σ_j ds[j]·k_j/√HS,  dk_j += ds[j]·q_t/√HS
// Work is split over (n, g): the query heads of one group share dk and dv, so
// one task owns them and there is no race and no float atomic.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

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
void rope_apply(T* qkv, const T* cos_sin, int N, int T_, int NH, int NKV, int HS, T sign) {
  const int QKV = (NH + 2 * NKV) * HS, half = HS / 2;
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < N; n++)
    for (int t = 0; t < T_; t++) {
      T* row = qkv + ((int64_t)n * T_ + t) * QKV;
      for (int h = 0; h < NH + NKV; h++) rotate(row + h * HS, cos_sin + (int64_t)t * half * 2, half, sign);
    }
}
}  // namespace

template <typename T>
void rope_forward(T* qkv, const T* cos_sin, int N, int T_, int NH, int NKV, int HS) {
  rope_apply(qkv, cos_sin, N, T_, NH, NKV, HS, T(1));
}

template <typename T>
void rope_backward(T* dqkv, const T* cos_sin, int N, int T_, int NH, int NKV, int HS) {
  rope_apply(dqkv, cos_sin, N, T_, NH, NKV, HS, T(-1));
}

template <typename T>
void attention_forward(T* out, T* att, const T* qkv, const int32_t* lengths, int N, int T_, int NH, int NKV, int HS) {
  const int QKV = (NH + 2 * NKV) * HS, group = NH / NKV;
  const int k_off = NH * HS, v_off = (NH + NKV) * HS;
  const T scale = T(1) / std::sqrt(T(HS));
#pragma omp parallel for collapse(2) schedule(dynamic)
  for (int n = 0; n < N; n++)
    for (int h = 0; h < NH; h++) {
      const int g = h / group;
      const T* base = qkv + (int64_t)n * T_ * QKV;
      for (int t = 0; t < T_; t++) {
        T* a = att + (((int64_t)n * NH + h) * T_ + t) * T_;
        T* o = out + ((int64_t)n * T_ + t) * NH * HS + h * HS;
        std::fill(a, a + T_, T(0));
        std::fill(o, o + HS, T(0));
        if (t >= lengths[n]) continue;
        const T* q = base + (int64_t)t * QKV + h * HS;
        T maxv = -std::numeric_limits<T>::infinity();
        for (int j = 0; j <= t; j++) {
          const T* k = base + (int64_t)j * QKV + k_off + g * HS;
          a[j] = dot(q, k, HS) * scale;
          maxv = std::max(maxv, a[j]);
        }
        T sum = 0;
        for (int j = 0; j <= t; j++) {
          a[j] = std::exp(a[j] - maxv);
          sum += a[j];
        }
        for (int j = 0; j <= t; j++) {
          a[j] /= sum;
          axpy(o, a[j], base + (int64_t)j * QKV + v_off + g * HS, HS);
        }
      }
    }
}

template <typename T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* att, const int32_t* lengths, int N, int T_,
                        int NH, int NKV, int HS) {
  const int QKV = (NH + 2 * NKV) * HS, group = NH / NKV;
  const int k_off = NH * HS, v_off = (NH + NKV) * HS;
  const T scale = T(1) / std::sqrt(T(HS));
  std::memset(dqkv, 0, sizeof(T) * (size_t)N * T_ * QKV);
#pragma omp parallel for collapse(2) schedule(dynamic)
  for (int n = 0; n < N; n++)
    for (int g = 0; g < NKV; g++) {
      std::vector<T> da(T_);
      const T* base = qkv + (int64_t)n * T_ * QKV;
      T* dbase = dqkv + (int64_t)n * T_ * QKV;
      for (int h = g * group; h < (g + 1) * group; h++)
        for (int t = 0; t < lengths[n]; t++) {
          const T* a = att + (((int64_t)n * NH + h) * T_ + t) * T_;
          const T* dy = dout + ((int64_t)n * T_ + t) * NH * HS + h * HS;
          const T* q = base + (int64_t)t * QKV + h * HS;
          T* dq = dbase + (int64_t)t * QKV + h * HS;
          T dot_a_da = 0;
          for (int j = 0; j <= t; j++) {
            const T* v = base + (int64_t)j * QKV + v_off + g * HS;
            T* dv = dbase + (int64_t)j * QKV + v_off + g * HS;
            da[j] = dot(dy, v, HS);
            axpy(dv, a[j], dy, HS);
            dot_a_da += a[j] * da[j];
          }
          for (int j = 0; j <= t; j++) {
            const T ds = a[j] * (da[j] - dot_a_da) * scale;
            const T* k = base + (int64_t)j * QKV + k_off + g * HS;
            T* dk = dbase + (int64_t)j * QKV + k_off + g * HS;
            axpy(dq, ds, k, HS);
            axpy(dk, ds, q, HS);
          }
        }
    }
}

#define ALIGN_INSTANTIATE_ATT(T)                                                                          \
  template void rope_forward<T>(T*, const T*, int, int, int, int, int);                                  \
  template void rope_backward<T>(T*, const T*, int, int, int, int, int);                                 \
  template void attention_forward<T>(T*, T*, const T*, const int32_t*, int, int, int, int, int);         \
  template void attention_backward<T>(T*, const T*, const T*, const T*, const int32_t*, int, int, int, int, int);
ALIGN_INSTANTIATE_ATT(float)
ALIGN_INSTANTIATE_ATT(double)

}  // namespace align::cpu
