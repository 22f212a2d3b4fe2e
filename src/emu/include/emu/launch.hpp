// launch.hpp (software device): the kernel launch, as ALIGN_LAUNCH
// (src/cuda/check.cuh) spells it for this build:
//   ALIGN_LAUNCH(kernel, grid, block, shared, stream)(args...)
// becomes emu::launch(kernel, "kernel", grid, block, shared, stream)(args...).
// The arguments are converted to the kernel's parameter types once, as CUDA
// copies them at the launch, and each thread gets its own copy. Pointer
// arguments are checked before anything runs: one into freed device memory, or
// one that is not device memory at all, is the fault a GPU would take on its
// first access. Kernels run when launched, in stream order (run_grid in
// scheduler.cpp).
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "emu/device.hpp"

struct CUstream_st;
typedef CUstream_st* cudaStream_t;

namespace emu {

struct LaunchConfig {
  const char* name;
  const void* kernel;  // identifies the kernel (cudaFuncSetAttribute)
  dim3 grid, block;
  size_t shared_bytes;
  cudaStream_t stream;
};
struct PointerArgument {
  const void* pointer;
  int index;  // 1-based position in the kernel's parameter list
};

// Runs thunk(context) once per thread of the grid; errors are reported through the
// runtime's error state (cudaGetLastError), as a GPU reports them.
void run_grid(const LaunchConfig& config, void (*thunk)(void*), void* context, const PointerArgument* pointers,
              int pointer_count);

template <typename... P>
class Launch {
 public:
  Launch(void (*kernel)(P...), const char* name, dim3 grid, dim3 block, size_t shared, cudaStream_t stream)
      : kernel_(kernel), config_{name, reinterpret_cast<const void*>(kernel), grid, block, shared, stream} {}

  template <typename... A>
  void operator()(A&&... args) const {
    static_assert(sizeof...(A) == sizeof...(P), "kernel launched with the wrong number of arguments");
    using Params = std::tuple<std::decay_t<P>...>;
    Params params(static_cast<std::decay_t<P>>(std::forward<A>(args))...);
    PointerArgument pointers[sizeof...(P) + 1];
    int count = 0;
    collect(params, pointers, count, std::index_sequence_for<P...>{});
    struct Context {
      void (*kernel)(P...);
      const Params* params;
    } context{kernel_, &params};
    const auto thunk = [](void* c) {
      const Context* x = static_cast<const Context*>(c);
      Params copy = *x->params;  // this thread's own copy of the arguments
      std::apply(x->kernel, copy);
    };
    run_grid(config_, thunk, &context, pointers, count);
  }

 private:
  template <typename Params, size_t... I>
  static void collect(const Params& params, PointerArgument* out, int& count, std::index_sequence<I...>) {
    (
        [&] {
          if constexpr (std::is_pointer_v<std::tuple_element_t<I, Params>>)
            out[count++] = PointerArgument{static_cast<const void*>(std::get<I>(params)), (int)I + 1};
        }(),
        ...);
  }
  void (*kernel_)(P...);
  LaunchConfig config_;
};

template <typename... P>
Launch<P...> launch(void (*kernel)(P...), const char* name, dim3 grid, dim3 block, size_t shared, cudaStream_t stream) {
  return Launch<P...>(kernel, name, grid, block, shared, stream);
}

}  // namespace emu
