// hf_layout.hpp: how Hugging Face transformers' tensors map onto our tensor table.
//
// This is the one statement of the correspondence; Hugging Face import, export
// and the golden tests all go through it.
//   gpt2  (GPT2LMHeadModel): Conv1D weights are stored (in, out), so every
//         linear weight is transposed; c_attn already holds [q; k; v].
//   llama (LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM): Linear
//         weights are (out, in) like ours; q, k, v are concatenated into qkv
//         and gate, up into mlp.in.
// The embedding and head hold V rows in the file and Vp >= V rows here; the
// extra rows are zero.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/config.hpp"
#include "model/safetensors.hpp"
#include "model/tensor_table.hpp"

namespace align {

// One of our tensors and where its rows come from: the listed Hugging Face
// tensors stacked along the first axis, each transposed first when `transpose`.
struct HfSource {
  const TensorSpec* tensor = nullptr;
  std::vector<std::string> hf_names;
  bool transpose = false;
};

// prefix: "transformer." / "model." as the file writes it ("" for bare base models).
std::vector<HfSource> hf_tensor_map(const ModelConfig& config, const TensorTable& table, const std::string& prefix,
                                    bool include_tied_head = false);

// config.json (transformers v4 or v5 spelling) -> ModelConfig. `where` names the file in errors.
ModelConfig config_from_hf_json(const nlohmann::json& cfg, const std::string& where);
ModelConfig read_hf_config(const std::string& config_json_path);

struct HfLoadReport {
  std::vector<std::string> ignored_buffers;  // non-parameter buffers such as gpt2's attn.bias masks
  std::vector<std::string> unused;           // anything else in the file that no tensor took (reported, never silent)
};

// Checks that every tensor the config needs is in the checkpoint with the right number of
// elements, before anything is allocated for it (a config.json cannot make us allocate more
// than the checkpoint holds).
void check_hf_tensors(const ModelConfig& config, const SafetensorsSet& file);

// Fills params (TensorTable(config).total_size() floats; padding rows and gaps zeroed) from a
// checkpoint (one file or shards).
HfLoadReport load_hf_weights(const ModelConfig& config, const SafetensorsSet& file, float* params);

// The inverse, for export: every Hugging Face tensor of the model (tied heads omitted, as
// transformers writes them), with the vocabulary padding dropped and Conv1D weights transposed back.
struct HfTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
};
std::vector<HfTensor> hf_tensors_from_params(const ModelConfig& config, const float* params);

// config.json for transformers (keys that both v4 and v5 read). torch_dtype names the weights' dtype.
nlohmann::json hf_config_json(const ModelConfig& config, const std::string& torch_dtype);

}  // namespace align
