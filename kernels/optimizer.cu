// optimizer.cu: AdamW (math in src/train/adamw.hpp; one thread per element)
// and the sum of squares behind the global gradient norm: a fixed grid of
// blocks writes one partial sum each (grid-stride loops), then one block sums
// the partials in order — the same bits every run, no atomics.
#include "cuda/check.cuh"
#include "kernels/kernels.cuh"
#include "kernels/reduce.cuh"

namespace align::kernels {

namespace {
constexpr int kPartials = 1024;  // blocks of the first pass (the scratch size)

__global__ void adamw_kernel(float* p, float* m, float* v, const float* g, const uint8_t* decay, size_t n, float lr,
                             float b1, float b2, float eps, float wd, float bc1, float bc2, float scale) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float x = p[i];
  if (decay[i]) x -= lr * wd * x;
  const float gi = g[i] * scale;  // clipping
  const float mi = b1 * m[i] + (1.f - b1) * gi;
  const float vi = b2 * v[i] + (1.f - b2) * gi * gi;
  m[i] = mi, v[i] = vi;
  p[i] = x - (lr / bc1) * mi / (sqrtf(vi) * rsqrtf(bc2) + eps);
}

__global__ void squares_partial_kernel(float* partial, const float* g, size_t n) {
  float s = 0.f;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
    s += g[i] * g[i];
  s = block_reduce<false>(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void squares_final_kernel(float* out, const float* partial, int count) {
  float s = 0.f;
  for (int i = threadIdx.x; i < count; i += blockDim.x) s += partial[i];
  s = block_reduce<false>(s);
  if (threadIdx.x == 0) *out = s;
}
}  // namespace

void adamw_step(float* params, float* m, float* v, const float* grads, const uint8_t* decay, size_t n, float lr,
                float beta1, float beta2, float eps, float weight_decay, float bias_correction1, float bias_correction2,
                float grad_scale, cudaStream_t stream) {
  if (n == 0) return;
  ALIGN_LAUNCH(adamw_kernel, (unsigned)((n + 255) / 256), 256, 0, stream)
  (params, m, v, grads, decay, n, lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2, grad_scale);
  CUDA_CHECK_LAUNCH();
}

void sum_of_squares(float* out, float* scratch, const float* g, size_t n, cudaStream_t stream) {
  ALIGN_LAUNCH(squares_partial_kernel, kPartials, 256, 0, stream)(scratch, g, n);
  CUDA_CHECK_LAUNCH();
  ALIGN_LAUNCH(squares_final_kernel, 1, 1024, 0, stream)(out, scratch, kPartials);
  CUDA_CHECK_LAUNCH();
}

}  // namespace align::kernels
