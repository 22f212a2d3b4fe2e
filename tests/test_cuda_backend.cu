// test_cuda_backend.cu: the CUDA backend against the CPU reference backend on
// whole models (every tiny architecture of test_util.hpp): log-probs, every
// parameter gradient, bit-identical repeated runs, and 10 DPO training steps
// tracking the CPU loss trajectory. Skips without a GPU.
//
// Tolerances: both sides compute in float32 with different summation orders
// (BLAS vs cuBLASLt, sequential vs warp reductions) through several layers:
// log-probs and token statistics to 1e-4 of the largest log-prob magnitude, gradients to 1e-3 of the largest
// gradient (the CPU float-vs-double test's bounds), losses over 10 steps to 1e-3.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cuda/check.cuh"
#include "cuda/cuda_backend.hpp"
#include "test_util.hpp"
#include "train/trainer.hpp"

namespace align::cuda {
namespace {

class CudaBackendTest : public ::testing::TestWithParam<test::NamedConfig> {
 protected:
  void SetUp() override {
    if (!device_available()) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_P(CudaBackendTest, LogProbsAndGradientsMatchTheCpu) {
  const ModelConfig& c = GetParam().config;
  std::vector<float> p(TensorTable(c).total_size());
  test::fill_random_params(c, p.data(), 5);
  auto cpu = train::make_cpu_backend(c, p);
  auto gpu = make_cuda_backend(c, p);
  const test::RandomBatch rb = test::random_batch(c, 4, c.max_seq_len, 6);
  const int M = 4 * c.max_seq_len;
  std::vector<float> lc(M), lg(M, NAN), w(M);
  Rng rng(7);
  for (float& x : w) x = (float)rng.uniform(-1, 1);
  TokenStats sc, sg;  // the fused loss layer's statistics against the CPU's
  cpu->forward(rb.view(), lc.data(), &sc);
  gpu->forward(rb.view(), lg.data(), &sg);
  double scale = 0;
  for (float x : lc) scale = std::max(scale, (double)std::fabs(x));
  for (int i = 0; i < M; i++) ASSERT_NEAR(lg[i], lc[i], 1e-4 * scale) << GetParam().name << " logp " << i;
  ASSERT_EQ(sg.entropy.size(), (size_t)M);
  ASSERT_EQ(sg.is_top1.size(), (size_t)M);
  for (int i = 0; i < M; i++) {
    ASSERT_NEAR(sg.entropy[i], sc.entropy[i], 1e-4 * scale) << GetParam().name << " entropy " << i;
    ASSERT_NEAR(sg.mean_logit[i], sc.mean_logit[i], 1e-4 * scale) << GetParam().name << " mean logit " << i;
    ASSERT_NEAR(sg.log_sum_sq_probs[i], sc.log_sum_sq_probs[i], 1e-4 * scale)
        << GetParam().name << " log sum p^2 " << i;
  }
  int top1_differ = 0;  // argmax can flip only where two logits tie to within float rounding
  for (int i = 0; i < M; i++) top1_differ += sg.is_top1[i] != sc.is_top1[i];
  EXPECT_LE(top1_differ, M / 100) << GetParam().name;
  cpu->zero_grad(), gpu->zero_grad();
  cpu->backward(w.data());
  gpu->backward(w.data());
  const std::span<float> gc = cpu->grads(), gg = gpu->grads();
  double gscale = 0;
  for (float x : gc) gscale = std::max(gscale, (double)std::fabs(x));
  for (size_t k = 0; k < gc.size(); k++) ASSERT_NEAR(gg[k], gc[k], 1e-3 * gscale) << GetParam().name << " grad " << k;
  // Deterministic: the same batch again gives the same bits.
  const std::vector<float> first(gg.begin(), gg.end());
  std::vector<float> again(M);
  gpu->zero_grad();
  gpu->forward(rb.view(), again.data(), nullptr);
  gpu->backward(w.data());
  EXPECT_EQ(again, lg);
  const std::span<float> g2 = gpu->grads();
  EXPECT_TRUE(std::equal(g2.begin(), g2.end(), first.begin()));
}

// Batches change shape from step to step (rows are as long as each batch's longest; the last
// and the evaluation batches are smaller): the backend's buffers, sized by the largest batch so
// far, must serve smaller and larger ones alike.
TEST_P(CudaBackendTest, BatchesOfChangingShape) {
  const ModelConfig& c = GetParam().config;
  std::vector<float> p(TensorTable(c).total_size());
  test::fill_random_params(c, p.data(), 25);
  auto cpu = train::make_cpu_backend(c, p);
  auto gpu = make_cuda_backend(c, p);
  const int T = c.max_seq_len;
  const int shapes[][2] = {{4, T}, {2, T / 2}, {6, 3}, {1, 1}, {8, T}};
  for (const auto& sh : shapes) {
    const test::RandomBatch rb = test::random_batch(c, sh[0], sh[1], 26 + sh[0] * 100 + sh[1]);
    const int M = sh[0] * sh[1];
    std::vector<float> lc(M), lg(M, NAN), w(M, 0.5f);
    cpu->forward(rb.view(), lc.data(), nullptr);
    gpu->forward(rb.view(), lg.data(), nullptr);
    double scale = 1e-30;
    for (float x : lc) scale = std::max(scale, (double)std::fabs(x));
    for (int i = 0; i < M; i++)
      ASSERT_NEAR(lg[i], lc[i], 1e-4 * scale) << GetParam().name << " batch " << sh[0] << "x" << sh[1] << " logp " << i;
    cpu->zero_grad(), gpu->zero_grad();
    cpu->backward(w.data());
    gpu->backward(w.data());
    const std::span<float> gc = cpu->grads(), gg = gpu->grads();
    double gscale = 1e-30;
    for (float x : gc) gscale = std::max(gscale, (double)std::fabs(x));
    for (size_t k = 0; k < gc.size(); k++)
      ASSERT_NEAR(gg[k], gc[k], 1e-3 * gscale)
          << GetParam().name << " batch " << sh[0] << "x" << sh[1] << " grad " << k;
  }
}

// bf16 mixed precision: the matmul operands are rounded to bf16 (8-bit mantissa, 2^-9 relative
// per rounding) and products accumulate in float, through two layers of K <= 24 sums: a few
// 2^-9 of each value's magnitude. 3e-2 of the largest log-prob and 5e-2 of the largest gradient
// leave a margin of ~10 and still catch a wrong or stale weight copy (errors of order 1).
TEST_P(CudaBackendTest, Bf16TracksTheCpu) {
  const ModelConfig& c = GetParam().config;
  std::vector<float> p(TensorTable(c).total_size());
  test::fill_random_params(c, p.data(), 15);
  auto cpu = train::make_cpu_backend(c, p);
  auto gpu = make_cuda_backend(c, p, Precision::BF16);
  const test::RandomBatch rb = test::random_batch(c, 4, c.max_seq_len, 16);
  const int M = 4 * c.max_seq_len;
  std::vector<float> lc(M), lg(M, NAN), w(M);
  Rng rng(17);
  for (float& x : w) x = (float)rng.uniform(-1, 1);
  for (int round = 0; round < 2; round++) {
    if (round == 1) {  // parameters changed through the host span (as the optimizer does): the bf16 copy follows
      for (auto* b : {cpu.get(), gpu.get()})
        for (float& x : b->params()) x *= 0.5f;
    }
    cpu->forward(rb.view(), lc.data(), nullptr);
    gpu->forward(rb.view(), lg.data(), nullptr);
    double scale = 0;
    for (float x : lc) scale = std::max(scale, (double)std::fabs(x));
    for (int i = 0; i < M; i++)
      ASSERT_NEAR(lg[i], lc[i], 3e-2 * scale) << GetParam().name << " round " << round << " logp " << i;
    cpu->zero_grad(), gpu->zero_grad();
    cpu->backward(w.data());
    gpu->backward(w.data());
    const std::span<float> gc = cpu->grads(), gg = gpu->grads();
    double gscale = 0;
    for (float x : gc) gscale = std::max(gscale, (double)std::fabs(x));
    for (size_t k = 0; k < gc.size(); k++)
      ASSERT_NEAR(gg[k], gc[k], 5e-2 * gscale) << GetParam().name << " round " << round << " grad " << k;
  }
}

INSTANTIATE_TEST_SUITE_P(TinyModels, CudaBackendTest, ::testing::ValuesIn(test::tiny_configs()),
                         [](const auto& info) { return info.param.name; });

TEST(CudaTraining, TenDpoStepsTrackTheCpuLossesInFp32AndBf16) {
  if (!device_available()) GTEST_SKIP() << "no CUDA device";
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("align_cuda_train_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const ModelConfig c = ModelConfig::llama(32, 1, 2, 1, 16, 32, 16);
  std::vector<float> p(TensorTable(c).total_size());
  test::fill_random_params(c, p.data(), 9, 0.1);
  data::write_pairs((dir / "train.bin").string(), data::PairsMeta{32, -1, 1}, test::toy_preference_pairs(40, 1));
  // CPU, CUDA fp32, CUDA bf16 (the bf16 run tracks within bf16's rounding: 2e-2, see Bf16TracksTheCpu).
  std::vector<double> losses[3];
  for (int k = 0; k < 3; k++) {
    const Precision prec = k == 2 ? Precision::BF16 : Precision::FP32;
    auto policy = k == 0 ? train::make_cpu_backend(c, p) : make_cuda_backend(c, p, prec);
    auto ref = k == 0 ? train::make_cpu_backend(c, p) : make_cuda_backend(c, p, prec);
    train::DpoTask task(std::make_shared<data::PairsFile>((dir / "train.bin").string()), nullptr, {}, ref.get(), false,
                        c.max_seq_len);
    train::TrainOptions o;
    o.batch_size = 4, o.max_steps = 10, o.lr = 5e-3, o.quiet = true, o.out_dir = (dir / std::to_string(k)).string();
    train::train(*policy, task, o);
    std::ifstream f(o.out_dir + "/metrics.jsonl");
    for (std::string l; std::getline(f, l);) losses[k].push_back(nlohmann::json::parse(l)["loss"].get<double>());
  }
  for (int k = 0; k < 3; k++) ASSERT_EQ(losses[k].size(), 10u) << k;
  for (int s = 0; s < 10; s++) {
    EXPECT_NEAR(losses[1][s], losses[0][s], 1e-3) << "fp32 step " << s + 1;
    EXPECT_NEAR(losses[2][s], losses[0][s], 2e-2) << "bf16 step " << s + 1;
  }
  fs::remove_all(dir);
}

// The device optimizer's state survives a checkpoint: 3 steps, stop, resume for 3 more give the
// same model file, byte for byte, as 6 straight steps (every kernel is deterministic), in both
// precisions; and the fp32 run's clipped steps still track the CPU's (max_grad_norm small).
TEST(CudaTraining, DeviceOptimizerResumesBitIdentically) {
  if (!device_available()) GTEST_SKIP() << "no CUDA device";
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("align_cuda_resume_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const ModelConfig c = ModelConfig::llama(32, 1, 2, 1, 16, 32, 16);
  std::vector<float> p(TensorTable(c).total_size());
  test::fill_random_params(c, p.data(), 19, 0.1);
  data::write_pairs((dir / "train.bin").string(), data::PairsMeta{32, -1, 1}, test::toy_preference_pairs(40, 2));
  auto run = [&](const std::string& out, Precision prec, bool cpu, long stop, bool resume) {
    auto policy = cpu ? train::make_cpu_backend(c, p) : make_cuda_backend(c, p, prec);
    auto ref = cpu ? train::make_cpu_backend(c, p) : make_cuda_backend(c, p, prec);
    train::DpoTask task(std::make_shared<data::PairsFile>((dir / "train.bin").string()), nullptr, {}, ref.get(), false,
                        c.max_seq_len);
    train::TrainOptions o;
    o.batch_size = 4, o.max_steps = 6, o.lr = 5e-3, o.max_grad_norm = 0.05, o.quiet = true;
    o.stop_after_step = stop, o.resume = resume, o.out_dir = (dir / out).string();
    train::train(*policy, task, o);
  };
  auto bytes = [&](const std::string& out) {
    std::ifstream f(dir / out / "model.bin", std::ios::binary);
    return std::vector<char>(std::istreambuf_iterator<char>(f), {});
  };
  for (const Precision prec : {Precision::FP32, Precision::BF16}) {
    const std::string tag = prec == Precision::FP32 ? "fp32" : "bf16";
    run(tag + "_straight", prec, false, 0, false);
    run(tag + "_resumed", prec, false, 3, false);
    EXPECT_FALSE(fs::exists(dir / (tag + "_resumed") / "model.bin")) << tag;
    run(tag + "_resumed", prec, false, 0, true);
    const std::vector<char> a = bytes(tag + "_straight"), b = bytes(tag + "_resumed");
    ASSERT_FALSE(a.empty()) << tag;
    EXPECT_TRUE(a == b) << tag << ": the resumed run differs from the straight one";
  }
  run("cpu", Precision::FP32, true, 0, false);
  std::vector<double> loss[2];
  for (int k = 0; k < 2; k++) {
    std::ifstream f(dir / (k ? "fp32_straight" : "cpu") / "metrics.jsonl");
    for (std::string l; std::getline(f, l);) loss[k].push_back(nlohmann::json::parse(l)["loss"].get<double>());
  }
  ASSERT_EQ(loss[0].size(), 6u);
  ASSERT_EQ(loss[1].size(), 6u);
  for (int s = 0; s < 6; s++) EXPECT_NEAR(loss[1][s], loss[0][s], 1e-3) << "clipped fp32 step " << s + 1;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace align::cuda
