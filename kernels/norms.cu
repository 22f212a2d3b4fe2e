// norms.cu: LayerNorm and RMSNorm, forward and backward (math in src/cpu/norms.cpp).
//
// The residual variants fuse the residual stream's add into the norm that
// follows it: sum = a + b is written once and normalised from the values the
// same lane just wrote, instead of an add kernel (read a, b, write sum) and a
// norm (read sum again): one pass over (M, C) and one launch fewer per norm.
// Row statistics and dinp: one warp per row (8 rows per 256-thread block);
//   each lane strides over the channels, warp shuffles reduce. The
//   reduction order is fixed by the lane layout: deterministic.
// dw, db: one thread per channel summing over the rows in order (as the CPU
//   reference), so the parameter gradients need no atomics.
#include "cuda/check.cuh"
#include "kernels/kernels.cuh"
#include "kernels/reduce.cuh"

namespace align::kernels {

namespace {
constexpr int kRowsPerBlock = 8;

// x = inp, or with kResidual x = sum = inp + inp2 (written here). Each lane reads back only the
// channels it wrote itself, so no synchronisation is needed between the passes.
template <bool kResidual>
__device__ __forceinline__ const float* row_input(float* sum, const float* inp, const float* inp2, int row, int C,
                                                  int lane) {
  const float* x = inp + (int64_t)row * C;
  if (!kResidual) return x;
  const float* x2 = inp2 + (int64_t)row * C;
  float* s = sum + (int64_t)row * C;
  for (int c = lane; c < C; c += 32) s[c] = x[c] + x2[c];
  return s;
}

template <bool kResidual>
__global__ void layernorm_forward_kernel(float* out, float* mean, float* rstd, float* sum, const float* inp,
                                         const float* inp2, const float* w, const float* b, int M, int C, float eps) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= M) return;
  const float* x = row_input<kResidual>(sum, inp, inp2, row, C, lane);
  float s = 0.f;
  for (int c = lane; c < C; c += 32) s += x[c];
  const float mu = warp_sum(s) / C;
  float v = 0.f;
  for (int c = lane; c < C; c += 32) v += (x[c] - mu) * (x[c] - mu);
  const float rs = rsqrtf(warp_sum(v) / C + eps);
  float* y = out + (int64_t)row * C;
  for (int c = lane; c < C; c += 32) y[c] = (x[c] - mu) * rs * w[c] + b[c];
  if (lane == 0) mean[row] = mu, rstd[row] = rs;
}

__global__ void layernorm_dinp_kernel(float* dinp, const float* dout, const float* inp, const float* w,
                                      const float* mean, const float* rstd, int M, int C, bool accumulate) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= M) return;
  const float* x = inp + (int64_t)row * C;
  const float* dy = dout + (int64_t)row * C;
  const float mu = mean[row], rs = rstd[row];
  float g = 0.f, gx = 0.f;
  for (int c = lane; c < C; c += 32) {
    const float xhat = (x[c] - mu) * rs, gc = dy[c] * w[c];
    g += gc, gx += gc * xhat;
  }
  const float mean_g = warp_sum(g) / C, mean_gx = warp_sum(gx) / C;
  float* dx = dinp + (int64_t)row * C;
  for (int c = lane; c < C; c += 32) {
    const float xhat = (x[c] - mu) * rs;
    const float v = rs * (dy[c] * w[c] - mean_g - xhat * mean_gx);
    dx[c] = accumulate ? dx[c] + v : v;
  }
}

__global__ void layernorm_dparams_kernel(float* dw, float* db, const float* dout, const float* inp, const float* mean,
                                         const float* rstd, int M, int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float sw = 0.f, sb = 0.f;
  for (int m = 0; m < M; m++) {
    const float dy = dout[(int64_t)m * C + c];
    sw += dy * (inp[(int64_t)m * C + c] - mean[m]) * rstd[m];
    sb += dy;
  }
  dw[c] += sw;
  db[c] += sb;
}

template <bool kResidual>
__global__ void rmsnorm_forward_kernel(float* out, float* rstd, float* sum, const float* inp, const float* inp2,
                                       const float* w, int M, int C, float eps) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= M) return;
  const float* x = row_input<kResidual>(sum, inp, inp2, row, C, lane);
  float s = 0.f;
  for (int c = lane; c < C; c += 32) s += x[c] * x[c];
  const float rs = rsqrtf(warp_sum(s) / C + eps);
  float* y = out + (int64_t)row * C;
  for (int c = lane; c < C; c += 32) y[c] = x[c] * rs * w[c];
  if (lane == 0) rstd[row] = rs;
}

__global__ void rmsnorm_dinp_kernel(float* dinp, const float* dout, const float* inp, const float* w, const float* rstd,
                                    int M, int C, bool accumulate) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= M) return;
  const float* x = inp + (int64_t)row * C;
  const float* dy = dout + (int64_t)row * C;
  const float rs = rstd[row];
  float gx = 0.f;
  for (int c = lane; c < C; c += 32) gx += dy[c] * w[c] * x[c] * rs;
  const float mean_gx = warp_sum(gx) / C;
  float* dx = dinp + (int64_t)row * C;
  for (int c = lane; c < C; c += 32) {
    const float v = rs * (dy[c] * w[c] - x[c] * rs * mean_gx);
    dx[c] = accumulate ? dx[c] + v : v;
  }
}

__global__ void rmsnorm_dw_kernel(float* dw, const float* dout, const float* inp, const float* rstd, int M, int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float sw = 0.f;
  for (int m = 0; m < M; m++) sw += dout[(int64_t)m * C + c] * inp[(int64_t)m * C + c] * rstd[m];
  dw[c] += sw;
}

unsigned row_blocks(int M) {
  return (unsigned)((M + kRowsPerBlock - 1) / kRowsPerBlock);
}
}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b, int M,
                       int C, float eps, cudaStream_t stream) {
  ALIGN_LAUNCH(layernorm_forward_kernel<false>, row_blocks(M), 32 * kRowsPerBlock, 0, stream)
  (out, mean, rstd, nullptr, inp, nullptr, w, b, M, C, eps);
  CUDA_CHECK_LAUNCH();
}

void residual_layernorm_forward(float* sum, float* out, float* mean, float* rstd, const float* a, const float* b,
                                const float* w, const float* bias, int M, int C, float eps, cudaStream_t stream) {
  ALIGN_LAUNCH(layernorm_forward_kernel<true>, row_blocks(M), 32 * kRowsPerBlock, 0, stream)
  (out, mean, rstd, sum, a, b, w, bias, M, C, eps);
  CUDA_CHECK_LAUNCH();
}

void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp, const float* w,
                        const float* mean, const float* rstd, int M, int C, bool accumulate, cudaStream_t stream) {
  ALIGN_LAUNCH(layernorm_dinp_kernel, row_blocks(M), 32 * kRowsPerBlock, 0, stream)
  (dinp, dout, inp, w, mean, rstd, M, C, accumulate);
  CUDA_CHECK_LAUNCH();
  ALIGN_LAUNCH(layernorm_dparams_kernel, (C + 127) / 128, 128, 0, stream)(dw, db, dout, inp, mean, rstd, M, C);
  CUDA_CHECK_LAUNCH();
}

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int M, int C, float eps,
                     cudaStream_t stream) {
  ALIGN_LAUNCH(rmsnorm_forward_kernel<false>, row_blocks(M), 32 * kRowsPerBlock, 0, stream)
  (out, rstd, nullptr, inp, nullptr, w, M, C, eps);
  CUDA_CHECK_LAUNCH();
}

void residual_rmsnorm_forward(float* sum, float* out, float* rstd, const float* a, const float* b, const float* w,
                              int M, int C, float eps, cudaStream_t stream) {
  ALIGN_LAUNCH(rmsnorm_forward_kernel<true>, row_blocks(M), 32 * kRowsPerBlock, 0, stream)
  (out, rstd, sum, a, b, w, M, C, eps);
  CUDA_CHECK_LAUNCH();
}

void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w, const float* rstd,
                      int M, int C, bool accumulate, cudaStream_t stream) {
  ALIGN_LAUNCH(rmsnorm_dinp_kernel, row_blocks(M), 32 * kRowsPerBlock, 0, stream)
  (dinp, dout, inp, w, rstd, M, C, accumulate);
  CUDA_CHECK_LAUNCH();
  ALIGN_LAUNCH(rmsnorm_dw_kernel, (C + 127) / 128, 128, 0, stream)(dw, dout, inp, rstd, M, C);
  CUDA_CHECK_LAUNCH();
}

}  // namespace align::kernels
