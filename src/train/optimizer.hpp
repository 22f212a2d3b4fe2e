// optimizer.hpp: the optimizer step as the trainer sees it, wherever the
// parameters live. A backend makes its optimizer (Backend::make_optimizer):
// the CPU reference runs AdamW on its host buffers; the CUDA backend runs the
// same update as a kernel on the device, so a step moves no parameters or
// gradients over PCIe. Both keep the AdamW state of one slice of the flat
// buffer (all of it, or one rank's shard under ZeRO-1) and write it to
// checkpoints in one format (adamw.hpp), so a run may resume on either.
//   grad_sq_sum()        Σ g² over the slice (for the global norm and clipping)
//   step(lr, scale)      AdamW on the slice with the gradients times `scale`
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "model/tensor_table.hpp"
#include "train/adamw.hpp"

namespace align::train {

class Backend;
}  // namespace align::train
namespace align::dist {
class Communicator;
}
namespace align::train {

// ZeRO-1: the slice [begin, end) of the flat buffer that one rank owns; every rank's slice has
// `count` = ceil(total / ranks) places, so ranks·count covers the buffer (the last slices may be
// short or empty).
struct Shard {
  size_t count = 0, begin = 0, end = 0;
  Slice slice() const { return {begin, end}; }
};
Shard shard_of(size_t total, int rank, int ranks);

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual Slice slice() const = 0;
  virtual double grad_sq_sum() = 0;
  virtual void step(double lr, float grad_scale) = 0;
  virtual int64_t steps() const = 0;
  virtual void save(const std::string& path) const = 0;  // atomic
  virtual void load(const std::string& path) = 0;        // InputError when it does not fit
};

// AdamW on the host over backend.params() / grads() (the CPU backend's own buffers, or a
// device backend's host mirrors): the reference and the ZeRO-1 path.
std::unique_ptr<Optimizer> make_host_adamw(Backend& backend, const AdamWOptions& options, Slice slice);

// The ZeRO-1 exchanges through the host spans (params()/grads()), padded to ranks·count:
// the default of Backend::reduce_scatter_gradients / all_gather_parameters.
void host_reduce_scatter_gradients(Backend& backend, dist::Communicator& comm, const Shard& shard);
void host_all_gather_parameters(Backend& backend, dist::Communicator& comm, const Shard& shard);

}  // namespace align::train
