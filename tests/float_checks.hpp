// float_checks.hpp: random inputs and the closeness check the kernel tests share:
// a result against its reference within rel of the reference's largest magnitude
// (the scale its rounding grows with), NaN reported as an element not written
// (outputs are poisoned with NaN before the code under test runs).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "common/rng.hpp"

namespace align::test {

// n floats ~ N(0, scale²).
inline std::vector<float> randn(size_t n, uint64_t seed, float scale = 1.f) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = (float)(scale * rng.normal());
  return v;
}

inline void expect_near_scaled(std::span<const float> got, std::span<const float> ref, double rel,
                               const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  double scale = 1e-30;
  for (float x : ref) scale = std::max(scale, (double)std::fabs(x));
  for (size_t i = 0; i < ref.size(); i++) {
    ASSERT_FALSE(std::isnan(got[i]) && !std::isnan(ref[i])) << what << "[" << i << "] was not written";
    ASSERT_NEAR(got[i], ref[i], rel * scale) << what << "[" << i << "]";
  }
}

}  // namespace align::test
