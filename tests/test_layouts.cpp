// test_layouts.cpp: the padded, packed and shared batch layouts give the same
// numbers (DESIGN.md §3, src/train/batches.hpp).
//
//   * What each layout builds, checked against the pairs themselves: every
//     real column sees exactly its sequence's earlier tokens at positions
//     0..p (prompt shared or not) and predicts that sequence's next token;
//     rows respect the budget unless one unit is longer (then it is alone).
//   * For every loss type and all six tiny configurations, in float64: the
//     per-sequence sums, the reference sums, the loss, every metric and every
//     parameter gradient of packed and shared equal padded to 1e-12 relative.
//     The edge cases ride in the pairs and budgets: a chosen answer that is a
//     prefix of the rejected one, answers differing at their first token, a
//     pair that fills max_seq_len, rows filled exactly to the budget, units
//     longer than the budget.
//   * An empty completion gives the same sums in every layout and the same refusal.
//   * float32 (BLAS), SFT packing, and the trainer: whole runs whose packing
//     changes from step to step agree across layouts; resume is bit-identical
//     under each layout.
#include <gtest/gtest.h>
#include <omp.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.hpp"
#include "common/file_io.hpp"
#include "cpu/model_cpu.hpp"
#include "model/init.hpp"
#include "objectives/preference_step.hpp"
#include "scratch_dir.hpp"
#include "test_util.hpp"
#include "train/batches.hpp"
#include "train/trainer.hpp"

namespace align::train {
namespace {

using objectives::LossType;
using objectives::ObjectiveConfig;
using objectives::ObjectiveResult;
using objectives::RowSums;

struct Pairs {
  std::vector<data::PairRecord> records;
  std::vector<data::PairsFile::View> views() const {
    std::vector<data::PairsFile::View> v;
    for (const auto& r : records) v.push_back({r.prompt, r.chosen, r.rejected});
    return v;
  }
  std::vector<size_t> ids() const {
    std::vector<size_t> i(records.size());
    for (size_t k = 0; k < i.size(); k++) i[k] = k;
    return i;
  }
};

// Four pairs for max_seq_len 8, vocabulary 37, random tokens in the shapes of the edge cases:
// 0: chosen a prefix of rejected; 1: answers that differ at their first token only;
// 2: a 6-token prompt filling max_seq_len with its rejected answer; 3: a 1-token prompt.
Pairs edge_pairs(uint64_t seed) {
  Rng rng(seed);
  auto ids = [&](int n) {
    std::vector<uint32_t> v(n);
    for (auto& x : v) x = (uint32_t)rng.uniform_int(0, 36);
    return v;
  };
  Pairs p;
  data::PairRecord r0{ids(3), ids(2), {}};
  r0.rejected = r0.chosen;
  for (uint32_t x : ids(2)) r0.rejected.push_back(x);
  data::PairRecord r1{ids(2), ids(3), {}};
  r1.rejected = r1.chosen;
  r1.rejected[0] = (r1.chosen[0] + 1) % 37;
  p.records = {r0, r1, {ids(6), ids(1), ids(2)}, {ids(1), ids(4), ids(2)}};
  return p;
}

// The padded layout's sequence s (chosen 0..B-1, then rejected).
std::vector<uint32_t> sequence(const Pairs& p, int s) {
  const int B = (int)p.records.size();
  const data::PairRecord& r = p.records[s % B];
  std::vector<uint32_t> v = r.prompt;
  const auto& c = s < B ? r.chosen : r.rejected;
  v.insert(v.end(), c.begin(), c.end());
  return v;
}

struct LayoutCase {
  Layout layout;
  int budget;
};
// Budgets chosen so that rows are filled exactly (packed@15: three rows of 15; packed@8 and
// shared@17: a row of exactly the budget) and that units longer than the budget occur
// (shared@8: units of 9 alone in their rows). RowsRespectTheBudgetAndFillItExactly pins this.
const LayoutCase kLayouts[] = {{Layout::Packed, 15}, {Layout::Packed, 8}, {Layout::Shared, 17}, {Layout::Shared, 8}};

std::string layout_label(const LayoutCase& lc) {
  return cat(layout_name(lc.layout), "@", lc.budget);
}

// Independent of the builder's bookkeeping: the tokens a column sees, in order, must be its
// sequence's tokens at positions 0..p, and its targets that sequence's token p+1.
TEST(Layouts, EveryColumnSeesItsSequenceAndPredictsItsNextToken) {
  const Pairs p = edge_pairs(5);
  const int B = (int)p.records.size();
  for (const LayoutCase& lc : kLayouts) {
    SCOPED_TRACE(layout_label(lc));
    const TokenBatch b = pair_batch(p.views(), p.ids(), 8, lc.layout, lc.budget);
    const size_t M = (size_t)b.N * b.T;
    ASSERT_EQ(b.sequences.size(), M + b.extra_at.size());
    uint64_t real = 0;
    for (int n = 0; n < b.N; n++) {
      real += b.lengths[n];
      // A row over the budget holds one unit only: every column's runs start at the row's start.
      if (b.lengths[n] > lc.budget) {
        for (int t = 0; t < b.lengths[n]; t++) {
          EXPECT_EQ(std::min(b.seq_start[(size_t)n * b.T + t], b.prefix_start[(size_t)n * b.T + t]), 0)
              << "row " << n << " exceeds the budget with more than one unit";
        }
      }
      for (int t = 0; t < b.lengths[n]; t++) {
        const size_t i = (size_t)n * b.T + t;
        std::vector<uint32_t> seen;
        for (int j = b.prefix_start[i]; j < b.prefix_end[i]; j++) seen.push_back(b.tokens[(size_t)n * b.T + j]);
        for (int j = b.seq_start[i]; j <= t; j++) seen.push_back(b.tokens[(size_t)n * b.T + j]);
        ASSERT_EQ((int)seen.size(), b.positions[i] + 1) << "row " << n << " column " << t;
        auto check_prediction = [&](int s, int32_t target, const char* what) {
          const std::vector<uint32_t> seq = sequence(p, s);
          ASSERT_TRUE(std::equal(seen.begin(), seen.end(), seq.begin())) << what << " row " << n << " column " << t;
          ASSERT_LT((size_t)seen.size(), seq.size()) << what;
          EXPECT_EQ((uint32_t)target, seq[seen.size()]) << what << " row " << n << " column " << t;
        };
        if (b.sequences.seq[i] >= 0 && b.targets[i] >= 0) {
          check_prediction(b.sequences.seq[i], b.targets[i], "own");
          const size_t P = p.records[b.sequences.seq[i] % B].prompt.size();
          EXPECT_EQ(b.sequences.completion[i], seen.size() >= P) << "row " << n << " column " << t;
          if (b.sequences.seq2[i] >= 0) check_prediction(b.sequences.seq2[i], b.targets[i], "shared prompt");
        }
        for (size_t e = 0; e < b.extra_at.size(); e++)
          if ((size_t)b.extra_at[e] == i) check_prediction(b.sequences.seq[M + e], b.extra_targets[e], "extra");
      }
    }
    // Every completion token of every sequence is predicted exactly once.
    std::vector<int> completions(2 * B, 0);
    for (size_t i = 0; i < b.sequences.size(); i++)
      if (b.sequences.completion[i]) completions[b.sequences.seq[i]]++;
    for (int s = 0; s < 2 * B; s++) {
      const auto& r = p.records[s % B];
      EXPECT_EQ(completions[s], (int)(s < B ? r.chosen : r.rejected).size()) << "sequence " << s;
    }
    // Real tokens: 2B sequences back to back, or one prompt per pair for shared.
    uint64_t expect = 0;
    for (const auto& r : p.records)
      expect += (lc.layout == Layout::Shared ? 1 : 2) * r.prompt.size() + r.chosen.size() + r.rejected.size();
    EXPECT_EQ(real, expect);
    EXPECT_EQ(b.sequence_tokens, (uint64_t)(2 * 3 + 2 + 4 + 2 * 2 + 3 + 3 + 2 * 6 + 1 + 2 + 2 * 1 + 4 + 2));
  }
}

TEST(Layouts, RowsRespectTheBudgetAndFillItExactly) {
  const Pairs p = edge_pairs(6);
  // Sequence lengths 5 5 7 5 | 7 5 8 3 (45 tokens); shared units 9 8 9 7 (33 tokens).
  auto lengths = [&](Layout layout, int budget) {
    const TokenBatch b = pair_batch(p.views(), p.ids(), 8, layout, budget);
    return std::vector<int>(b.lengths.begin(), b.lengths.end());
  };
  EXPECT_EQ(lengths(Layout::Packed, 15), (std::vector<int>{15, 15, 15}));          // 8+7, 7+5+3, 5+5+5: no padding
  EXPECT_EQ(lengths(Layout::Packed, 8), (std::vector<int>{8, 7, 7, 8, 5, 5, 5}));  // 5+3 fills a row of 8
  EXPECT_EQ(lengths(Layout::Shared, 17), (std::vector<int>{17, 16}));              // 9+8, 9+7
  EXPECT_EQ(lengths(Layout::Shared, 8), (std::vector<int>{9, 9, 8, 7}));           // over the budget: alone, not cut
  // A wide budget is not taken when a narrower row computes fewer columns: at 64 the units
  // would share one row of 33 columns; here 33 exactly as well.
  EXPECT_EQ(lengths(Layout::Shared, 64), (std::vector<int>{33}));
  const TokenBatch padded = pair_batch(p.views(), p.ids(), 8, Layout::Padded);
  const TokenBatch shared = pair_batch(p.views(), p.ids(), 8, Layout::Shared, 17);
  EXPECT_EQ(padded.N, 8);
  EXPECT_EQ(padded.T, 8);
  EXPECT_EQ(shared.extra_at.size(), 4u);
  EXPECT_NEAR(padded.padding_fraction(), 1.0 - 45.0 / 64.0, 1e-15);
  EXPECT_NEAR(shared.padding_fraction(), 1.0 - 33.0 / 34.0, 1e-15);
  // A sequence longer than the model allows is refused, naming the pair.
  Pairs too_long = p;
  too_long.records[2].rejected.push_back(1);
  try {
    pair_batch(too_long.views(), too_long.ids(), 8, Layout::Shared, 64);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("pair 2 has 9 tokens"), std::string::npos) << e.what();
  }
}

// Packing never computes more columns than padding (the guarantee place() gives): random
// batches of 1..16 pairs with prompts and answers of random lengths, default budget.
TEST(Layouts, PackingNeverComputesMoreThanPadding) {
  Rng rng(21);
  for (int trial = 0; trial < 300; trial++) {
    Pairs p;
    const int B = rng.uniform_int(1, 16), max_len = 64;
    const int hi_prompt = rng.uniform_int(1, 40), hi_answer = rng.uniform_int(1, 24);
    for (int k = 0; k < B; k++) {
      data::PairRecord r;
      r.prompt.assign(rng.uniform_int(0, hi_prompt), 1);
      r.chosen.assign(rng.uniform_int(1, hi_answer), 2);
      r.rejected.assign(rng.uniform_int(1, hi_answer), 3);
      p.records.push_back(r);
    }
    const uint64_t padded = pair_batch(p.views(), p.ids(), max_len, Layout::Padded).computed_tokens();
    for (const Layout layout : {Layout::Packed, Layout::Shared})
      ASSERT_LE(pair_batch(p.views(), p.ids(), max_len, layout).computed_tokens(), padded)
          << "trial " << trial << " " << layout_name(layout);
  }
}

// ---- float64 equivalence of everything the objective sees, for every loss and config ----

struct Outcome {
  RowSums sums;
  std::vector<double> ref;
  ObjectiveResult result;
  std::vector<double> grads;
};

template <typename S>
Outcome run_step(cpu::CpuModel<S>& policy, cpu::CpuModel<S>& reference, const TokenBatch& b,
                 const ObjectiveConfig& cfg) {
  Outcome o;
  const Batch view = b.view();
  if (cfg.needs_reference()) o.ref = objectives::reference_sums(reference, view, b.sequences, cfg);
  std::vector<S> logp(view.predictions());
  TokenStats stats;
  policy.forward(view, logp.data(), &stats);
  o.sums = objectives::reduce_rows(b.sequences, logp.data(), &stats,
                                   objectives::completion_weights(b.sequences, cfg.ld_alpha));
  policy.zero_grad();
  o.result = objectives::preference_step(policy, view, b.sequences, cfg, o.ref, 1.0);
  o.grads.assign(policy.grads().begin(), policy.grads().end());
  return o;
}

// |got - want| <= rel·scale, the scale being the largest magnitude among the values compared
// (rounding of a sum grows with its terms, not with its result).
void expect_close(const std::vector<double>& got, const std::vector<double>& want, double rel,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1;
  for (double x : want) scale = std::max(scale, std::abs(x));
  for (size_t i = 0; i < want.size(); i++) ASSERT_NEAR(got[i], want[i], rel * scale) << what << "[" << i << "]";
}

void expect_same_outcome(const Outcome& got, const Outcome& want, double rel) {
  const std::pair<const char*, std::vector<double> RowSums::*> fields[] = {
      {"completion_logp", &RowSums::completion_logp},
      {"raw_completion_logp", &RowSums::raw_completion_logp},
      {"completion_len", &RowSums::completion_len},
      {"all_logp", &RowSums::all_logp},
      {"all_len", &RowSums::all_len},
      {"entropy", &RowSums::entropy},
      {"mean_logit", &RowSums::mean_logit},
      {"top1", &RowSums::top1},
      {"log_sum_sq_probs", &RowSums::log_sum_sq_probs}};
  for (const auto& [name, f] : fields) expect_close(got.sums.*f, want.sums.*f, rel, name);
  expect_close(got.ref, want.ref, rel, "reference sums");
  EXPECT_NEAR(got.result.loss, want.result.loss, rel * (1 + std::abs(want.result.loss)));
  ASSERT_EQ(got.result.metrics.size(), want.result.metrics.size());
  for (size_t k = 0; k < want.result.metrics.size(); k++) {
    EXPECT_EQ(got.result.metrics[k].name, want.result.metrics[k].name);
    EXPECT_NEAR(got.result.metrics[k].value, want.result.metrics[k].value,
                rel * (1 + std::abs(want.result.metrics[k].value)))
        << want.result.metrics[k].name;
  }
  expect_close(got.grads, want.grads, rel, "parameter gradients");
}

ObjectiveConfig config_for(LossType t) {
  ObjectiveConfig c;
  c.losses = {{t, 1.0}};
  c.beta = t == LossType::Orpo ? 0.3 : 0.5;
  if (t == LossType::ExoPair || t == LossType::Robust) c.label_smoothing = 0.1;
  c.validate();
  return c;
}

struct EquivCase {
  int model;
  std::string loss;  // a TRL loss name, or "rpo_ld_wpo": sigmoid + sft with LD-DPO and WPO weighting
};
void PrintTo(const EquivCase& c, std::ostream* os) {
  *os << test::tiny_configs()[c.model].name << "_" << c.loss;
}

class LayoutEquivalence : public ::testing::TestWithParam<EquivCase> {};

// float64 plain loops: a real column computes the same terms in the same order whatever the
// row around it (attention walks its visible keys in column order), so log-probs agree to the
// last bit; the sums and gradients add the same terms in another order (a shared prompt's
// gradient arrives once, summed, instead of twice), which moves them by float64 rounding of
// the largest term: 1e-12 relative.
TEST_P(LayoutEquivalence, PackedAndSharedEqualPadded) {
  const test::OneThread one_thread;  // tiny shapes: threads only add overhead
  const EquivCase& c = GetParam();
  const ModelConfig cfg = test::tiny_configs()[c.model].config;
  ObjectiveConfig obj;
  if (c.loss == "rpo_ld_wpo") {
    obj.losses = {{LossType::Sigmoid, 1.0}, {LossType::Sft, 0.7}};
    obj.ld_alpha = 0.4, obj.wpo_weighting = true, obj.beta = 0.5;
  } else {
    obj = config_for(objectives::parse_loss(c.loss));
  }
  cpu::CpuModel<double> policy(cfg), reference(cfg);
  test::fill_random_params(cfg, policy.params().data(), 300 + c.model);
  test::fill_random_params(cfg, reference.params().data(), 400 + c.model);
  const Pairs p = edge_pairs(7);
  const Outcome padded = run_step(policy, reference, pair_batch(p.views(), p.ids(), 8, Layout::Padded), obj);
  for (const LayoutCase& lc : kLayouts) {
    SCOPED_TRACE(layout_label(lc));
    const Outcome o = run_step(policy, reference, pair_batch(p.views(), p.ids(), 8, lc.layout, lc.budget), obj);
    expect_same_outcome(o, padded, 1e-12);
  }
}

std::vector<EquivCase> equivalence_cases() {
  std::vector<EquivCase> out;
  for (int m = 0; m < (int)test::tiny_configs().size(); m++) {
    for (const std::string& name : objectives::loss_names()) out.push_back({m, name});
    out.push_back({m, "rpo_ld_wpo"});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(EveryLossEveryConfig, LayoutEquivalence, ::testing::ValuesIn(equivalence_cases()),
                         [](const auto& info) {
                           return test::tiny_configs()[info.param.model].name + "_" + info.param.loss;
                         });

// The chunked LM head (the training mode) scores the last prompt column's two targets from one
// pass over the vocabulary: the same as the full-logits head, both in float64 (1e-12).
TEST(Layouts, ChunkedHeadScoresBothAnswersLikeTheFullHead) {
  const test::OneThread one_thread;
  for (int m : {0, 2}) {
    const ModelConfig cfg = test::tiny_configs()[m].config;
    cpu::CpuModel<double> policy(cfg), reference(cfg);
    test::fill_random_params(cfg, policy.params().data(), 500);
    test::fill_random_params(cfg, reference.params().data(), 501);
    const Pairs p = edge_pairs(8);
    const TokenBatch b = pair_batch(p.views(), p.ids(), 8, Layout::Shared, 16);
    const ObjectiveConfig obj = config_for(LossType::Sigmoid);
    const Outcome full = run_step(policy, reference, b, obj);
    policy.set_vocab_chunk(5), reference.set_vocab_chunk(5);  // 37 tokens: 8 chunks, the last one short
    const Outcome chunked = run_step(policy, reference, b, obj);
    expect_same_outcome(chunked, full, 1e-12);
  }
}

// The CPU model on a shared batch (positions restarting, the rule's prefix run, extra predictions)
// against float64 central finite differences of L = Σ_i w_i·logp_i over all N·T + E predictions,
// for every 5th parameter of a GPT-2 (learned positions) and a Llama (RoPE, GQA) model.
// Tolerance as in test_cpu_gradcheck.cpp: 1e-7·(1 + |g|) at h = 1e-5 (truncation error
// O(h²) times the third derivative, ~1e-10; cancellation 1e-16·|L|/h, ~1e-10).
TEST(Layouts, SharedRowGradientsMatchFiniteDifferences) {
  const test::OneThread one_thread;
  for (int m : {0, 5}) {
    SCOPED_TRACE(test::tiny_configs()[m].name);
    const ModelConfig cfg = test::tiny_configs()[m].config;
    cpu::CpuModel<double> model(cfg);
    test::fill_random_params(cfg, model.params().data(), 1000 + m);
    const Pairs p = edge_pairs(12);
    const TokenBatch b = pair_batch(p.views(), p.ids(), 8, Layout::Shared, 17);
    const Batch view = b.view();
    ASSERT_GT(view.E, 0);
    std::vector<double> w(view.predictions()), logp(view.predictions());
    Rng rng(13);
    for (double& x : w) x = rng.uniform(-1, 1);
    auto loss = [&]() {
      model.forward(view, logp.data());
      double l = 0;
      for (size_t i = 0; i < logp.size(); i++) l += w[i] * logp[i];
      return l;
    };
    loss();
    model.zero_grad();
    model.backward(w.data());
    const std::vector<double> g = model.grads();
    const double h = 1e-5;
    for (size_t k = 0; k < g.size(); k += 5) {
      const double x = model.params()[k];
      model.params()[k] = x + h;
      const double up = loss();
      model.params()[k] = x - h;
      const double down = loss();
      model.params()[k] = x;
      ASSERT_NEAR(g[k], (up - down) / (2 * h), 1e-7 * (1 + std::abs(g[k]))) << "parameter " << k;
    }
  }
}

// An empty completion (what truncation can leave; prepare_pairs drops such pairs) reaches the
// sums the same way in every layout, and the objective refuses it in every layout.
TEST(Layouts, AnEmptyCompletionGivesTheSameSumsAndTheSameRefusal) {
  const test::OneThread one_thread;
  const ModelConfig cfg = test::tiny_configs()[2].config;
  cpu::CpuModel<double> policy(cfg);
  test::fill_random_params(cfg, policy.params().data(), 600);
  Pairs p = edge_pairs(9);
  p.records[1].chosen.clear();
  p.records[3].rejected.clear();
  std::vector<RowSums> sums;
  for (const LayoutCase& lc : {LayoutCase{Layout::Padded, 0}, kLayouts[0], kLayouts[2], kLayouts[3]}) {
    const TokenBatch b = pair_batch(p.views(), p.ids(), 8, lc.layout, lc.budget);
    std::vector<double> logp(b.view().predictions());
    TokenStats stats;
    policy.forward(b.view(), logp.data(), &stats);
    sums.push_back(objectives::reduce_rows(b.sequences, logp.data(), &stats,
                                           objectives::completion_weights(b.sequences, std::nullopt)));
    EXPECT_THROW(objectives::preference_step(policy, b.view(), b.sequences, config_for(LossType::Sigmoid), {}, 1.0),
                 InputError);
  }
  EXPECT_EQ(sums[0].completion_len[1], 0.0);
  EXPECT_EQ(sums[0].completion_len[4 + 3], 0.0);
  for (size_t k = 1; k < sums.size(); k++) {
    expect_close(sums[k].completion_logp, sums[0].completion_logp, 1e-12, "completion_logp");
    expect_close(sums[k].all_logp, sums[0].all_logp, 1e-12, "all_logp");
    expect_close(sums[k].completion_len, sums[0].completion_len, 0, "completion_len");
  }
}

// float32 with BLAS matmuls: the layouts give BLAS differently shaped operands, so results move
// by float32 rounding. Each layout is within ~1e-6 relative of the exact value on these O(1)
// activations (CpuModelTest.FloatMatchesDouble bounds float against double at 2e-4 of the
// largest value at worst), so 1e-4 of the largest magnitude leaves margin and still catches a
// missing or doubled term, which moves results by O(1).
TEST(Layouts, Float32LayoutsAgreeWithinRounding) {
  for (int m = 0; m < (int)test::tiny_configs().size(); m++) {
    SCOPED_TRACE(test::tiny_configs()[m].name);
    const ModelConfig cfg = test::tiny_configs()[m].config;
    cpu::CpuModel<float> policy(cfg), reference(cfg);
    test::fill_random_params(cfg, policy.params().data(), 700 + m);
    test::fill_random_params(cfg, reference.params().data(), 800 + m);
    policy.set_vocab_chunk(16), reference.set_vocab_chunk(16);
    const Pairs p = edge_pairs(10);
    for (const char* loss : {"sigmoid", "orpo", "ipo"}) {
      const ObjectiveConfig obj = config_for(objectives::parse_loss(loss));
      const Outcome padded = run_step(policy, reference, pair_batch(p.views(), p.ids(), 8, Layout::Padded), obj);
      for (const LayoutCase& lc : kLayouts) {
        SCOPED_TRACE(layout_label(lc) + " " + loss);
        expect_same_outcome(run_step(policy, reference, pair_batch(p.views(), p.ids(), 8, lc.layout, lc.budget), obj),
                            padded, 1e-4);
      }
    }
  }
}

// ---- SFT and the trainer ------------------------------------------------------------------

namespace fs = std::filesystem;

class LayoutFiles : public ::testing::Test {
 protected:
  std::string path(const std::string& p) const { return scratch_.path(p); }
  test::ScratchDir scratch_{"layouts"};
};

// SFT packing: loss and every gradient equal the padded layout's (float64, 1e-12 as above).
TEST_F(LayoutFiles, SftPackingEqualsPadded) {
  Rng rng(11);
  std::vector<data::SftRecord> records;
  for (int k = 0; k < 6; k++) {
    data::SftRecord r;
    const int n = rng.uniform_int(2, 8);
    for (int t = 0; t < n; t++) r.ids.push_back(rng.uniform_int(0, 36)), r.loss_mask.push_back(t >= n / 2);
    records.push_back(r);
  }
  data::write_sft(path("sft.bin"), data::SftMeta{37, -1, 1}, records);
  const data::SftFile sft(path("sft.bin"));
  const std::vector<size_t> idx{0, 1, 2, 3, 4, 5};
  for (int m : {0, 4}) {
    const ModelConfig cfg = test::tiny_configs()[m].config;
    cpu::CpuModel<double> model(cfg);
    test::fill_random_params(cfg, model.params().data(), 900);
    auto run = [&](Layout layout) {
      const TokenBatch b = sft_batch(sft, idx, 8, layout, 11);
      std::vector<double> logp(b.view().predictions());
      model.forward(b.view(), logp.data());
      double sum = 0, count = 0;
      for (size_t i = 0; i < logp.size(); i++)
        if (b.sequences.completion[i]) sum += logp[i], count++;
      std::vector<double> d(logp.size());
      for (size_t i = 0; i < d.size(); i++) d[i] = b.sequences.completion[i] ? -1.0 / count : 0.0;
      model.zero_grad();
      model.backward(d.data());
      return std::make_pair(-sum / count, model.grads());
    };
    const auto [loss_padded, grads_padded] = run(Layout::Padded);
    const auto [loss_packed, grads_packed] = run(Layout::Packed);
    EXPECT_LT(sft_batch(sft, idx, 8, Layout::Packed, 11).N, 6);
    EXPECT_NEAR(loss_packed, loss_padded, 1e-12 * std::abs(loss_padded));
    expect_close(grads_packed, grads_padded, 1e-12, "sft gradients");
  }
  EXPECT_THROW(sft_batch(sft, idx, 8, Layout::Shared), InputError);
}

class LayoutTraining : public LayoutFiles {
 protected:
  void SetUp() override {
    LayoutFiles::SetUp();
    config_ = ModelConfig::llama(32, 1, 2, 1, 16, 32, 16);
    params_.resize(TensorTable(config_).total_size());
    init_params(config_, params_.data(), 3);
    data::write_pairs(path("train.bin"), data::PairsMeta{32, -1, 1}, test::toy_preference_pairs(24, 1));
    data::write_pairs(path("val.bin"), data::PairsMeta{32, -1, 1}, test::toy_preference_pairs(8, 2));
  }
  TrainOptions options(const std::string& out) const {
    TrainOptions o;
    o.batch_size = 4, o.grad_accum = 2, o.epochs = 2, o.lr = 5e-3, o.warmup_steps = 2;
    o.schedule = Schedule::Cosine, o.out_dir = path(out), o.quiet = true, o.eval_every = 3;
    return o;
  }
  TrainSummary run(const std::string& out, LayoutOptions layout, TrainOptions o) {
    auto policy = make_cpu_backend(config_, params_);
    auto ref = make_cpu_backend(config_, params_);
    objectives::ObjectiveConfig obj;
    DpoTask task(std::make_shared<data::PairsFile>(path("train.bin")),
                 std::make_shared<data::PairsFile>(path("val.bin")), obj, ref.get(), false, config_.max_seq_len,
                 layout);
    return train(*policy, task, o);
  }
  std::vector<nlohmann::json> metrics(const std::string& out) const {
    std::ifstream f(path(out) + "/metrics.jsonl");
    std::vector<nlohmann::json> rows;
    for (std::string l; std::getline(f, l);) rows.push_back(nlohmann::json::parse(l));
    return rows;
  }
  ModelConfig config_;
  std::vector<float> params_;
};

// Six steps whose packing differs from micro-batch to micro-batch (the pairs have 2-5 token
// prompts and 2-4 token answers; rows of 16 columns): every logged metric of packed and shared
// follows padded's. float32 rounding differs between layouts (1e-6 relative per step, see
// Float32LayoutsAgreeWithinRounding) and six Adam steps at lr 5e-3 carry it along without
// amplifying it past 1e-4 on these O(1) metrics; num_tokens is exact. tokens_per_step and
// padding_fraction differ by design: shared computes fewer tokens.
TEST_F(LayoutTraining, WholeRunsAgreeAcrossLayouts) {
  run("padded", {Layout::Padded, 0}, options("padded"));
  const std::vector<nlohmann::json> want = metrics("padded");
  for (const Layout layout : {Layout::Packed, Layout::Shared}) {
    SCOPED_TRACE(layout_name(layout));
    run(layout_name(layout), {layout, 16}, options(layout_name(layout)));
    const std::vector<nlohmann::json> got = metrics(layout_name(layout));
    ASSERT_EQ(got.size(), want.size());
    std::set<double> packings;
    double computed_got = 0, computed_want = 0;
    for (size_t r = 0; r < want.size(); r++)
      for (const auto& [key, value] : want[r].items()) {
        ASSERT_TRUE(got[r].contains(key)) << key;
        if (key == "tokens_per_step" || key == "padding_fraction") {
          if (key == "tokens_per_step" && got[r].contains("loss")) {
            EXPECT_LE(got[r][key].get<double>(), value.get<double>()) << "row " << r;
            packings.insert(got[r][key].get<double>());
            computed_got += got[r][key].get<double>(), computed_want += value.get<double>();
          }
          continue;
        }
        EXPECT_NEAR(got[r][key].get<double>(), value.get<double>(), 1e-4 * (1 + std::abs(value.get<double>())))
            << key << " at row " << r;
      }
    EXPECT_GE(packings.size(), 2u);  // the packing changed from step to step
    EXPECT_LT(computed_got, 0.9 * computed_want);
  }
}

TEST_F(LayoutTraining, ResumeIsBitIdenticalUnderEachLayout) {
  for (const Layout layout : {Layout::Padded, Layout::Packed, Layout::Shared}) {
    SCOPED_TRACE(layout_name(layout));
    const std::string straight = cat("straight_", layout_name(layout)), resumed = cat("resumed_", layout_name(layout));
    run(straight, {layout, 16}, options(straight));
    TrainOptions o = options(resumed);
    o.stop_after_step = 2;  // mid-epoch
    EXPECT_TRUE(run(resumed, {layout, 16}, o).interrupted);
    o.stop_after_step = 0;
    o.resume = true;
    run(resumed, {layout, 16}, o);
    EXPECT_EQ(read_file_bytes(path(straight + "/model.bin")), read_file_bytes(path(resumed + "/model.bin")));
    const auto a = metrics(straight), b = metrics(resumed);
    EXPECT_EQ(a, b);
  }
}

}  // namespace
}  // namespace align::train
