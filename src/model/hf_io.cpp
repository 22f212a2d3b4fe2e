// hf_io.cpp: Hugging Face import and export (hf_io.hpp).
#include "model/hf_io.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.hpp"
#include "common/file_io.hpp"
#include "model/checkpoint.hpp"
#include "model/safetensors.hpp"
#include "model/tensor_table.hpp"

namespace align {

namespace fs = std::filesystem;

const std::vector<std::string>& hf_tokenizer_files() {
  static const std::vector<std::string> files = {"tokenizer.json",   "tokenizer_config.json", "special_tokens_map.json",
                                                 "vocab.json",       "merges.txt",            "tokenizer.model",
                                                 "added_tokens.json", "generation_config.json", "chat_template.jinja"};
  return files;
}

ImportedModel import_hf(const std::string& dir) {
  ALIGN_REQUIRE(fs::is_directory(dir), dir, ": not a directory (expected a Hugging Face model directory)");
  ImportedModel m;
  m.config = read_hf_config((fs::path(dir) / "config.json").string());
  const SafetensorsSet weights(dir);
  m.num_source_tensors = weights.names().size();
  check_hf_tensors(m.config, weights);  // before allocating what config.json describes
  m.params.resize(TensorTable(m.config).total_size());
  m.report = load_hf_weights(m.config, weights, m.params.data());
  const std::string bad = find_bad_weight(m.config, m.params.data());
  ALIGN_REQUIRE(bad.empty(), dir, ": ", bad);
  return m;
}

std::vector<std::string> export_hf(const std::string& out_dir, const ModelConfig& config, const float* params,
                                   const std::string& dtype, const std::string& tokenizer_dir) {
  ALIGN_REQUIRE(dtype == "fp32" || dtype == "bf16" || dtype == "fp16", "--dtype '", dtype,
                "' is not known, expected fp32, bf16 or fp16");
  config.validate("model");
  std::error_code ec;
  ALIGN_REQUIRE(!fs::exists(out_dir, ec) || (fs::is_directory(out_dir, ec) && fs::is_empty(out_dir, ec)), out_dir,
                ": exists and is not an empty directory (export writes a new directory)");
  if (!tokenizer_dir.empty())
    ALIGN_REQUIRE(fs::is_directory(tokenizer_dir, ec), tokenizer_dir, ": not a directory (--tokenizer)");
  const fs::path target = fs::absolute(out_dir);
  const fs::path tmp = target.parent_path() / cat(".", target.filename().string(), ".tmp.", ::getpid());
  fs::remove_all(tmp, ec);
  ALIGN_REQUIRE(fs::create_directories(tmp, ec), tmp.string(), ": cannot create: ", ec.message());
  std::vector<std::string> copied;
  try {
    const std::vector<HfTensor> tensors = hf_tensors_from_params(config, params);
    std::vector<SafeTensorOut> out;
    for (const HfTensor& t : tensors) out.push_back({t.name, t.shape, t.data.data()});
    const char* st_dtype = dtype == "fp32" ? "F32" : dtype == "bf16" ? "BF16" : "F16";
    const char* torch_dtype = dtype == "fp32" ? "float32" : dtype == "bf16" ? "bfloat16" : "float16";
    write_safetensors((tmp / "model.safetensors").string(), out, st_dtype, {{"format", "pt"}});
    const std::string json = hf_config_json(config, torch_dtype).dump(2) + "\n";
    write_file_atomic((tmp / "config.json").string(),
                      [&](std::FILE* fp) { write_all(fp, json.data(), json.size(), "config.json"); });
    if (!tokenizer_dir.empty())
      for (const std::string& f : hf_tokenizer_files()) {
        const fs::path src = fs::path(tokenizer_dir) / f;
        if (!fs::exists(src)) continue;
        fs::copy_file(src, tmp / f, ec);
        ALIGN_REQUIRE(!ec, src.string(), ": cannot copy: ", ec.message());
        copied.push_back(f);
      }
    if (fs::exists(target)) fs::remove(target);  // the empty directory checked above
    fs::rename(tmp, target, ec);
    ALIGN_REQUIRE(!ec, out_dir, ": cannot move the export into place: ", ec.message());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  return copied;
}

}  // namespace align
