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

INSTANTIATE_TEST_SUITE_P(TinyModels, CudaBackendTest, ::testing::ValuesIn(test::tiny_configs()),
                         [](const auto& info) { return info.param.name; });

TEST(CudaTraining, TenDpoStepsTrackTheCpuLosses) {
  if (!device_available()) GTEST_SKIP() << "no CUDA device";
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("align_cuda_train_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const ModelConfig c = ModelConfig::llama(32, 1, 2, 1, 16, 32, 16);
  std::vector<float> p(TensorTable(c).total_size());
  test::fill_random_params(c, p.data(), 9, 0.1);
  data::write_pairs((dir / "train.bin").string(), data::PairsMeta{32, -1, 1}, test::toy_preference_pairs(40, 1));
  std::vector<double> losses[2];
  for (int k = 0; k < 2; k++) {
    auto policy = k == 0 ? train::make_cpu_backend(c, p) : make_cuda_backend(c, p);
    auto ref = k == 0 ? train::make_cpu_backend(c, p) : make_cuda_backend(c, p);
    train::DpoTask task(std::make_shared<data::PairsFile>((dir / "train.bin").string()), nullptr, {}, ref.get(), false,
                        c.max_seq_len);
    train::TrainOptions o;
    o.batch_size = 4, o.max_steps = 10, o.lr = 5e-3, o.quiet = true, o.out_dir = (dir / (k ? "gpu" : "cpu")).string();
    train::train(*policy, task, o);
    std::ifstream f(o.out_dir + "/metrics.jsonl");
    for (std::string l; std::getline(f, l);) losses[k].push_back(nlohmann::json::parse(l)["loss"].get<double>());
  }
  ASSERT_EQ(losses[0].size(), 10u);
  ASSERT_EQ(losses[1].size(), 10u);
  for (int s = 0; s < 10; s++) EXPECT_NEAR(losses[1][s], losses[0][s], 1e-3) << "step " << s + 1;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace align::cuda
