// state.hpp (software device, internal): what the runtime, the scheduler,
// cuBLAS and NCCL emulations share: the error state (the last error per host
// thread; a sticky error for the process, as a GPU context's after a fault)
// and the device allocation table, which every pointer a call or a kernel
// receives is checked against.
#pragma once

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "cuda_runtime.h"

namespace emu {

template <typename... A>
std::string cat_str(const A&... parts) {
  std::ostringstream o;
  (o << ... << parts);
  return o.str();
}

// Records `error` as the last error with its explanation (also printed to stderr, one line,
// so that a caller that ignores the status still shows it) and returns it.
cudaError_t fail(cudaError_t error, const std::string& message);
// A fault inside a kernel (or a launch that cannot have run correctly): the error stays for
// every later call, as a GPU context's does.
cudaError_t fail_sticky(cudaError_t error, const std::string& message);
// cudaSuccess, or the sticky error.
cudaError_t sticky_error();

struct Allocation {
  uintptr_t base = 0;
  size_t bytes = 0;
  int device = 0;
};
// The live allocation that holds p (base <= p <= base + bytes, the end counting as inside so
// that empty ranges at the end are valid); false when there is none.
bool find_allocation(const void* p, Allocation* out);
// Whether p lies in memory that was device memory once and has been freed since.
bool in_freed_memory(const void* p);
// "" when [p, p + bytes) lies inside one live device allocation, else why not (naming `what`).
std::string check_device_range(const void* p, size_t bytes, const std::string& what);
int current_device();
std::string hex(const void* p);

}  // namespace emu
