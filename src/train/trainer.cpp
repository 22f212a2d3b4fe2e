// trainer.cpp: the training loop (trainer.hpp).
#include "train/trainer.hpp"

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
  long step = 0;          // optimizer steps done
  uint64_t epoch = 0;     // current epoch
  size_t micro = 0;       // micro-batches of this epoch done
  uint64_t tokens = 0;    // attended tokens so far (num_tokens)
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

// Averages metrics of several micro-batches (TRL logs the mean of what it gathered).
std::vector<objectives::Metric> average(const std::vector<std::vector<objectives::Metric>>& all) {
  std::vector<objectives::Metric> out = all.front();
  for (auto& m : out) m.value = 0;
  for (const auto& ms : all)
    for (size_t k = 0; k < out.size() && k < ms.size(); k++) out[k].value += ms[k].value / all.size();
  return out;
}

void save_checkpoint(const std::string& out, Backend& policy, const AdamW& opt, const Position& pos,
                     const TrainOptions& o) {
  const fs::path dir = fs::path(out) / "checkpoint", tmp = fs::path(out) / cat("checkpoint.tmp.", ::getpid()),
                 old = fs::path(out) / "checkpoint.old";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp);
  const std::span<float> p = policy.params();
  save_model((tmp / "model.bin").string(), policy.config(), p.data(), DType::F32);
  opt.save((tmp / "optimizer.bin").string());
  const nlohmann::json state = {{"step", pos.step}, {"epoch", pos.epoch}, {"micro_batch", pos.micro},
                                {"num_tokens", pos.tokens}, {"seed", o.seed}, {"batch_size", o.batch_size},
                                {"grad_accum", o.grad_accum}};
  const std::string text = state.dump(2) + "\n";
  write_file_atomic((tmp / "state.json").string(), [&](std::FILE* fp) { write_all(fp, text.data(), text.size(), "state.json"); });
  // Swap: checkpoint -> checkpoint.old, tmp -> checkpoint, drop old. A kill between the two
  // renames leaves checkpoint.old, which resume falls back to.
  fs::remove_all(old, ec);
  if (fs::exists(dir)) fs::rename(dir, old);
  fs::rename(tmp, dir);
  fs::remove_all(old, ec);
}

Position load_checkpoint(const std::string& out, Backend& policy, AdamW& opt, const TrainOptions& o) {
  fs::path dir = fs::path(out) / "checkpoint";
  if (!fs::exists(dir / "state.json")) dir = fs::path(out) / "checkpoint.old";
  ALIGN_REQUIRE(fs::exists(dir / "state.json"), out, ": no checkpoint to resume from (checkpoint/ or checkpoint.old/)");
  const nlohmann::json s = read_json_file((dir / "state.json").string());
  ALIGN_REQUIRE(s.value("seed", (uint64_t)0) == o.seed && s.value("batch_size", 0) == o.batch_size &&
                    s.value("grad_accum", 0) == o.grad_accum,
                (dir / "state.json").string(), ": the checkpoint was made with seed ", s.value("seed", (uint64_t)0),
                ", batch size ", s.value("batch_size", 0), ", accumulation ", s.value("grad_accum", 0),
                "; resume with the same values (this run has ", o.seed, ", ", o.batch_size, ", ", o.grad_accum, ")");
  const LoadedModel m = load_model((dir / "model.bin").string());
  ALIGN_REQUIRE(m.info.config == policy.config(), (dir / "model.bin").string(),
                ": the checkpoint's model config differs from the model being trained");
  std::copy(m.params.begin(), m.params.end(), policy.params().begin());
  opt.load((dir / "optimizer.bin").string());
  return Position{s.at("step").get<long>(), s.at("epoch").get<uint64_t>(), s.at("micro_batch").get<size_t>(),
                  s.at("num_tokens").get<uint64_t>()};
}

}  // namespace

std::vector<objectives::Metric> evaluate(Backend& policy, Task& task, int batch_size) {
  const size_t n = task.size(true);
  std::vector<std::vector<objectives::Metric>> all;
  for (size_t start = 0; start < n; start += batch_size) {
    std::vector<size_t> idx;
    for (size_t i = start; i < std::min(n, start + (size_t)batch_size); i++) idx.push_back(i);
    all.push_back(task.run(policy, idx, true, 0.0).metrics);
  }
  if (all.empty()) return {};
  std::vector<objectives::Metric> out = average(all);
  for (auto& m : out) m.name = "eval_" + m.name;
  return out;
}

TrainSummary train(Backend& policy, Task& task, const TrainOptions& o) {
  ALIGN_REQUIRE(o.batch_size >= 1 && o.grad_accum >= 1, "--batch-size and --grad-accum must be >= 1");
  const size_t n = task.size(false);
  ALIGN_REQUIRE(n > 0, "the training set is empty");
  ALIGN_REQUIRE((size_t)o.batch_size <= n, "--batch-size ", o.batch_size, " is larger than the training set (", n,
                " examples)");
  ALIGN_REQUIRE(!o.out_dir.empty(), "no output directory");
  fs::create_directories(o.out_dir);
  const size_t micro_per_epoch = (n + o.batch_size - 1) / o.batch_size;
  const long steps_per_epoch = (long)((micro_per_epoch + o.grad_accum - 1) / o.grad_accum);
  const long total = o.max_steps > 0 ? o.max_steps : steps_per_epoch * o.epochs;
  const long warmup = o.warmup_steps > 0 ? o.warmup_steps : (long)std::ceil(o.warmup_ratio * total);
  const std::string metrics_path = (fs::path(o.out_dir) / "metrics.jsonl").string();

  AdamW opt(policy.table(), o.adamw);
  Position pos;
  if (o.resume) {
    pos = load_checkpoint(o.out_dir, policy, opt, o);
    if (!o.quiet) std::printf("resumed from %s at step %ld (epoch %llu, micro-batch %zu)\n", o.out_dir.c_str(), pos.step,
                              (unsigned long long)pos.epoch, pos.micro);
  } else {
    std::ofstream(metrics_path, std::ios::trunc);  // a fresh run starts a fresh log
  }
  TrainSummary summary;
  std::vector<size_t> order = epoch_order(n, o.seed, pos.epoch);
  const auto t_start = std::chrono::steady_clock::now();
  const long first_step = pos.step;
  uint64_t tokens_this_run = 0;

  while (pos.step < total) {
    if (stop_requested() || (o.stop_after_step > 0 && pos.step >= o.stop_after_step)) {
      save_checkpoint(o.out_dir, policy, opt, pos, o);
      summary.interrupted = true;
      if (!o.quiet) std::printf("stopped at step %ld; checkpoint written to %s/checkpoint (continue with --resume)\n",
                                pos.step, o.out_dir.c_str());
      break;
    }
    // One optimizer step: grad_accum micro-batches (fewer at the end of an epoch).
    policy.zero_grad();
    std::vector<std::vector<objectives::Metric>> micro_metrics;
    double loss = 0;
    int done = 0;
    for (int k = 0; k < o.grad_accum; k++) {
      if (pos.micro == micro_per_epoch) break;
      std::vector<size_t> idx;
      for (size_t i = pos.micro * o.batch_size; i < std::min(n, (pos.micro + 1) * o.batch_size); i++)
        idx.push_back(order[i]);
      const StepOutput out = task.run(policy, idx, false, 1.0 / o.grad_accum);
      ALIGN_REQUIRE(std::isfinite(out.loss), "the loss is not finite (", out.loss, ") at step ", pos.step + 1,
                    ", micro-batch ", k, " of epoch ", pos.epoch, "; lower --lr or check the data");
      loss += out.loss;
      micro_metrics.push_back(out.metrics);
      pos.tokens += out.tokens;
      tokens_this_run += out.tokens;
      pos.micro++;
      done++;
    }
    loss /= done;
    const double norm = global_grad_norm(policy.grads());
    ALIGN_REQUIRE(std::isfinite(norm), "the gradient norm is not finite at step ", pos.step + 1);
    if (o.max_grad_norm > 0 && norm > o.max_grad_norm) {
      const float scale = (float)(o.max_grad_norm / (norm + 1e-6));
      for (float& g : policy.grads()) g *= scale;
    }
    const double lr = learning_rate(o.schedule, o.lr, pos.step, warmup, total);
    opt.step(policy.params(), policy.grads(), lr);
    pos.step++;
    if (pos.micro == micro_per_epoch) {  // next epoch
      pos.epoch++;
      pos.micro = 0;
      order = epoch_order(n, o.seed, pos.epoch);
    }
    summary.last_loss = loss;

    std::vector<objectives::Metric> m = average(micro_metrics);
    m.front().value = loss;
    nlohmann::json row = {{"step", pos.step}, {"epoch", pos.epoch + (double)pos.micro / micro_per_epoch}};
    for (const auto& x : m) row[x.name] = x.value;
    row["grad_norm"] = norm;
    row["learning_rate"] = lr;
    row["num_tokens"] = pos.tokens;
    append_jsonl(metrics_path, row);
    if (!o.quiet) {
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
      const double per_step = dt / (pos.step - first_step);
      auto metric = [&](const char* name, const char* label) {
        for (const auto& x : m)
          if (x.name == name) return cat(" | ", label, " ", std::to_string(x.value).substr(0, 6));
        return std::string();
      };
      std::printf("step %ld/%ld | loss %.4f%s%s | lr %.2e | grad norm %.3f | %.0f tok/s | ETA %s\n", pos.step, total,
                  loss, metric("rewards/accuracies", "acc").c_str(), metric("rewards/margins", "margin").c_str(), lr, norm,
                  tokens_this_run / std::max(dt, 1e-9), fmt_duration(per_step * (total - pos.step)).c_str());
      std::fflush(stdout);
    }
    const bool last = pos.step == total;
    if (task.size(true) > 0 && ((o.eval_every > 0 && pos.step % o.eval_every == 0) || last)) {
      const std::vector<objectives::Metric> ev = evaluate(policy, task, o.batch_size);
      nlohmann::json erow = {{"step", pos.step}};
      for (const auto& x : ev) erow[x.name] = x.value;
      append_jsonl(metrics_path, erow);
      if (last) summary.final_eval = ev;
      if (!o.quiet) {
        std::printf("eval at step %ld:", pos.step);
        for (const auto& x : ev) std::printf(" %s %.4f", x.name.c_str(), x.value);
        std::printf("\n");
      }
    }
    if ((o.save_every > 0 && pos.step % o.save_every == 0) || last) save_checkpoint(o.out_dir, policy, opt, pos, o);
  }
  summary.steps = pos.step;
  if (!summary.interrupted) {
    const std::span<float> p = policy.params();
    save_model((fs::path(o.out_dir) / "model.bin").string(), policy.config(), p.data(), DType::F32);
  }
  return summary;
}

}  // namespace align::train
