// cuda_kernels.cu: the CUDA workbench. For each kernel: validate against the
// CPU reference (src/cpu/ops.hpp, included, never copied) on fresh random
// inputs, then time it with CUDA events (median of --reps launches, inputs
// rotated between two buffer sets so L2 does not hold the previous launch's
// data) and print the achieved GB/s (memory-bound kernels) or TFLOP/s
// (matmul) next to the card's ceilings measured in the same run (a device
// copy for bandwidth, a large cuBLASLt GEMM for FLOP/s).
// Versions: v1 of each kernel in kernels/ (the production ones); later
// versions are added here side by side with their notes in NOTES.md.
// Every row's error is held to its tolerance (below each check: the fp32
// bound of the GPU suite, 1e-5 of the largest magnitude, or exact), and the
// program ends with "N passed, M failed" and a non-zero status on a failure.
// --check-only runs the checks alone on smaller shapes, no timing (what
// `make test` runs on the software device). Skips (exit 0) without a GPU.
// Attention rows: flash attention (kernels/flash_attention.cu) forward and
// backward against the batched-GEMM attention with bf16 operands and, in the
// nvcc build with cudnn_frontend.h, cuDNN's fused SDPA (cudnn_sdpa.cuh) on the
// same shapes, in TFLOP/s with the causal FLOP count (forward 4·N·NH·T²·HS/2,
// backward 2.5× that) and as a fraction of a bf16 GEMM measured in the run.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "common/bf16.hpp"
#include "common/rng.hpp"
#include "cpu/ops.hpp"
#include "cuda/attention.cuh"
#include "cuda/device_buffer.cuh"
#include "cuda/matmul.cuh"
#include "cuda_timing.cuh"
#include "kernels/kernels.cuh"
#if defined(ALIGN_WITH_CUDNN_FRONTEND) && !defined(ALIGN_SOFTWARE_DEVICE)
#include "cudnn_sdpa.cuh"
#endif

using namespace align;
using bench::time_ms;
using cuda::DeviceBuffer;

namespace {

std::vector<float> randn(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = (float)rng.normal();
  return v;
}

double max_rel_error(const std::vector<float>& got, const std::vector<float>& ref) {
  double d = 0, s = 0;
  for (size_t i = 0; i < ref.size(); i++)
    d = std::max(d, (double)std::fabs(got[i] - ref[i])), s = std::max(s, (double)std::fabs(ref[i]));
  return d / std::max(s, 1e-30);
}
double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, (double)std::fabs(x));
  return m;
}
std::vector<__nv_bfloat16> to_bf16_host(const std::vector<float>& x) {
  std::vector<__nv_bfloat16> out(x.size());
  for (size_t i = 0; i < x.size(); i++) out[i] = __float2bfloat16_rn(x[i]);
  return out;
}

// Flash attention against the CPU reference on bf16-rounded q, k, v and dout (as
// tests/test_flash_attention.cu): out within 2·2^-9 of max|v| (P is rounded to bf16 before
// P·V), dqkv within 2e-2 of its largest element (P and dS rounded to bf16).
struct FlashCheck {
  double out_error, grad_error;  // |Δout|/max|v|, |Δdqkv|/max|dqkv|
};
FlashCheck check_flash(int N, int T, int NH, int NKV, int HS, uint64_t seed) {
  const int QKV = (NH + 2 * NKV) * HS, Y = NH * HS;
  std::vector<float> qkv = randn((size_t)N * T * QKV, seed), dout = randn((size_t)N * T * Y, seed + 1);
  for (float& x : qkv) x = bf16_to_float(float_to_bf16(x));
  for (float& x : dout) x = bf16_to_float(float_to_bf16(x));
  std::vector<int32_t> len(N);
  for (int n = 0; n < N; n++) len[n] = n == 0 ? T : 1 + (int)((uint64_t)(n * 7919 + 17) % T);
  const cpu::AttentionRule rule = cpu::AttentionRule::causal(len.data(), N, T);
  std::vector<float> ro(dout.size()), ratt((size_t)NH * rule.visible()), rd(qkv.size());
  cpu::attention_forward(ro.data(), ratt.data(), qkv.data(), rule, NH, NKV, HS);
  cpu::attention_backward(rd.data(), dout.data(), qkv.data(), ratt.data(), rule, NH, NKV, HS);
  DeviceBuffer<__nv_bfloat16> q16(to_bf16_host(qkv)), dy16(to_bf16_host(dout));
  DeviceBuffer<float> dy(dout), o(dout.size()), lse((size_t)N * NH * T), delta((size_t)N * NH * T), dq(qkv.size());
  DeviceBuffer<int32_t> dl(len);
  o.poison(), dq.poison();
  kernels::flash_attention_forward(o.data(), lse.data(), q16.data(), VisibilityRule{dl.data()}, N, T, NH, NKV, HS, 0);
  kernels::flash_attention_backward(dq.data(), delta.data(), dy.data(), dy16.data(), o.data(), q16.data(), lse.data(),
                                    VisibilityRule{dl.data()}, N, T, NH, NKV, HS, 0);
  const std::vector<float> go = o.download(), gd = dq.download();
  double eo = 0;
  for (size_t i = 0; i < ro.size(); i++)
    eo = std::max(eo, std::isnan(go[i]) ? INFINITY : (double)std::fabs(go[i] - ro[i]));
  double ed = max_rel_error(gd, rd);
  for (float x : gd) ed = std::isnan(x) ? INFINITY : ed;
  return {eo / max_abs(qkv), ed};
}

}  // namespace

int main(int argc, char** argv) {
  if (!cuda::device_available()) {
    std::printf("bench_cuda_kernels: no CUDA device, skipped\n");
    return 0;
  }
  const bool check_only = argc > 1 && std::string(argv[1]) == "--check-only";
  // Shapes: the benchmark's, or an eighth of the rows (and of the cast) for the checks alone.
  const int rows = check_only ? 1024 : 8192, lm_rows = check_only ? 256 : 2048;
  const size_t cast_n = check_only ? (size_t)4 << 20 : (size_t)64 << 20;
  const int reps = 50;
  int passed = 0, failed = 0;
  auto expect = [&](const char* what, double err, double tol) {
    (err <= tol ? passed : failed)++;
    if (!(err <= tol) || check_only)
      std::printf("%s %s: error %.2e, tolerance %.0e\n", err <= tol ? "ok" : "FAIL", what, err, tol);
  };
  const auto timed = [&](int n, const std::function<void(int)>& f) { return check_only ? 0.0 : time_ms(n, f); };
  // Ceilings measured here: device-to-device copy bandwidth and a large fp32 GEMM.
  double copy_gbs = 1, gemm_tflops = 1, gemm16_tflops = 1;
  cuda::Matmul mm;
  if (!check_only) {
    const size_t big = 256u << 20;  // bytes
    DeviceBuffer<char> src(big), dst(big);
    const double copy_ms =
        time_ms(reps, [&](int) { CUDA_CHECK(cudaMemcpy(dst.data(), src.data(), big, cudaMemcpyDeviceToDevice)); });
    copy_gbs = 2.0 * big / copy_ms / 1e6;
    const int G = 4096;
    DeviceBuffer<float> ga(randn((size_t)G * G, 1)), gb(randn((size_t)G * G, 2)), gc((size_t)G * G);
    const double gemm_ms = time_ms(10, [&](int) { mm.forward(gc.data(), ga.data(), gb.data(), nullptr, G, G, G, 0); });
    gemm_tflops = 2.0 * G * G * G / gemm_ms / 1e9;
    DeviceBuffer<__nv_bfloat16> ga16((size_t)G * G), gb16((size_t)G * G);
    kernels::to_bf16(ga16.data(), ga.data(), (int64_t)G * G, 0);
    kernels::to_bf16(gb16.data(), gb.data(), (int64_t)G * G, 0);
    const double gemm16_ms = time_ms(10, [&](int) {
      mm.forward(gc.data(), (const __nv_bfloat16*)ga16.data(), (const __nv_bfloat16*)gb16.data(), nullptr, G, G, G, 0);
    });
    gemm16_tflops = 2.0 * G * G * G / gemm16_ms / 1e9;
    std::printf("ceilings: copy %.0f GB/s, fp32 GEMM %dx%dx%d %.1f TFLOP/s, bf16 GEMM %.1f TFLOP/s\n\n", copy_gbs, G, G,
                G, gemm_tflops, gemm16_tflops);
  }
  if (!check_only)
    std::printf(
        "| kernel | shape | max rel. error vs CPU | time | achieved | of ceiling |\n|---|---|---:|---:|---:|---:|\n");

  {  // LayerNorm forward: reads x (M,C), w, b; writes y (M,C), mean, rstd
    const int M = rows, C = 768;
    std::vector<float> x = randn((size_t)M * C, 3), w = randn(C, 4), b = randn(C, 5), ry((size_t)M * C), rm(M), rr(M);
    cpu::layernorm_forward(ry.data(), rm.data(), rr.data(), x.data(), w.data(), b.data(), M, C, 1e-5f);
    DeviceBuffer<float> dx0(x), dx1(x), dw(w), db(b), y((size_t)M * C), mean(M), rstd(M);
    kernels::layernorm_forward(y.data(), mean.data(), rstd.data(), dx0.data(), dw.data(), db.data(), M, C, 1e-5f, 0);
    const double err = max_rel_error(y.download(), ry);
    expect("layernorm_forward v1", err, 1e-5);
    const double t = timed(reps, [&](int k) {
      kernels::layernorm_forward(y.data(), mean.data(), rstd.data(), (k ? dx1 : dx0).data(), dw.data(), db.data(), M, C,
                                 1e-5f, 0);
    });
    const double gbs = 2.0 * M * C * 4 / t / 1e6;
    if (!check_only)
      std::printf("| layernorm_forward v1 | %dx%d | %.1e | %.3f ms | %.0f GB/s | %.0f%% |\n", M, C, err, t, gbs,
                  100 * gbs / copy_gbs);
  }
  {  // the residual add fused into LayerNorm (v2) against add + LayerNorm (v1's sequence)
    const int M = rows, C = 768;
    const size_t n = (size_t)M * C;
    std::vector<float> a = randn(n, 13), r = randn(n, 14), w = randn(C, 4), b = randn(C, 5), sum(n), ry(n), rm(M),
                       rr(M);
    for (size_t i = 0; i < n; i++) sum[i] = a[i] + r[i];
    cpu::layernorm_forward(ry.data(), rm.data(), rr.data(), sum.data(), w.data(), b.data(), M, C, 1e-5f);
    DeviceBuffer<float> da(a), dr(r), dw(w), db(b), ds(n), y(n), mean(M), rstd(M);
    kernels::residual_layernorm_forward(ds.data(), y.data(), mean.data(), rstd.data(), da.data(), dr.data(), dw.data(),
                                        db.data(), M, C, 1e-5f, 0);
    const double err = max_rel_error(y.download(), ry);
    expect("residual_layernorm_forward v2", err, 1e-5);
    const double fused = timed(reps, [&](int) {
      kernels::residual_layernorm_forward(ds.data(), y.data(), mean.data(), rstd.data(), da.data(), dr.data(),
                                          dw.data(), db.data(), M, C, 1e-5f, 0);
    });
    // v1's sequence was an add kernel (reads a, r, writes sum: 3n floats, at best at the copy
    // ceiling) and then LayerNorm on sum: its time is at least that floor plus LayerNorm's own.
    const double ln = timed(reps, [&](int) {
      kernels::layernorm_forward(y.data(), mean.data(), rstd.data(), ds.data(), dw.data(), db.data(), M, C, 1e-5f, 0);
    });
    const double add_floor = 3.0 * n * 4 / (copy_gbs * 1e6);
    const double gbs = 4.0 * n * 4 / fused / 1e6;  // reads a, r; writes sum, y
    if (!check_only)
      std::printf("| residual_layernorm_forward v2 | %dx%d | %.1e | %.3f ms (v1: >= %.3f) | %.0f GB/s | %.0f%% |\n", M,
                  C, err, fused, ln + add_floor, gbs, 100 * gbs / copy_gbs);
  }
  {  // the bf16 cast of matmul operands: 4 bytes in, 2 out
    const size_t n = cast_n;
    std::vector<float> x = randn(n, 15);
    DeviceBuffer<float> dx(x);
    DeviceBuffer<__nv_bfloat16> out(n);
    kernels::to_bf16(out.data(), dx.data(), (int64_t)n, 0);
    std::vector<__nv_bfloat16> got(n);
    CUDA_CHECK(cudaMemcpy(got.data(), out.data(), n * sizeof(__nv_bfloat16), cudaMemcpyDeviceToHost));
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) wrong += __bfloat16_as_ushort(got[i]) != float_to_bf16(x[i]);
    expect("to_bf16 (bits of round-to-nearest-even)", (double)wrong, 0);
    const double ms = timed(reps, [&](int) { kernels::to_bf16(out.data(), dx.data(), (int64_t)n, 0); });
    const double gbs = 6.0 * n / ms / 1e6;
    if (!check_only)
      std::printf("| to_bf16 | %zu | %zu of %zu differ from RNE | %.3f ms | %.0f GB/s | %.0f%% |\n", n, wrong, n, ms,
                  gbs, 100 * gbs / copy_gbs);
  }
  {  // log-prob forward over a GPT-2 vocabulary: reads the logits once (max) and again (sum)
    const int M = lm_rows, V = 50257, Vp = 50304;
    std::vector<float> z = randn((size_t)M * Vp, 6), rl(M), rs(M);
    std::vector<int32_t> t(M);
    for (int m = 0; m < M; m++) t[m] = (m * 7919) % V;
    cpu::logprob_forward(rl.data(), rs.data(), z.data(), t.data(), M, V, Vp);
    DeviceBuffer<float> dz0(z), dz1(z), lp(M), lse(M);
    DeviceBuffer<int32_t> dt(t);
    kernels::logprob_forward(lp.data(), lse.data(), dz0.data(), dt.data(), M, V, Vp, 0);
    const double err = max_rel_error(lp.download(), rl);
    expect("logprob_forward v1", err, 1e-5);
    const double ms = timed(reps, [&](int k) {
      kernels::logprob_forward(lp.data(), lse.data(), (k ? dz1 : dz0).data(), dt.data(), M, V, Vp, 0);
    });
    const double gbs = 2.0 * M * V * 4 / ms / 1e6;
    if (!check_only)
      std::printf("| logprob_forward v1 | %dx%d | %.1e | %.3f ms | %.0f GB/s | %.0f%% |\n", M, V, err, ms, gbs,
                  100 * gbs / copy_gbs);
  }
  {  // attention forward, GPT-2 small shapes with a short T (the straightforward version)
    const int N = 4, T = 256, NH = 12, NKV = 12, HS = 64, QKV = (NH + 2 * NKV) * HS;
    std::vector<float> qkv = randn((size_t)N * T * QKV, 7), ro((size_t)N * T * NH * HS), ra((size_t)N * NH * T * T);
    std::vector<int32_t> len(N, T);
    {  // the CPU reference keeps only the visible probabilities; spread them out as the GPU keeps them
      const cpu::AttentionRule rule = cpu::AttentionRule::causal(len.data(), N, T);
      std::vector<float> compact((size_t)NH * rule.visible());
      cpu::attention_forward(ro.data(), compact.data(), qkv.data(), rule, NH, NKV, HS);
      cpu::dense_probabilities(ra.data(), compact.data(), rule, NH);
    }
    DeviceBuffer<float> dq(qkv), o(ro.size()), att(ra.size());
    DeviceBuffer<int32_t> dl(len);
    kernels::attention_forward(o.data(), att.data(), dq.data(), dl.data(), N, T, NH, NKV, HS, 0);
    const double err = max_rel_error(o.download(), ro);
    expect("attention_forward v1", err, 1e-5);
    const double ms = timed(reps, [&](int) {
      kernels::attention_forward(o.data(), att.data(), dq.data(), dl.data(), N, T, NH, NKV, HS, 0);
    });
    const double tflops = 2.0 * 2 * N * NH * (double)T * T / 2 * HS / ms / 1e9;  // QKᵀ and AV, causal half
    if (!check_only)
      std::printf("| attention_forward v1 | N%d T%d NH%d HS%d | %.1e | %.3f ms | %.2f TFLOP/s | %.1f%% |\n", N, T, NH,
                  HS, err, ms, tflops, 100 * tflops / gemm_tflops);
    // v2: batched cuBLAS GEMMs around the causal softmax (what the backend runs). Its GEMMs do the
    // full T×T work; the rate below counts only the causal half, as for v1.
    cuda::BatchedAttention v2;
    v2.forward(o.data(), att.data(), dq.data(), VisibilityRule{dl.data()}, N, T, NH, NKV, HS, 0);
    const double err2 = max_rel_error(o.download(), ro);
    expect("attention_forward v2", err2, 1e-5);
    const double ms2 = timed(reps, [&](int) {
      v2.forward(o.data(), att.data(), dq.data(), VisibilityRule{dl.data()}, N, T, NH, NKV, HS, 0);
    });
    const double tflops2 = 2.0 * 2 * N * NH * (double)T * T / 2 * HS / ms2 / 1e9;
    if (!check_only)
      std::printf(
          "| attention_forward v2 (cuBLAS batched) | N%d T%d NH%d HS%d | %.1e | %.3f ms | %.2f TFLOP/s | %.1f%% |\n", N,
          T, NH, HS, err2, ms2, tflops2, 100 * tflops2 / gemm_tflops);
  }
  // Flash attention: checked against the CPU reference at both head dims, then timed on GPT-2's
  // training shape (16 rows of 1024, HS 64) and FlashAttention-2's benchmark shape (HS 128).
  for (const int HS : {64, 128}) {
    const FlashCheck fc = check_only ? check_flash(1, 130, 2, 1, HS, 21) : check_flash(2, 512, 4, 2, HS, 21);
    const std::string tag = "flash_attention HS " + std::to_string(HS);
    expect((tag + " out (of max|v|)").c_str(), fc.out_error, 4e-3);
    expect((tag + " dqkv").c_str(), fc.grad_error, 2e-2);
    if (check_only) continue;
    const int N = HS == 64 ? 16 : 4, T = HS == 64 ? 1024 : 2048, NH = HS == 64 ? 12 : 16, NKV = NH;
    const int QKV = (NH + 2 * NKV) * HS, Y = NH * HS;
    const size_t rows_n = (size_t)N * T;
    DeviceBuffer<float> qkv(randn(rows_n * QKV, 22)), dy(randn(rows_n * Y, 23)), o(rows_n * Y), lse((size_t)N * NH * T),
        delta((size_t)N * NH * T), dqkv(rows_n * QKV);
    DeviceBuffer<__nv_bfloat16> q16(rows_n * QKV), dy16(rows_n * Y);
    kernels::to_bf16(q16.data(), qkv.data(), (int64_t)(rows_n * QKV), 0);
    kernels::to_bf16(dy16.data(), dy.data(), (int64_t)(rows_n * Y), 0);
    DeviceBuffer<int32_t> dl(std::vector<int32_t>(N, T));
    const double fwd_flops = 4.0 * N * NH * (double)T * T * HS / 2, bwd_flops = 2.5 * fwd_flops;
    auto row = [&](const char* what, double ms, double flops) {
      const double tf = flops / ms / 1e9;
      std::printf(
          "| %s | N%d T%d NH%d HS%d causal | (checked above) | %.3f ms | %.1f TFLOP/s | %.0f%% of bf16 GEMM |\n", what,
          N, T, NH, HS, ms, tf, 100 * tf / gemm16_tflops);
    };
    const auto fwd = [&](int) {
      kernels::flash_attention_forward(o.data(), lse.data(), q16.data(), VisibilityRule{dl.data()}, N, T, NH, NKV, HS,
                                       0);
    };
    fwd(0);
    row("flash_attention_forward", time_ms(20, fwd), fwd_flops);
    row("flash_attention_backward",
        time_ms(20,
                [&](int) {
                  kernels::flash_attention_backward(dqkv.data(), delta.data(), dy.data(), dy16.data(), o.data(),
                                                    q16.data(), lse.data(), VisibilityRule{dl.data()}, N, T, NH, NKV,
                                                    HS, 0);
                }),
        bwd_flops);
    {  // the batched GEMMs with bf16 operands (the backend's bf16 attention before flash): (N,NH,T,T) twice
      const std::vector<float> flash_out = o.download();
      cuda::BatchedAttention batched(true);
      DeviceBuffer<float> att((size_t)N * NH * T * T), ds((size_t)N * NH * T * T);
      batched.forward(o.data(), att.data(), qkv.data(), VisibilityRule{dl.data()}, N, T, NH, NKV, HS, 0);
      std::printf("| (flash vs batched bf16 output: max rel. difference %.1e) | | | | | |\n",
                  max_rel_error(flash_out, o.download()));
      row("attention_forward v2 bf16 (cuBLAS batched)",
          time_ms(10,
                  [&](int) {
                    batched.forward(o.data(), att.data(), qkv.data(), VisibilityRule{dl.data()}, N, T, NH, NKV, HS, 0);
                  }),
          fwd_flops);
      row("attention_backward v2 bf16 (cuBLAS batched)",
          time_ms(10,
                  [&](int) {
                    batched.backward(dqkv.data(), ds.data(), dy.data(), qkv.data(), att.data(),
                                     VisibilityRule{dl.data()}, N, T, NH, NKV, HS, 0);
                  }),
          bwd_flops);
    }
#if defined(ALIGN_WITH_CUDNN_FRONTEND) && !defined(ALIGN_SOFTWARE_DEVICE)
    {  // cuDNN's fused SDPA (flash) through its graph API, on the same bf16 q, k, v in place
      bench::CudnnSdpa sdpa(N, T, NH, NKV, HS);
      DeviceBuffer<__nv_bfloat16> o16(rows_n * Y), dq16(rows_n * QKV);
      row("cuDNN SDPA forward", time_ms(20, [&](int) { sdpa.forward(o16.data(), lse.data(), q16.data()); }), fwd_flops);
      row("cuDNN SDPA backward",
          time_ms(20, [&](int) { sdpa.backward(dq16.data(), q16.data(), o16.data(), dy16.data(), lse.data()); }),
          bwd_flops);
    }
#else
    std::printf("| cuDNN SDPA | (not built: needs nvcc and cudnn_frontend.h) | | | | |\n");
#endif
  }
  {  // the LM head: logits (M, Vp) = h (M, C) · Wᵀ
    const int M = lm_rows, C = 768, Vp = 50304;
    DeviceBuffer<float> h(randn((size_t)M * C, 8)), w(randn((size_t)Vp * C, 9)), out((size_t)M * Vp);
    const double ms = timed(10, [&](int) { mm.forward(out.data(), h.data(), w.data(), nullptr, M, C, Vp, 0); });
    const double tflops = 2.0 * M * C * Vp / ms / 1e9;
    if (!check_only)
      std::printf("| matmul (LM head) | %dx%dx%d | (tested in the GPU suite) | %.3f ms | %.1f TFLOP/s | %.0f%% |\n", M,
                  C, Vp, ms, tflops, 100 * tflops / gemm_tflops);
    // The same in bf16 (tensor cores, fp32 out): against the fp32 ceiling it shows the tensor-core factor.
    DeviceBuffer<__nv_bfloat16> h16((size_t)M * C), w16((size_t)Vp * C);
    kernels::to_bf16(h16.data(), h.data(), (int64_t)M * C, 0);
    kernels::to_bf16(w16.data(), w.data(), (int64_t)Vp * C, 0);
    const double ms16 = timed(10, [&](int) {
      mm.forward(out.data(), (const __nv_bfloat16*)h16.data(), (const __nv_bfloat16*)w16.data(), nullptr, M, C, Vp, 0);
    });
    const double tf16 = 2.0 * M * C * Vp / ms16 / 1e9;
    if (!check_only)
      std::printf(
          "| matmul bf16 (LM head) | %dx%dx%d | (tested in the GPU suite) | %.3f ms | %.1f TFLOP/s | %.0f%% of fp32 "
          "ceiling |\n",
          M, C, Vp, ms16, tf16, 100 * tf16 / gemm_tflops);
  }
  std::printf("bench_cuda_kernels: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
