// nccl_check: the NCCL communicator on real GPUs (dev/gpu/check.sh runs it with one rank;
// with several GPUs: mpirun -np N or torchrun-style variables). Every collective is checked
// against the value it must produce. Prints "nccl_check: P passed, F failed".
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "common/cli.hpp"
#include "dist/nccl.hpp"

int main() {
  return align::run_main("nccl_check", []() -> int {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
      std::printf("nccl_check: no CUDA device, skipped\n");
      return 0;
    }
    auto comm = align::dist::make_nccl_communicator(60.0);
    const int R = comm->world_size(), r = comm->rank();
    const size_t count = 1000;
    std::vector<float> host(R * count);
    for (size_t i = 0; i < host.size(); i++) host[i] = (float)(r + 1) * (float)(i % 7);
    float* dev = nullptr;
    cudaMalloc(&dev, host.size() * sizeof(float));
    int passed = 0, failed = 0;
    auto check = [&](const char* what, bool ok) {
      (ok ? passed : failed)++;
      if (!ok) std::printf("FAIL %s on rank %d\n", what, r);
    };
    // all_reduce: Σ_r (r+1) = R(R+1)/2 times the pattern
    cudaMemcpy(dev, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice);
    comm->all_reduce_sum(dev, host.size());
    std::vector<float> out(host.size());
    cudaMemcpy(out.data(), dev, out.size() * sizeof(float), cudaMemcpyDeviceToHost);
    bool ok = true;
    for (size_t i = 0; i < out.size(); i++) ok &= out[i] == (float)(R * (R + 1) / 2) * (float)(i % 7);
    check("all_reduce", ok);
    // reduce_scatter then all_gather give back the all-reduced buffer
    cudaMemcpy(dev, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice);
    comm->reduce_scatter_sum(dev, count);
    comm->all_gather(dev, count);
    cudaMemcpy(out.data(), dev, out.size() * sizeof(float), cudaMemcpyDeviceToHost);
    ok = true;
    for (size_t i = 0; i < out.size(); i++) ok &= out[i] == (float)(R * (R + 1) / 2) * (float)(i % 7);
    check("reduce_scatter + all_gather", ok);
    // host memory (staged through the device): the trainer's scalars and metrics
    std::vector<double> scalars = {1.0 * (r + 1), -2.5};
    comm->all_reduce_sum(scalars.data(), scalars.size());
    check("all_reduce of host doubles", scalars[0] == R * (R + 1) / 2.0 && scalars[1] == -2.5 * R);
    std::vector<float> hbuf = host;
    comm->all_reduce_sum(hbuf.data(), hbuf.size());
    ok = true;
    for (size_t i = 0; i < hbuf.size(); i++) ok &= hbuf[i] == (float)(R * (R + 1) / 2) * (float)(i % 7);
    check("all_reduce of host floats", ok);
    // asynchronous slices after work on another stream (the backend's overlap): a kernel-free
    // stand-in, a copy on `compute` that the reduction must wait for
    cudaStream_t compute = nullptr;
    cudaStreamCreateWithFlags(&compute, cudaStreamNonBlocking);
    cudaMemsetAsync(dev, 0, host.size() * sizeof(float), compute);
    cudaMemcpyAsync(dev, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice, compute);
    comm->all_reduce_sum_async(dev, count, compute);
    comm->all_reduce_sum_async(dev + count, host.size() - count, compute);
    comm->wait_async();
    cudaStreamSynchronize(compute);
    cudaMemcpy(out.data(), dev, out.size() * sizeof(float), cudaMemcpyDeviceToHost);
    ok = true;
    for (size_t i = 0; i < out.size(); i++) ok &= out[i] == (float)(R * (R + 1) / 2) * (float)(i % 7);
    check("all_reduce_sum_async in two slices", ok);
    cudaStreamDestroy(compute);
    comm->barrier();
    cudaFree(dev);
    if (r == 0) std::printf("nccl_check: %d ranks; %d passed, %d failed\n", R, passed, failed);
    return failed ? 1 : 0;
  });
}
