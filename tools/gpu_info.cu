// gpu_info: prints each visible CUDA device and checks that cuBLASLt starts.
// The first thing dev/gpu/check.sh runs on a lent card: it proves the CUDA
// build links and runs there before any kernel test does. Exit 2 when no
// device is visible.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdio>

#include "common/cli.hpp"

#define CUDA_OK(expr)                                                                                    \
  do {                                                                                                   \
    cudaError_t err_ = (expr);                                                                           \
    if (err_ != cudaSuccess) throw align::Error(align::cat(__FILE__, ":", __LINE__, ": ", #expr, ": ",   \
                                                           cudaGetErrorString(err_)));                   \
  } while (0)

int main() {
  return align::run_main("gpu_info", []() -> int {
    int n = 0;
    const cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess || n == 0) {
      std::fprintf(stderr, "gpu_info: no CUDA device (%s)\n", err != cudaSuccess ? cudaGetErrorString(err) : "count 0");
      return 2;
    }
    int driver = 0, runtime = 0;
    CUDA_OK(cudaDriverGetVersion(&driver));
    CUDA_OK(cudaRuntimeGetVersion(&runtime));
    std::printf("CUDA driver %d, runtime %d, %d device(s)\n", driver, runtime, n);
    for (int d = 0; d < n; d++) {
      cudaDeviceProp p;
      CUDA_OK(cudaGetDeviceProperties(&p, d));
      std::printf("device %d: %s, sm_%d%d, %d SMs, %.1f GiB, L2 %.0f MiB\n", d, p.name, p.major, p.minor,
                  p.multiProcessorCount, p.totalGlobalMem / 1073741824.0, p.l2CacheSize / 1048576.0);
    }
    cublasLtHandle_t lt;
    if (cublasLtCreate(&lt) != CUBLAS_STATUS_SUCCESS) throw align::Error("cublasLtCreate failed");
    std::printf("cuBLASLt %zu ready\n", cublasLtGetVersion());
    cublasLtDestroy(lt);
    return 0;
  });
}
