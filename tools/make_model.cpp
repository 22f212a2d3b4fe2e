// make_model: writes a randomly initialised model.bin of a given architecture.
// For tests, benchmarks and the demo's from-scratch models; real models come
// from Hugging Face through import_hf.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <vector>

#include "common/cli.hpp"
#include "common/domain.hpp"
#include "model/checkpoint.hpp"
#include "model/init.hpp"
#include "model/tensor_table.hpp"

int main(int argc, char** argv) {
  return align::run_main("make_model", [&]() -> int {
    CLI::App app{"write a randomly initialised align.cu model.bin", "make_model"};
    std::string out, arch = "gpt2", dtype = "fp32";
    int vocab = 50257, layers = 12, heads = 12, kv_heads = 0, embd = 768, ffn = 0, head_dim = 0, max_seq = 1024;
    bool untied = false, qkv_bias = false;
    uint64_t seed = 1337;
    app.add_option("-o,--output", out, "model file to write")->required();
    app.add_option("--arch", arch, "gpt2 or llama")->capture_default_str();
    app.add_option("--vocab", vocab, "vocabulary size V (padded to a multiple of 128)")
        ->capture_default_str()->transform(align::in_domain(align::Domain::ints(1, 1 << 24)));
    app.add_option("--layers", layers, "number of layers L")->capture_default_str()->transform(align::in_domain(align::Domain::ints(1, 1024)));
    app.add_option("--heads", heads, "query heads NH")->capture_default_str()->transform(align::in_domain(align::Domain::ints(1, 1024)));
    app.add_option("--kv-heads", kv_heads, "key/value heads NKV (llama; default: NH)")
        ->transform(align::in_domain(align::Domain::ints(1, 1024)));
    app.add_option("--embd", embd, "model width C")->capture_default_str()->transform(align::in_domain(align::Domain::ints(1, 1 << 16)));
    app.add_option("--head-dim", head_dim, "per-head width HS (llama; default: C/NH)")
        ->transform(align::in_domain(align::Domain::ints(1, 1 << 12)));
    app.add_option("--ffn", ffn, "MLP width F (default: 4C for gpt2, 8C/3 rounded to 64 for llama)")
        ->transform(align::in_domain(align::Domain::ints(1, 1 << 20)));
    app.add_option("--max-seq", max_seq, "maximum sequence length")->capture_default_str()->transform(align::in_domain(align::Domain::ints(1, 1 << 20)));
    app.add_flag("--untied", untied, "give the LM head its own weights instead of tying it to the token embedding");
    app.add_flag("--qkv-bias", qkv_bias, "bias on q, k, v (Qwen2-style, llama only)");
    app.add_option("--dtype", dtype, "fp32 or bf16")->capture_default_str();
    app.add_option("--seed", seed, "initialisation seed")->capture_default_str()->transform(align::in_domain(align::domains::seed()));
    if (const int rc = align::parse_args(app, argc, argv); rc >= 0) return rc;
    align::ModelConfig c;
    if (align::parse_arch(arch) == align::Arch::GPT2) {
      // Flags that only llama models have are refused rather than ignored.
      ALIGN_REQUIRE(kv_heads == 0 && head_dim == 0 && !qkv_bias, "--kv-heads, --head-dim and --qkv-bias apply to "
                    "--arch llama only (gpt2 has NKV = NH, HS = C/NH and biases everywhere)");
      c = align::ModelConfig::gpt2(vocab, layers, heads, embd, max_seq);
      if (ffn > 0) c.ffn_dim = ffn;
      c.tied_head = !untied;
    } else {
      if (ffn <= 0) ffn = (8 * embd / 3 + 63) / 64 * 64;
      c = align::ModelConfig::llama(vocab, layers, heads, kv_heads > 0 ? kv_heads : heads, embd, ffn, max_seq, !untied,
                                    qkv_bias);
      if (head_dim > 0) c.head_dim = head_dim;
    }
    c.validate("make_model flags");
    std::vector<float> params(align::TensorTable(c).total_size());
    align::init_params(c, params.data(), seed);
    align::save_model(out, c, params.data(), align::parse_dtype(dtype));
    std::printf("wrote %s: %s, %zu parameters, %s\n", out.c_str(), c.summary().c_str(),
                align::TensorTable(c).num_parameters(), dtype.c_str());
    return 0;
  });
}
