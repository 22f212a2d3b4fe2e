// cpu_backend.cpp: the CPU reference model behind the Backend interface (backend.hpp).
#include <algorithm>

#include "common/error.hpp"
#include "cpu/model_cpu.hpp"
#include "dist/communicator.hpp"
#include "train/backend.hpp"

namespace align::train {

namespace {
class CpuBackend final : public Backend {
 public:
  CpuBackend(const ModelConfig& c, std::span<const float> p) : model_(c) {
    ALIGN_ASSERT(p.size() == model_.params().size(), "parameters of size ", p.size(), ", expected ",
                 model_.params().size());
    std::copy(p.begin(), p.end(), model_.params().begin());
    // Training never reads the logits, so the LM head runs over vocabulary chunks and the
    // (N, T, Vp) logits are never allocated. 4096 columns keep the chunk GEMMs wide.
    model_.set_vocab_chunk(4096);
  }
  const ModelConfig& config() const override { return model_.config(); }
  const TensorTable& table() const override { return model_.table(); }
  void forward(const Batch& b, float* logp, TokenStats* stats) override { model_.forward(b, logp, stats); }
  // The CPU model's backward runs whole; then the slices are summed in the order the pass
  // finished them (MPI collectives block, so there is no overlap to gain on CPU ranks).
  void backward(const float* dlogp) override {
    model_.backward(dlogp);
    if (!reduce_over_) return;
    const std::span<float> g = model_.grads();
    for (const Slice& s : model_.table().backward_slices()) reduce_over_->all_reduce_sum(g.data() + s.begin, s.size());
  }
  void set_gradient_reduction(dist::Communicator* comm) override { reduce_over_ = comm; }
  std::span<float> params() override { return model_.params(); }
  std::span<float> grads() override { return model_.grads(); }
  void zero_grad() override { model_.zero_grad(); }

 private:
  cpu::CpuModel<float> model_;
  dist::Communicator* reduce_over_ = nullptr;
};
}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const ModelConfig& config, std::span<const float> params) {
  return std::make_unique<CpuBackend>(config, params);
}

}  // namespace align::train
