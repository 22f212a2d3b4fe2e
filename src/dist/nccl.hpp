// nccl.hpp: the NCCL communicator (communicator.hpp) for GPU ranks, in CUDA
// builds only. One rank per GPU (the device is LOCAL_RANK); rank and world
// size come from launch.hpp (mpirun, torchrun or Slurm variables); rank 0's
// NCCL unique id reaches the others over MPI when the job was started by
// mpirun, otherwise over the TCP rendezvous at MASTER_ADDR:MASTER_PORT.
// Data may be device memory (used in place) or host memory (staged through a
// device buffer, so the trainer's small host collectives — stop flags, metrics,
// token counts — work unchanged). Collectives run on the communicator's own
// stream; each waits for completion under the timeout, and a collective that
// does not complete aborts the NCCL communicator and ends the job with a line
// naming the rank, the operation and the step.
//
// For the overlap of gradient reduction with the backward pass, the CUDA
// backend enqueues asynchronous all-reduces of finished gradient slices
// (all_reduce_sum_async) while it computes the next layer, then waits once.
#pragma once

#include <cuda_runtime.h>

#include <memory>

#include "dist/communicator.hpp"

namespace align::dist {

class NcclCommunicator : public Communicator {
 public:
  // Enqueues an in-place sum over the ranks of device memory on the communicator's
  // stream, ordered after the work queued so far on `after` (an event joins the two
  // streams), and returns at once: `after` goes on with the next layer meanwhile.
  virtual void all_reduce_sum_async(float* device_data, size_t n, cudaStream_t after) = 0;
  // Waits on the host, under the timeout, until every collective enqueued so far is done.
  virtual void wait_async() = 0;
};

std::unique_ptr<NcclCommunicator> make_nccl_communicator(double timeout_s);

}  // namespace align::dist
