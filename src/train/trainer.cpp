// trainer.cpp: the training loop (trainer.hpp).
#include "train/trainer.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/file_io.hpp"
#include "common/json_file.hpp"
#include "model/checkpoint.hpp"
#include "train/checkpoint_dir.hpp"
#include "train/signals.hpp"

namespace align::train {

namespace fs = std::filesystem;

namespace {

struct Position {
  long step = 0;        // optimizer steps done
  uint64_t epoch = 0;   // current epoch
  size_t micro = 0;     // micro-batches of this epoch done
  uint64_t tokens = 0;  // attended tokens so far, all ranks (num_tokens)
};

std::string fmt_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = (long)s;
  if (t >= 3600) return cat(t / 3600, "h", (t % 3600) / 60, "m");
  if (t >= 60) return cat(t / 60, "m", t % 60, "s");
  return cat(t, "s");
}

void append_jsonl(const std::string& path, const nlohmann::json& j) {
  std::ofstream f(path, std::ios::app);
  ALIGN_REQUIRE(f.is_open(), path, ": cannot append");
  f << j.dump() << "\n";
}

// Sums of metric vectors, averaged over `count` (TRL logs the mean of what it gathered).
std::vector<objectives::Metric> mean_of(const std::vector<std::vector<objectives::Metric>>& all) {
  std::vector<objectives::Metric> out = all.front();
  for (auto& m : out) m.value = 0;
  for (const auto& ms : all)
    for (size_t k = 0; k < out.size() && k < ms.size(); k++) out[k].value += ms[k].value / all.size();
  return out;
}

std::string optimizer_file(const TrainOptions& o, int rank) {
  return o.zero1 ? cat("optimizer.rank", rank, ".bin") : std::string("optimizer.bin");
}

// Rank 0 prepares checkpoint.tmp/, every ZeRO-1 rank adds its shard, rank 0 adds the model and state
// and swaps it in (the protocol and its guarantees: checkpoint_dir.hpp).
void save_checkpoint(const std::string& out, Backend& policy, const Optimizer& opt, const Position& pos,
                     const TrainOptions& o, dist::Communicator& comm) {
  const std::string tmp = (fs::path(out) / "checkpoint.tmp").string();
  if (comm.rank() == 0) begin_checkpoint(out);
  comm.barrier();
  if (o.zero1 || comm.rank() == 0) opt.save((fs::path(tmp) / optimizer_file(o, comm.rank())).string());
  comm.barrier();
  if (comm.rank() == 0) {
    const std::span<float> p = policy.params();
    save_model((fs::path(tmp) / "model.bin").string(), policy.config(), p.data(), DType::F32);
    CheckpointState state;
    state.step = pos.step;
    state.epoch = (int64_t)pos.epoch;
    state.micro_batch = (int64_t)pos.micro;
    state.num_tokens = pos.tokens;
    state.seed = o.seed;
    state.batch_size = o.batch_size;
    state.grad_accum = o.grad_accum;
    state.world_size = comm.world_size();
    state.zero1 = o.zero1;
    state.optimizer_step = opt.steps();
    state.data_fingerprint = o.data_fingerprint;
    const std::string text = state_to_json(state).dump(2) + "\n";
    const std::string state_path = (fs::path(tmp) / "state.json").string();
    write_file_atomic(state_path, [&](std::FILE* fp) { write_all(fp, text.data(), text.size(), state_path); });
    std::vector<std::string> files = {"model.bin", "state.json"};
    for (int r = 0; r < (o.zero1 ? comm.world_size() : 1); r++) files.push_back(optimizer_file(o, r));
    commit_checkpoint(out, files);
  }
  comm.barrier();
}

// Loads the newest complete checkpoint after checking that it belongs to this run: the same settings,
// the same training data, a position inside this run's epochs.
Position load_checkpoint(const std::string& out, Backend& policy, Optimizer& opt, const TrainOptions& o,
                         dist::Communicator& comm, size_t micro_per_epoch, long steps_per_epoch, long total) {
  const FoundCheckpoint found = find_checkpoint(out);
  const fs::path dir = found.dir;
  const CheckpointState& s = found.state;
  const std::string where = (dir / "state.json").string();
  ALIGN_REQUIRE(s.seed == o.seed && s.batch_size == o.batch_size && s.grad_accum == o.grad_accum, where,
                ": the checkpoint was made with seed ", s.seed, ", batch size ", s.batch_size, ", accumulation ",
                s.grad_accum, "; resume with the same values (this run has ", o.seed, ", ", o.batch_size, ", ",
                o.grad_accum, ")");
  ALIGN_REQUIRE(s.world_size == comm.world_size() && s.zero1 == o.zero1, where, ": the checkpoint was made on ",
                s.world_size, " ranks", s.zero1 ? " with ZeRO-1" : "", "; resume on the same (this run: ",
                comm.world_size(), " ranks", o.zero1 ? " with ZeRO-1" : "", ")");
  ALIGN_REQUIRE(s.data_fingerprint == o.data_fingerprint, where, ": the checkpoint was trained on data with fingerprint ",
                std::hex, s.data_fingerprint, ", this run's training data has ", o.data_fingerprint,
                " (resume with the same --input)");
  // The data position must be one this run reaches: micro-batches of the epoch in whole optimizer steps,
  // and the step count the one they imply.
  ALIGN_REQUIRE((size_t)s.micro_batch < micro_per_epoch && s.micro_batch % o.grad_accum == 0 &&
                    s.step == s.epoch * steps_per_epoch + s.micro_batch / o.grad_accum,
                where, ": step ", s.step, ", epoch ", s.epoch, ", micro_batch ", s.micro_batch,
                " are not a position of this data (", micro_per_epoch, " micro-batches per epoch, ", o.grad_accum,
                " per step)");
  ALIGN_REQUIRE(s.step <= total, where, ": the checkpoint is at step ", s.step, ", past the ", total,
                " steps of this run (raise --max-steps or --epochs)");
  const LoadedModel m = load_model((dir / "model.bin").string());
  ALIGN_REQUIRE(m.info.config == policy.config(), (dir / "model.bin").string(),
                ": the checkpoint's model config differs from the model being trained");
  std::copy(m.params.begin(), m.params.end(), policy.params().begin());
  opt.load((dir / optimizer_file(o, comm.rank())).string());
  ALIGN_REQUIRE(opt.steps() == s.optimizer_step, (dir / optimizer_file(o, comm.rank())).string(),
                ": the optimizer state has made ", opt.steps(), " steps, state.json says ", s.optimizer_step);
  return Position{s.step, (uint64_t)s.epoch, (size_t)s.micro_batch, s.num_tokens};
}

// Averages metric values over the ranks (all ranks hold the same result afterwards).
void average_over_ranks(std::vector<objectives::Metric>& m, dist::Communicator& comm) {
  if (comm.world_size() == 1) return;
  std::vector<double> v;
  for (const auto& x : m) v.push_back(x.value / comm.world_size());
  comm.all_reduce_sum(v.data(), v.size());
  for (size_t k = 0; k < m.size(); k++) m[k].value = v[k];
}

}  // namespace

std::vector<objectives::Metric> evaluate(Backend& policy, Task& task, int batch_size, dist::Communicator* comm_in) {
  const std::unique_ptr<dist::Communicator> single = comm_in ? nullptr : dist::make_single_communicator();
  dist::Communicator& comm = comm_in ? *comm_in : *single;
  const size_t n = task.size(true);
  const size_t batches = (n + batch_size - 1) / batch_size;
  std::vector<double> sums;
  std::vector<objectives::Metric> names;
  for (size_t b = comm.rank(); b < batches; b += comm.world_size()) {  // batches dealt out round robin
    std::vector<size_t> idx;
    for (size_t i = b * batch_size; i < std::min(n, (b + 1) * (size_t)batch_size); i++) idx.push_back(i);
    const std::vector<objectives::Metric> m = task.run(policy, idx, true, 0.0).metrics;
    if (sums.empty()) sums.assign(m.size(), 0.0), names = m;
    for (size_t k = 0; k < m.size(); k++) sums[k] += m[k].value;
  }
  if (batches == 0) return {};
  if (names.empty()) {  // a rank that drew no batch: learn the metric names from one, contribute zeros
    std::vector<size_t> idx{0};
    names = task.run(policy, idx, true, 0.0).metrics;
    sums.assign(names.size(), 0.0);
  }
  comm.all_reduce_sum(sums.data(), sums.size());
  std::vector<objectives::Metric> out = names;
  for (size_t k = 0; k < out.size(); k++) out[k] = {"eval_" + names[k].name, sums[k] / batches};
  return out;
}

TrainSummary train(Backend& policy, Task& task, const TrainOptions& o) {
  const std::unique_ptr<dist::Communicator> single = o.comm ? nullptr : dist::make_single_communicator();
  dist::Communicator& comm = o.comm ? *o.comm : *single;
  const int R = comm.world_size(), rank = comm.rank();
  const bool lead = rank == 0, talk = lead && !o.quiet;
  ALIGN_REQUIRE(o.batch_size >= 1 && o.grad_accum >= 1, "--batch-size and --grad-accum must be >= 1");
  ALIGN_REQUIRE(o.batch_size % R == 0, "--batch-size ", o.batch_size, " does not divide over ", R,
                " ranks; use a multiple of ", R);
  const size_t n = task.size(false);
  ALIGN_REQUIRE(n > 0, "the training set is empty");
  ALIGN_REQUIRE((size_t)o.batch_size <= n, "--batch-size ", o.batch_size, " is larger than the training set (", n,
                " examples)");
  ALIGN_REQUIRE(!o.out_dir.empty(), "no output directory");
  if (lead) {
    std::error_code ec;
    fs::create_directories(o.out_dir, ec);
    ALIGN_REQUIRE(!ec && fs::is_directory(o.out_dir), o.out_dir, ": cannot create the output folder: ",
                  ec ? ec.message() : std::string("a file of that name exists"));
    ALIGN_REQUIRE(::access(o.out_dir.c_str(), W_OK) == 0, o.out_dir, ": the output folder is not writable");
  }
  comm.barrier();
  const size_t micro_per_epoch = n / o.batch_size;  // whole micro-batches only, so every rank gets its share
  const long steps_per_epoch = (long)((micro_per_epoch + o.grad_accum - 1) / o.grad_accum);
  const long total = o.max_steps > 0 ? o.max_steps : steps_per_epoch * o.epochs;
  const long warmup = o.warmup_steps > 0 ? o.warmup_steps : (long)std::ceil(o.warmup_ratio * total);
  const std::string metrics_path = (fs::path(o.out_dir) / "metrics.jsonl").string();
  const size_t total_params = policy.params().size();
  const Shard shard = o.zero1 ? shard_of(total_params, rank, R) : Shard{total_params, 0, total_params};

  // The optimizer of this rank's slice, where the backend keeps its parameters.
  const std::unique_ptr<Optimizer> optimizer = policy.make_optimizer(o.adamw, shard.slice());
  Optimizer& opt = *optimizer;
  Position pos;
  if (o.resume) {
    pos = load_checkpoint(o.out_dir, policy, opt, o, comm, micro_per_epoch, steps_per_epoch, total);
    // Rows logged after the checkpoint was written (a kill between the two) are dropped: the resumed run
    // writes those steps again.
    const size_t dropped = lead ? truncate_metrics(metrics_path, pos.step) : 0;
    if (talk)
      std::printf("resumed from %s at step %ld (epoch %llu, micro-batch %zu)%s\n", o.out_dir.c_str(), pos.step,
                  (unsigned long long)pos.epoch, pos.micro,
                  dropped ? cat("; ", dropped, " metrics.jsonl rows after that step removed").c_str() : "");
  } else if (lead) {
    std::ofstream(metrics_path, std::ios::trunc);  // a fresh run starts a fresh log
  }
  TrainSummary summary;
  std::vector<size_t> order = epoch_order(n, o.seed, pos.epoch);
  const auto t_start = std::chrono::steady_clock::now();
  const long first_step = pos.step;
  uint64_t tokens_this_run = 0;

  while (pos.step < total) {
    comm.set_step(pos.step + 1);
    // Every rank stops at the same step: a signal on any rank stops all.
    double stop = (stop_requested() || (o.stop_after_step > 0 && pos.step >= o.stop_after_step)) ? 1.0 : 0.0;
    comm.all_reduce_sum(&stop, 1);
    if (stop > 0) {
      save_checkpoint(o.out_dir, policy, opt, pos, o, comm);
      summary.interrupted = true;
      if (talk)
        std::printf("stopped at step %ld; checkpoint written to %s/checkpoint (continue with --resume)\n", pos.step,
                    o.out_dir.c_str());
      break;
    }
    // One optimizer step: grad_accum micro-batches (fewer at the end of an epoch); this rank's slice of each.
    policy.zero_grad();
    std::vector<std::vector<objectives::Metric>> micro_metrics;
    double tokens = 0, computed = 0, real = 0;  // num_tokens; columns computed and real ones (padding fraction)
    for (int k = 0; k < o.grad_accum && pos.micro < micro_per_epoch; k++, pos.micro++) {
      const size_t per_rank = o.batch_size / R, first = pos.micro * o.batch_size + rank * per_rank;
      std::vector<size_t> idx(order.begin() + first, order.begin() + first + per_rank);
      // Without ZeRO-1 the last micro-batch's backward sums the gradients over the ranks as it goes.
      const bool last_micro = k + 1 == o.grad_accum || pos.micro + 1 == micro_per_epoch;
      if (R > 1 && !o.zero1 && last_micro) policy.set_gradient_reduction(&comm);
      const StepOutput out = task.run(policy, idx, false, 1.0 / (o.grad_accum * R));
      policy.set_gradient_reduction(nullptr);
      micro_metrics.push_back(out.metrics);
      tokens += out.tokens, computed += out.computed_tokens, real += out.real_tokens;
    }
    std::vector<objectives::Metric> m = mean_of(micro_metrics);
    average_over_ranks(m, comm);
    double counts[3] = {tokens, computed, real};
    comm.all_reduce_sum(counts, 3);
    tokens = counts[0], computed = counts[1], real = counts[2];
    const double padding = computed > 0 ? 1.0 - real / computed : 0.0;
    const double loss = m.front().value;
    ALIGN_REQUIRE(std::isfinite(loss), "the loss is not finite (", loss, ") at step ", pos.step + 1, " of epoch ",
                  pos.epoch, "; lower --lr or check the data");
    pos.tokens += (uint64_t)tokens;
    tokens_this_run += (uint64_t)tokens;

    // Gradients summed over ranks (each rank scaled its part by 1/R): all of them (done in the
    // last backward, above), or with ZeRO-1 this rank's slice.
    if (R > 1 && o.zero1) policy.reduce_scatter_gradients(comm, shard);
    double sq = opt.grad_sq_sum();
    if (o.zero1) comm.all_reduce_sum(&sq, 1);
    const double norm = std::sqrt(sq);
    ALIGN_REQUIRE(std::isfinite(norm), "the gradient norm is not finite at step ", pos.step + 1);
    const float clip = o.max_grad_norm > 0 && norm > o.max_grad_norm ? (float)(o.max_grad_norm / (norm + 1e-6)) : 1.f;
    const double lr = learning_rate(o.schedule, o.lr, pos.step, warmup, total);
    opt.step(lr, clip);
    if (R > 1 && o.zero1) policy.all_gather_parameters(comm, shard);  // every rank gets every updated slice
    pos.step++;
    if (pos.micro == micro_per_epoch) {  // next epoch
      pos.epoch++;
      pos.micro = 0;
      order = epoch_order(n, o.seed, pos.epoch);
    }
    summary.last_loss = loss;

    if (lead) {
      nlohmann::json row = {{"step", pos.step}, {"epoch", pos.epoch + (double)pos.micro / micro_per_epoch}};
      for (const auto& x : m) row[x.name] = x.value;
      row["grad_norm"] = norm;
      row["learning_rate"] = lr;
      row["num_tokens"] = pos.tokens;
      row["tokens_per_step"] = computed;
      row["padding_fraction"] = padding;
      append_jsonl(metrics_path, row);
    }
    if (talk) {
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
      const double per_step = dt / (pos.step - first_step);
      auto metric = [&](const char* name, const char* label) {
        for (const auto& x : m)
          if (x.name == name) return cat(" | ", label, " ", std::to_string(x.value).substr(0, 6));
        return std::string();
      };
      std::printf(
          "step %ld/%ld | loss %.4f%s%s | lr %.2e | grad norm %.3f | %.0f tok/step, %.1f%% padding | %.0f tok/s "
          "| ETA %s\n",
          pos.step, total, loss, metric("rewards/accuracies", "acc").c_str(),
          metric("rewards/margins", "margin").c_str(), lr, norm, computed, 100.0 * padding,
          tokens_this_run / std::max(dt, 1e-9), fmt_duration(per_step * (total - pos.step)).c_str());
      std::fflush(stdout);
    }
    const bool last = pos.step == total;
    if (task.size(true) > 0 && ((o.eval_every > 0 && pos.step % o.eval_every == 0) || last)) {
      const std::vector<objectives::Metric> ev = evaluate(policy, task, o.batch_size, &comm);
      if (lead) {
        nlohmann::json erow = {{"step", pos.step}};
        for (const auto& x : ev) erow[x.name] = x.value;
        append_jsonl(metrics_path, erow);
      }
      if (last) summary.final_eval = ev;
      if (talk) {
        std::printf("eval at step %ld:", pos.step);
        for (const auto& x : ev) std::printf(" %s %.4f", x.name.c_str(), x.value);
        std::printf("\n");
      }
    }
    if ((o.save_every > 0 && pos.step % o.save_every == 0) || last)
      save_checkpoint(o.out_dir, policy, opt, pos, o, comm);
  }
  summary.steps = pos.step;
  if (!summary.interrupted && lead) {
    const std::span<float> p = policy.params();
    save_model((fs::path(o.out_dir) / "model.bin").string(), policy.config(), p.data(), DType::F32);
  }
  comm.barrier();
  return summary;
}

}  // namespace align::train
