// tasks.cpp: the DPO-family and SFT tasks, reference precomputation (tasks.hpp).
#include "train/tasks.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "common/error.hpp"
#include "objectives/preference_step.hpp"

namespace align::train {

DpoTask::DpoTask(std::shared_ptr<const data::PairsFile> train, std::shared_ptr<const data::PairsFile> eval,
                 objectives::ObjectiveConfig objective, Backend* reference, bool stored_reference, int max_seq_len,
                 LayoutOptions layout)
    : train_(std::move(train)),
      eval_(std::move(eval)),
      objective_(std::move(objective)),
      reference_(reference),
      stored_reference_(stored_reference),
      max_seq_len_(max_seq_len),
      layout_(layout) {
  objective_.validate();
  ALIGN_ASSERT(!(reference_ && stored_reference_), "one reference source at a time");
  ALIGN_REQUIRE(reference_ || stored_reference_ || !objective_.needs_reference(),
                "the objective needs reference log-probs: give a reference model or precompute them");
}

size_t DpoTask::size(bool eval) const { return eval ? (eval_ ? eval_->size() : 0) : train_->size(); }

StepOutput DpoTask::run(Backend& policy, const std::vector<size_t>& examples, bool eval, double grad_scale) {
  const data::PairsFile& pairs = eval ? *eval_ : *train_;
  const TokenBatch b = pair_batch(pairs, examples, max_seq_len_, layout_.layout, layout_.row_budget);
  const Batch view = b.view();
  std::vector<double> ref;
  if (reference_) {
    ref = objectives::reference_sums(*reference_, view, b.sequences, objective_);
  } else if (stored_reference_) {
    const size_t B = examples.size();
    ref.resize(2 * B);
    for (size_t k = 0; k < B; k++) {
      const auto r = pairs.reference(examples[k]);
      ALIGN_REQUIRE(r.has_value(), "pair ", examples[k], " has no stored reference log-probs (run with --precompute-ref)");
      ref[k] = r->first, ref[B + k] = r->second;
    }
  }
  const objectives::ObjectiveResult r =
      objectives::preference_step(policy, view, b.sequences, objective_, ref, grad_scale);
  return {r.loss, r.metrics, b.sequence_tokens, b.computed_tokens(), b.real_tokens()};
}

SftTask::SftTask(std::shared_ptr<const data::SftFile> train, std::shared_ptr<const data::SftFile> eval, int max_seq_len,
                 LayoutOptions layout)
    : train_(std::move(train)), eval_(std::move(eval)), max_seq_len_(max_seq_len), layout_(layout) {}

size_t SftTask::size(bool eval) const { return eval ? (eval_ ? eval_->size() : 0) : train_->size(); }

// loss = −Σ_trained logp / #trained (TRL's SFT loss: a mean over the batch's trained tokens);
// the metrics are TRL SFTTrainer's: entropy and mean_token_accuracy over the trained tokens.
StepOutput SftTask::run(Backend& policy, const std::vector<size_t>& examples, bool eval, double grad_scale) {
  const TokenBatch b = sft_batch(eval ? *eval_ : *train_, examples, max_seq_len_, layout_.layout, layout_.row_budget);
  const std::vector<uint8_t>& trained = b.sequences.completion;  // (predictions)
  std::vector<float> logp(b.view().predictions());
  TokenStats stats;
  policy.forward(b.view(), logp.data(), &stats);
  double sum = 0, entropy = 0, correct = 0;
  size_t count = 0;
  for (size_t i = 0; i < logp.size(); i++) {
    if (!trained[i]) continue;
    sum += logp[i], entropy += stats.entropy[i], correct += stats.is_top1[i];
    count++;
  }
  ALIGN_REQUIRE(count > 0, "a batch has no trained tokens (examples ", examples.front(), "...)");
  const double loss = -sum / count;
  if (grad_scale != 0.0) {
    for (size_t i = 0; i < logp.size(); i++) logp[i] = trained[i] ? (float)(-grad_scale / count) : 0.f;
    policy.backward(logp.data());
  }
  return {loss,
          {{"loss", loss}, {"entropy", entropy / count}, {"mean_token_accuracy", correct / count}},
          b.sequence_tokens,
          b.computed_tokens(),
          b.real_tokens()};
}

uint64_t reference_tag(uint64_t model_checksum, const objectives::ObjectiveConfig& objective) {
  uint64_t tag = model_checksum;
  if (objective.ld_alpha) {
    uint64_t bits;
    const double a = *objective.ld_alpha;
    std::memcpy(&bits, &a, 8);
    tag = (tag ^ bits) * 0x100000001b3ull;
  }
  return tag == 0 ? 1 : tag;  // 0 means "none stored"
}

size_t precompute_reference(const std::string& path, Backend& reference, const objectives::ObjectiveConfig& objective,
                            uint64_t tag, int batch_pairs, dist::Communicator* comm, LayoutOptions layout) {
  const int rank = comm ? comm->rank() : 0, ranks = comm ? comm->world_size() : 1;
  std::vector<std::pair<double, double>> sums;
  {
    const data::PairsFile pairs(path);
    sums.assign(pairs.size(), {0.0, 0.0});
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t start = (size_t)rank * batch_pairs; start < pairs.size(); start += (size_t)batch_pairs * ranks) {
      std::vector<size_t> idx;
      for (size_t i = start; i < std::min(pairs.size(), start + batch_pairs); i++) idx.push_back(i);
      const TokenBatch b = pair_batch(pairs, idx, reference.config().max_seq_len, layout.layout, layout.row_budget);
      const std::vector<double> s = objectives::reference_sums(reference, b.view(), b.sequences, objective);
      for (size_t k = 0; k < idx.size(); k++) sums[idx[k]] = {s[k], s[idx.size() + k]};
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (rank == 0)
        std::fprintf(stderr, "\rreference log-probs: %zu/%zu pairs, %.1f pairs/s", start + idx.size(), pairs.size(),
                     (start + idx.size()) / std::max(dt, 1e-9));
    }
    if (rank == 0) std::fprintf(stderr, "\n");
  }
  if (comm && ranks > 1) {  // each pair was computed by exactly one rank; the others hold zeros
    static_assert(sizeof(std::pair<double, double>) == 2 * sizeof(double));
    comm->all_reduce_sum(reinterpret_cast<double*>(sums.data()), 2 * sums.size());
  }
  if (rank == 0) data::PairsFile::store_reference(path, tag, sums);
  if (comm) comm->barrier();
  return sums.size();
}

}  // namespace align::train
