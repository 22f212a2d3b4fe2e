// device_buffer.cuh: RAII device memory. The allocation is released in the
// destructor (errors there are printed, never thrown); copies to and from the
// host are checked.
#pragma once

#include <cstdio>
#include <vector>

#include "cuda/check.cuh"

namespace align::cuda {

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n) : n_(n) {
    if (n_) CUDA_CHECK(cudaMalloc(&p_, n_ * sizeof(T)));
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() {
    if (p_ && cudaFree(p_) != cudaSuccess) std::fprintf(stderr, "align.cu: cudaFree failed\n");
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(p_, o.p_), std::swap(n_, o.n_);
    return *this;
  }
  T* data() { return p_; }
  const T* data() const { return p_; }
  size_t size() const { return n_; }
  void upload(const std::vector<T>& host) {
    ALIGN_ASSERT(host.size() == n_, "upload of ", host.size(), " into ", n_);
    CUDA_CHECK(cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
  }
  // The first host.size() <= size() elements.
  void upload_prefix(const std::vector<T>& host) {
    ALIGN_ASSERT(host.size() <= n_, "upload of ", host.size(), " into ", n_);
    if (!host.empty()) CUDA_CHECK(cudaMemcpy(p_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> host(n_);
    CUDA_CHECK(cudaMemcpy(host.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }
  // Fills every byte with `byte` (tests poison outputs with 0xFF: float NaN) so unwritten elements show.
  void poison(unsigned char byte = 0xFF) { CUDA_CHECK(cudaMemset(p_, byte, n_ * sizeof(T))); }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace align::cuda
