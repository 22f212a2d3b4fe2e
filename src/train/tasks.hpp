// tasks.hpp: what the trainer trains. A Task turns a list of example indices
// into a batch, runs the backend forward (and backward, scaled, when asked),
// and returns the loss and TRL's metrics for it.
//   DpoTask  preference pairs under any objective of src/objectives (DPO family,
//            SimPO, ORPO, RPO/MPO sums), against a live reference backend, stored
//            reference log-probs, or none (reference-free objectives)
//   SftTask  supervised examples, token-mean NLL over the trained tokens
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/pairs_file.hpp"
#include "dist/communicator.hpp"
#include "data/sft_file.hpp"
#include "objectives/objective.hpp"
#include "train/backend.hpp"
#include "train/batches.hpp"

namespace align::train {

struct StepOutput {
  double loss = 0;
  std::vector<objectives::Metric> metrics;  // "loss" first
  uint64_t tokens = 0;           // tokens of the batch's sequences, as the padded layout holds them (num_tokens)
  uint64_t computed_tokens = 0;  // columns the backend computed (rows × T, padding included)
  uint64_t real_tokens = 0;      // of which real tokens
};

class Task {
 public:
  virtual ~Task() = default;
  virtual size_t size(bool eval) const = 0;  // examples in the training or the evaluation set
  // grad_scale == 0: forward only. Otherwise parameter gradients += grad_scale·∂loss/∂θ.
  virtual StepOutput run(Backend& policy, const std::vector<size_t>& examples, bool eval, double grad_scale) = 0;
};

class DpoTask final : public Task {
 public:
  // reference: a live reference backend; or nullptr with stored_reference (the pairs files hold
  // this reference's log-probs, checked by the caller against reference_tag); or neither, for
  // objectives that need no reference (their rewards metrics then use a zero reference).
  DpoTask(std::shared_ptr<const data::PairsFile> train, std::shared_ptr<const data::PairsFile> eval,
          objectives::ObjectiveConfig objective, Backend* reference, bool stored_reference, int max_seq_len,
          LayoutOptions layout = {});
  size_t size(bool eval) const override;
  StepOutput run(Backend& policy, const std::vector<size_t>& examples, bool eval, double grad_scale) override;

 private:
  std::shared_ptr<const data::PairsFile> train_, eval_;
  objectives::ObjectiveConfig objective_;
  Backend* reference_;
  bool stored_reference_;
  int max_seq_len_;
  LayoutOptions layout_;
};

class SftTask final : public Task {
 public:
  SftTask(std::shared_ptr<const data::SftFile> train, std::shared_ptr<const data::SftFile> eval, int max_seq_len,
          LayoutOptions layout = {});
  size_t size(bool eval) const override;
  StepOutput run(Backend& policy, const std::vector<size_t>& examples, bool eval, double grad_scale) override;

 private:
  std::shared_ptr<const data::SftFile> train_, eval_;
  int max_seq_len_;
  LayoutOptions layout_;
};

// The tag under which reference log-probs of `model_checksum` are stored for this objective
// (the token weights of LD-DPO change the sums, so ld_alpha is part of it).
uint64_t reference_tag(uint64_t model_checksum, const objectives::ObjectiveConfig& objective);

// Computes the reference sums of every pair with `reference` and stores them in the pairs file
// under `tag` (pairs_file.hpp); progress to stderr. Returns the number of pairs.
// With comm, the batches are dealt out over the ranks, the sums gathered, and rank 0 stores them.
size_t precompute_reference(const std::string& pairs_path, Backend& reference,
                            const objectives::ObjectiveConfig& objective, uint64_t tag, int batch_pairs,
                            dist::Communicator* comm = nullptr, LayoutOptions layout = {});

}  // namespace align::train
