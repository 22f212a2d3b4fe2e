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

// Rank 0 assembles checkpoint.tmp/, every ZeRO-1 rank adds its shard, rank 0 swaps it in.
void save_checkpoint(const std::string& out, Backend& policy, const Optimizer& opt, const Position& pos,
                     const TrainOptions& o, dist::Communicator& comm) {
  const fs::path dir = fs::path(out) / "checkpoint", tmp = fs::path(out) / "checkpoint.tmp",
                 old = fs::path(out) / "checkpoint.old";
  std::error_code ec;
  if (comm.rank() == 0) {
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp);
  }
  comm.barrier();
  if (o.zero1 || comm.rank() == 0) opt.save((tmp / optimizer_file(o, comm.rank())).string());
  comm.barrier();
  if (comm.rank() == 0) {
    const std::span<float> p = policy.params();
    save_model((tmp / "model.bin").string(), policy.config(), p.data(), DType::F32);
    const nlohmann::json state = {{"step", pos.step},
                                  {"epoch", pos.epoch},
                                  {"micro_batch", pos.micro},
                                  {"num_tokens", pos.tokens},
                                  {"seed", o.seed},
                                  {"batch_size", o.batch_size},
                                  {"grad_accum", o.grad_accum},
                                  {"world_size", comm.world_size()},
                                  {"zero1", o.zero1}};
    const std::string text = state.dump(2) + "\n";
    write_file_atomic((tmp / "state.json").string(),
                      [&](std::FILE* fp) { write_all(fp, text.data(), text.size(), "state.json"); });
    // Swap: checkpoint -> checkpoint.old, tmp -> checkpoint, drop old. A kill between the two
    // renames leaves checkpoint.old, which resume falls back to.
    fs::remove_all(old, ec);
    if (fs::exists(dir)) fs::rename(dir, old);
    fs::rename(tmp, dir);
    fs::remove_all(old, ec);
  }
  comm.barrier();
}

Position load_checkpoint(const std::string& out, Backend& policy, Optimizer& opt, const TrainOptions& o,
                         dist::Communicator& comm) {
  fs::path dir = fs::path(out) / "checkpoint";
  if (!fs::exists(dir / "state.json")) dir = fs::path(out) / "checkpoint.old";
  ALIGN_REQUIRE(fs::exists(dir / "state.json"), out, ": no checkpoint to resume from (checkpoint/ or checkpoint.old/)");
  const nlohmann::json s = read_json_file((dir / "state.json").string());
  ALIGN_REQUIRE(s.value("seed", (uint64_t)0) == o.seed && s.value("batch_size", 0) == o.batch_size &&
                    s.value("grad_accum", 0) == o.grad_accum,
                (dir / "state.json").string(), ": the checkpoint was made with seed ", s.value("seed", (uint64_t)0),
                ", batch size ", s.value("batch_size", 0), ", accumulation ", s.value("grad_accum", 0),
                "; resume with the same values (this run has ", o.seed, ", ", o.batch_size, ", ", o.grad_accum, ")");
  ALIGN_REQUIRE(s.value("world_size", 1) == comm.world_size() && s.value("zero1", false) == o.zero1,
                (dir / "state.json").string(), ": the checkpoint was made on ", s.value("world_size", 1), " ranks",
                s.value("zero1", false) ? " with ZeRO-1" : "", "; resume on the same (this run: ", comm.world_size(),
                " ranks", o.zero1 ? " with ZeRO-1" : "", ")");
  const LoadedModel m = load_model((dir / "model.bin").string());
  ALIGN_REQUIRE(m.info.config == policy.config(), (dir / "model.bin").string(),
                ": the checkpoint's model config differs from the model being trained");
  std::copy(m.params.begin(), m.params.end(), policy.params().begin());
  opt.load((dir / optimizer_file(o, comm.rank())).string());
  return Position{s.at("step").get<long>(), s.at("epoch").get<uint64_t>(), s.at("micro_batch").get<size_t>(),
                  s.at("num_tokens").get<uint64_t>()};
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
  if (lead) fs::create_directories(o.out_dir);
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
    pos = load_checkpoint(o.out_dir, policy, opt, o, comm);
    if (talk)
      std::printf("resumed from %s at step %ld (epoch %llu, micro-batch %zu)\n", o.out_dir.c_str(), pos.step,
                  (unsigned long long)pos.epoch, pos.micro);
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
