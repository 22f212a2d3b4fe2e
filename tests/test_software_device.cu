// test_software_device.cu: the software device's own checks (src/emu): warp
// shuffles and votes against their CUDA definitions, barriers, and every kind
// of undefined behaviour it promises to report — a collective naming an exited
// lane, a lane missing from a mask, divergent barriers, launches over the
// H100's limits, copies whose kind disagrees with the pointers, freed memory —
// each as a message naming the kernel, block and thread, with the runtime's
// error sticky after a fault. A fault poisons the process (as a GPU context),
// so those cases run in a child process (gtest death tests). A kernel with a
// missing barrier must give different results under the two schedules, and
// the same kernel with its barrier the same bits.
#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "cuda/check.cuh"
#include "cuda/device_buffer.cuh"

namespace align {
namespace {

using cuda::DeviceBuffer;

// out[t] = the shuffles of lane t's value (t + 1) · 3 under each variant.
__global__ void shuffles_kernel(int* out) {
  const int lane = threadIdx.x % 32, v = (int)(threadIdx.x + 1) * 3;
  int* o = out + threadIdx.x * 8;
  o[0] = __shfl_sync(0xffffffffu, v, 5);
  o[1] = __shfl_sync(0xffffffffu, v, lane + 3, 8);
  o[2] = __shfl_up_sync(0xffffffffu, v, 2);
  o[3] = __shfl_down_sync(0xffffffffu, v, 3, 16);
  o[4] = __shfl_xor_sync(0xffffffffu, v, 9);
  o[5] = (int)__ballot_sync(0xffffffffu, lane % 3 == 0);
  o[6] = __any_sync(0xffffffffu, lane == 17);
  o[7] = __all_sync(0xffffffffu, lane < 31);
}

TEST(SoftwareDevice, ShufflesAndVotesFollowCudasDefinitions) {
  DeviceBuffer<int> out(64 * 8);
  out.poison();
  ALIGN_LAUNCH(shuffles_kernel, 1, 64, 0, 0)(out.data());
  CUDA_CHECK_LAUNCH();
  const std::vector<int> got = out.download();
  for (int t = 0; t < 64; t++) {
    const int lane = t % 32, warp = t / 32;
    auto v = [&](int l) { return (warp * 32 + l + 1) * 3; };
    const int* g = got.data() + t * 8;
    EXPECT_EQ(g[0], v(5)) << t;
    EXPECT_EQ(g[1], v(lane / 8 * 8 + (lane + 3) % 8)) << t;
    EXPECT_EQ(g[2], lane >= 2 ? v(lane - 2) : v(lane)) << t;
    EXPECT_EQ(g[3], lane % 16 + 3 < 16 ? v(lane + 3) : v(lane)) << t;
    EXPECT_EQ(g[4], v(lane ^ 9)) << t;
    unsigned ballot = 0;
    for (int l = 0; l < 32; l += 3) ballot |= 1u << l;
    EXPECT_EQ((unsigned)g[5], ballot) << t;
    EXPECT_EQ(g[6], 1) << t;
    EXPECT_EQ(g[7], 0) << t;
  }
}

// A block sum through shared memory; `barrier` false drops the barrier between the writes and
// the reads (the race a GPU would have).
__global__ void block_sum_kernel(float* out, const float* in, bool barrier) {
  __shared__ float partial[256];
  partial[threadIdx.x] = in[blockIdx.x * 256 + threadIdx.x];
  if (barrier) __syncthreads();
  float s = 0.f;
  for (int i = 0; i < 256; i++) s += partial[(threadIdx.x + i) % 256];
  out[blockIdx.x * 256 + threadIdx.x] = s;
}

std::vector<float> block_sums(bool barrier, emu::Schedule schedule) {
  std::vector<float> host(4 * 256);
  for (size_t i = 0; i < host.size(); i++) host[i] = (float)(i % 97) * 0.25f;
  DeviceBuffer<float> in(host), out(host.size());
  out.poison();
  emu::set_schedule(schedule);
  ALIGN_LAUNCH(block_sum_kernel, 4, 256, 0, 0)(out.data(), in.data(), barrier);
  emu::set_schedule(emu::Schedule::Forward);
  CUDA_CHECK_LAUNCH();
  return out.download();
}

TEST(SoftwareDevice, AMissingBarrierShowsAsADifferenceBetweenSchedules) {
  const auto f = block_sums(true, emu::Schedule::Forward), r = block_sums(true, emu::Schedule::Reverse);
  EXPECT_EQ(f, r) << "with the barrier both schedules agree";
  for (float x : f) EXPECT_FALSE(std::isnan(x));
  const auto fr = block_sums(false, emu::Schedule::Forward), rr = block_sums(false, emu::Schedule::Reverse);
  EXPECT_NE(fr, rr) << "without it the threads read partials not yet written";
}

__global__ void exited_lane_kernel(float* out) {
  if (threadIdx.x == 17) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, (float)threadIdx.x, 1);
}
__global__ void mask_without_source_kernel(float* out) {
  out[threadIdx.x] = __shfl_xor_sync(0x7fffffffu, (float)threadIdx.x, 16);
}
__global__ void divergent_barrier_kernel(float* out) {
  if (threadIdx.x < 32) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1.f;
}
__global__ void barrier_and_shuffle_kernel(float* out) {
  float v = (float)threadIdx.x;
  if (threadIdx.x == 40)
    __syncthreads();
  else
    v = __shfl_xor_sync(0xffffffffu, v, 1);
  out[threadIdx.x] = v;
}
__global__ void write_kernel(float* out) {
  out[threadIdx.x] = 2.f;
}

// Runs `launch` in a child process: it must end with status 3, the launch's error sticky,
// and stderr matching `message`.
template <typename F>
void expect_fault(F launch, const char* message) {
  EXPECT_EXIT(
      {
        launch();
        const cudaError_t e = cudaGetLastError();
        std::exit(e != cudaSuccess && cudaGetLastError() == e && cudaMemset(nullptr, 0, 0) == e ? 3 : 4);
      },
      ::testing::ExitedWithCode(3), message);
}

TEST(SoftwareDeviceDeathTest, ACollectiveNamingAnExitedLaneIsAnError) {
  expect_fault(
      [] {
        DeviceBuffer<float> out(32);
        ALIGN_LAUNCH(exited_lane_kernel, 1, 32, 0, 0)(out.data());
      },
      "kernel exited_lane_kernel, block \\(0,0,0\\), thread \\([0-9]+,0,0\\): __shfl_xor_sync at "
      "test_software_device.cu:[0-9]+ with mask 0xffffffff names lane 17, which has exited");
}

TEST(SoftwareDeviceDeathTest, AShuffleReadingALaneOutsideItsMaskIsAnError) {
  expect_fault(
      [] {
        DeviceBuffer<float> out(32);
        ALIGN_LAUNCH(mask_without_source_kernel, 1, 32, 0, 0)(out.data());
      },
      "kernel mask_without_source_kernel, block \\(0,0,0\\), thread \\(31,0,0\\): __shfl_xor_sync at "
      "test_software_device.cu:[0-9]+ with mask 0x7fffffff that does not name the calling lane 31");
}

TEST(SoftwareDeviceDeathTest, DivergentBarriersAreAnError) {
  expect_fault(
      [] {
        DeviceBuffer<float> out(64);
        ALIGN_LAUNCH(divergent_barrier_kernel, 1, 64, 0, 0)(out.data());
      },
      "kernel divergent_barrier_kernel, block \\(0,0,0\\), thread \\([0-9]+,0,0\\): waits at __syncthreads at "
      "test_software_device.cu:[0-9]+ while thread \\([0-9]+,0,0\\) waits at __syncthreads at "
      "test_software_device.cu:[0-9]+ \\(divergent barriers\\)");
}

TEST(SoftwareDeviceDeathTest, ABarrierSomeLiveThreadNeverReachesIsAnError) {
  expect_fault(
      [] {
        DeviceBuffer<float> out(64);
        ALIGN_LAUNCH(barrier_and_shuffle_kernel, 1, 64, 0, 0)(out.data());
      },
      "__syncthreads at test_software_device.cu:[0-9]+ is never reached by thread|with mask 0xffffffff waits for "
      "lane 8");
}

TEST(SoftwareDeviceDeathTest, UsingFreedDeviceMemoryIsAnError) {
  expect_fault(
      [] {
        float* p = nullptr;
        cudaMalloc(&p, 1024);
        cudaFree(p);
        ALIGN_LAUNCH(write_kernel, 1, 32, 0, 0)(p);
      },
      "kernel write_kernel: argument 1 \\(0x[0-9a-f]+\\) points into device memory that has been freed");
}

TEST(SoftwareDeviceDeathTest, AHostPointerGivenToAKernelIsAnError) {
  expect_fault(
      [] {
        static float host[32];
        ALIGN_LAUNCH(write_kernel, 1, 32, 0, 0)(host);
      },
      "kernel write_kernel: argument 1 \\(0x[0-9a-f]+\\) is not device memory");
}

TEST(SoftwareDevice, LaunchesOverTheH100sLimitsAreRefusedWithoutPoisoningTheContext) {
  DeviceBuffer<float> out(2048);
  ALIGN_LAUNCH(write_kernel, 1, 2048, 0, 0)(out.data());
  cudaError_t e = cudaGetLastError();
  EXPECT_EQ(e, cudaErrorInvalidConfiguration);
  EXPECT_NE(std::string(cudaGetErrorString(e)).find("2048 threads per block exceed the device's limit of 1024"),
            std::string::npos)
      << cudaGetErrorString(e);
  ALIGN_LAUNCH(write_kernel, 1, 32, 64 << 10, 0)(out.data());
  e = cudaGetLastError();
  EXPECT_EQ(e, cudaErrorInvalidConfiguration);
  EXPECT_NE(std::string(cudaGetErrorString(e)).find("49152-byte limit"), std::string::npos) << cudaGetErrorString(e);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "a refused launch is not sticky";
  ALIGN_LAUNCH(write_kernel, 1, 32, 0, 0)(out.data());
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

TEST(SoftwareDevice, CopiesWhoseKindDisagreesWithThePointersAreRefused) {
  DeviceBuffer<float> dev(16);
  std::vector<float> host(16, 1.f);
  EXPECT_EQ(cudaMemcpy(host.data(), dev.data(), 64, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_NE(std::string(cudaGetErrorString(cudaErrorInvalidValue)).find("the destination"), std::string::npos);
  EXPECT_EQ(cudaMemcpy(dev.data(), host.data(), 64, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(dev.data(), host.data(), 128, cudaMemcpyHostToDevice), cudaErrorInvalidValue)
      << "64 bytes past the end of the allocation";
  (void)cudaGetLastError();
  EXPECT_EQ(cudaMemcpy(dev.data(), host.data(), 64, cudaMemcpyHostToDevice), cudaSuccess);
}

TEST(SoftwareDevice, CountsAllocatedBytesAndTheirPeak) {
  size_t free0, total;
  ASSERT_EQ(cudaMemGetInfo(&free0, &total), cudaSuccess);
  EXPECT_EQ(total, 81559ull << 20) << "an H100 SXM's memory";
  emuResetPeakAllocatedBytes();
  const size_t base = total - free0;
  {
    DeviceBuffer<char> a(1 << 20), b(3 << 20);
    size_t free1;
    cudaMemGetInfo(&free1, &total);
    EXPECT_EQ(total - free1, base + (4 << 20));
  }
  size_t free2;
  cudaMemGetInfo(&free2, &total);
  EXPECT_EQ(free2, free0);
  EXPECT_EQ(emuPeakAllocatedBytes(), base + (4 << 20));
}

TEST(SoftwareDevice, NewDeviceMemoryReadsAsNaN) {
  DeviceBuffer<float> a(8);
  for (float x : a.download()) EXPECT_TRUE(std::isnan(x));
}

}  // namespace
}  // namespace align
