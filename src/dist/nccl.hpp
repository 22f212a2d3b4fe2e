// nccl.hpp: the NCCL communicator (communicator.hpp) for GPU ranks, in CUDA
// builds only. One rank per GPU (the device is LOCAL_RANK); rank and world
// size come from launch.hpp (mpirun, torchrun or Slurm variables); rank 0's
// NCCL unique id reaches the others over MPI when the job was started by
// mpirun, otherwise over the TCP rendezvous at MASTER_ADDR:MASTER_PORT.
// Data pointers are device pointers. Collectives run on the communicator's own
// stream; each waits for completion under the timeout, and a collective that
// does not complete aborts the NCCL communicator and ends the job with a line
// naming the rank, the operation and the step.
#pragma once

#include <memory>

#include "dist/communicator.hpp"

namespace align::dist {

std::unique_ptr<Communicator> make_nccl_communicator(double timeout_s);

}  // namespace align::dist
