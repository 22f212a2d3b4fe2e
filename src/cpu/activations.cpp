// activations.cpp: tanh-GELU (gpt2) and SwiGLU (llama), forward and backward (ops.hpp).
//
//   gelu(x) = ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³)
//   gelu'(x) = ½(1 + tanh u) + ½x(1 - tanh²u)·√(2/π)(1 + 3·0.044715x²)
//   swiglu(g, u) = silu(g)·u, silu(g) = g·σ(g), silu'(g) = σ(g)(1 + g(1 - σ(g)))
#include <cmath>

#include "cpu/ops.hpp"

namespace align::cpu {

namespace {
constexpr double kGeluScale = 0.7978845608028654;  // √(2/π)
constexpr double kGeluCubic = 0.044715;
}  // namespace

template <typename T>
void gelu_forward(T* out, const T* inp, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const T x = inp[i];
    const T u = T(kGeluScale) * (x + T(kGeluCubic) * x * x * x);
    out[i] = T(0.5) * x * (T(1) + std::tanh(u));
  }
}

template <typename T>
void gelu_backward(T* dinp, const T* inp, const T* dout, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const T x = inp[i];
    const T u = T(kGeluScale) * (x + T(kGeluCubic) * x * x * x);
    const T th = std::tanh(u);
    const T du = T(kGeluScale) * (T(1) + T(3 * kGeluCubic) * x * x);
    dinp[i] = dout[i] * (T(0.5) * (T(1) + th) + T(0.5) * x * (T(1) - th * th) * du);
  }
}

template <typename T>
void swiglu_forward(T* out, const T* inp, int M, int F) {
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; m++) {
    const T* gate = inp + (int64_t)m * 2 * F;
    const T* up = gate + F;
    for (int f = 0; f < F; f++) {
      const T s = T(1) / (T(1) + std::exp(-gate[f]));
      out[(int64_t)m * F + f] = gate[f] * s * up[f];
    }
  }
}

template <typename T>
void swiglu_backward(T* dinp, const T* inp, const T* dout, int M, int F) {
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; m++) {
    const T* gate = inp + (int64_t)m * 2 * F;
    const T* up = gate + F;
    T* dgate = dinp + (int64_t)m * 2 * F;
    T* dup = dgate + F;
    for (int f = 0; f < F; f++) {
      const T s = T(1) / (T(1) + std::exp(-gate[f]));
      const T dy = dout[(int64_t)m * F + f];
      dup[f] = dy * gate[f] * s;
      dgate[f] = dy * up[f] * s * (T(1) + gate[f] * (T(1) - s));
    }
  }
}

#define ALIGN_INSTANTIATE_ACT(T)                                       \
  template void gelu_forward<T>(T*, const T*, int64_t);                \
  template void gelu_backward<T>(T*, const T*, const T*, int64_t);     \
  template void swiglu_forward<T>(T*, const T*, int, int);             \
  template void swiglu_backward<T>(T*, const T*, const T*, int, int);
ALIGN_INSTANTIATE_ACT(float)
ALIGN_INSTANTIATE_ACT(double)

}  // namespace align::cpu
