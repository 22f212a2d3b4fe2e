// schedules.hpp: the second of two runs under the other thread schedule. On the
// software device (src/emu) the threads of a block take turns between barriers
// in thread order or in reverse order; a kernel whose output depends on that
// order has a race (a missing __syncthreads or __syncwarp), so the GPU tests
// repeat their kernels under ReverseSchedule and require the same bits. On a
// GPU the guard does nothing and the repeat checks determinism alone.
#pragma once

#ifdef ALIGN_SOFTWARE_DEVICE
#include <cuda_runtime.h>
#endif

namespace align::test {

class ReverseSchedule {
 public:
#ifdef ALIGN_SOFTWARE_DEVICE
  ReverseSchedule() { emu::set_schedule(emu::Schedule::Reverse); }
  ~ReverseSchedule() { emu::set_schedule(emu::Schedule::Forward); }
#else
  ReverseSchedule() {}  // declared: the deleted copy leaves no implicit one (a trivial one: nvcc warns unused)
#endif
  ReverseSchedule(const ReverseSchedule&) = delete;
  ReverseSchedule& operator=(const ReverseSchedule&) = delete;
};

}  // namespace align::test
