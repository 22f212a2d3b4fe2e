// train_step.cpp: the training benchmark — a whole DPO step of
// GPT-2 124M shapes (L = 12, C = 768, NH = 12, V = 50257, T = 1024) with
// precomputed reference log-probs, on any backend (--device cpu|cuda,
// --dtype fp32|bf16): policy forward, objective, backward, clipping and the
// backend's own optimizer step. Random weights and full-length random token
// rows (8 pairs by default: 16 rows of T tokens, completions of the last T/2).
//
// Prints, after --warmup untimed steps, the median of --steps timed ones:
//   tokens/s   real tokens of the batch / step time
//   MFU        model FLOPs / time / --peak-tflops, with the model FLOPs of a
//              step taken as 6·N·tokens + 12·L·C·T·tokens (weights: forward
//              and backward; attention scores and values, the PaLM / llm.c
//              convention, not halved for causality). The default peak is the
//              H100 SXM's dense bf16 989 TFLOP/s (REFERENCE.md); the fp32 mode
//              does not use tensor cores, so its MFU against that peak is low.
//   peak GB    device memory in use after the timed steps (the backends keep
//              every buffer between steps, so this is their high-water mark); on
//              the software device (build/emu/bench_train_step) also the
//              allocation counter's high-water mark, emuPeakAllocatedBytes(),
//              which counts every allocation live at once, scratch included
// The last line is machine-readable: `result tokens_per_s=... mfu=... peak_gb=...`.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#ifdef ALIGN_WITH_CUDA
#include <cuda_runtime.h>
#endif

#include "common/cli.hpp"
#include "common/rng.hpp"
#include "model/init.hpp"
#include "objectives/preference_step.hpp"
#include "train/backend.hpp"
#include "train/batches.hpp"

namespace {

double device_used_gb() {
#ifdef ALIGN_WITH_CUDA
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) return (double)(total_b - free_b) / 1e9;
#endif
  return 0.0;
}

}  // namespace

int main(int argc, char** argv) {
  return align::run_main("bench_train_step", [&]() -> int {
    CLI::App app{"one DPO training step of GPT-2 124M shapes: tokens/s, MFU, peak memory", "bench_train_step"};
    std::string device = "cuda", dtype = "bf16";
    int layers = 12, heads = 12, embd = 768, vocab = 50257, seq = 1024, pairs = 8, steps = 5, warmup = 1;
    double peak_tflops = 989.0;
    app.add_option("--device", device, "cpu or cuda")->capture_default_str();
    app.add_option("--dtype", dtype, "fp32 or bf16 (cuda)")->capture_default_str();
    app.add_option("--layers", layers, "layers L")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--heads", heads, "heads NH")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--embd", embd, "width C")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--vocab", vocab, "vocabulary V")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--seq", seq, "sequence length T")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--pairs", pairs, "pairs per step (2 rows each)")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--steps", steps, "timed steps")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--warmup", warmup, "untimed steps first")->capture_default_str()->check(CLI::NonNegativeNumber);
    app.add_option("--peak-tflops", peak_tflops, "the card's peak for MFU")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    CLI11_PARSE(app, argc, argv);
    if (device == "cuda" && !align::train::cuda_device_present()) {
      std::printf("bench_train_step: no CUDA device, skipped\n");
      return 0;
    }
    const align::ModelConfig c = align::ModelConfig::gpt2(vocab, layers, heads, embd, seq);
    std::vector<float> params(align::TensorTable(c).total_size());
    align::init_params(c, params.data(), 1337);
    const double before_gb = device_used_gb();
    auto policy = align::train::make_backend(device, dtype, c, params);
    const auto opt = policy->make_optimizer(align::train::AdamWOptions{}, {0, policy->table().total_size()});

    // 2·pairs full-length rows: chosen rows, then rejected; the completion is the second half.
    align::train::TokenBatch b;
    b.N = 2 * pairs, b.T = seq;
    align::Rng rng(7);
    b.tokens.resize((size_t)b.N * seq), b.targets.resize(b.tokens.size());
    std::vector<uint8_t> completion(b.tokens.size());  // (N, T)
    b.lengths.assign(b.N, seq);
    for (auto& t : b.tokens) t = rng.uniform_int(0, vocab - 1);
    for (int n = 0; n < b.N; n++)
      for (int t = 0; t < seq; t++) {
        const size_t i = (size_t)n * seq + t;
        b.targets[i] = t + 1 < seq ? b.tokens[i + 1] : -1;
        completion[i] = t >= seq / 2 && b.targets[i] >= 0;
      }
    std::vector<double> ref(b.N);
    for (double& r : ref) r = -seq / 2 * std::log((double)vocab) + rng.normal();  // plausible stored sums
    const align::objectives::ObjectiveConfig objective;                           // sigmoid DPO, β = 0.1

    std::vector<double> ms;
    double loss = 0;
    for (int s = 0; s < warmup + steps; s++) {
      const auto t0 = std::chrono::steady_clock::now();
      policy->zero_grad();
      loss = align::objectives::preference_step(*policy, b.view(), completion.data(), objective, ref, 1.0).loss;
      const double norm = std::sqrt(opt->grad_sq_sum());
      opt->step(1e-6, norm > 1.0 ? (float)(1.0 / (norm + 1e-6)) : 1.f);
      const double dt = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (s >= warmup) ms.push_back(dt);
      std::printf("step %d/%d: %.1f ms, loss %.4f%s\n", s + 1, warmup + steps, dt, loss,
                  s < warmup ? " (warm-up)" : "");
      std::fflush(stdout);
    }
    std::sort(ms.begin(), ms.end());
    const double med = ms[ms.size() / 2];
    const double tokens = (double)b.N * seq;
    const double n_params = (double)align::TensorTable(c).num_parameters();
    const double flops = (6.0 * n_params + 12.0 * layers * embd * seq) * tokens;
    const double tps = tokens / (med / 1e3), mfu = flops / (med / 1e3) / (peak_tflops * 1e12);
    const double peak_gb = device_used_gb() - before_gb;
    std::printf(
        "GPT-2 shapes L=%d C=%d V=%d T=%d, %d pairs, %s %s: %.1f ms/step, %.0f tokens/s, MFU %.1f%% of %.0f "
        "TFLOP/s, device memory %.2f GB\n",
        layers, embd, vocab, seq, pairs, device.c_str(), dtype.c_str(), med, tps, 100 * mfu, peak_tflops, peak_gb);
#ifdef ALIGN_SOFTWARE_DEVICE
    const double emu_peak_gb = (double)emuPeakAllocatedBytes() / 1e9;
    std::printf("software device: peak allocated %.3f GB (emuPeakAllocatedBytes)\n", emu_peak_gb);
    std::printf("result tokens_per_s=%.1f ms_per_step=%.2f mfu=%.4f peak_gb=%.3f emu_peak_gb=%.3f\n", tps, med, mfu,
                peak_gb, emu_peak_gb);
#else
    std::printf("result tokens_per_s=%.1f ms_per_step=%.2f mfu=%.4f peak_gb=%.3f\n", tps, med, mfu, peak_gb);
#endif
    return 0;
  });
}
