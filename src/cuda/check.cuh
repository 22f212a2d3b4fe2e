// check.cuh: the CUDA member of the error-check family (common/error.hpp):
// CUDA_CHECK(expr) throws align::Error naming the file, line, expression and
// CUDA's message; CUDA_CHECK_LAUNCH() after every kernel launch catches bad
// launch configurations at the launch rather than at the next sync.
//
// Kernels are launched with ALIGN_LAUNCH(kernel, grid, block, shared, stream)(args...):
// `kernel<<<grid, block, shared, stream>>>(args...)` with nvcc, and a call into the
// software device (src/emu, where the same sources are compiled by the host
// compiler) otherwise; dynamic shared memory is reached through
// align_dynamic_shared<T>() in both builds.
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

#ifdef ALIGN_SOFTWARE_DEVICE
#define ALIGN_LAUNCH(kernel, grid, block, shared, stream) \
  ::emu::launch(kernel, #kernel, grid, block, shared, stream)
template <typename T>
inline T* align_dynamic_shared() {
  return reinterpret_cast<T*>(::emu::tl_thread->dynamic_shared);
}
#else
#define ALIGN_LAUNCH(kernel, grid, block, shared, stream) kernel<<<grid, block, shared, stream>>>
#ifdef __CUDACC__
template <typename T>
__device__ __forceinline__ T* align_dynamic_shared() {
  extern __shared__ __align__(16) unsigned char align_dynamic_shared_bytes[];
  return reinterpret_cast<T*>(align_dynamic_shared_bytes);
}
#endif
#endif

namespace align::cuda {

// Whether a usable CUDA device is present (tests skip without one).
inline bool device_available() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

}  // namespace align::cuda
