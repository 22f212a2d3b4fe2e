// logprob.cu: per-token log-probability of the target and its gradient
// (math in src/cpu/logprob.cpp), one 256-thread block per row:
//   forward:  block max over the V real columns, block sum of exp(z − max),
//             lse = max + log(sum), logp = z[target] − lse
//   backward: z ← −dlogp·exp(z − lse) on v < V, 0 on padding columns, then
//             (after a barrier, so no thread overwrites it) z[target] += dlogp
// Rows with target < 0 (nothing predicted) give logp = lse = 0 and a zero
// gradient row. The unfused version: the fused kernel (a later issue) avoids
// materialising the logits at all.
#include "cuda/check.cuh"
#include "kernels/kernels.cuh"
#include "kernels/reduce.cuh"

namespace align::kernels {

namespace {
__global__ void logprob_forward_kernel(float* logp, float* lse, const float* logits, const int32_t* targets, int V,
                                       int Vp) {
  const int m = blockIdx.x;
  const int target = targets[m];
  if (target < 0) {  // uniform over the block: every thread returns
    if (threadIdx.x == 0) logp[m] = 0.f, lse[m] = 0.f;
    return;
  }
  const float* z = logits + (int64_t)m * Vp;
  float mx = -INFINITY;
  for (int v = threadIdx.x; v < V; v += blockDim.x) mx = fmaxf(mx, z[v]);
  mx = block_reduce<true>(mx);
  float s = 0.f;
  for (int v = threadIdx.x; v < V; v += blockDim.x) s += expf(z[v] - mx);
  s = block_reduce<false>(s);
  if (threadIdx.x == 0) {
    const float l = mx + logf(s);
    lse[m] = l;
    logp[m] = z[target] - l;
  }
}

__global__ void logprob_backward_kernel(float* z_all, const float* dlogp, const float* lse, const int32_t* targets,
                                        int V, int Vp) {
  const int m = blockIdx.x;
  float* z = z_all + (int64_t)m * Vp;
  const int target = targets[m];
  const float d = target < 0 ? 0.f : dlogp[m];
  if (d == 0.f) {
    for (int v = threadIdx.x; v < Vp; v += blockDim.x) z[v] = 0.f;
    return;
  }
  const float l = lse[m];
  for (int v = threadIdx.x; v < Vp; v += blockDim.x) z[v] = v < V ? -d * expf(z[v] - l) : 0.f;
  __syncthreads();
  if (threadIdx.x == 0) z[target] += d;
}
}  // namespace

void logprob_forward(float* logp, float* lse, const float* logits, const int32_t* targets, int M, int V, int Vp,
                     cudaStream_t stream) {
  if (M == 0) return;
  ALIGN_LAUNCH(logprob_forward_kernel, M, 256, 0, stream)(logp, lse, logits, targets, V, Vp);
  CUDA_CHECK_LAUNCH();
}

void logprob_backward(float* logits_to_dlogits, const float* dlogp, const float* lse, const int32_t* targets, int M,
                      int V, int Vp, cudaStream_t stream) {
  if (M == 0) return;
  ALIGN_LAUNCH(logprob_backward_kernel, M, 256, 0, stream)(logits_to_dlogits, dlogp, lse, targets, V, Vp);
  CUDA_CHECK_LAUNCH();
}

}  // namespace align::kernels
