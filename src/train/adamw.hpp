// adamw.hpp: AdamW with decoupled weight decay (Loshchilov & Hutter), as
// torch.optim.AdamW computes it, over the flat parameter buffer:
//   p ← p − lr·wd·p                  (only tensors whose table entry has decay)
//   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²
//   p ← p − lr · (m / (1−β1^t)) / (√(v / (1−β2^t)) + ε)
// State (m, v, t) is saved in training checkpoints for exact resumption.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/tensor_table.hpp"

namespace align::train {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
};

class AdamW {
 public:
  // Optimizes elements [begin, end) of the flat buffer (all of it by default; a slice per rank
  // under ZeRO-1). step() takes the spans of exactly that range.
  AdamW(const TensorTable& table, const AdamWOptions& opt, size_t begin = 0, size_t end = SIZE_MAX);
  // grad_scale multiplies each gradient first (global-norm clipping).
  void step(std::span<float> params, std::span<const float> grads, double lr, float grad_scale = 1.f);
  size_t begin() const { return begin_; }
  size_t size() const { return m_.size(); }
  int64_t steps() const { return t_; }
  void save(const std::string& path) const;  // atomic
  void load(const std::string& path);        // InputError when it does not fit this model

 private:
  AdamWOptions opt_;
  size_t begin_ = 0;
  std::vector<uint8_t> decay_;  // (end - begin) 1 where weight decay applies
  std::vector<float> m_, v_;
  int64_t t_ = 0;
};

// sqrt(Σ g²) over the whole buffer, accumulated in double in a fixed order.
double global_grad_norm(std::span<const float> grads);

// The checkpoint format of the AdamW state (m, v of n elements and the step count t), shared by
// the host and device optimizers. load checks that the file holds n elements.
void save_adamw_state(const std::string& path, int64_t t, std::span<const float> m, std::span<const float> v);
int64_t load_adamw_state(const std::string& path, std::span<float> m, std::span<float> v);

}  // namespace align::train
