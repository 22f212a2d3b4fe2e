// cpu_backend.cpp: the CPU reference model behind the Backend interface (backend.hpp).
#include <algorithm>

#include "common/error.hpp"
#include "cpu/model_cpu.hpp"
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
  void backward(const float* dlogp) override { model_.backward(dlogp); }
  std::span<float> params() override { return model_.params(); }
  std::span<float> grads() override { return model_.grads(); }
  void zero_grad() override { model_.zero_grad(); }

 private:
  cpu::CpuModel<float> model_;
};
}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const ModelConfig& config, std::span<const float> params) {
  return std::make_unique<CpuBackend>(config, params);
}

}  // namespace align::train
