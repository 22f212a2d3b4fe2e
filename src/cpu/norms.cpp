// norms.cpp: LayerNorm (gpt2) and RMSNorm (llama), forward and backward (ops.hpp).
//
// With x̂ = normalised input and g = dout·w, both backward passes follow from
// differentiating through the mean and the variance:
//   LayerNorm: dx = rstd·(g - mean(g) - x̂·mean(g·x̂)),  dw += dout·x̂,  db += dout
//   RMSNorm:   dx = rstd·(g - x̂·mean(g·x̂)),            dw += dout·x̂
// dinp is parallel over rows; dw/db are parallel over channels with rows summed
// in order, so the result does not depend on the thread count.
#include <cmath>

#include "cpu/ops.hpp"

namespace align::cpu {

template <typename T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, int M, int C, T eps) {
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; m++) {
    const T* x = inp + (int64_t)m * C;
    T mu = 0;
    for (int c = 0; c < C; c++) mu += x[c];
    mu /= C;
    T var = 0;
    for (int c = 0; c < C; c++) var += (x[c] - mu) * (x[c] - mu);
    var /= C;
    const T rs = T(1) / std::sqrt(var + eps);
    T* y = out + (int64_t)m * C;
    for (int c = 0; c < C; c++) y[c] = (x[c] - mu) * rs * w[c] + b[c];
    mean[m] = mu;
    rstd[m] = rs;
  }
}

template <typename T>
void layernorm_backward(T* dinp, T* dw, T* db, const T* dout, const T* inp, const T* w, const T* mean, const T* rstd,
                        int M, int C, GradMode dinp_mode) {
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; m++) {
    const T* x = inp + (int64_t)m * C;
    const T* dy = dout + (int64_t)m * C;
    T mean_g = 0, mean_gx = 0;
    for (int c = 0; c < C; c++) {
      const T xhat = (x[c] - mean[m]) * rstd[m];
      const T g = dy[c] * w[c];
      mean_g += g;
      mean_gx += g * xhat;
    }
    mean_g /= C;
    mean_gx /= C;
    T* dx = dinp + (int64_t)m * C;
    for (int c = 0; c < C; c++) {
      const T xhat = (x[c] - mean[m]) * rstd[m];
      const T v = rstd[m] * (dy[c] * w[c] - mean_g - xhat * mean_gx);
      dx[c] = dinp_mode == GradMode::Accumulate ? dx[c] + v : v;
    }
  }
#pragma omp parallel for schedule(static)
  for (int c = 0; c < C; c++) {
    T sw = 0, sb = 0;
    for (int m = 0; m < M; m++) {
      const T dy = dout[(int64_t)m * C + c];
      sw += dy * (inp[(int64_t)m * C + c] - mean[m]) * rstd[m];
      sb += dy;
    }
    dw[c] += sw;
    db[c] += sb;
  }
}

template <typename T>
void rmsnorm_forward(T* out, T* rstd, const T* inp, const T* w, int M, int C, T eps) {
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; m++) {
    const T* x = inp + (int64_t)m * C;
    T ms = 0;
    for (int c = 0; c < C; c++) ms += x[c] * x[c];
    ms /= C;
    const T rs = T(1) / std::sqrt(ms + eps);
    T* y = out + (int64_t)m * C;
    for (int c = 0; c < C; c++) y[c] = x[c] * rs * w[c];
    rstd[m] = rs;
  }
}

template <typename T>
void rmsnorm_backward(T* dinp, T* dw, const T* dout, const T* inp, const T* w, const T* rstd, int M, int C,
                      GradMode dinp_mode) {
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; m++) {
    const T* x = inp + (int64_t)m * C;
    const T* dy = dout + (int64_t)m * C;
    T mean_gx = 0;
    for (int c = 0; c < C; c++) mean_gx += dy[c] * w[c] * x[c] * rstd[m];
    mean_gx /= C;
    T* dx = dinp + (int64_t)m * C;
    for (int c = 0; c < C; c++) {
      const T v = rstd[m] * (dy[c] * w[c] - x[c] * rstd[m] * mean_gx);
      dx[c] = dinp_mode == GradMode::Accumulate ? dx[c] + v : v;
    }
  }
#pragma omp parallel for schedule(static)
  for (int c = 0; c < C; c++) {
    T sw = 0;
    for (int m = 0; m < M; m++) sw += dout[(int64_t)m * C + c] * inp[(int64_t)m * C + c] * rstd[m];
    dw[c] += sw;
  }
}

#define ALIGN_INSTANTIATE_NORMS(T)                                                                              \
  template void layernorm_forward<T>(T*, T*, T*, const T*, const T*, const T*, int, int, T);                  \
  template void layernorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*, int, int, \
                                      GradMode);                                                              \
  template void rmsnorm_forward<T>(T*, T*, const T*, const T*, int, int, T);                                  \
  template void rmsnorm_backward<T>(T*, T*, const T*, const T*, const T*, const T*, int, int, GradMode);
ALIGN_INSTANTIATE_NORMS(float)
ALIGN_INSTANTIATE_NORMS(double)

}  // namespace align::cpu
