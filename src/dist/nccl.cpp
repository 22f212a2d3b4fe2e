// nccl.cpp: NCCL communicator (nccl.hpp).
#include "dist/nccl.hpp"

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "common/error.hpp"
#include "dist/launch.hpp"

namespace align::dist {

namespace {

void cuda_ok(cudaError_t e, const char* what) {
  ALIGN_ASSERT(e == cudaSuccess, what, ": ", cudaGetErrorString(e));
}
void nccl_ok(ncclResult_t r, const char* what) {
  ALIGN_ASSERT(r == ncclSuccess, what, ": ", ncclGetErrorString(r));
}

class Nccl final : public NcclCommunicator {
 public:
  explicit Nccl(double timeout_s) : timeout_(timeout_s), who_(launch_info()) {
    int devices = 0;
    cuda_ok(cudaGetDeviceCount(&devices), "cudaGetDeviceCount");
    ALIGN_REQUIRE(devices > 0, "rank ", who_.rank, ": no CUDA device for NCCL");
    ALIGN_REQUIRE(who_.local_rank < devices, "rank ", who_.rank, ": local rank ", who_.local_rank, " but only ",
                  devices, " GPUs on this node (one rank per GPU)");
    cuda_ok(cudaSetDevice(who_.local_rank), "cudaSetDevice");
    ncclUniqueId id;
    if (who_.rank == 0) nccl_ok(ncclGetUniqueId(&id), "ncclGetUniqueId");
    std::vector<uint8_t> blob(reinterpret_cast<uint8_t*>(&id), reinterpret_cast<uint8_t*>(&id) + sizeof(id));
    if (mpi_available() && launched_by_mpi()) {
      mpi_ = make_mpi_communicator(timeout_s);  // also keeps MPI alive for the job's lifetime
      mpi_->broadcast(blob.data(), blob.size(), 0);
    } else {
      blob = rendezvous_broadcast(who_, blob, timeout_s);
    }
    ALIGN_ASSERT(blob.size() == sizeof(id), "NCCL id of ", blob.size(), " bytes");
    std::memcpy(&id, blob.data(), sizeof(id));
    nccl_ok(ncclCommInitRank(&comm_, who_.world_size, id, who_.rank), "ncclCommInitRank");
    cuda_ok(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    cuda_ok(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming), "cudaEventCreate");
  }
  ~Nccl() override {
    if (comm_) ncclCommDestroy(comm_);
    if (ready_) cudaEventDestroy(ready_);
    if (stream_) cudaStreamDestroy(stream_);
    if (scratch_) cudaFree(scratch_);
  }
  int rank() const override { return who_.rank; }
  int world_size() const override { return who_.world_size; }
  const char* name() const override { return "nccl"; }
  void all_reduce_sum(float* d, size_t n) override {
    collective("all_reduce", d, n * sizeof(float),
               [&](void* x) { return ncclAllReduce(x, x, n, ncclFloat32, ncclSum, comm_, stream_); });
  }
  void all_reduce_sum(double* d, size_t n) override {
    collective("all_reduce", d, n * sizeof(double),
               [&](void* x) { return ncclAllReduce(x, x, n, ncclFloat64, ncclSum, comm_, stream_); });
  }
  void reduce_scatter_sum(float* d, size_t count) override {
    collective("reduce_scatter", d, (size_t)who_.world_size * count * sizeof(float), [&](void* x) {
      float* f = static_cast<float*>(x);
      return ncclReduceScatter(f, f + (size_t)who_.rank * count, count, ncclFloat32, ncclSum, comm_, stream_);
    });
  }
  void all_gather(float* d, size_t count) override {
    collective("all_gather", d, (size_t)who_.world_size * count * sizeof(float), [&](void* x) {
      float* f = static_cast<float*>(x);
      return ncclAllGather(f + (size_t)who_.rank * count, f, count, ncclFloat32, comm_, stream_);
    });
  }
  void broadcast(void* d, size_t bytes, int root) override {
    collective("broadcast", d, bytes,
               [&](void* x) { return ncclBroadcast(x, x, bytes, ncclUint8, root, comm_, stream_); });
  }
  void barrier() override {
    float one = 1.f;  // NCCL has no barrier: an all-reduce of one element serves
    all_reduce_sum(&one, 1);
  }
  void all_reduce_sum_async(float* d, size_t n, cudaStream_t after) override {
    cuda_ok(cudaEventRecord(ready_, after), "cudaEventRecord");
    cuda_ok(cudaStreamWaitEvent(stream_, ready_, 0), "cudaStreamWaitEvent");
    nccl_ok(ncclAllReduce(d, d, n, ncclFloat32, ncclSum, comm_, stream_), "all_reduce (gradients)");
  }
  void wait_async() override { wait("all_reduce (gradients)"); }

 private:
  static bool on_device(const void* p) {
    cudaPointerAttributes a{};
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
      (void)cudaGetLastError();  // an unregistered host pointer on older runtimes: clear the error
      return false;
    }
    return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
  }
  // Runs `launch` on device memory: `data` itself, or a device copy of host data that is
  // copied back once the collective has completed (waited for under the timeout first, so a
  // peer that never arrives cannot block the host inside a copy).
  template <typename Launch>
  void collective(const char* op, void* data, size_t bytes, Launch launch) {
    if (on_device(data)) {
      nccl_ok(launch(data), op);
      wait(op);
      return;
    }
    if (bytes > scratch_bytes_) {
      if (scratch_) cuda_ok(cudaFree(scratch_), "cudaFree");
      cuda_ok(cudaMalloc(&scratch_, bytes), "cudaMalloc");
      scratch_bytes_ = bytes;
    }
    cuda_ok(cudaMemcpyAsync(scratch_, data, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync");
    nccl_ok(launch(scratch_), op);
    wait(op);
    cuda_ok(cudaMemcpy(data, scratch_, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy");
  }
  // Waits until the stream has drained, at most timeout_ seconds.
  void wait(const char* op) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds((long)(timeout_ * 1000));
    while (true) {
      const cudaError_t q = cudaStreamQuery(stream_);
      if (q == cudaSuccess) return;
      ALIGN_ASSERT(q == cudaErrorNotReady, op, ": ", cudaGetErrorString(q));
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess || std::chrono::steady_clock::now() > deadline) {
        std::fprintf(stderr, "rank %d: error: %s at step %ld %s; aborting the job\n", who_.rank, op, step_,
                     async != ncclSuccess ? ncclGetErrorString(async)
                                          : "got no answer from the other ranks within the --dist-timeout");
        std::fflush(stderr);
        ncclCommAbort(comm_);
        comm_ = nullptr;
        std::_Exit(3);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  double timeout_;
  LaunchInfo who_;
  std::unique_ptr<Communicator> mpi_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ready_ = nullptr;  // "the gradients up to here are final" on the backend's stream
  void* scratch_ = nullptr;      // staging for host data
  size_t scratch_bytes_ = 0;
};

}  // namespace

std::unique_ptr<NcclCommunicator> make_nccl_communicator(double timeout_s) {
  return std::make_unique<Nccl>(timeout_s);
}

}  // namespace align::dist
