// test_trainer.cpp: the training loop end to end on the CPU backend, on a toy
// preference task whose answer is known: a DPO run must learn it; resume must
// be bit-identical to an uninterrupted run; precomputed reference log-probs
// must give the losses of a live reference; SimPO and ORPO run without one;
// a checkpoint interrupted between its renames still resumes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/file_io.hpp"
#include "common/rng.hpp"
#include "model/checkpoint.hpp"
#include "model/init.hpp"
#include "scratch_dir.hpp"
#include "test_util.hpp"
#include "train/schedule.hpp"
#include "train/trainer.hpp"

namespace align::train {
namespace {

namespace fs = std::filesystem;

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = ModelConfig::llama(32, 1, 2, 1, 16, 32, 16);
    params_.resize(TensorTable(config_).total_size());
    init_params(config_, params_.data(), 3);
    data::write_pairs(path("train.bin"), data::PairsMeta{32, -1, 1}, test::toy_preference_pairs(24, 1));
    data::write_pairs(path("val.bin"), data::PairsMeta{32, -1, 1}, test::toy_preference_pairs(8, 2));
  }
  std::string path(const std::string& p) const { return scratch_.path(p); }
  TrainOptions options(const std::string& out) const {
    TrainOptions o;
    o.batch_size = 4, o.grad_accum = 2, o.epochs = 3, o.lr = 5e-3, o.warmup_steps = 2;
    o.schedule = Schedule::Cosine, o.out_dir = path(out), o.quiet = true, o.eval_every = 3;
    return o;
  }
  std::vector<std::string> metric_lines(const std::string& out) const {
    std::ifstream f(path(out) + "/metrics.jsonl");
    std::vector<std::string> lines;
    for (std::string l; std::getline(f, l);) lines.push_back(l);
    return lines;
  }
  TrainSummary run_dpo(const std::string& out, objectives::ObjectiveConfig obj, TrainOptions o, bool live_ref = true,
                       bool stored = false, const std::string& train_file = "train.bin",
                       const std::string& val_file = "val.bin") {
    auto policy = make_cpu_backend(config_, params_);
    std::unique_ptr<Backend> ref = live_ref ? make_cpu_backend(config_, params_) : nullptr;
    DpoTask task(std::make_shared<data::PairsFile>(path(train_file)), std::make_shared<data::PairsFile>(path(val_file)),
                 obj, ref.get(), stored, config_.max_seq_len);
    return train(*policy, task, o);
  }
  double eval_metric(const TrainSummary& s, const std::string& name) {
    for (const auto& m : s.final_eval)
      if (m.name == name) return m.value;
    ADD_FAILURE() << "no " << name;
    return 0;
  }
  test::ScratchDir scratch_{"trainer"};
  ModelConfig config_;
  std::vector<float> params_;
};

// Thresholds: the initial model ranks the toy pairs at chance (accuracy ~0.5, margin ~0); after 18
// steps a working DPO must rank every held-out pair right with a clear margin. A sign error,
// a wrong reference or a broken backward leaves accuracy near 0.5 or below.
TEST_F(TrainerTest, DpoLearnsTheToyPreference) {
  objectives::ObjectiveConfig obj;
  obj.beta = 0.1;
  const TrainSummary s = run_dpo("dpo", obj, options("dpo"));
  EXPECT_EQ(s.steps, 9);  // 24 pairs / (4 × 2) = 3 steps per epoch, 3 epochs
  EXPECT_GE(eval_metric(s, "eval_rewards/accuracies"), 0.99);
  EXPECT_GT(eval_metric(s, "eval_rewards/margins"), 0.2);
  EXPECT_LT(eval_metric(s, "eval_loss"), 0.6);
  EXPECT_TRUE(fs::exists(path("dpo/model.bin")));
  EXPECT_TRUE(fs::exists(path("dpo/checkpoint/state.json")));
  // metrics.jsonl: one line per step plus one per evaluation, with TRL's names.
  const std::vector<std::string> lines = metric_lines("dpo");
  EXPECT_EQ(lines.size(), 9u + 3u);
  const nlohmann::json first = nlohmann::json::parse(lines[0]);
  for (const char* k : {"loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
                        "logps/chosen", "logps/rejected", "logits/chosen", "logits/rejected", "entropy",
                        "mean_token_accuracy", "grad_norm", "learning_rate", "num_tokens", "epoch", "step"})
    EXPECT_TRUE(first.contains(k)) << k;
  EXPECT_NEAR(first["loss"].get<double>(), std::log(2.0), 1e-6);  // policy == reference at step 1
}

TEST_F(TrainerTest, ResumeIsBitIdenticalToAnUninterruptedRun) {
  objectives::ObjectiveConfig obj;
  run_dpo("straight", obj, options("straight"));
  TrainOptions o = options("resumed");
  o.stop_after_step = 4;  // stops mid-epoch (epoch 1, micro-batch 2)
  const TrainSummary first = run_dpo("resumed", obj, o);
  EXPECT_TRUE(first.interrupted);
  EXPECT_FALSE(fs::exists(path("resumed/model.bin")));
  o.stop_after_step = 0;
  o.resume = true;
  run_dpo("resumed", obj, o);
  EXPECT_EQ(read_file_bytes(path("straight/model.bin")), read_file_bytes(path("resumed/model.bin")));
  EXPECT_EQ(metric_lines("straight"), metric_lines("resumed"));
}

TEST_F(TrainerTest, ACheckpointInterruptedBetweenItsRenamesStillResumes) {
  objectives::ObjectiveConfig obj;
  TrainOptions o = options("ckpt");
  o.stop_after_step = 3;
  run_dpo("ckpt", obj, o);
  // The state between "checkpoint -> checkpoint.old" and "tmp -> checkpoint": only .old and a partial tmp.
  fs::rename(path("ckpt/checkpoint"), path("ckpt/checkpoint.old"));
  fs::create_directories(path("ckpt/checkpoint.tmp.999"));
  std::ofstream(path("ckpt/checkpoint.tmp.999/model.bin")) << "partial";
  o.stop_after_step = 0;
  o.resume = true;
  const TrainSummary s = run_dpo("ckpt", obj, o);
  EXPECT_EQ(s.steps, 9);
  run_dpo("straight", obj, options("straight"));
  EXPECT_EQ(read_file_bytes(path("straight/model.bin")), read_file_bytes(path("ckpt/model.bin")));
}

TEST_F(TrainerTest, PrecomputedReferenceGivesTheLiveReferenceLosses) {
  objectives::ObjectiveConfig obj;
  run_dpo("live", obj, options("live"));
  fs::copy_file(path("train.bin"), path("train_ref.bin"));
  fs::copy_file(path("val.bin"), path("val_ref.bin"));
  auto ref = make_cpu_backend(config_, params_);
  const uint64_t tag = reference_tag(12345, obj);
  EXPECT_EQ(precompute_reference(path("train_ref.bin"), *ref, obj, tag, 5), 24u);
  precompute_reference(path("val_ref.bin"), *ref, obj, tag, 5);
  EXPECT_EQ(data::PairsFile(path("train_ref.bin")).reference_fingerprint(), tag);
  run_dpo("stored", obj, options("stored"), false, true, "train_ref.bin", "val_ref.bin");
  const std::vector<std::string> a = metric_lines("live"), b = metric_lines("stored");
  ASSERT_EQ(a.size(), b.size());
  // Reference sums come from batches of different shapes (5 pairs in file order vs the training
  // batches), so float32 BLAS may round differently in the last bits: 1e-5 relative.
  for (size_t i = 0; i < a.size(); i++) {
    const nlohmann::json x = nlohmann::json::parse(a[i]), y = nlohmann::json::parse(b[i]);
    for (const char* k : {"loss", "eval_loss", "rewards/margins", "eval_rewards/margins"}) {
      if (!x.contains(k)) continue;
      EXPECT_NEAR(x[k].get<double>(), y[k].get<double>(), 1e-5 * (1 + std::abs(x[k].get<double>())))
          << "line " << i << " " << k;
    }
  }
}

TEST_F(TrainerTest, SimpoAndOrpoNeedNoReference) {
  for (objectives::LossType t : {objectives::LossType::Simpo, objectives::LossType::Orpo}) {
    objectives::ObjectiveConfig obj;
    obj.losses = {{t, 1.0}};
    obj.beta = t == objectives::LossType::Simpo ? 2.0 : 0.1;
    const std::string out = objectives::loss_name(t);
    const TrainSummary s = run_dpo(out, obj, options(out), /*live_ref=*/false);
    EXPECT_GE(eval_metric(s, "eval_rewards/accuracies"), 0.99) << out;
  }
  objectives::ObjectiveConfig dpo;  // a reference-based objective without any reference is refused
  EXPECT_THROW(run_dpo("none", dpo, options("none"), false, false), InputError);
}

TEST_F(TrainerTest, BadSetupsAreRefused) {
  objectives::ObjectiveConfig obj;
  TrainOptions o = options("bad");
  o.batch_size = 100;
  try {
    run_dpo("bad", obj, o);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--batch-size 100 is larger than the training set (24"), std::string::npos)
        << e.what();
  }
  data::write_pairs(path("empty.bin"), data::PairsMeta{32, -1, 1}, {});
  try {
    run_dpo("empty", obj, options("empty"), true, false, "empty.bin");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("the training set is empty"), std::string::npos) << e.what();
  }
  o = options("nan");
  o.lr = 1e30;  // the first step blows the weights up; step 2's loss or gradient is not finite
  o.max_grad_norm = 0;
  o.warmup_steps = 0;
  try {
    run_dpo("nan", obj, o);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not finite"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("at step 2"), std::string::npos) << e.what();
  }
}

TEST(Schedules, MatchTransformersFormulas) {
  // warmup 10 of 110 steps, peak 1.0
  EXPECT_DOUBLE_EQ(learning_rate(Schedule::Linear, 1.0, 0, 10, 110), 0.0);
  EXPECT_DOUBLE_EQ(learning_rate(Schedule::Linear, 1.0, 5, 10, 110), 0.5);
  EXPECT_DOUBLE_EQ(learning_rate(Schedule::Linear, 1.0, 10, 10, 110), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate(Schedule::Linear, 1.0, 60, 10, 110), 0.5);
  EXPECT_DOUBLE_EQ(learning_rate(Schedule::Cosine, 1.0, 60, 10, 110), 0.5);
  EXPECT_NEAR(learning_rate(Schedule::Cosine, 1.0, 35, 10, 110), 0.5 * (1 + std::cos(M_PI * 0.25)), 1e-15);
  EXPECT_DOUBLE_EQ(learning_rate(Schedule::Constant, 1.0, 100, 10, 110), 1.0);
  EXPECT_THROW(parse_schedule("step"), InputError);
}

TEST(AdamWTest, MatchesTheTorchUpdateRule) {
  // One parameter tensor with decay, one without; two steps by hand (torch.optim.AdamW's rule).
  const ModelConfig c = ModelConfig::gpt2(8, 1, 1, 4, 4);
  const TensorTable t(c);
  AdamW opt(t, AdamWOptions{0.9, 0.999, 1e-8, 0.1});
  std::vector<float> p(t.total_size(), 0.5f), g(t.total_size(), 0.25f);
  const size_t w = t.at(tensor_names::layer(0, tensor_names::kQkvW)).offset;       // decayed
  const size_t n = t.at(tensor_names::layer(0, tensor_names::kAttnNormW)).offset;  // not decayed
  double pw = 0.5, pn = 0.5, m = 0, v = 0;
  for (int step = 1; step <= 2; step++) {
    opt.step(p, g, 0.01);
    m = 0.9 * m + 0.1 * 0.25, v = 0.999 * v + 0.001 * 0.0625;
    const double upd = 0.01 * (m / (1 - std::pow(0.9, step))) / (std::sqrt(v / (1 - std::pow(0.999, step))) + 1e-8);
    pw = pw - 0.01 * 0.1 * pw - upd;
    pn = pn - upd;
  }
  EXPECT_NEAR(p[w], pw, 1e-6);
  EXPECT_NEAR(p[n], pn, 1e-6);
}

// Clipping passes a scale into the step (the gradients stay as computed): a step with grad_scale
// s equals, bit for bit, a step on gradients multiplied by s first; and the optimizer a backend
// makes (the host one for the CPU backend) moves the backend's own parameters and reports Σ g².
TEST(AdamWTest, GradScaleIsAStepOnScaledGradients) {
  const ModelConfig c = ModelConfig::gpt2(8, 1, 1, 4, 4);
  const TensorTable t(c);
  Rng rng(3);
  std::vector<float> p0(t.total_size()), g(t.total_size());
  for (size_t i = 0; i < g.size(); i++) p0[i] = (float)rng.normal(), g[i] = (float)rng.normal();
  std::vector<float> scaled = g;
  for (float& x : scaled) x *= 0.37f;
  AdamW a(t, AdamWOptions{0.9, 0.999, 1e-8, 0.1}), b(t, AdamWOptions{0.9, 0.999, 1e-8, 0.1});
  std::vector<float> pa = p0, pb = p0;
  for (int step = 0; step < 3; step++) {
    a.step(pa, g, 0.01, 0.37f);
    b.step(pb, scaled, 0.01);
  }
  EXPECT_EQ(pa, pb);

  auto backend = make_cpu_backend(c, p0);
  std::copy(g.begin(), g.end(), backend->grads().begin());
  const std::unique_ptr<Optimizer> opt =
      backend->make_optimizer(AdamWOptions{0.9, 0.999, 1e-8, 0.1}, {0, t.total_size()});
  double sq = 0;
  for (float x : g) sq += (double)x * x;
  EXPECT_EQ(opt->grad_sq_sum(), sq);
  EXPECT_EQ(opt->slice().size(), t.total_size());
  std::vector<float> pc = p0;
  AdamW ref(t, AdamWOptions{0.9, 0.999, 1e-8, 0.1});
  ref.step(pc, g, 0.01, 0.5f);
  opt->step(0.01, 0.5f);
  const std::span<float> moved = backend->params();
  EXPECT_TRUE(std::equal(moved.begin(), moved.end(), pc.begin()));
  EXPECT_EQ(opt->steps(), 1);
}

}  // namespace
}  // namespace align::train
