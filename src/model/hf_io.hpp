// hf_io.hpp: Hugging Face model directories <-> our model (config + flat parameters).
//
// import_hf reads config.json and model.safetensors (or the shards named by
// model.safetensors.index.json), in F32, BF16, F16 or F64; export_hf writes a
// directory that transformers' from_pretrained loads unchanged: config.json,
// model.safetensors (F32, BF16 or F16) and, when given a source, the
// tokenizer files. The export is written beside the target and renamed into
// place, so a failed export leaves nothing behind.
#pragma once

#include <string>
#include <vector>

#include "model/config.hpp"
#include "model/hf_layout.hpp"

namespace align {

struct ImportedModel {
  ModelConfig config;
  std::vector<float> params;  // (TensorTable(config).total_size())
  HfLoadReport report;
  size_t num_source_tensors = 0;
};

ImportedModel import_hf(const std::string& dir);

// dtype: "fp32", "bf16" or "fp16". tokenizer_dir: a directory whose tokenizer files are copied, or "".
// Returns the tokenizer files copied.
std::vector<std::string> export_hf(const std::string& out_dir, const ModelConfig& config, const float* params,
                                   const std::string& dtype, const std::string& tokenizer_dir);

// The tokenizer and generation files export copies when they exist.
const std::vector<std::string>& hf_tokenizer_files();

}  // namespace align
