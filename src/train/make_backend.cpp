// make_backend.cpp: --device cpu | cuda | auto -> a Backend (backend.hpp), and the
// communicator that goes with it (train_flags.hpp). Compiled into align_backends,
// which sees ALIGN_WITH_CUDA in CUDA builds.
#include <cstdio>

#include "common/error.hpp"
#include "dist/launch.hpp"
#include "train/backend.hpp"
#include "train/train_flags.hpp"

#ifdef ALIGN_WITH_CUDA
#include "cuda/check.cuh"
#include "cuda/cuda_backend.hpp"
#include "dist/nccl.hpp"
#endif

namespace align::train {

bool cuda_device_present() {
#ifdef ALIGN_WITH_CUDA
  return cuda::device_available();
#else
  return false;
#endif
}

std::unique_ptr<Backend> make_backend(const std::string& device, const std::string& dtype, const ModelConfig& config,
                                      std::span<const float> params) {
  const std::string d = device == "auto" ? (cuda_device_present() ? "cuda" : "cpu") : device;
  ALIGN_REQUIRE(dtype == "auto" || dtype == "fp32" || dtype == "bf16", "--dtype '", dtype,
                "' is not known, expected fp32, bf16 or auto");
  if (d == "cpu") {
    ALIGN_REQUIRE(dtype != "bf16", "--dtype bf16 needs --device cuda; the CPU backend computes in fp32");
    return make_cpu_backend(config, params);
  }
  if (d == "cuda") {
#ifdef ALIGN_WITH_CUDA
    return cuda::make_cuda_backend(config, params, dtype == "fp32" ? cuda::Precision::FP32 : cuda::Precision::BF16);
#else
    throw InputError("--device cuda: this build has no CUDA support (nvcc was not found at configure time)");
#endif
  }
  throw InputError(cat("--device '", device, "' is not known, expected cpu, cuda or auto"));
}

std::unique_ptr<dist::Communicator> start_communicator(CommonFlags& f) {
  ALIGN_REQUIRE(f.dist_timeout > 0, "--dist-timeout must be > 0");
  std::unique_ptr<dist::Communicator> comm;
  const bool gpu = f.device == "cuda" || (f.device == "auto" && cuda_device_present());
#ifdef ALIGN_WITH_CUDA
  // GPU ranks: NCCL (it also selects this rank's GPU, LOCAL_RANK, before any backend allocates).
  if (gpu && dist::launch_info().world_size > 1) comm = dist::make_nccl_communicator(f.dist_timeout);
#endif
  if (!comm) {
    // Several ranks announced by torchrun-style variables but no MPI to join them: refuse rather
    // than let every process train alone on the whole data. (Slurm variables alone are not
    // enough to refuse: a batch script's own shell has them too.)
    const dist::LaunchInfo who = dist::launch_info();
    ALIGN_REQUIRE(
        who.source != "torchrun" || who.world_size == 1 || (dist::launched_by_mpi() && dist::mpi_available()),
        who.source, " started ", who.world_size, " ranks, but ",
        gpu ? "GPU ranks need NCCL, which this build lacks"
            : "CPU ranks need mpirun (MPI); torchrun-style and Slurm variables start GPU ranks (--device cuda)");
    comm = dist::make_communicator(f.dist_timeout);
  }
  f.opt.comm = comm.get();
  if (comm->rank() == 0 && comm->world_size() > 1)
    std::printf("data parallel: %d %s ranks, %d pairs or examples per rank per micro-batch%s\n", comm->world_size(),
                comm->name(), f.opt.batch_size / comm->world_size(), f.opt.zero1 ? ", ZeRO-1" : "");
  return comm;
}

}  // namespace align::train
