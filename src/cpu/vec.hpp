// vec.hpp: the inner loops the CPU reference spends its time in, written so
// the compiler vectorises them. `#pragma omp simd reduction` allows the sum
// to be split into SIMD lanes (a fixed, data-independent order, so results
// stay deterministic); plain C++ would force one sequential chain.
#pragma once

namespace align::cpu {

template <typename T>
inline T dot(const T* a, const T* b, int n) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

// y += alpha * x
template <typename T>
inline void axpy(T* y, T alpha, const T* x, int n) {
#pragma omp simd
  for (int i = 0; i < n; i++) y[i] += alpha * x[i];
}

}  // namespace align::cpu
