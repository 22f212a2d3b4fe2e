// cpu_model.cpp: forward+backward throughput of the float32 CPU reference.
//
// Times CpuModel<float>::forward + backward (the full training step's model
// work; no optimizer) on a random model and a full-length random batch, and
// prints tokens/s as the median of --iters timed steps after --warmup.
// dev/bench/cpu_vs_torch.py runs this binary and PyTorch on the same shapes
// in the same run and prints the ratio; run it directly for our figure alone.
// The last line is machine-readable: `result tokens_per_s=... ms_per_step=...`.
#include <cblas.h>
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "common/cli.hpp"
#include "common/rng.hpp"
#include "cpu/blas_info.hpp"
#include "cpu/model_cpu.hpp"
#include "model/init.hpp"
#include "model/tensor_table.hpp"

int main(int argc, char** argv) {
  return align::run_main("bench_cpu_model", [&]() -> int {
    CLI::App app{"forward+backward tokens/s of the float32 CPU reference model", "bench_cpu_model"};
    std::string arch = "gpt2";
    int vocab = 50257, layers = 6, heads = 4, kv_heads = 0, embd = 256, seq = 256, rows = 4, iters = 5, warmup = 1,
        vocab_chunk = 4096;
    app.add_option("--arch", arch, "gpt2 or llama")->capture_default_str();
    app.add_option("--vocab", vocab, "vocabulary size V")->capture_default_str();
    app.add_option("--layers", layers, "layers L")->capture_default_str();
    app.add_option("--heads", heads, "query heads NH")->capture_default_str();
    app.add_option("--kv-heads", kv_heads, "key/value heads NKV (llama; default NH)");
    app.add_option("--embd", embd, "width C")->capture_default_str();
    app.add_option("--seq", seq, "sequence length T")->capture_default_str();
    app.add_option("--rows", rows, "rows N per step (2B for B pairs)")->capture_default_str();
    app.add_option("--iters", iters, "timed steps")->capture_default_str();
    app.add_option("--warmup", warmup, "untimed steps first")->capture_default_str();
    app.add_option("--vocab-chunk", vocab_chunk, "LM-head vocabulary chunk (0: full logits); the trainers use 4096")
        ->check(CLI::Range(0, 1 << 30))
        ->capture_default_str();
    if (const int rc = align::parse_args(app, argc, argv); rc >= 0) return rc;

    const align::ModelConfig c =
        align::parse_arch(arch) == align::Arch::GPT2
            ? align::ModelConfig::gpt2(vocab, layers, heads, embd, seq)
            : align::ModelConfig::llama(vocab, layers, heads, kv_heads > 0 ? kv_heads : heads, embd,
                                        (8 * embd / 3 + 63) / 64 * 64, seq, /*tied=*/true);
    align::cpu::CpuModel<float> model(c);
    model.set_vocab_chunk(vocab_chunk);
    std::vector<float> init(model.params().size());
    align::init_params(c, init.data(), 1);
    std::copy(init.begin(), init.end(), model.params().begin());
    align::Rng rng(2);
    std::vector<int32_t> tokens(rows * seq), targets(rows * seq), lengths(rows, seq);
    for (int32_t& t : tokens) t = rng.uniform_int(0, vocab - 1);
    for (int i = 0; i < rows * seq; i++) targets[i] = i % seq + 1 < seq ? tokens[i + 1] : -1;
    std::vector<float> logp(rows * seq), dlogp(rows * seq, 1.f / (rows * seq));
    const align::Batch batch{rows, seq, tokens.data(), targets.data(), lengths.data()};

    std::printf("model: %s, %zu parameters; batch %d x %d; %d OpenMP threads\n", c.summary().c_str(),
                model.table().num_parameters(), rows, seq, omp_get_max_threads());
    const int head_columns = vocab_chunk > 0 ? std::min(vocab_chunk, c.vocab_size) : c.padded_vocab_size;
    std::printf("LM head: %s, logits buffer %.1f MB\n", vocab_chunk > 0 ? "vocabulary chunks" : "full logits",
                (double)rows * seq * head_columns * sizeof(float) / 1e6);
    std::printf("blas: %s\n", align::cpu::blas_description().c_str());
    if (const std::string w = align::cpu::blas_performance_warning(); !w.empty())
      std::printf("warning: %s\n", w.c_str());
    std::vector<double> ms;
    for (int i = 0; i < warmup + iters; i++) {
      const auto t0 = std::chrono::steady_clock::now();
      model.zero_grad();
      model.forward(batch, logp.data());
      model.backward(dlogp.data());
      const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (i >= warmup) ms.push_back(dt);
      std::printf("step %d/%d: %.1f ms%s\n", i + 1, warmup + iters, dt, i < warmup ? " (warm-up)" : "");
    }
    std::sort(ms.begin(), ms.end());
    const double median = ms[ms.size() / 2];
    std::printf("result tokens_per_s=%.1f ms_per_step=%.2f blas_kernels=%s\n", rows * seq / (median / 1000.0), median,
                openblas_get_corename());
    return 0;
  });
}
