// import_hf: a Hugging Face model directory (config.json + safetensors, sharded
// or not, F32/BF16/F16/F64) -> model.bin. Supports GPT2LMHeadModel,
// LlamaForCausalLM, MistralForCausalLM (without sliding windows) and
// Qwen2ForCausalLM. Tensors that no parameter takes are listed, never dropped
// silently.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/cli.hpp"
#include "model/checkpoint.hpp"
#include "model/hf_io.hpp"
#include "model/tensor_table.hpp"

int main(int argc, char** argv) {
  return align::run_main("import_hf", [&]() -> int {
    CLI::App app{"convert a Hugging Face model directory to an align.cu model.bin", "import_hf"};
    std::string dir, out, dtype = "fp32";
    app.add_option("hf_dir", dir, "directory with config.json and model.safetensors (or shards + index)")->required();
    app.add_option("-o,--output", out, "model.bin to write")->required();
    app.add_option("--dtype", dtype, "storage dtype of model.bin: fp32 or bf16")->capture_default_str();
    if (const int rc = align::parse_args(app, argc, argv); rc >= 0) return rc;
    const align::DType d = align::parse_dtype(dtype);
    const align::ImportedModel m = align::import_hf(dir);
    align::save_model(out, m.config, m.params.data(), d);
    std::printf("%s -> %s: %s\n", dir.c_str(), out.c_str(), m.config.summary().c_str());
    std::printf("%zu parameters from %zu source tensors, stored as %s\n", align::TensorTable(m.config).num_parameters(),
                m.num_source_tensors, dtype.c_str());
    if (!m.report.ignored_buffers.empty())
      std::printf("ignored %zu non-parameter buffers (attention masks, rotary caches)\n", m.report.ignored_buffers.size());
    if (!m.report.unused.empty()) {
      std::printf("warning: %zu tensors in the checkpoint were not used:", m.report.unused.size());
      for (size_t i = 0; i < m.report.unused.size() && i < 10; i++) std::printf(" %s", m.report.unused[i].c_str());
      std::printf(m.report.unused.size() > 10 ? " ...\n" : "\n");
    }
    return 0;
  });
}
