// export_hf: model.bin -> a Hugging Face model directory (config.json,
// model.safetensors, and the tokenizer files of --tokenizer DIR) that
// transformers' from_pretrained loads unchanged.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/cli.hpp"
#include "model/checkpoint.hpp"
#include "model/hf_io.hpp"

int main(int argc, char** argv) {
  return align::run_main("export_hf", [&]() -> int {
    CLI::App app{"convert an align.cu model.bin to a Hugging Face model directory", "export_hf"};
    std::string model, out, dtype = "bf16", tokenizer;
    app.add_option("model", model, "model.bin to export")->required();
    app.add_option("-o,--output", out, "directory to create (must not exist, or be empty)")->required();
    app.add_option("--dtype", dtype, "weights dtype: fp32, bf16 or fp16")->capture_default_str();
    app.add_option("--tokenizer", tokenizer, "directory whose tokenizer files (tokenizer.json, ...) are copied");
    if (const int rc = align::parse_args(app, argc, argv); rc >= 0) return rc;
    const align::LoadedModel m = align::load_model(model);
    const std::vector<std::string> copied = align::export_hf(out, m.info.config, m.params.data(), dtype, tokenizer);
    std::printf("%s -> %s/: config.json, model.safetensors (%s)", model.c_str(), out.c_str(), dtype.c_str());
    for (const std::string& f : copied) std::printf(", %s", f.c_str());
    std::printf("\n");
    if (tokenizer.empty()) std::printf("note: no --tokenizer given: the directory has no tokenizer files\n");
    return 0;
  });
}
