// tensor_table.hpp: the tensor table, the only place that knows which parameter
// tensors a model has, their shapes, and where each lives in one flat buffer.
//
// Layout: embeddings, then layer 0 .. L-1 (each layer's tensors contiguous, so
// a layer's gradient can be reduced as one slice), then the final norm and the
// untied head. Each offset is aligned to kAlign elements (256 bytes in fp32) so
// device kernels can use vector loads on any tensor; the gaps are zero and
// count in total_size() but not in num_parameters().
// Linear weights are stored (out, in) row-major, like torch.nn.Linear; fused
// projections concatenate rows: qkv = [q (NH*HS); k (NKV*HS); v (NKV*HS)] and,
// for SwiGLU, mlp_in = [gate (F); up (F)].
// Code that needs pointers asks for a ModelView (model_view.hpp) built from
// this table by name; nothing else depends on tensor order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/config.hpp"

namespace align {

// A contiguous range [begin, end) of the flat buffer.
struct Slice {
  size_t begin = 0, end = 0;
  size_t size() const { return end - begin; }
};

struct TensorSpec {
  std::string name;            // e.g. "layers.3.attn.qkv.weight"
  std::vector<int64_t> shape;  // row-major
  size_t offset = 0;           // in elements from the start of the flat buffer
  size_t numel = 0;
  bool decay = false;  // AdamW weight decay applies (matrices of linear layers only)
};

// Tensor names. Per-layer names are "layers.{i}." + the suffix.
namespace tensor_names {
inline constexpr const char* kTokEmbed = "tok_embed.weight";     // (Vp, C)
inline constexpr const char* kPosEmbed = "pos_embed.weight";     // (T_max, C), gpt2 only
inline constexpr const char* kAttnNormW = "attn_norm.weight";    // (C)
inline constexpr const char* kAttnNormB = "attn_norm.bias";      // (C), gpt2 only
inline constexpr const char* kQkvW = "attn.qkv.weight";          // (NH*HS + 2*NKV*HS, C)
inline constexpr const char* kQkvB = "attn.qkv.bias";            // (NH*HS + 2*NKV*HS)
inline constexpr const char* kAttnOutW = "attn.out.weight";      // (C, NH*HS)
inline constexpr const char* kAttnOutB = "attn.out.bias";        // (C), gpt2 only
inline constexpr const char* kMlpNormW = "mlp_norm.weight";      // (C)
inline constexpr const char* kMlpNormB = "mlp_norm.bias";        // (C), gpt2 only
inline constexpr const char* kMlpInW = "mlp.in.weight";          // gpt2 (F, C); llama (2F, C) = [gate; up]
inline constexpr const char* kMlpInB = "mlp.in.bias";            // (F), gpt2 only
inline constexpr const char* kMlpOutW = "mlp.out.weight";        // (C, F)
inline constexpr const char* kMlpOutB = "mlp.out.bias";          // (C), gpt2 only
inline constexpr const char* kFinalNormW = "final_norm.weight";  // (C)
inline constexpr const char* kFinalNormB = "final_norm.bias";    // (C), gpt2 only
inline constexpr const char* kLmHead = "lm_head.weight";         // (Vp, C), untied heads only
std::string layer(int i, const char* suffix);
}  // namespace tensor_names

class TensorTable {
 public:
  static constexpr size_t kAlign = 64;  // elements

  explicit TensorTable(const ModelConfig& config);

  const std::vector<TensorSpec>& tensors() const { return tensors_; }
  const TensorSpec* find(std::string_view name) const;  // nullptr when the model has no such tensor
  const TensorSpec& at(std::string_view name) const;    // throws Error when absent
  size_t total_size() const { return total_size_; }     // elements of the flat buffer, alignment gaps included
  size_t num_parameters() const { return num_parameters_; }
  // The flat buffer cut where a backward pass finishes gradients, in the order
  // it finishes them: the tail (final norm, untied head), layer L-1, ..., layer 0,
  // the embeddings (last: a tied head adds to tok_embed at both ends of the pass).
  // Data parallel reduces each slice over the ranks as soon as it is final.
  // The slices are disjoint and cover [0, total_size()) with the gaps.
  std::vector<Slice> backward_slices() const;

 private:
  void add(std::string name, std::vector<int64_t> shape, bool decay);
  std::vector<TensorSpec> tensors_;
  size_t total_size_ = 0;
  size_t num_parameters_ = 0;
  int n_layer_ = 0;
};

}  // namespace align
