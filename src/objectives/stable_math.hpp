// stable_math.hpp: the scalar functions every preference loss is built from,
// written so that no argument overflows (|x| up to the double range):
//   log σ(x) = -log(1 + e^-x)      evaluated on the side where exp does not overflow
//   σ(x)                            likewise
//   log(1 - e^x), x < 0             log1p(-e^x) below -ln 2, log(-expm1(x)) above (no cancellation)
#pragma once

#include <cmath>

namespace align::objectives {

inline double sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

inline double log_sigmoid(double x) { return x >= 0 ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x)); }

// σ(x)·σ(-x) = σ'(x), without forming 1 - σ(x).
inline double sigmoid_grad(double x) {
  const double e = std::exp(-std::abs(x));
  return e / ((1.0 + e) * (1.0 + e));
}

inline double log1mexp(double x) { return x < -0.6931471805599453 ? std::log1p(-std::exp(x)) : std::log(-std::expm1(x)); }

// d/dx log(1 - e^x) = -e^x / (1 - e^x) = 1 / (1 - e^-x) = -1 / expm1(-x)
inline double log1mexp_grad(double x) { return -1.0 / std::expm1(-x); }

}  // namespace align::objectives
