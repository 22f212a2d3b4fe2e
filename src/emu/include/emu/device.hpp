// device.hpp (software device): what a kernel sees of the GPU when it runs on
// the host. Every CUDA thread of a block is a fiber (scheduler.cpp); this
// header gives it its coordinates (threadIdx, blockIdx, blockDim, gridDim, read
// from the running fiber's context, never from globals shared between host
// threads), the block barrier, the warp collectives (a rendezvous of the lanes
// their mask names, checked: a lane that has exited, is absent, or is not in
// the mask is an error that names the kernel, block and thread), atomics, and
// the device math functions the kernels call, with host definitions.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <source_location>
#include <type_traits>

#include "emu/qualifiers.hpp"

namespace emu {

// The running CUDA thread: set by the scheduler before it switches to the thread's fiber.
struct ThreadContext {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
  unsigned char* dynamic_shared;  // this block's dynamic shared memory
  size_t dynamic_shared_bytes;
};
extern constinit thread_local ThreadContext* tl_thread;

enum class WarpOp : uint8_t { ShflIdx, ShflUp, ShflDown, ShflXor, Ballot, Any, All, SyncWarp, Exchange };

// The lanes named by `mask` meet; returns this lane's result (the shuffled value, the vote).
uint64_t warp_collective(WarpOp op, unsigned mask, uint64_t value, int arg, int width, const char* name,
                         const std::source_location& where);
// Exchange of a larger per-lane payload (tensor-core fragments): every lane of the mask
// posts `bytes` bytes at `mine`; after the rendezvous `all[lane]` points at each lane's post
// (valid until this lane's next collective).
const void* const* warp_exchange(unsigned mask, const void* mine, size_t bytes, const char* name,
                                 const std::source_location& where);
void syncthreads(const std::source_location& where);
// An error found inside a kernel: the launch stops and the runtime's error becomes sticky.
[[noreturn]] void device_fault(const char* message);

template <typename T>
inline T shuffle(WarpOp op, unsigned mask, T var, int arg, int width, const char* name,
                 const std::source_location& where) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "a warp shuffle moves at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &var, sizeof(T));
  bits = warp_collective(op, mask, bits, arg, width, name, where);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

}  // namespace emu

#define threadIdx (::emu::tl_thread->thread_idx)
#define blockIdx (::emu::tl_thread->block_idx)
#define blockDim (::emu::tl_thread->block_dim)
#define gridDim (::emu::tl_thread->grid_dim)
constexpr int warpSize = 32;

inline void __syncthreads(const std::source_location& where = std::source_location::current()) {
  emu::syncthreads(where);
}
inline void __syncwarp(unsigned mask = 0xffffffffu,
                       const std::source_location& where = std::source_location::current()) {
  emu::warp_collective(emu::WarpOp::SyncWarp, mask, 0, 0, 32, "__syncwarp", where);
}
template <typename T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32,
                     const std::source_location& where = std::source_location::current()) {
  return emu::shuffle(emu::WarpOp::ShflIdx, mask, var, src_lane, width, "__shfl_sync", where);
}
template <typename T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32,
                        const std::source_location& where = std::source_location::current()) {
  return emu::shuffle(emu::WarpOp::ShflUp, mask, var, (int)delta, width, "__shfl_up_sync", where);
}
template <typename T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32,
                          const std::source_location& where = std::source_location::current()) {
  return emu::shuffle(emu::WarpOp::ShflDown, mask, var, (int)delta, width, "__shfl_down_sync", where);
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32,
                         const std::source_location& where = std::source_location::current()) {
  return emu::shuffle(emu::WarpOp::ShflXor, mask, var, lane_mask, width, "__shfl_xor_sync", where);
}
inline unsigned __ballot_sync(unsigned mask, int predicate,
                              const std::source_location& where = std::source_location::current()) {
  return (unsigned)emu::warp_collective(emu::WarpOp::Ballot, mask, predicate != 0, 0, 32, "__ballot_sync", where);
}
inline int __any_sync(unsigned mask, int predicate,
                      const std::source_location& where = std::source_location::current()) {
  return (int)emu::warp_collective(emu::WarpOp::Any, mask, predicate != 0, 0, 32, "__any_sync", where);
}
inline int __all_sync(unsigned mask, int predicate,
                      const std::source_location& where = std::source_location::current()) {
  return (int)emu::warp_collective(emu::WarpOp::All, mask, predicate != 0, 0, 32, "__all_sync", where);
}
inline void __threadfence() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
}
inline void __threadfence_block() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

// Atomics: blocks of one launch may run on different host threads at once.
template <typename T>
inline T atomicAdd(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_add(value);
}
template <typename T>
inline T atomicSub(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_sub(value);
}
template <typename T>
inline T atomicExch(T* address, T value) {
  return std::atomic_ref<T>(*address).exchange(value);
}
template <typename T>
inline T atomicCAS(T* address, T compare, T value) {
  std::atomic_ref<T>(*address).compare_exchange_strong(compare, value);
  return compare;
}
template <typename T>
inline T atomicMax(T* address, T value) {
  std::atomic_ref<T> a(*address);
  T old = a.load();
  while (old < value && !a.compare_exchange_weak(old, value)) {
  }
  return old;
}
template <typename T>
inline T atomicMin(T* address, T value) {
  std::atomic_ref<T> a(*address);
  T old = a.load();
  while (value < old && !a.compare_exchange_weak(old, value)) {
  }
  return old;
}

// Device math: the host functions of <cmath>, plus the CUDA-only names.
inline float rsqrtf(float x) {
  return 1.f / std::sqrt(x);
}
inline double rsqrt(double x) {
  return 1.0 / std::sqrt(x);
}
inline float __expf(float x) {
  return std::exp(x);
}
inline float __logf(float x) {
  return std::log(x);
}
inline float __fdividef(float a, float b) {
  return a / b;
}
inline float __saturatef(float x) {
  return x < 0.f ? 0.f : x > 1.f ? 1.f : x;
}
inline float __fmaf_rn(float a, float b, float c) {
  return std::fma(a, b, c);
}
inline int __popc(unsigned x) {
  return __builtin_popcount(x);
}
inline int __ffs(int x) {
  return __builtin_ffs(x);
}
inline int __clz(int x) {
  return x == 0 ? 32 : __builtin_clz((unsigned)x);
}
template <typename T>
inline T __ldg(const T* p) {
  return *p;
}
// CUDA's min/max overloads for mixed arithmetic types (int, int64, float, double).
template <typename A, typename B, typename = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
inline std::common_type_t<A, B> min(A a, B b) {
  using C = std::common_type_t<A, B>;
  return (C)b < (C)a ? (C)b : (C)a;
}
template <typename A, typename B, typename = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
inline std::common_type_t<A, B> max(A a, B b) {
  using C = std::common_type_t<A, B>;
  return (C)a < (C)b ? (C)b : (C)a;
}
