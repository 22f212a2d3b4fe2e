// chunked_logprob.cu: the fused loss layer's driver (chunked_logprob.cuh):
// chunk loop, cuBLASLt calls and row kernels, in the order the header explains.
#include <algorithm>
#include <type_traits>

#include "cuda/chunked_logprob.cuh"

namespace align::cuda {

int chunk_columns(int M, int V, size_t budget_bytes, size_t bytes_per_element) {
  const size_t columns = budget_bytes / ((size_t)std::max(M, 1) * bytes_per_element) / 128 * 128;
  return (int)std::min<size_t>(std::max<size_t>(columns, 128), (size_t)V);
}

template <typename T>
int ChunkedLogprob<T>::chunk_for(int M, int V) const {
  if (fixed_ > 0) return std::min(fixed_, V);
  return chunk_columns(M, V, budget_, sizeof(float) + (std::is_same_v<T, float> ? 0 : sizeof(T)));
}

template <typename T>
void ChunkedLogprob<T>::ensure(int M, int chunk) {
  const size_t tile = (size_t)M * chunk;
  if (z_.size() < tile) {
    z_ = DeviceBuffer<float>(tile);
    if constexpr (!std::is_same_v<T, float>) dz_ = DeviceBuffer<T>(tile);
  }
  if (rows_.size() < (size_t)M) rows_ = DeviceBuffer<kernels::LogSumExpRow>(M);
}

template <typename T>
size_t ChunkedLogprob<T>::workspace_bytes() const {
  return z_.size() * sizeof(float) + dz_.size() * sizeof(T) + rows_.size() * sizeof(kernels::LogSumExpRow);
}

template <typename T>
void ChunkedLogprob<T>::forward(float* logp, float* lse, const DeviceTokenStats& stats, const T* h, const T* w,
                                const int32_t* targets, int M, int C, int V, cudaStream_t s) {
  if (M == 0) return;
  const int chunk = chunk_for(M, V);
  ensure(M, chunk);
  const bool with_stats = stats.entropy || stats.mean_logit || stats.log_sum_sq || stats.is_top1;
  kernels::online_rows_reset(rows_.data(), M, s);
  for (int v0 = 0; v0 < V; v0 += chunk) {
    const int n = std::min(chunk, V - v0);
    mm_.forward(z_.data(), h, w + (int64_t)v0 * C, (const float*)nullptr, M, C, n, s);  // z (M, n)
    kernels::online_rows_update(rows_.data(), z_.data(), targets, M, n, v0, with_stats, s);
  }
  kernels::online_rows_finish(logp, lse, stats.entropy, stats.mean_logit, stats.log_sum_sq, stats.is_top1, rows_.data(),
                              targets, M, V, s);
}

template <typename T>
void ChunkedLogprob<T>::backward(float* dh, float* dw, const float* dlogp, const T* h, const T* w, const float* lse,
                                 const int32_t* targets, int M, int C, int V, bool accumulate_dh, cudaStream_t s) {
  if (M == 0) return;
  const int chunk = chunk_for(M, V);
  ensure(M, chunk);
  T* dz;
  if constexpr (std::is_same_v<T, float>)
    dz = z_.data();  // in place: each element reads z, then writes dz
  else
    dz = dz_.data();
  for (int v0 = 0; v0 < V; v0 += chunk) {
    const int n = std::min(chunk, V - v0);
    mm_.forward(z_.data(), h, w + (int64_t)v0 * C, (const float*)nullptr, M, C, n, s);
    kernels::chunk_dlogits(dz, z_.data(), dlogp, lse, targets, M, n, v0, s);
    // The first chunk writes dh as the caller asked; later chunks add to it.
    mm_.backward(dh, dw + (int64_t)v0 * C, (float*)nullptr, (const T*)dz, h, w + (int64_t)v0 * C, M, C, n,
                 accumulate_dh || v0 > 0, s);
  }
}

template class ChunkedLogprob<float>;
template class ChunkedLogprob<__nv_bfloat16>;

}  // namespace align::cuda
