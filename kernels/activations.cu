// activations.cu: tanh-GELU and SwiGLU, forward and backward, one thread per
// element (math in src/cpu/activations.cpp).
#include "cuda/check.cuh"
#include "kernels/kernels.cuh"

namespace align::kernels {

namespace {
constexpr float kGeluScale = 0.7978845608028654f;  // √(2/π)
constexpr float kGeluCubic = 0.044715f;

__global__ void gelu_forward_kernel(float* out, const float* inp, int64_t n) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float x = inp[i];
  out[i] = 0.5f * x * (1.f + tanhf(kGeluScale * (x + kGeluCubic * x * x * x)));
}

__global__ void gelu_backward_kernel(float* dinp, const float* inp, const float* dout, int64_t n) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float x = inp[i];
  const float th = tanhf(kGeluScale * (x + kGeluCubic * x * x * x));
  const float du = kGeluScale * (1.f + 3.f * kGeluCubic * x * x);
  dinp[i] = dout[i] * (0.5f * (1.f + th) + 0.5f * x * (1.f - th * th) * du);
}

__global__ void swiglu_forward_kernel(float* out, const float* inp, int M, int F) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (int64_t)M * F) return;
  const int64_t m = i / F, f = i % F;
  const float g = inp[m * 2 * F + f], u = inp[m * 2 * F + F + f];
  out[i] = g / (1.f + expf(-g)) * u;
}

__global__ void swiglu_backward_kernel(float* dinp, const float* inp, const float* dout, int M, int F) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (int64_t)M * F) return;
  const int64_t m = i / F, f = i % F;
  const float g = inp[m * 2 * F + f], u = inp[m * 2 * F + F + f], dy = dout[i];
  const float s = 1.f / (1.f + expf(-g));
  dinp[m * 2 * F + F + f] = dy * g * s;
  dinp[m * 2 * F + f] = dy * u * s * (1.f + g * (1.f - s));
}

unsigned blocks(int64_t n) {
  return (unsigned)((n + 255) / 256);
}
}  // namespace

void gelu_forward(float* out, const float* inp, int64_t n, cudaStream_t stream) {
  ALIGN_LAUNCH(gelu_forward_kernel, blocks(n), 256, 0, stream)(out, inp, n);
  CUDA_CHECK_LAUNCH();
}
void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n, cudaStream_t stream) {
  ALIGN_LAUNCH(gelu_backward_kernel, blocks(n), 256, 0, stream)(dinp, inp, dout, n);
  CUDA_CHECK_LAUNCH();
}
void swiglu_forward(float* out, const float* inp, int M, int F, cudaStream_t stream) {
  ALIGN_LAUNCH(swiglu_forward_kernel, blocks((int64_t)M * F), 256, 0, stream)(out, inp, M, F);
  CUDA_CHECK_LAUNCH();
}
void swiglu_backward(float* dinp, const float* inp, const float* dout, int M, int F, cudaStream_t stream) {
  ALIGN_LAUNCH(swiglu_backward_kernel, blocks((int64_t)M * F), 256, 0, stream)(dinp, inp, dout, M, F);
  CUDA_CHECK_LAUNCH();
}

}  // namespace align::kernels
