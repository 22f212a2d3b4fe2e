// test_cpu_padding.cpp: right-padded rows are exact, float matches double,
// BLAS matches the plain loops, runs are deterministic, and the chunked LM
// head equals the full one.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.hpp"
#include "cpu/blas_info.hpp"
#include "cpu/model_cpu.hpp"
#include "cpu/ops.hpp"
#include "test_util.hpp"

namespace align {
namespace {

class CpuModelTest : public ::testing::TestWithParam<test::NamedConfig> {};

// A row of length 5 computed alone at T = 5, and padded to T = 8 beside other
// rows, gives the same log-probs and the same gradients. In float64 the plain
// loops do the same arithmetic in the same order for a real position whatever
// the padding, so the log-probs must agree bit for bit; the gradient sums add
// exact zeros from the padding but the other rows' terms come in between, so
// they agree to float64 rounding (1e-12 relative).
TEST_P(CpuModelTest, PaddedRowIsExact) {
  const ModelConfig& c = GetParam().config;
  cpu::CpuModel<double> model(c);
  test::fill_random_params(c, model.params().data(), 21);
  const test::RandomBatch big = test::random_batch(c, 3, 8, 4);
  const int row = 1, len = 5;
  test::RandomBatch padded = big;
  padded.lengths[row] = len;
  test::RandomBatch alone{1, len, {}, {}, {len}};
  for (int t = 0; t < len; t++) padded.tokens[row * 8 + t] = (7 * t + 3) % c.vocab_size;
  for (int t = 0; t < len; t++) {
    alone.tokens.push_back(padded.tokens[row * 8 + t]);
    alone.targets.push_back(t + 1 < len ? padded.tokens[row * 8 + t + 1] : -1);
    padded.targets[row * 8 + t] = alone.targets[t];
  }
  std::vector<double> lp_alone(len), lp_padded(3 * 8), w_alone(len, 0.0), w_padded(3 * 8, 0.0);
  for (int t = 0; t < len; t++) w_alone[t] = w_padded[row * 8 + t] = 0.3 + 0.1 * t;

  model.zero_grad();
  model.forward(alone.view(), lp_alone.data());
  model.backward(w_alone.data());
  const std::vector<double> g_alone = model.grads();
  model.zero_grad();
  model.forward(padded.view(), lp_padded.data());
  model.backward(w_padded.data());
  for (int t = 0; t < len; t++) EXPECT_EQ(lp_alone[t], lp_padded[row * 8 + t]) << "position " << t;
  for (size_t k = 0; k < g_alone.size(); k++)
    ASSERT_NEAR(g_alone[k], model.grads()[k], 1e-12 * (1 + std::abs(g_alone[k]))) << k;
}

// float32 (BLAS matmuls) against float64 (plain loops) on the same weights.
// Logits are O(1)-O(10) sums of O(C) products; float32 rounding gives ~1e-6
// relative error per operation, growing mildly with depth; 2e-4 relative to the
// largest magnitude bounds it with margin. Gradients likewise, 1e-3.
TEST_P(CpuModelTest, FloatMatchesDouble) {
  const ModelConfig& c = GetParam().config;
  cpu::CpuModel<double> md(c);
  cpu::CpuModel<float> mf(c);
  test::fill_random_params(c, md.params().data(), 31);
  for (size_t i = 0; i < md.params().size(); i++) mf.params()[i] = static_cast<float>(md.params()[i]);
  const test::RandomBatch rb = test::random_batch(c, 4, 8, 5);
  std::vector<double> lpd(32), wd(32);
  std::vector<float> lpf(32), wf(32);
  Rng rng(8);
  for (int i = 0; i < 32; i++) wf[i] = static_cast<float>(wd[i] = rng.uniform(-1, 1));
  md.forward(rb.view(), lpd.data());
  mf.forward(rb.view(), lpf.data());
  const size_t nlogits = (size_t)32 * c.padded_vocab_size;
  double scale = 0;
  for (size_t i = 0; i < nlogits; i++) scale = std::max(scale, std::abs(md.logits()[i]));
  for (size_t i = 0; i < nlogits; i++) ASSERT_NEAR(mf.logits()[i], md.logits()[i], 2e-4 * scale) << i;
  for (int i = 0; i < 32; i++) ASSERT_NEAR(lpf[i], lpd[i], 2e-4 * (1 + std::abs(lpd[i]))) << i;
  md.backward(wd.data());
  mf.backward(wf.data());
  double gscale = 0;
  for (double g : md.grads()) gscale = std::max(gscale, std::abs(g));
  for (size_t k = 0; k < md.grads().size(); k++) ASSERT_NEAR(mf.grads()[k], md.grads()[k], 1e-3 * gscale) << k;
}

TEST_P(CpuModelTest, RepeatedRunsAreBitIdentical) {
  const ModelConfig& c = GetParam().config;
  cpu::CpuModel<float> m(c);
  test::fill_random_params(c, m.params().data(), 41);
  const test::RandomBatch rb = test::random_batch(c, 4, 8, 6);
  std::vector<float> lp1(32), lp2(32), w(32, 0.25f);
  m.forward(rb.view(), lp1.data());
  m.backward(w.data());
  const std::vector<float> g1 = m.grads();
  m.zero_grad();
  m.forward(rb.view(), lp2.data());
  m.backward(w.data());
  EXPECT_EQ(lp1, lp2);
  EXPECT_EQ(g1, m.grads());
}

TEST_P(CpuModelTest, BadBatchIsRejected) {
  const ModelConfig& c = GetParam().config;
  cpu::CpuModel<float> m(c);
  test::RandomBatch rb = test::random_batch(c, 2, 4, 6);
  std::vector<float> lp(8);
  rb.tokens[1] = c.vocab_size;  // a real position (row 0 is full length)
  EXPECT_THROW(m.forward(rb.view(), lp.data()), InputError);
  rb = test::random_batch(c, 2, 4, 6);
  rb.lengths[1] = 5;
  EXPECT_THROW(m.forward(rb.view(), lp.data()), InputError);
  test::RandomBatch long_batch = test::random_batch(c, 1, c.max_seq_len + 1, 6);
  std::vector<float> lp2(c.max_seq_len + 1);
  EXPECT_THROW(m.forward(long_batch.view(), lp2.data()), InputError);
}

// The chunked LM head (set_vocab_chunk, the training mode) against full logits,
// in float64 on the same weights and batch: log-probs, all token statistics and
// every parameter gradient. Chunk sizes 1, 6 (not dividing V = 37), 37 and 64
// (> V). Only summation order differs, so 1e-12 relative to each array's scale.
TEST_P(CpuModelTest, VocabChunksMatchFullLogits) {
  const ModelConfig& c = GetParam().config;
  cpu::CpuModel<double> model(c);
  test::fill_random_params(c, model.params().data(), 31);
  const test::RandomBatch b = test::random_batch(c, 3, 8, 6);
  std::vector<double> dlogp(3 * 8);
  for (size_t i = 0; i < dlogp.size(); i++) dlogp[i] = std::sin(1.0 + (double)i);
  auto run = [&](int chunk, std::vector<double>& logp, TokenStats& stats) {
    model.set_vocab_chunk(chunk);
    model.zero_grad();
    logp.assign(3 * 8, -7.0);  // poison, the statistics too: each run must write every element
    stats.entropy.assign(3 * 8, -7.0), stats.mean_logit.assign(3 * 8, -7.0);
    stats.log_sum_sq_probs.assign(3 * 8, -7.0), stats.is_top1.assign(3 * 8, 7);
    model.forward(b.view(), logp.data(), &stats);
    model.backward(dlogp.data());
    return model.grads();
  };
  std::vector<double> lp_full, lp_chunk;
  TokenStats st_full, st_chunk;
  const std::vector<double> g_full = run(0, lp_full, st_full);
  auto near = [](const std::vector<double>& a, const std::vector<double>& want, const char* what) {
    double scale = 0;
    for (double x : want) scale = std::max(scale, std::abs(x));
    for (size_t i = 0; i < want.size(); i++) ASSERT_NEAR(a[i], want[i], 1e-12 * (1 + scale)) << what << " " << i;
  };
  for (int chunk : {1, 6, 37, 64}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    const std::vector<double> g_chunk = run(chunk, lp_chunk, st_chunk);
    near(lp_chunk, lp_full, "logp");
    near(st_chunk.entropy, st_full.entropy, "entropy");
    near(st_chunk.mean_logit, st_full.mean_logit, "mean_logit");
    near(st_chunk.log_sum_sq_probs, st_full.log_sum_sq_probs, "log_sum_sq_probs");
    EXPECT_EQ(st_chunk.is_top1, st_full.is_top1);
    near(g_chunk, g_full, "grad");
    EXPECT_THROW(model.logits(), Error) << "no logits exist in chunked mode";
  }
}

INSTANTIATE_TEST_SUITE_P(TinyModels, CpuModelTest, ::testing::ValuesIn(test::tiny_configs()),
                         [](const auto& info) { return info.param.name; });

// BLAS sgemm against the float64 loops, on shapes that are not multiples of
// any blocking factor. K = 67 products of O(1) values: float32 error ~1e-6·√K.
TEST(CpuOps, BlasMatmulMatchesLoops) {
  const int M = 37, K = 67, N = 29;
  Rng rng(1);
  std::vector<double> in(M * K), w(N * K), b(N), dout(M * N);
  for (auto* v : {&in, &w, &b, &dout})
    for (double& x : *v) x = rng.normal();
  auto to_f = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
  std::vector<float> inf = to_f(in), wf = to_f(w), bf = to_f(b), doutf = to_f(dout);
  std::vector<double> out(M * N), din(M * K, 1.0), dw(N * K, 1.0), db(N, 1.0);
  std::vector<float> outf(M * N), dinf(M * K, 1.f), dwf(N * K, 1.f), dbf(N, 1.f);
  cpu::matmul_forward(out.data(), in.data(), w.data(), b.data(), M, K, N);
  cpu::matmul_forward(outf.data(), inf.data(), wf.data(), bf.data(), M, K, N);
  for (int i = 0; i < M * N; i++) ASSERT_NEAR(outf[i], out[i], 1e-4) << i;
  // Accumulate into dinp (starting at 1) to check both modes' arithmetic.
  cpu::matmul_backward(din.data(), dw.data(), db.data(), dout.data(), in.data(), w.data(), M, K, N,
                       cpu::GradMode::Accumulate);
  cpu::matmul_backward(dinf.data(), dwf.data(), dbf.data(), doutf.data(), inf.data(), wf.data(), M, K, N,
                       cpu::GradMode::Accumulate);
  for (int i = 0; i < M * K; i++) ASSERT_NEAR(dinf[i], din[i], 1e-4) << i;
  for (int i = 0; i < N * K; i++) ASSERT_NEAR(dwf[i], dw[i], 1e-4) << i;
  for (int i = 0; i < N; i++) ASSERT_NEAR(dbf[i], db[i], 1e-4) << i;
  // Overwrite mode ignores what was in dinp.
  std::vector<float> dover(M * K, 123.f), dw2(N * K, 0.f);
  cpu::matmul_backward(dover.data(), dw2.data(), static_cast<float*>(nullptr), doutf.data(), inf.data(), wf.data(), M,
                       K, N, cpu::GradMode::Overwrite);
  for (int i = 0; i < M * K; i++) ASSERT_NEAR(dover[i], din[i] - 1.0, 1e-4) << i;
}

// log p must not overflow for huge logits (the max shift) and must sum to 1.
TEST(CpuOps, LogprobIsStableAndNormalised) {
  const int V = 50, Vp = 64;
  std::vector<double> z(Vp, 0.0), lp(1), lse(1);
  for (int v = 0; v < V; v++) z[v] = 1000.0 + v;  // exp(1000) overflows double
  for (int v = V; v < Vp; v++) z[v] = 5000.0;     // padded columns: must not count
  double total = 0;
  for (int target = 0; target < V; target++) {
    cpu::logprob_forward(lp.data(), lse.data(), z.data(), &target, 1, V, Vp);
    ASSERT_TRUE(std::isfinite(lp[0]));
    total += std::exp(lp[0]);
  }
  EXPECT_NEAR(total, 1.0, 1e-12);
}

}  // namespace
}  // namespace align

namespace align {
namespace {

TEST(BlasInfo, DescribesTheKernels) {
  const std::string d = cpu::blas_description();
  EXPECT_NE(d.find("OpenBLAS"), std::string::npos) << d;
  EXPECT_NE(d.find(", kernels "), std::string::npos) << d;
}

TEST(BlasInfo, AdvisesOnlyForGenericKernelsOnCapableCpusWithoutOverride) {
  EXPECT_NE(cpu::blas_advice("Prescott", true, true, false).find("OPENBLAS_CORETYPE=SKYLAKEX"), std::string::npos);
  EXPECT_NE(cpu::blas_advice("Core2", false, true, false).find("OPENBLAS_CORETYPE=HASWELL"), std::string::npos);
  EXPECT_EQ(cpu::blas_advice("Prescott", true, true, true), "");     // the user chose
  EXPECT_EQ(cpu::blas_advice("Prescott", false, false, false), "");  // nothing better to offer
  EXPECT_EQ(cpu::blas_advice("SkylakeX", true, true, false), "");
  EXPECT_EQ(cpu::blas_advice("Haswell", false, true, false), "");
}

}  // namespace
}  // namespace align
