// cuda_timing.cuh: timing for the CUDA workbench programs: the median of many
// launches measured with CUDA events, after a few warm-up launches.
#pragma once

#include <algorithm>
#include <functional>
#include <vector>

#include "cuda/check.cuh"

namespace align::bench {

// Median milliseconds of `reps` runs of f(k) on the default stream (k alternates 0, 1 so a
// caller can rotate two input sets and keep L2 from holding the previous run's data).
inline double time_ms(int reps, const std::function<void(int)>& f) {
  cudaEvent_t a, b;
  CUDA_CHECK(cudaEventCreate(&a));
  CUDA_CHECK(cudaEventCreate(&b));
  std::vector<float> ms;
  for (int r = 0; r < reps + 3; r++) {
    CUDA_CHECK(cudaEventRecord(a));
    f(r % 2);
    CUDA_CHECK(cudaEventRecord(b));
    CUDA_CHECK(cudaEventSynchronize(b));
    float t = 0;
    CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
    if (r >= 3) ms.push_back(t);  // the first launches warm up
  }
  cudaEventDestroy(a), cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace align::bench
