// launch.hpp: who this process is in a multi-process job, from the variables
// the launchers set, and a TCP rendezvous to share a small blob (the NCCL
// unique id) from rank 0 with every rank when there is no MPI.
//   mpirun (OpenMPI)  OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_RANK
//   torchrun          RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
//   Slurm (srun)      SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID (+ MASTER_ADDR/MASTER_PORT if set)
// The first complete set wins in that order; none means a single process.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace align::dist {

struct LaunchInfo {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string source = "single";  // "mpirun", "torchrun", "slurm" or "single"
};

// getenv is injectable so the rules can be tested without touching the environment.
LaunchInfo launch_info(const std::function<const char*(const char*)>& getenv_fn);
LaunchInfo launch_info();  // from the process environment

// Rank 0 sends `blob` to every other rank over TCP at master_addr:master_port; the others
// receive it (connecting with retries). Every step is bounded by timeout_s; errors name the
// address and the rank. Returns the blob on every rank.
std::vector<uint8_t> rendezvous_broadcast(const LaunchInfo& who, std::vector<uint8_t> blob, double timeout_s);

}  // namespace align::dist
