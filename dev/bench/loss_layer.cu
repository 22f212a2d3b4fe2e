// loss_layer.cu: time and memory of the loss layer — LM head matmul, per-token
// log-probs, their backward into dh and dW — for the fused layer
// (src/cuda/chunked_logprob.cuh) against the unfused path the CUDA backend
// used before it (full (M, Vp) float logits, logprob kernels, matmul backward)
// and against the plain cuBLASLt GEMMs of the same shapes, all in one run on
// one card. dev/bench/loss_layer_vs_torch.py adds PyTorch (what TRL does) and
// prints the ratios. Shapes default to the issue's: GPT-2 (C = 768,
// V = 50257), T = 1024, 8 pairs (M = 16·1024 rows).
//
// Reported per dtype:
//   ms          median of --reps forward+backward runs (CUDA events)
//   extra MB    device memory the layer holds beyond its inputs and outputs
//               (h, W, dh, dW, logp): the fused layer's tile and row states;
//               the unfused path's logits; measured by cudaMemGetInfo around
//               the first run and, for the fused layer, its own count
//   TFLOP/s     matmul work / time: 8·M·C·V for the fused layer (the backward
//               recomputes the logits), 6·M·C·V for the others; the GEMM row is
//               cuBLASLt's own rate on these shapes, the ceiling for the others
// --json prints one line of JSON instead of the table. Exits 0 without a GPU.
#include <cuda_bf16.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/bf16.hpp"
#include "common/rng.hpp"
#include "cuda/chunked_logprob.cuh"
#include "cuda_timing.cuh"

using namespace align;
using cuda::DeviceBuffer;

namespace {

struct Result {
  std::string name, dtype;
  double ms = 0, extra_mb = 0, tflops = 0;
};

size_t used_bytes() {
  size_t free_b = 0, total_b = 0;
  CUDA_CHECK(cudaDeviceSynchronize());
  CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  return total_b - free_b;
}

template <typename T>
DeviceBuffer<T> random_device(size_t n, double scale, uint64_t seed) {
  Rng rng(seed);
  std::vector<T> v(n);
  for (T& x : v) {
    const float f = (float)(scale * rng.normal());
    if constexpr (std::is_same_v<T, float>)
      x = f;
    else {
      __nv_bfloat16_raw r;
      r.x = float_to_bf16(f);
      x = __nv_bfloat16(r);
    }
  }
  return DeviceBuffer<T>(v);
}

template <typename T>
void run(const char* dtype, int M, int C, int V, int reps, const std::vector<int>& chunks, std::vector<Result>& out) {
  const int Vp = (V + 127) / 128 * 128;
  const double flop = 2.0 * M * C * V;
  std::vector<int32_t> targets(M);
  std::vector<float> dlogp(M);
  Rng rng(3);
  for (int m = 0; m < M; m++) {
    targets[m] = m % 10 == 9 ? -1 : rng.uniform_int(0, V - 1);  // some padding, as in real batches
    dlogp[m] = (float)rng.normal() * 1e-3f;
  }
  DeviceBuffer<T> h = random_device<T>((size_t)M * C, 1.0, 1), w = random_device<T>((size_t)Vp * C, 0.02, 2);
  DeviceBuffer<int32_t> dt(targets);
  DeviceBuffer<float> dl(dlogp), logp(M), lse(M), dh((size_t)M * C), dw((size_t)Vp * C);
  cuda::Matmul mm;

  // fused, at each chunk width asked (0: the layer's own choice from its memory budget). Narrow
  // chunks keep the (M, chunk) tile closer to L2 between the GEMM and the row kernel, at the cost
  // of more, smaller GEMMs: which wins is measured here, not guessed.
  for (const int chunk : chunks) {
    const size_t before = used_bytes();
    cuda::ChunkedLogprob<T> layer(mm);
    if (chunk > 0) layer.set_fixed_chunk(chunk);
    auto step = [&](int) {
      layer.forward(logp.data(), lse.data(), cuda::DeviceTokenStats{}, h.data(), w.data(), dt.data(), M, C, V, 0);
      layer.backward(dh.data(), dw.data(), dl.data(), h.data(), w.data(), lse.data(), dt.data(), M, C, V, false, 0);
    };
    step(0);
    const size_t measured = used_bytes() - before;
    const double ms = bench::time_ms(reps, step);
    out.push_back({"fused (chunk " + std::to_string(layer.chunk_for(M, V)) + (chunk ? ")" : ", default)"), dtype, ms,
                   std::max((double)layer.workspace_bytes(), (double)measured) / 1e6, 4 * flop / ms / 1e9});
  }
  {  // the plain GEMMs of the unfused path: logits, dh, dW (their own rate: the ceiling)
    DeviceBuffer<float> z((size_t)M * Vp);
    // GEMM time does not depend on the values: fill dz with one small constant on the device
    // (bytes 0x3C: about 0.011 in fp32 and bf16) instead of 0.8G host-made random numbers.
    DeviceBuffer<T> dz((size_t)M * Vp);
    CUDA_CHECK(cudaMemset(dz.data(), 0x3C, dz.size() * sizeof(T)));
    auto gemms = [&](int) {
      mm.forward<T>(z.data(), h.data(), w.data(), nullptr, M, C, Vp, 0);
      mm.backward<T>(dh.data(), dw.data(), nullptr, dz.data(), h.data(), w.data(), M, C, Vp, false, 0);
    };
    const double ms = bench::time_ms(reps, gemms);
    out.push_back({"cuBLASLt GEMMs only", dtype, ms, 0.0, 3 * flop / ms / 1e9});
  }
  if constexpr (std::is_same_v<T, float>) {  // unfused: the backend's former path, fp32 only
    const size_t before = used_bytes();
    DeviceBuffer<float> z((size_t)M * Vp);
    auto step = [&](int) {
      mm.forward<float>(z.data(), h.data(), w.data(), nullptr, M, C, Vp, 0);
      kernels::logprob_forward(logp.data(), lse.data(), z.data(), dt.data(), M, V, Vp, 0);
      kernels::logprob_backward(z.data(), dl.data(), lse.data(), dt.data(), M, V, Vp, 0);
      mm.backward<float>(dh.data(), dw.data(), nullptr, z.data(), h.data(), w.data(), M, C, Vp, false, 0);
    };
    step(0);
    const size_t measured = used_bytes() - before;
    const double ms = bench::time_ms(reps, step);
    out.push_back({"unfused (full logits)", dtype, ms, (double)measured / 1e6, 3 * flop / ms / 1e9});
  }
}

}  // namespace

int main(int argc, char** argv) {
  int pairs = 8, T = 1024, C = 768, V = 50257, reps = 10;
  std::vector<int> chunks = {0, 1024, 2048};
  bool json = false;
  std::string dtypes = "both";
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_loss_layer: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    auto positive = [&](const std::string& v) {
      const int x = std::atoi(v.c_str());
      if (x < 1) {
        std::fprintf(stderr, "bench_loss_layer: %s '%s', expected an integer >= 1\n", a.c_str(), v.c_str());
        std::exit(2);
      }
      return x;
    };
    if (a == "--pairs")
      pairs = positive(value());
    else if (a == "--seq")
      T = positive(value());
    else if (a == "--embd")
      C = positive(value());
    else if (a == "--vocab")
      V = positive(value());
    else if (a == "--reps")
      reps = positive(value());
    else if (a == "--dtype")
      dtypes = value();
    else if (a == "--chunks") {  // comma-separated widths, 0 = the layer's default
      chunks.clear();
      const std::string list = value();
      for (size_t p = 0; p <= list.size();) {
        const size_t q = std::min(list.find(',', p), list.size());
        const std::string item = list.substr(p, q - p);
        char* end = nullptr;
        const long x = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || x < 0) {
          std::fprintf(stderr, "bench_loss_layer: --chunks item '%s', expected integers >= 0 (0: default)\n",
                       item.c_str());
          return 2;
        }
        chunks.push_back((int)x);
        p = q + 1;
      }
    } else if (a == "--json")
      json = true;
    else {
      std::fprintf(stderr,
                   "usage: bench_loss_layer [--pairs 8] [--seq 1024] [--embd 768] [--vocab 50257] [--reps 10]\n"
                   "                        [--dtype bf16|fp32|both] [--chunks 0,1024,2048] [--json]\n");
      return a == "-h" || a == "--help" ? 0 : 2;
    }
  }
  if (dtypes != "bf16" && dtypes != "fp32" && dtypes != "both") {
    std::fprintf(stderr, "bench_loss_layer: --dtype '%s', expected bf16, fp32 or both\n", dtypes.c_str());
    return 2;
  }
  if (!cuda::device_available()) {
    std::printf("bench_loss_layer: no CUDA device, skipped\n");
    return 0;
  }
  const int M = 2 * pairs * T;
  std::vector<Result> results;
  if (dtypes != "fp32") run<__nv_bfloat16>("bf16", M, C, V, reps, chunks, results);
  if (dtypes != "bf16") run<float>("fp32", M, C, V, reps, chunks, results);
  if (json) {
    std::printf("{\"M\": %d, \"C\": %d, \"V\": %d, \"results\": [", M, C, V);
    for (size_t i = 0; i < results.size(); i++)
      std::printf("%s{\"name\": \"%s\", \"dtype\": \"%s\", \"ms\": %.4f, \"extra_mb\": %.1f, \"tflops\": %.2f}",
                  i ? ", " : "", results[i].name.c_str(), results[i].dtype.c_str(), results[i].ms, results[i].extra_mb,
                  results[i].tflops);
    std::printf("]}\n");
    return 0;
  }
  std::printf("loss layer, forward + backward: M = %d rows (%d pairs x 2 x T %d), C = %d, V = %d\n", M, pairs, T, C, V);
  std::printf("%-28s %-5s %10s %10s %9s\n", "path", "dtype", "ms", "extra MB", "TFLOP/s");
  for (const Result& r : results)
    std::printf("%-28s %-5s %10.3f %10.1f %9.1f\n", r.name.c_str(), r.dtype.c_str(), r.ms, r.extra_mb, r.tflops);
  return 0;
}
