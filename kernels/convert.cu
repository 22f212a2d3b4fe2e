// convert.cu: float32 -> bfloat16 (round to nearest even, __float2bfloat16_rn),
// the casts of the bf16 mixed-precision mode: the bf16 copy of the fp32 master
// weights after each update, and the bf16 inputs of each matmul. One thread
// per element (grid-stride), a pure bandwidth kernel: 4 bytes in, 2 out.
#include <cuda_bf16.h>

#include <algorithm>

#include "cuda/check.cuh"
#include "kernels/kernels.cuh"

namespace align::kernels {

namespace {
__global__ void to_bf16_kernel(__nv_bfloat16* out, const float* in, int64_t n) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = __float2bfloat16_rn(in[i]);
}
}  // namespace

void to_bf16(__nv_bfloat16* out, const float* in, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  const unsigned blocks = (unsigned)std::min<int64_t>((n + 255) / 256, 65535LL * 8);
  ALIGN_LAUNCH(to_bf16_kernel, blocks, 256, 0, stream)(out, in, n);
  CUDA_CHECK_LAUNCH();
}

}  // namespace align::kernels
