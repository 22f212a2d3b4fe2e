// trainer.hpp: the one training loop, for every task (DPO family, SFT) and
// every backend: seeded epoch order, micro-batches with gradient
// accumulation, global-norm clipping, AdamW, a learning-rate schedule,
// evaluation, logging (a progress line per step and metrics.jsonl with
// TRL's metric names), atomic checkpoints with exact resumption, and a clean
// stop on SIGINT/SIGTERM.
//
// Output directory:
//   metrics.jsonl          one JSON object per optimizer step, and one per evaluation (eval_ names)
//   checkpoint/            model.bin, optimizer.bin, state.json, manifest.json: the latest checkpoint
//   model.bin              the final model
// A checkpoint is written under a temporary name and swapped in so that kills
// at any moments leave a complete one (checkpoint_dir.hpp); on resume
// metrics.jsonl is cut back to the checkpoint's step.
// Data parallel (TrainOptions::comm): rank r takes slice r of every
// micro-batch; gradients are summed over ranks and divided by their number,
// so N ranks with a micro-batch of B examples compute what one rank does with
// B (for losses that are means over pairs); metrics are averaged over ranks;
// only rank 0 prints and writes, except each rank's ZeRO-1 optimizer shard.
#pragma once

#include <cstdint>
#include <string>

#include "dist/communicator.hpp"
#include "train/adamw.hpp"
#include "train/backend.hpp"
#include "train/schedule.hpp"
#include "train/tasks.hpp"

namespace align::train {

struct TrainOptions {
  int batch_size = 8;           // examples (pairs for DPO) per micro-batch
  int grad_accum = 1;           // micro-batches per optimizer step
  int epochs = 1;
  long max_steps = 0;           // > 0: stop after this many optimizer steps (overrides epochs)
  double lr = 1e-6;
  Schedule schedule = Schedule::Linear;
  double warmup_ratio = 0.0;    // of the total steps, used when warmup_steps is 0
  long warmup_steps = 0;
  double max_grad_norm = 1.0;   // 0: no clipping
  AdamWOptions adamw;
  uint64_t seed = 42;
  long eval_every = 0;          // optimizer steps between evaluations (0: only at the end)
  long save_every = 0;          // optimizer steps between checkpoints (0: only at the end / on a signal)
  std::string out_dir;
  bool resume = false;          // continue from out_dir/checkpoint
  bool quiet = false;           // no progress lines (tests)
  long stop_after_step = 0;     // > 0: checkpoint and stop after this step, as a signal would (time-boxed runs, tests)
  // Data parallel: each micro-batch of batch_size examples is split evenly over the ranks, gradients
  // are averaged; with zero1 each rank keeps the AdamW state of one slice of the parameters only.
  dist::Communicator* comm = nullptr;  // nullptr: one process
  bool zero1 = false;
  uint64_t data_fingerprint = 0;  // of the training data's content: recorded in checkpoints, checked on resume
};

struct TrainSummary {
  long steps = 0;
  bool interrupted = false;     // stopped by a signal (a checkpoint was written)
  double last_loss = 0;
  std::vector<objectives::Metric> final_eval;  // eval_ metrics at the end (empty without an eval set)
};

// model_config: what model.bin files are written with.
TrainSummary train(Backend& policy, Task& task, const TrainOptions& opt);

// Evaluation over the whole evaluation set in batches (spread over the ranks of comm, if any);
// metrics averaged over batches (as TRL's evaluation loop does), names prefixed with eval_.
std::vector<objectives::Metric> evaluate(Backend& policy, Task& task, int batch_size,
                                         dist::Communicator* comm = nullptr);

}  // namespace align::train
