// attention.cu: RoPE and causal grouped-query attention over right-padded
// rows, forward and backward (math in src/cpu/attention.cpp). The warp
// kernels below are v1, GEMM-free and easy to check against the CPU
// reference; the backend runs v2, batched cuBLAS GEMMs around the causal
// softmax kernels at the end of this file (src/cuda/attention.cuh). Flash and
// cuDNN attention come later, tested against both.
//
// rope: one thread per (row, head, pair i < HS/2) rotates x[i], x[i+HS/2] in
//   place by ±θ(t, i); threads touch disjoint pairs.
// forward: one warp per query (n, h, t < len_n). Lanes take keys j = lane,
//   lane+32, ... ≤ t for the scores, warp max/sum give the softmax (written
//   to att, zeros elsewhere), then lanes take output dims d = lane, lane+32, ...
// backward, two passes so that every gradient element has one writer:
//   1. one warp per query: da[j] = dout_t·v_j, ds[j] = a[j](da[j] − Σ a·da)/√HS
//      (kept in `ds`), dq_t = Σ_j ds[j] k_j (this warp owns dq_t)
//   2. one warp per (n, g, key j < len_n): dk_j = Σ_h Σ_{t≥j} ds[h,t,j] q_{t,h},
//      dv_j = Σ_h Σ_{t≥j} a[h,t,j] dout_{t,h}, h over the group of g, in order
// dqkv is zeroed first, so padded positions hold zeros. No atomics anywhere:
// the same bits every run.
//
// The softmax kernels of the cuBLAS-batched version (src/cuda/attention.cu,
// which the backend runs; the warp kernels above are its first, GEMM-free
// reference), one warp per score row (n, h, t):
//   causal_softmax_forward:  a[j] = e^(s[j] − max) / Σ e^(s[j'] − max) over
//     the keys j the batch's visibility rule shows t (model/visibility.hpp:
//     j ≤ t within t's sequence, plus a shared prompt), 0 elsewhere, and the
//     whole row 0 when t ≥ length (padding); in place: the scores (already
//     scaled by 1/√HS in the GEMM) become the probabilities. The GEMMs still
//     compute every (t, j) score of a row; skipping hidden blocks is the flash
//     kernel's job.
//   causal_softmax_backward: ds[j] = a[j]·(da[j] − Σ_j' a[j']·da[j']), in place
//     on da (0 wherever a is 0: masked and padded entries).
#include "cuda/check.cuh"
#include "kernels/kernels.cuh"
#include "kernels/reduce.cuh"

namespace align::kernels {

namespace {

__global__ void rope_kernel(float* qkv, const float* cos_sin, const int32_t* positions, int N, int T, int NH, int NKV,
                            int HS, float sign) {
  const int half = HS / 2, heads = NH + NKV;
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (int64_t)N * T * heads * half) return;
  const int k = (int)(i % half);
  const int64_t rest = i / half;
  const int h = (int)(rest % heads);
  const int64_t row = rest / heads;  // n*T + t
  const int t = positions ? positions[row] : (int)(row % T);
  float* x = qkv + row * (int64_t)(NH + 2 * NKV) * HS + (int64_t)h * HS;
  const float c = cos_sin[((int64_t)t * half + k) * 2], s = sign * cos_sin[((int64_t)t * half + k) * 2 + 1];
  const float a = x[k], b = x[k + half];
  x[k] = a * c - b * s;
  x[k + half] = b * c + a * s;
}

__global__ void attention_forward_kernel(float* out, float* att, const float* qkv, const int32_t* lengths, int N, int T,
                                         int NH, int NKV, int HS) {
  const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= (int64_t)N * NH * T) return;
  const int t = (int)(warp % T), h = (int)((warp / T) % NH), n = (int)(warp / ((int64_t)T * NH));
  const int QKV = (NH + 2 * NKV) * HS, g = h / (NH / NKV);
  float* a = att + (((int64_t)n * NH + h) * T + t) * T;
  float* o = out + ((int64_t)n * T + t) * NH * HS + (int64_t)h * HS;
  if (t >= lengths[n]) {
    for (int j = lane; j < T; j += 32) a[j] = 0.f;
    for (int d = lane; d < HS; d += 32) o[d] = 0.f;
    return;
  }
  const float* base = qkv + (int64_t)n * T * QKV;
  const float* q = base + (int64_t)t * QKV + (int64_t)h * HS;
  const float scale = rsqrtf((float)HS);
  float mx = -INFINITY;
  for (int j = lane; j < T; j += 32) {
    if (j > t) {
      a[j] = 0.f;
      continue;
    }
    const float* k = base + (int64_t)j * QKV + (int64_t)(NH + g) * HS;
    float s = 0.f;
    for (int d = 0; d < HS; d++) s += q[d] * k[d];
    a[j] = s * scale;
    mx = fmaxf(mx, a[j]);
  }
  mx = warp_max(mx);
  float sum = 0.f;
  for (int j = lane; j <= t; j += 32) sum += (a[j] = expf(a[j] - mx));
  sum = warp_sum(sum);
  for (int j = lane; j <= t; j += 32) a[j] /= sum;
  __syncwarp();  // every lane's probabilities are written before any lane reads them
  for (int d = lane; d < HS; d += 32) {
    float acc = 0.f;
    for (int j = 0; j <= t; j++) acc += a[j] * base[(int64_t)j * QKV + (int64_t)(NH + NKV + g) * HS + d];
    o[d] = acc;
  }
}

// Pass 1: ds and dq, one warp per query.
__global__ void attention_backward_q_kernel(float* dqkv, float* ds, const float* dout, const float* qkv,
                                            const float* att, const int32_t* lengths, int N, int T, int NH, int NKV,
                                            int HS) {
  const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= (int64_t)N * NH * T) return;
  const int t = (int)(warp % T), h = (int)((warp / T) % NH), n = (int)(warp / ((int64_t)T * NH));
  const int QKV = (NH + 2 * NKV) * HS, g = h / (NH / NKV);
  float* s_row = ds + (((int64_t)n * NH + h) * T + t) * T;
  if (t >= lengths[n]) {
    for (int j = lane; j < T; j += 32) s_row[j] = 0.f;
    return;
  }
  const float* a = att + (((int64_t)n * NH + h) * T + t) * T;
  const float* dy = dout + ((int64_t)n * T + t) * NH * HS + (int64_t)h * HS;
  const float* base = qkv + (int64_t)n * T * QKV;
  float dot = 0.f;
  for (int j = lane; j < T; j += 32) {
    if (j > t) {
      s_row[j] = 0.f;
      continue;
    }
    const float* v = base + (int64_t)j * QKV + (int64_t)(NH + NKV + g) * HS;
    float da = 0.f;
    for (int d = 0; d < HS; d++) da += dy[d] * v[d];
    s_row[j] = da;  // da for now; becomes ds below
    dot += a[j] * da;
  }
  dot = warp_sum(dot);
  const float scale = rsqrtf((float)HS);
  for (int j = lane; j <= t; j += 32) s_row[j] = a[j] * (s_row[j] - dot) * scale;
  __syncwarp();
  float* dq = dqkv + ((int64_t)n * T + t) * QKV + (int64_t)h * HS;
  for (int d = lane; d < HS; d += 32) {
    float acc = 0.f;
    for (int j = 0; j <= t; j++) acc += s_row[j] * base[(int64_t)j * QKV + (int64_t)(NH + g) * HS + d];
    dq[d] = acc;
  }
}

// Pass 2: dk and dv, one warp per (n, kv head g, key j).
__global__ void attention_backward_kv_kernel(float* dqkv, const float* ds, const float* dout, const float* qkv,
                                             const float* att, const int32_t* lengths, int N, int T, int NH, int NKV,
                                             int HS) {
  const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= (int64_t)N * NKV * T) return;
  const int j = (int)(warp % T), g = (int)((warp / T) % NKV), n = (int)(warp / ((int64_t)T * NKV));
  const int len = lengths[n];
  if (j >= len) return;  // stays zero
  const int QKV = (NH + 2 * NKV) * HS, group = NH / NKV;
  const float* base = qkv + (int64_t)n * T * QKV;
  float* dk = dqkv + ((int64_t)n * T + j) * QKV + (int64_t)(NH + g) * HS;
  float* dv = dqkv + ((int64_t)n * T + j) * QKV + (int64_t)(NH + NKV + g) * HS;
  for (int d = lane; d < HS; d += 32) {
    float acc_k = 0.f, acc_v = 0.f;
    for (int h = g * group; h < (g + 1) * group; h++)
      for (int t = j; t < len; t++) {
        const int64_t at = (((int64_t)n * NH + h) * T + t) * T + j;
        acc_k += ds[at] * base[(int64_t)t * QKV + (int64_t)h * HS + d];
        acc_v += att[at] * dout[((int64_t)n * T + t) * NH * HS + (int64_t)h * HS + d];
      }
    dk[d] = acc_k;
    dv[d] = acc_v;
  }
}

__global__ void causal_softmax_forward_kernel(float* att, VisibilityRule rule, int N, int NH, int T) {
  const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= (int64_t)N * NH * T) return;
  const int t = (int)(warp % T), n = (int)(warp / ((int64_t)T * NH));
  float* a = att + warp * T;
  if (t >= rule.lengths[n]) {
    for (int j = lane; j < T; j += 32) a[j] = 0.f;
    return;
  }
  float mx = -INFINITY;
  for (int j = lane; j <= t; j += 32)
    if (key_visible(rule, n, T, t, j)) mx = fmaxf(mx, a[j]);
  mx = warp_max(mx);
  float sum = 0.f;
  for (int j = lane; j <= t; j += 32)
    if (key_visible(rule, n, T, t, j)) sum += expf(a[j] - mx);
  sum = warp_sum(sum);
  const float inv = 1.f / sum;
  for (int j = lane; j < T; j += 32) a[j] = key_visible(rule, n, T, t, j) ? expf(a[j] - mx) * inv : 0.f;
}

__global__ void causal_softmax_backward_kernel(float* da_to_ds, const float* att, VisibilityRule rule, int N, int NH,
                                               int T) {
  const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= (int64_t)N * NH * T) return;
  const int t = (int)(warp % T), n = (int)(warp / ((int64_t)T * NH));
  float* d = da_to_ds + warp * T;
  const float* a = att + warp * T;
  if (t >= rule.lengths[n]) {
    for (int j = lane; j < T; j += 32) d[j] = 0.f;
    return;
  }
  // a is 0 on hidden keys (the forward wrote it so), so they add nothing and get ds = 0.
  float dot = 0.f;
  for (int j = lane; j <= t; j += 32) dot += a[j] * d[j];
  dot = warp_sum(dot);
  for (int j = lane; j < T; j += 32) d[j] = j <= t ? a[j] * (d[j] - dot) : 0.f;
}

unsigned warp_blocks(int64_t warps) {
  return (unsigned)((warps * 32 + 255) / 256);
}

}  // namespace

void rope_apply(float* qkv, const float* cos_sin, const int32_t* positions, int N, int T, int NH, int NKV, int HS,
                float sign, cudaStream_t stream) {
  const int64_t n = (int64_t)N * T * (NH + NKV) * (HS / 2);
  ALIGN_LAUNCH(rope_kernel, (unsigned)((n + 255) / 256), 256, 0, stream)
  (qkv, cos_sin, positions, N, T, NH, NKV, HS, sign);
  CUDA_CHECK_LAUNCH();
}

void attention_forward(float* out, float* att, const float* qkv, const int32_t* lengths, int N, int T, int NH, int NKV,
                       int HS, cudaStream_t stream) {
  ALIGN_LAUNCH(attention_forward_kernel, warp_blocks((int64_t)N * NH * T), 256, 0, stream)
  (out, att, qkv, lengths, N, T, NH, NKV, HS);
  CUDA_CHECK_LAUNCH();
}

void causal_softmax_forward(float* att, const VisibilityRule& rule, int N, int NH, int T, cudaStream_t stream) {
  ALIGN_LAUNCH(causal_softmax_forward_kernel, warp_blocks((int64_t)N * NH * T), 256, 0, stream)(att, rule, N, NH, T);
  CUDA_CHECK_LAUNCH();
}

void causal_softmax_backward(float* da_to_ds, const float* att, const VisibilityRule& rule, int N, int NH, int T,
                             cudaStream_t stream) {
  ALIGN_LAUNCH(causal_softmax_backward_kernel, warp_blocks((int64_t)N * NH * T), 256, 0, stream)
  (da_to_ds, att, rule, N, NH, T);
  CUDA_CHECK_LAUNCH();
}

void attention_backward(float* dqkv, float* ds, const float* dout, const float* qkv, const float* att,
                        const int32_t* lengths, int N, int T, int NH, int NKV, int HS, cudaStream_t stream) {
  CUDA_CHECK(cudaMemsetAsync(dqkv, 0, sizeof(float) * (size_t)N * T * (NH + 2 * NKV) * HS, stream));
  ALIGN_LAUNCH(attention_backward_q_kernel, warp_blocks((int64_t)N * NH * T), 256, 0, stream)
  (dqkv, ds, dout, qkv, att, lengths, N, T, NH, NKV, HS);
  CUDA_CHECK_LAUNCH();
  ALIGN_LAUNCH(attention_backward_kv_kernel, warp_blocks((int64_t)N * NKV * T), 256, 0, stream)
  (dqkv, ds, dout, qkv, att, lengths, N, T, NH, NKV, HS);
  CUDA_CHECK_LAUNCH();
}

}  // namespace align::kernels
