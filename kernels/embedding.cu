// embedding.cu: token (+ learned position) embeddings, forward and backward.
//
// forward:  out[m, c] = tok[token_m, c] + pos[p_m, c]       one thread per element
// backward: dtok[token_m, c] += dout[m, c], dpos[p_m, c] += dout[m, c] over real positions,
// with p_m the position id of column m (the batch's, or m mod T for one sequence per row).
//   Rows of dtok can repeat (a token occurs twice), so threads own channels:
//   thread c walks all positions in order. No atomics, the CPU reference's
//   order, bit-identical results run to run; reads of dout are coalesced
//   across the threads of a warp (consecutive channels).
#include "cuda/check.cuh"
#include "kernels/kernels.cuh"

namespace align::kernels {

namespace {
__global__ void embedding_forward_kernel(float* out, const int32_t* tokens, const int32_t* positions, const float* tok,
                                         const float* pos, int M, int T, int C) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (int64_t)M * C) return;
  const int m = (int)(i / C), c = (int)(i % C);
  const int token = max(tokens[m], 0);
  float v = tok[(int64_t)token * C + c];
  if (pos) v += pos[(int64_t)(positions ? positions[m] : m % T) * C + c];
  out[i] = v;
}

__global__ void embedding_backward_kernel(float* dtok, float* dpos, const float* dout, const int32_t* tokens,
                                          const int32_t* positions, const int32_t* lengths, int M, int T, int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  for (int m = 0; m < M; m++) {
    const int t = m % T;
    if (t >= lengths[m / T]) continue;
    const float d = dout[(int64_t)m * C + c];
    dtok[(int64_t)tokens[m] * C + c] += d;
    if (dpos) dpos[(int64_t)(positions ? positions[m] : t) * C + c] += d;
  }
}

// One thread per element of the E extra rows.
__global__ void copy_rows_kernel(float* x, const int32_t* at, int M, int E, int C) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (int64_t)E * C) return;
  const int e = (int)(i / C), c = (int)(i % C);
  x[(int64_t)(M + e) * C + c] = x[(int64_t)at[e] * C + c];
}

__global__ void add_rows_kernel(float* x, const int32_t* at, int M, int E, int C) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (int64_t)E * C) return;
  const int e = (int)(i / C), c = (int)(i % C);
  x[(int64_t)at[e] * C + c] += x[(int64_t)(M + e) * C + c];
}
}  // namespace

void embedding_forward(float* out, const int32_t* tokens, const int32_t* positions, const float* tok, const float* pos,
                       int M, int T, int C, cudaStream_t stream) {
  const int64_t n = (int64_t)M * C;
  ALIGN_LAUNCH(embedding_forward_kernel, (unsigned)((n + 255) / 256), 256, 0, stream)
  (out, tokens, positions, tok, pos, M, T, C);
  CUDA_CHECK_LAUNCH();
}

void embedding_backward(float* dtok, float* dpos, const float* dout, const int32_t* tokens, const int32_t* positions,
                        const int32_t* lengths, int M, int T, int C, cudaStream_t stream) {
  ALIGN_LAUNCH(embedding_backward_kernel, (C + 127) / 128, 128, 0, stream)
  (dtok, dpos, dout, tokens, positions, lengths, M, T, C);
  CUDA_CHECK_LAUNCH();
}

void copy_rows(float* x, const int32_t* at, int M, int E, int C, cudaStream_t stream) {
  if (E == 0) return;
  const int64_t n = (int64_t)E * C;
  ALIGN_LAUNCH(copy_rows_kernel, (unsigned)((n + 255) / 256), 256, 0, stream)(x, at, M, E, C);
  CUDA_CHECK_LAUNCH();
}

void add_rows(float* x, const int32_t* at, int M, int E, int C, cudaStream_t stream) {
  if (E == 0) return;
  const int64_t n = (int64_t)E * C;
  ALIGN_LAUNCH(add_rows_kernel, (unsigned)((n + 255) / 256), 256, 0, stream)(x, at, M, E, C);
  CUDA_CHECK_LAUNCH();
}

}  // namespace align::kernels
