// communicator.hpp: the collectives data-parallel training needs, behind one
// interface with three implementations:
//   single process   every collective is the identity (world size 1)
//   MPI              CPU ranks (OpenMPI), launched by mpirun or srun
//   NCCL             GPU ranks (the CUDA backend; the unique id travels over MPI)
// Every blocking collective runs under a watchdog: if the peers do not answer
// within the timeout, the job ends with an error naming this rank, the
// operation and the training step, instead of hanging.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace align::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual const char* name() const = 0;
  virtual void all_reduce_sum(float* data, size_t n) = 0;   // in place, on every rank
  virtual void all_reduce_sum(double* data, size_t n) = 0;
  // data holds world_size() slices of `count` elements; slice rank() of the sum ends up in place.
  virtual void reduce_scatter_sum(float* data, size_t count) = 0;
  // data holds world_size() slices of `count` elements; each rank's own slice is sent to all.
  virtual void all_gather(float* data, size_t count) = 0;
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // The training step, named in timeout errors.
  void set_step(long step) { step_ = step; }
  long step() const { return step_; }

 protected:
  long step_ = 0;
};

std::unique_ptr<Communicator> make_single_communicator();

// True when built with MPI support (OpenMPI found at configure time).
bool mpi_available();
// Whether this process was started by an MPI launcher (mpirun / srun with PMI).
bool launched_by_mpi();
// An MPI communicator over MPI_COMM_WORLD; timeout_s bounds every collective.
std::unique_ptr<Communicator> make_mpi_communicator(double timeout_s);

// MPI when launched by mpirun (and built with it), otherwise a single process.
std::unique_ptr<Communicator> make_communicator(double timeout_s);

}  // namespace align::dist
