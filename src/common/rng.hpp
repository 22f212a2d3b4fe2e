// rng.hpp: a small seeded random generator whose stream is the same on every
// platform and standard library (std::normal_distribution is not), so random
// models and test inputs are reproducible bit for bit.
// SplitMix64 for the bits; Box-Muller for normals.
#pragma once

#include <cmath>
#include <cstdint>

namespace align {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next_u64() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return (next_u64() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int uniform_int(int lo, int hi) { return lo + static_cast<int>(next_u64() % static_cast<uint64_t>(hi - lo + 1)); }  // [lo, hi]
  double normal() {
    const double u1 = 1.0 - uniform(), u2 = uniform();  // u1 in (0, 1]
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t state_;
};

}  // namespace align
