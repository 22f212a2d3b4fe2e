// check.cuh: the CUDA member of the error-check family (common/error.hpp):
// CUDA_CHECK(expr) throws align::Error naming the file, line, expression and
// CUDA's message; CUDA_CHECK_LAUNCH() after every kernel launch catches bad
// launch configurations at the launch rather than at the next sync.
#pragma once

#include <cuda_runtime.h>

#include "common/error.hpp"

#define CUDA_CHECK(expr)                                                                                        \
  do {                                                                                                          \
    const cudaError_t err_ = (expr);                                                                            \
    if (err_ != cudaSuccess)                                                                                    \
      throw ::align::Error(::align::cat(__FILE__, ":", __LINE__, ": ", #expr, ": ", cudaGetErrorString(err_))); \
  } while (0)

#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

namespace align::cuda {

// Whether a usable CUDA device is present (tests skip without one).
inline bool device_available() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

}  // namespace align::cuda
