// backend.hpp: the interface the trainer drives (DESIGN.md §3). A backend
// owns a model's parameters and gradients and computes per-token
// log-probabilities and their backward pass; the trainer never sees whether
// that happens on the CPU or a GPU.
//   forward(batch, logp[, stats])  logp (N, T) float; stats optional (metrics, WPO)
//   backward(dlogp)                parameter gradients += ∂(Σ dlogp·logp)/∂θ
// Parameters and gradients are exposed as host float spans in the tensor
// table's flat layout (a device backend mirrors them), so the optimizer,
// checkpoints and gradient norm are written once.
//   set_gradient_reduction(comm)   data parallel: backward() also sums the
//                                  gradients over comm's ranks, slice by slice
//   make_optimizer(options, slice) AdamW where the parameters live
//   reduce_scatter_gradients,      ZeRO-1's exchanges, where the buffers live
//   all_gather_parameters
#pragma once

#include <memory>
#include <span>
#include <string>

#include "model/batch.hpp"
#include "model/config.hpp"
#include "model/tensor_table.hpp"
#include "train/optimizer.hpp"

namespace align::dist {
class Communicator;
}

namespace align::train {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const ModelConfig& config() const = 0;
  virtual const TensorTable& table() const = 0;
  virtual void forward(const Batch& batch, float* logp /*(N,T)*/, TokenStats* stats) = 0;
  virtual void backward(const float* dlogp /*(N,T)*/) = 0;
  virtual std::span<float> params() = 0;  // (table().total_size())
  virtual std::span<float> grads() = 0;   // (table().total_size())
  virtual void zero_grad() = 0;
  // Data parallel. While a communicator is set, each backward() returns with the
  // gradients (all of them, accumulated ones included) summed over its ranks. The
  // backend sums each slice of table().backward_slices() as soon as the pass has
  // finished it, so where it can (the CUDA backend with NCCL, which reduces on
  // the communicator's own stream) the reduction of one layer overlaps the
  // backward of the layers below it. nullptr (the start) turns it off; the
  // trainer sets it for the last micro-batch of each optimizer step only.
  virtual void set_gradient_reduction(dist::Communicator* comm) = 0;
  // The AdamW step over a slice of the buffer (all of it, or this rank's ZeRO-1 shard), where
  // the parameters live (optimizer.hpp). The default runs on the host over params()/grads();
  // the CUDA backend runs it on the device.
  virtual std::unique_ptr<Optimizer> make_optimizer(const AdamWOptions& options, Slice slice) {
    return make_host_adamw(*this, options, slice);
  }
  // ZeRO-1: the gradients of this rank's shard summed over comm's ranks (reduce-scatter), and,
  // after the shard's update, every rank's shard to every rank (all-gather). The defaults go
  // through the host spans; the CUDA backend exchanges its device buffers over NCCL.
  virtual void reduce_scatter_gradients(dist::Communicator& comm, const Shard& shard) {
    host_reduce_scatter_gradients(*this, comm, shard);
  }
  virtual void all_gather_parameters(dist::Communicator& comm, const Shard& shard) {
    host_all_gather_parameters(*this, comm, shard);
  }
  using Scalar = float;
};

// The CPU reference (float32, BLAS matmuls) as a backend.
std::unique_ptr<Backend> make_cpu_backend(const ModelConfig& config, std::span<const float> params);

// --device: "cpu", "cuda" (CUDA builds) or "auto" (cuda when a GPU is present); --dtype: "fp32",
// "bf16" (CUDA only: bf16 mixed precision) or "auto" (bf16 on cuda, fp32 on the CPU). Defined in
// align_backends (src/train/make_backend.cpp), which the command-line tools link.
std::unique_ptr<Backend> make_backend(const std::string& device, const std::string& dtype, const ModelConfig& config,
                                      std::span<const float> params);
bool cuda_device_present();

}  // namespace align::train
