// chunked_logprob.cu: the row kernels of the fused loss layer. The driver
// (src/cuda/chunked_logprob.cu) runs the LM head one vocabulary chunk at a
// time through cuBLASLt into an (M, n) float tile z and calls these on it;
// the full (M, V) logits never exist. Math and pass order: docs/kernels.md and
// the CPU reference src/cpu/chunked_logprob.cpp, which these follow.
//
// online_rows_update, one 256-thread block per row m, over the n columns of
// the chunk starting at vocabulary column v0. Online log-sum-exp at two levels:
//   thread:  a running (max μ, s = Σe^(z-μ), pz = Σe^(z-μ)z, sq = Σe^(2(z-μ)),
//            Σz, first argmax) over its strided columns, rescaled by e^(μ-μ')
//            (squared for sq) whenever a larger z arrives;
//   block:   the 256 partials merged with the same rule (warp shuffles, then
//            the 8 warp results in shared memory, in a fixed order);
//   row:     thread 0 merges the block's partial into the row's state in
//            global memory, whose sums are double (one merge per chunk, so V
//            up to 152k columns lose nothing to float accumulation).
// Ties in the maximum keep the smaller column (torch.argmax's rule).
// online_rows_finish, one thread per row:
//   lse = μ + log s, logp = z[target] − lse, entropy = lse − pz/s,
//   mean logit = Σz / V, log Σp² = log sq − 2 log s, is_top1 = argmax == target.
// chunk_dlogits, one thread per element of the tile (grid-stride):
//   dz = dlogp·(onehot(target) − e^(z − lse)), written as T (bf16 halves the
//   traffic into the two backward matmuls), 0 on rows with target < 0.
// Rows with target < 0 (nothing predicted) are skipped: their state stays
// empty and finish writes zeros.
#include <cuda_bf16.h>

#include <algorithm>
#include <climits>

#include "cuda/check.cuh"
#include "kernels/kernels.cuh"

namespace align::kernels {

namespace {

struct Partial {  // one thread's (or a merged group's) online sums over some columns
  float max, sum, pz, sq, zsum;
  int argmax;
};
// No default member initializers: Partial lives in __shared__ memory, which cannot run constructors.
__device__ __forceinline__ Partial empty_partial() {
  return Partial{-INFINITY, 0.f, 0.f, 0.f, 0.f, INT_MAX};
}

template <bool kStats>
__device__ __forceinline__ void add_column(Partial& p, float z, int j) {
  if (z > p.max) {  // rescale what was summed under the old maximum (e^-inf = 0 at the start)
    const float scale = expf(p.max - z);
    p.sum = p.sum * scale + 1.f;
    if (kStats) p.pz = p.pz * scale + z, p.sq = p.sq * scale * scale + 1.f;
    p.max = z, p.argmax = j;
  } else {
    const float e = expf(z - p.max);
    p.sum += e;
    if (kStats) p.pz += e * z, p.sq += e * e;
  }
  if (kStats) p.zsum += z;
}

template <bool kStats>
__device__ __forceinline__ Partial merge(const Partial& a, const Partial& b) {
  if (b.max == -INFINITY) return Partial{a.max, a.sum, a.pz, a.sq, a.zsum + b.zsum, a.argmax};
  if (a.max == -INFINITY) return Partial{b.max, b.sum, b.pz, b.sq, a.zsum + b.zsum, b.argmax};
  const float mx = fmaxf(a.max, b.max), sa = expf(a.max - mx), sb = expf(b.max - mx);
  Partial r = empty_partial();
  r.max = mx;
  r.sum = a.sum * sa + b.sum * sb;
  if (kStats) r.pz = a.pz * sa + b.pz * sb, r.sq = a.sq * sa * sa + b.sq * sb * sb;
  r.zsum = a.zsum + b.zsum;
  r.argmax = a.max > b.max ? a.argmax : b.max > a.max ? b.argmax : min(a.argmax, b.argmax);
  return r;
}

template <bool kStats>
__device__ __forceinline__ Partial warp_merge(Partial p) {
  for (int o = 16; o > 0; o >>= 1) {
    Partial q = empty_partial();
    q.max = __shfl_xor_sync(0xffffffffu, p.max, o);
    q.sum = __shfl_xor_sync(0xffffffffu, p.sum, o);
    q.pz = __shfl_xor_sync(0xffffffffu, p.pz, o);
    q.sq = __shfl_xor_sync(0xffffffffu, p.sq, o);
    q.zsum = __shfl_xor_sync(0xffffffffu, p.zsum, o);
    q.argmax = __shfl_xor_sync(0xffffffffu, p.argmax, o);
    // Both lanes of a pair merge in the same order (lower lane first) so all lanes agree bit for bit.
    p = (threadIdx.x & o) ? merge<kStats>(q, p) : merge<kStats>(p, q);
  }
  return p;
}

constexpr int kRowThreads = 256;

template <bool kStats>
__global__ void __launch_bounds__(kRowThreads)
    online_rows_update_kernel(LogSumExpRow* rows, const float* z, const int32_t* targets, int n, int v0) {
  const int m = blockIdx.x, target = targets[m];
  if (target < 0) return;  // uniform over the block
  const float* zr = z + (int64_t)m * n;
  Partial p = empty_partial();
  for (int j = threadIdx.x; j < n; j += kRowThreads) add_column<kStats>(p, zr[j], j);
  p = warp_merge<kStats>(p);
  __shared__ Partial warps[kRowThreads / 32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warps[warp] = p;
  __syncthreads();
  if (threadIdx.x != 0) return;
  Partial b = warps[0];
  for (int w = 1; w < kRowThreads / 32; w++) b = merge<kStats>(b, warps[w]);
  LogSumExpRow r = rows[m];
  const double cm = b.max;
  if (cm > r.max) {  // the chunk holds a new maximum: rescale the row's sums to it
    const double scale = r.max == -INFINITY ? 0.0 : exp(r.max - cm);
    r.sum = r.sum * scale + b.sum;
    if (kStats) r.pz = r.pz * scale + b.pz, r.sq = r.sq * scale * scale + b.sq;
    r.max = cm, r.argmax = v0 + b.argmax;
  } else {  // equal maxima keep the earlier column
    const double scale = exp(cm - r.max);
    r.sum += b.sum * scale;
    if (kStats) r.pz += b.pz * scale, r.sq += b.sq * scale * scale;
  }
  if (kStats) r.zsum += b.zsum;
  if (target >= v0 && target < v0 + n) r.z_target = zr[target - v0];
  rows[m] = r;
}

__global__ void online_rows_reset_kernel(LogSumExpRow* rows, int M) {
  const int m = blockIdx.x * blockDim.x + threadIdx.x;
  if (m < M) rows[m] = LogSumExpRow{-INFINITY, 0.0, 0.0, 0.0, 0.0, 0.f, -1};
}

__global__ void online_rows_finish_kernel(float* logp, float* lse, double* entropy, double* mean_logit,
                                          double* log_sum_sq, uint8_t* is_top1, const LogSumExpRow* rows,
                                          const int32_t* targets, int M, int V) {
  const int m = blockIdx.x * blockDim.x + threadIdx.x;
  if (m >= M) return;
  const LogSumExpRow r = rows[m];
  const bool ignored = targets[m] < 0;
  const double l = ignored ? 0.0 : r.max + log(r.sum);
  lse[m] = (float)l;
  logp[m] = ignored ? 0.f : (float)(r.z_target - l);
  if (entropy) entropy[m] = ignored ? 0.0 : l - r.pz / r.sum;
  if (mean_logit) mean_logit[m] = ignored ? 0.0 : r.zsum / V;
  if (log_sum_sq) log_sum_sq[m] = ignored ? 0.0 : log(r.sq) - 2.0 * log(r.sum);
  if (is_top1) is_top1[m] = !ignored && r.argmax == targets[m];
}

template <typename T>
__global__ void chunk_dlogits_kernel(T* dz, const float* z, const float* dlogp, const float* lse,
                                     const int32_t* targets, int M, int n, int v0) {
  const int64_t total = (int64_t)M * n;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int m = (int)(i / n), j = (int)(i % n), target = targets[m];
    const float d = target < 0 ? 0.f : dlogp[m];
    float g = 0.f;
    if (d != 0.f) g = -d * expf(z[i] - lse[m]) + (v0 + j == target ? d : 0.f);
    dz[i] = (T)g;
  }
}

}  // namespace

void online_rows_reset(LogSumExpRow* rows, int M, cudaStream_t stream) {
  if (M == 0) return;
  ALIGN_LAUNCH(online_rows_reset_kernel, (M + 255) / 256, 256, 0, stream)(rows, M);
  CUDA_CHECK_LAUNCH();
}

void online_rows_update(LogSumExpRow* rows, const float* z, const int32_t* targets, int M, int n, int v0,
                        bool with_stats, cudaStream_t stream) {
  if (M == 0) return;
  if (with_stats)
    ALIGN_LAUNCH(online_rows_update_kernel<true>, M, kRowThreads, 0, stream)(rows, z, targets, n, v0);
  else
    ALIGN_LAUNCH(online_rows_update_kernel<false>, M, kRowThreads, 0, stream)(rows, z, targets, n, v0);
  CUDA_CHECK_LAUNCH();
}

void online_rows_finish(float* logp, float* lse, double* entropy, double* mean_logit, double* log_sum_sq,
                        uint8_t* is_top1, const LogSumExpRow* rows, const int32_t* targets, int M, int V,
                        cudaStream_t stream) {
  if (M == 0) return;
  ALIGN_LAUNCH(online_rows_finish_kernel, (M + 255) / 256, 256, 0, stream)
  (logp, lse, entropy, mean_logit, log_sum_sq, is_top1, rows, targets, M, V);
  CUDA_CHECK_LAUNCH();
}

template <typename T>
void chunk_dlogits(T* dz, const float* z, const float* dlogp, const float* lse, const int32_t* targets, int M, int n,
                   int v0, cudaStream_t stream) {
  const int64_t total = (int64_t)M * n;
  if (total == 0) return;
  const unsigned blocks = (unsigned)std::min<int64_t>((total + 255) / 256, 65535LL * 16);
  ALIGN_LAUNCH(chunk_dlogits_kernel<T>, blocks, 256, 0, stream)(dz, z, dlogp, lse, targets, M, n, v0);
  CUDA_CHECK_LAUNCH();
}

template void chunk_dlogits<float>(float*, const float*, const float*, const float*, const int32_t*, int, int, int,
                                   cudaStream_t);
template void chunk_dlogits<__nv_bfloat16>(__nv_bfloat16*, const float*, const float*, const float*, const int32_t*,
                                           int, int, int, cudaStream_t);

}  // namespace align::kernels
