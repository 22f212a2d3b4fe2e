// test_cuda_chunked_logprob.cu: the fused loss layer (src/cuda/chunked_logprob.cuh)
// against the CPU in double, at two levels. Skips without a GPU.
//   Per token (check_layer): log-probs, lse, every token statistic, dh and dW
//     against the chunked CPU reference in double, for V = 50257 / 128256 /
//     151936, one chunk, 4096 and 1000 columns, rows with nothing to predict,
//     zero weights, logits near ±800, planted argmax targets; outputs poisoned
//     with NaN first, dW starting from random values with its padding rows
//     untouched, and a second run (under the other thread schedule of the
//     software device) giving the same bits.
//   Whole layer (gpu_loss_layer, on the cases of loss_layer_case.hpp): every loss
//     of the objective, LD-DPO, WPO and a sum with SFT, through the GPU forward
//     (once per chunk width: it does not depend on the objective),
//     the host objective and the GPU backward, against the unfused path in
//     double: loss, every metric, dh, dW; heavy padding, completions of 1 token
//     to the whole row, chunks of 1 column up to the vocabulary, |βd| in the
//     hundreds.
//
// Tolerances. fp32: the tile is a float cuBLASLt product over C terms
// (~1e-7 relative), exp and log in float, row sums in double: 1e-5 of the
// largest magnitude (the issue's fp32 bound) covers it. bf16: h and W are
// rounded to bf16 before both sides see them, so the forward differs only by
// float rounding (same 1e-5); the backward rounds dz to bf16 (8-bit mantissa,
// 2^-9 relative) before the two matmuls, so dh and dW get 1e-2 of the largest.
#include <cuda_bf16.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/bf16.hpp"
#include "common/rng.hpp"
#include "cpu/chunked_logprob.hpp"
#include "cuda/chunked_logprob.cuh"
#include "loss_layer_case.hpp"
#include "schedules.hpp"

namespace align::cuda {
namespace {

// |gpu - ref| <= rel · scale_i, where scale_i is the magnitude the error scales with: the
// largest |ref| of the array, or (for per-token outputs) the row's own logit scale.
void expect_close(const std::vector<double>& gpu, const std::vector<double>& ref, double rel, const std::string& what,
                  const std::vector<double>* row_scale = nullptr) {
  ASSERT_EQ(gpu.size(), ref.size()) << what;
  double scale = 1e-30;
  for (double x : ref) scale = std::max(scale, std::fabs(x));
  for (size_t i = 0; i < ref.size(); i++) {
    ASSERT_FALSE(std::isnan(gpu[i])) << what << "[" << i << "] was not written";
    ASSERT_NEAR(gpu[i], ref[i], rel * (row_scale ? (*row_scale)[i] : scale)) << what << "[" << i << "]";
  }
}
template <typename F>
std::vector<double> widen(const std::vector<F>& v) {
  return std::vector<double>(v.begin(), v.end());
}

template <typename T, typename F>
std::vector<T> to_storage(const std::vector<F>& v) {
  std::vector<T> out(v.size());
  for (size_t i = 0; i < v.size(); i++) {
    if constexpr (std::is_same_v<T, float>)
      out[i] = (float)v[i];
    else {
      __nv_bfloat16_raw r;
      r.x = float_to_bf16((float)v[i]);
      out[i] = __nv_bfloat16(r);
    }
  }
  return out;
}
// The values the device sees, in double: the inputs rounded to T.
std::vector<double> rounded(const std::vector<double>& v, bool bf16) {
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); i++) out[i] = bf16 ? bf16_to_float(float_to_bf16((float)v[i])) : (float)v[i];
  return out;
}

// One set of inputs and its double reference, then the device layer at each chunk width: the
// width must not change the results beyond rounding.
template <typename T>
void check_layer(int V, const std::vector<int>& chunks, uint64_t seed) {
  constexpr bool kBf16 = !std::is_same_v<T, float>;
  const int M = 24, C = 48, Vp = (V + 127) / 128 * 128;
  Rng rng(seed);
  std::vector<double> h((size_t)M * C), w((size_t)Vp * C, 0.0), dlogp(M);
  for (double& x : h) x = rng.normal();
  for (size_t i = 0; i < (size_t)V * C; i++) w[i] = 0.3 * rng.normal();
  std::vector<int32_t> targets(M);
  for (int m = 0; m < M; m++) {
    targets[m] = m % 6 == 5 ? -1 : rng.uniform_int(0, V - 1);  // -1: padding, nothing predicted
    dlogp[m] = m % 4 == 2 ? 0.0 : rng.normal();                // 0: a token outside the completion
  }
  for (int m = 0; m < M; m += 5)  // logits near ±800: e^z overflows float without the running maximum
    for (int k = 0; k < C; k++) h[(size_t)m * C + k] *= 120.0;
  for (int m = 3; m < M; m += 7) {  // targets that are the argmax (is_top1 = 1)
    if (targets[m] < 0) continue;
    for (int k = 0; k < C; k++) w[(size_t)targets[m] * C + k] = 0.5 * h[(size_t)m * C + k];
  }
  const std::vector<double> hr = rounded(h, kBf16), wr = rounded(w, kBf16);

  // Reference, double.
  std::vector<double> rlogp(M), rlse(M), rent(M), rmean(M), rsq(M), rdh((size_t)M * C), rdw((size_t)Vp * C);
  std::vector<uint8_t> rtop(M);
  std::vector<double> dw0((size_t)Vp * C);
  for (double& x : dw0) x = rng.normal();
  rdw = dw0;
  cpu::chunked_logprob_forward<double>(rlogp.data(), rlse.data(), rent.data(), rmean.data(), rsq.data(), rtop.data(),
                                       hr.data(), wr.data(), targets.data(), M, C, V, 4096);
  cpu::chunked_logprob_backward<double>(rdh.data(), rdw.data(), dlogp.data(), hr.data(), wr.data(), rlse.data(),
                                        targets.data(), M, C, V, 4096, cpu::GradMode::Overwrite);
  int top1 = 0;
  for (uint8_t t : rtop) top1 += t;
  ASSERT_GT(top1, 0) << "V=" << V << ": the planted argmax targets must be found";
  for (const int chunk : chunks) {
    const std::string what =
        std::string(kBf16 ? "bf16" : "fp32") + " V=" + std::to_string(V) + " chunk=" + std::to_string(chunk);

    // Device.
    Matmul mm;
    ChunkedLogprob<T> layer(mm);
    layer.set_fixed_chunk(chunk);
    DeviceBuffer<T> dh_in(to_storage<T>(h)), dw_in(to_storage<T>(w));
    DeviceBuffer<int32_t> dt(targets);
    DeviceBuffer<float> logp(M), lse(M), dl(std::vector<float>(dlogp.begin(), dlogp.end())), dh((size_t)M * C),
        dw(std::vector<float>(dw0.begin(), dw0.end()));
    DeviceBuffer<double> ent(M), mean(M), sq(M);
    DeviceBuffer<uint8_t> top(M);
    logp.poison(), lse.poison(), ent.poison(), mean.poison(), sq.poison(), top.poison(), dh.poison();
    const DeviceTokenStats stats{ent.data(), mean.data(), sq.data(), top.data()};
    layer.forward(logp.data(), lse.data(), stats, dh_in.data(), dw_in.data(), dt.data(), M, C, V, 0);
    layer.backward(dh.data(), dw.data(), dl.data(), dh_in.data(), dw_in.data(), lse.data(), dt.data(), M, C, V, false,
                   0);
    CUDA_CHECK(cudaDeviceSynchronize());
    // Per-token outputs scale with the row's logits (rows near ±800 carry 100× the rounding of
    // the others): max(1, |lse|) bounds |z| of the row, and with it each output's rounding.
    std::vector<double> row(M);
    for (int m = 0; m < M; m++) row[m] = std::max(1.0, std::fabs(rlse[m]));
    expect_close(widen(logp.download()), rlogp, 1e-5, what + " logp", &row);
    expect_close(widen(lse.download()), rlse, 1e-5, what + " lse", &row);
    expect_close(ent.download(), rent, 1e-5, what + " entropy", &row);
    expect_close(mean.download(), rmean, 1e-5, what + " mean logit", &row);
    expect_close(sq.download(), rsq, 1e-5, what + " log sum p^2", &row);
    EXPECT_EQ(top.download(), rtop) << what << " is_top1";
    // fp32 gradients: dz = dlogp·(onehot − e^(z−lse)) starts from float z, whose rounding
    // (2^-24·|z|) becomes a relative error of e^(z−lse) of the same size, so rows with logits
    // near ±800 put ~5e-5 of error into the gradients they touch. 1e-5 alone does not hold it
    // (the software device measured 1.5e-5 at V = 128256); 4·2^-24·max|lse| does.
    double max_lse = 1;
    for (double l : rlse) max_lse = std::max(max_lse, std::fabs(l));
    const double tol = kBf16 ? 1e-2 : std::max(1e-5, 4 * std::ldexp(max_lse, -24));
    const std::vector<float> first_dh = dh.download(), first_dw = dw.download(), first_logp = logp.download();
    expect_close(widen(first_dh), rdh, tol, what + " dh");
    expect_close(widen(first_dw), rdw, tol, what + " dW");
    for (size_t i = (size_t)V * C; i < first_dw.size(); i++)
      ASSERT_EQ(first_dw[i], (float)dw0[i]) << what << ": padding row element " << i << " of dW was written";

    // Same inputs, same bits: forward and backward are deterministic, under either thread
    // schedule of the software device.
    dw.upload(std::vector<float>(dw0.begin(), dw0.end()));
    test::ReverseSchedule reverse;
    layer.forward(logp.data(), lse.data(), stats, dh_in.data(), dw_in.data(), dt.data(), M, C, V, 0);
    layer.backward(dh.data(), dw.data(), dl.data(), dh_in.data(), dw_in.data(), lse.data(), dt.data(), M, C, V, false,
                   0);
    CUDA_CHECK(cudaDeviceSynchronize());
    EXPECT_EQ(logp.download(), first_logp) << what << ": a second forward differs";
    EXPECT_EQ(dh.download(), first_dh) << what << ": a second backward differs in dh";
    EXPECT_EQ(dw.download(), first_dw) << what << ": a second backward differs in dW";
    // Without statistics (the reference model's pass) the log-probs are the same to rounding,
    // and accumulate_dh adds to dh instead of overwriting it.
    logp.poison();
    layer.forward(logp.data(), lse.data(), DeviceTokenStats{}, dh_in.data(), dw_in.data(), dt.data(), M, C, V, 0);
    layer.backward(dh.data(), dw.data(), dl.data(), dh_in.data(), dw_in.data(), lse.data(), dt.data(), M, C, V, true,
                   0);
    CUDA_CHECK(cudaDeviceSynchronize());
    expect_close(widen(logp.download()), rlogp, 1e-5, what + " logp without statistics", &row);
    std::vector<double> twice_ref(rdh.size());
    for (size_t i = 0; i < rdh.size(); i++) twice_ref[i] = 2 * rdh[i];
    expect_close(widen(dh.download()), twice_ref, tol, what + " accumulated dh");

    // The whole footprint is one tile (and its bf16 gradient) plus the row states.
    const int n = layer.chunk_for(M, V);
    EXPECT_LE(layer.workspace_bytes(),
              (size_t)M * n * (sizeof(float) + (kBf16 ? sizeof(T) : 0)) + (size_t)M * sizeof(kernels::LogSumExpRow))
        << what;
  }
}

class CudaChunkedLogprob : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!device_available()) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_F(CudaChunkedLogprob, Fp32MatchesTheReference) {
  for (int V : {50257, 128256, 151936}) check_layer<float>(V, {V, 4096, 1000}, 100 + V);
}

TEST_F(CudaChunkedLogprob, Bf16MatchesTheReferenceOnRoundedInputs) {
  for (int V : {50257, 128256, 151936}) check_layer<__nv_bfloat16>(V, {V, 4096, 1000}, 200 + V);
}

// The chunk follows the memory budget: many rows give narrow chunks, never a (M, V) tile.
// (Host arithmetic: runs without a GPU.)
TEST(ChunkedLogprobChunks, FollowTheBudget) {
  const size_t budget = 256u << 20;
  EXPECT_EQ(chunk_columns(16384, 50257, budget, 4), 4096);   // 256 MB / (16384 rows · 4 bytes)
  EXPECT_EQ(chunk_columns(8, 50257, budget, 4), 50257);      // small batches: the vocabulary in one chunk
  EXPECT_EQ(chunk_columns(16384, 50257, budget, 6), 2688);   // bf16 adds dz: 2730, down to a multiple of 128
  EXPECT_EQ(chunk_columns(1 << 22, 50257, budget, 6), 128);  // never below one tensor-core tile
  EXPECT_EQ(chunk_columns(1 << 22, 100, budget, 6), 100);    // nor above V
}

// The whole loss layer with the GPU doing both passes, for several objectives on the same rows:
// forward once (logp, lse, statistics: they do not depend on the objective), then for each
// objective the host objective between the passes (the same code the trainer runs) and the
// backward into dh and dW (dW accumulating onto p.dw_before). For T = bf16, p's h and w must
// already hold bf16 values (rounded_to_bf16) so that the double truth sees what the device sees.
template <typename T>
std::vector<test::LayerOutput<float>> gpu_loss_layer(const test::Problem<float>& p,
                                                     const std::vector<objectives::ObjectiveConfig>& configs,
                                                     int chunk) {
  const int M = p.M(), C = p.C, V = p.V;
  Matmul mm;
  ChunkedLogprob<T> layer(mm);
  if (chunk > 0) layer.set_fixed_chunk(chunk);
  DeviceBuffer<T> h(to_storage<T>(p.h)), w(to_storage<T>(p.w));
  DeviceBuffer<int32_t> targets(p.targets);
  DeviceBuffer<float> logp(M), lse(M);
  DeviceBuffer<double> ent(M), mean(M), sq(M);
  DeviceBuffer<uint8_t> top(M);
  logp.poison(), lse.poison(), ent.poison(), mean.poison(), sq.poison(), top.poison();
  layer.forward(logp.data(), lse.data(), DeviceTokenStats{ent.data(), mean.data(), sq.data(), top.data()}, h.data(),
                w.data(), targets.data(), M, C, V, 0);
  test::LayerOutput<float> forward;
  forward.logp = logp.download(), forward.lse = lse.download();
  forward.stats.entropy = ent.download(), forward.stats.mean_logit = mean.download();
  forward.stats.log_sum_sq_probs = sq.download(), forward.stats.is_top1 = top.download();
  std::vector<test::LayerOutput<float>> out;
  for (const objectives::ObjectiveConfig& config : configs) {
    test::LayerOutput<float> o = forward;
    const std::vector<float> dlogp = test::objective_between_passes(p, config, o);
    DeviceBuffer<float> dl(dlogp), dh((size_t)M * C), dw(p.dw_before);
    dh.poison();
    layer.backward(dh.data(), dw.data(), dl.data(), h.data(), w.data(), lse.data(), targets.data(), M, C, V, false, 0);
    o.dh = dh.download(), o.dw = dw.download();
    out.push_back(std::move(o));
  }
  return out;
}
test::LayerOutput<float> gpu_loss_layer_one(const test::Problem<float>& p, const objectives::ObjectiveConfig& config,
                                            int chunk) {
  return gpu_loss_layer<float>(p, {config}, chunk)[0];
}

test::Problem<float> rounded_to_bf16(test::Problem<float> p) {
  for (auto* v : {&p.h, &p.w})
    for (float& x : *v) x = bf16_to_float(float_to_bf16(x));
  return p;
}

// fp32: within 1e-5 of each array's scale (the issue's fp32 bound) of the unfused path in double
// on the same inputs; the gradients within max(1e-5, 4·2^-24·max|lse|), since dz starts from float
// logits whose rounding grows with their size (see check_layer). bf16: forward, loss and metrics
// the same; dh and dW within 1e-2, since dz is rounded to bf16 (2^-9) before the two backward GEMMs.
void expect_gpu_matches_truth(const test::Problem<float>& p, const std::vector<objectives::ObjectiveConfig>& configs,
                              const std::vector<std::string>& names, int chunk) {
  const std::vector<test::LayerOutput<float>> fp32 = gpu_loss_layer<float>(p, configs, chunk);
  const test::Problem<float> r = rounded_to_bf16(p);
  const std::vector<test::LayerOutput<float>> bf16 = gpu_loss_layer<__nv_bfloat16>(r, configs, chunk);
  for (size_t i = 0; i < configs.size(); i++) {
    {
      SCOPED_TRACE(names[i] + " fp32 chunk " + std::to_string(chunk));
      const test::LayerOutput<double> truth = test::loss_layer(test::widen(p), configs[i], 0);
      double max_lse = 1;
      for (double l : truth.lse) max_lse = std::max(max_lse, std::fabs(l));
      test::expect_same_layer(test::widen(fp32[i]), truth, 1e-5, std::max(1e-5, 4 * std::ldexp(max_lse, -24)));
    }
    SCOPED_TRACE(names[i] + " bf16 chunk " + std::to_string(chunk));
    test::expect_same_layer(test::widen(bf16[i]), test::loss_layer(test::widen(r), configs[i], 0), 1e-5, 1e-2);
  }
}

// Every loss of the objective, its loss, metrics and gradients through the GPU layer: rows of
// every length (heavy padding), completions of 1 token up to the whole row, ignored prompt
// labels, chunks of 1 column, not dividing V, and the whole vocabulary.
TEST_F(CudaChunkedLogprob, EveryLossThroughTheGpuLayer) {
  const test::Problem<float> p = test::make_problem<float>(301, 3.0, 11);
  std::vector<objectives::ObjectiveConfig> configs;
  std::vector<std::string> names;
  for (const std::string& loss : objectives::loss_names())
    configs.push_back(test::config_for(loss)), names.push_back(loss);
  objectives::ObjectiveConfig ld = test::config_for("sigmoid"), wpo = ld, rpo = ld;
  ld.ld_alpha = 0.3;
  wpo.wpo_weighting = true;
  rpo.losses.push_back({objectives::LossType::Sft, 0.7});
  configs.insert(configs.end(), {ld, wpo, rpo});
  names.insert(names.end(), {"ld-dpo", "wpo", "sigmoid + sft"});
  for (int chunk : {0, 1, 64, 300}) expect_gpu_matches_truth(p, configs, names, chunk);
}

TEST_F(CudaChunkedLogprob, LossesAtRealVocabularySizes) {
  for (int V : {50257, 128256, 151936}) {
    const test::Problem<float> p = test::make_problem<float>(V, 4.0, (uint64_t)V);
    for (int chunk : {0, 4096, 10007})
      expect_gpu_matches_truth(p, {test::config_for("sigmoid"), test::config_for("orpo"), test::config_for("ipo")},
                               {"sigmoid", "orpo", "ipo"}, chunk);
  }
}

// |z| up to ~800 (e^z overflows even double) and |βd| in the hundreds: the online rescaling and
// the objective's log-sigmoid must both stay finite and exact.
TEST_F(CudaChunkedLogprob, LogitsNear800AndLargeMargins) {
  const test::Problem<float> p = test::make_problem<float>(2000, 300.0, 13);
  for (const char* loss : {"sigmoid", "hinge", "simpo"}) {
    const test::LayerOutput<float> got = gpu_loss_layer_one(p, test::config_for(loss), 97);
    for (float x : got.logp) ASSERT_TRUE(std::isfinite(x)) << loss;
    for (float x : got.dh) ASSERT_TRUE(std::isfinite(x)) << loss;
    expect_gpu_matches_truth(p, {test::config_for(loss)}, {loss}, 97);
  }
}

}  // namespace
}  // namespace align::cuda
