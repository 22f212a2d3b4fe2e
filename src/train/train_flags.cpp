// train_flags.cpp: shared trainer flags and --config recipes (train_flags.hpp).
#include "train/train_flags.hpp"

#include <omp.h>

#include <cstdio>

#include "common/domain.hpp"
#include "common/error.hpp"
#include "common/json_file.hpp"

namespace align::train {

void add_training_flags(CLI::App& app, CommonFlags& f) {
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  TrainOptions& o = f.opt;
  app.add_option("--config", "JSON recipe: {\"flag-name\": value, ...}; the command line wins");
  app.add_option("-m,--model", f.model, "model.bin to start from")->required();
  app.add_option("-o,--output", f.output, "output directory (metrics.jsonl, checkpoint/, model.bin)")->required();
  app.add_option("-j,--val", f.val, "validation data (same kind as --input)");
  app.add_option("-b,--batch-size", o.batch_size, "examples per micro-batch (pairs for DPO)")
      ->capture_default_str()->transform(in_domain(domains::batch()));
  app.add_option("--grad-accum", o.grad_accum, "micro-batches per optimizer step")
      ->capture_default_str()->transform(in_domain(domains::batch()));
  app.add_option("--epochs", o.epochs, "passes over the training data")
      ->capture_default_str()->transform(in_domain(Domain::ints(1, 1e6)));
  app.add_option("--max-steps", o.max_steps, "optimizer steps to run (0: as many as --epochs make)")
      ->capture_default_str()->transform(in_domain(domains::steps()));
  app.add_option("--lr", o.lr, "peak learning rate")->capture_default_str()->transform(in_domain(Domain::reals(0, 1, true)));
  app.add_option("--lr-schedule", f.schedule, "constant, linear or cosine (after warmup)")->capture_default_str();
  app.add_option("--warmup-ratio", o.warmup_ratio, "warmup as a fraction of the steps")
      ->capture_default_str()->transform(in_domain(domains::fraction_open()));
  app.add_option("--warmup-steps", o.warmup_steps, "warmup steps (0: use --warmup-ratio)")
      ->capture_default_str()->transform(in_domain(domains::steps()));
  app.add_option("--max-grad-norm", o.max_grad_norm, "clip the global gradient norm to this (0: off)")
      ->capture_default_str()->transform(in_domain(Domain::reals(0, 1e6)));
  app.add_option("--weight-decay", o.adamw.weight_decay, "AdamW decoupled weight decay (matrices only)")
      ->capture_default_str()->transform(in_domain(domains::probability()));
  // β = 1 would divide by 1 - β^t = 0 in the bias correction.
  app.add_option("--adam-beta1", o.adamw.beta1, "AdamW β1")->capture_default_str()->transform(in_domain(domains::fraction_open()));
  app.add_option("--adam-beta2", o.adamw.beta2, "AdamW β2")->capture_default_str()->transform(in_domain(domains::fraction_open()));
  app.add_option("--adam-eps", o.adamw.eps, "AdamW ε")->capture_default_str()->transform(in_domain(Domain::reals(0, 1, true)));
  app.add_option("--seed", o.seed, "seed of the data order")->capture_default_str()->transform(in_domain(domains::seed()));
  app.add_option("--eval-every", o.eval_every, "optimizer steps between evaluations (0: at the end only)")
      ->capture_default_str()->transform(in_domain(domains::steps()));
  app.add_option("--save-every", o.save_every, "optimizer steps between checkpoints (0: at the end only)")
      ->capture_default_str()->transform(in_domain(domains::steps()));
  app.add_flag("--resume", o.resume, "continue from OUTPUT/checkpoint (same data, seed, batch size)");
  app.add_option("--stop-after-step", o.stop_after_step,
                 "write a checkpoint and stop after this step, as SIGINT would (continue with --resume; 0: off)")
      ->transform(in_domain(domains::steps()));
  app.add_option("--threads", f.threads, "CPU threads per rank (default: all cores)")->transform(in_domain(domains::threads()));
  app.add_option("--device", f.device, "cpu, cuda or auto (cuda when a GPU is present)")->capture_default_str();
  app.add_option("--dtype", f.dtype, "fp32, bf16 (cuda: bf16 matmuls, fp32 master weights) or auto (bf16 on "
                 "cuda, fp32 on the cpu)")->capture_default_str();
  f.default_layout = f.layout;
  add_layout_flags(app, f.layout, f.padding_free, f.row_tokens);
  app.add_flag("--zero1", o.zero1, "data parallel: shard the AdamW state over the ranks (ZeRO-1)");
  app.add_option("--dist-timeout", f.dist_timeout, "data parallel: seconds a rank waits for the others before the "
                 "job ends with an error")->capture_default_str()->transform(in_domain(Domain::reals(0, 1e6, true)));
}

void add_layout_flags(CLI::App& app, std::string& layout, bool& padding_free, int& row_tokens) {
  app.add_option("--layout", layout,
                 "batch layout: padded (2B right-padded rows), packed (sequences back to back, positions "
                 "restarting, no attention across them) or shared (each pair as [prompt | chosen | rejected], "
                 "the prompt computed once); same numbers, fewer tokens (docs/training.md)")
      ->capture_default_str();
  app.add_flag("--padding-free", padding_free, "TRL's name for --layout packed");
  app.add_option("--row-tokens", row_tokens,
                 "columns per packed row at most (0, the default: twice the model's max_seq_len); a longer unit "
                 "gets a row of its own")
      ->transform(in_domain(Domain::ints(0, 1 << 24)));
}

LayoutOptions layout_flags_options(const std::string& layout, const std::string& default_layout, bool padding_free,
                                   int row_tokens) {
  LayoutOptions o;
  o.layout = parse_layout(layout, "--layout");
  if (padding_free) {
    ALIGN_REQUIRE(layout == default_layout || o.layout == Layout::Packed,
                  "--padding-free means --layout packed, but --layout ", layout, " was given too");
    o.layout = Layout::Packed;
  }
  ALIGN_REQUIRE(row_tokens >= 0, "--row-tokens ", row_tokens,
                ", expected >= 1 (or 0 for twice the model's max_seq_len)");
  o.row_budget = row_tokens;
  return o;
}

std::vector<std::string> args_with_recipe(const CLI::App& app, int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc), recipe;
  for (size_t i = 0; i < args.size(); i++) {
    std::string path;
    if (args[i] == "--config" && i + 1 < args.size()) path = args[i + 1];
    else if (args[i].rfind("--config=", 0) == 0) path = args[i].substr(9);
    if (path.empty()) continue;
    const nlohmann::json j = read_json_file(path);
    ALIGN_REQUIRE(j.is_object(), path, ": a recipe is a JSON object of flag names and values");
    for (const auto& [key, value] : j.items()) {
      ALIGN_REQUIRE(key != "config", path, ": a recipe cannot name another recipe");
      const std::string flag = (key.size() == 1 ? "-" : "--") + key;
      const CLI::Option* opt = key.empty() || key[0] == '-' ? nullptr : app.get_option_no_throw(flag);
      ALIGN_REQUIRE(opt != nullptr, path, ": key '", printable(key), "' is not a flag of ", app.get_name(),
                    " (see --help)");
      const bool is_flag = opt->get_expected_min() == 0;  // a switch such as --resume, which takes no value
      if (value.is_boolean()) {
        ALIGN_REQUIRE(is_flag, path, ": key '", key, "' is a boolean, but ", flag, " takes a value");
        if (value.get<bool>()) recipe.push_back(flag);
      } else {
        ALIGN_REQUIRE(!is_flag, path, ": key '", key, "' has JSON type ", value.type_name(), ", but ", flag,
                      " is a switch (true or false)");
        if (value.is_string()) {
          recipe.push_back(flag), recipe.push_back(value.get<std::string>());
        } else if (value.is_number()) {
          recipe.push_back(flag), recipe.push_back(value.dump());
        } else {
          throw InputError(cat(path, ": key '", key, "' has JSON type ", value.type_name(),
                               ", expected a string, number or boolean"));
        }
      }
    }
  }
  recipe.insert(recipe.end(), args.begin(), args.end());
  return recipe;
}

void finish_training_flags(CommonFlags& f) {
  if (f.threads > 0) omp_set_num_threads(f.threads);  // 0: not given (the flag's domain starts at 1)
  f.opt.schedule = parse_schedule(f.schedule);
  f.opt.out_dir = f.output;
  ALIGN_REQUIRE(f.opt.lr > 0, "--lr ", f.opt.lr, ", expected > 0");
  ALIGN_REQUIRE(f.opt.epochs >= 1 || f.opt.max_steps > 0, "--epochs must be >= 1 (or give --max-steps)");
  ALIGN_REQUIRE(f.opt.warmup_ratio >= 0 && f.opt.warmup_ratio < 1, "--warmup-ratio ", f.opt.warmup_ratio,
                ", expected 0 <= r < 1");
  ALIGN_REQUIRE(f.opt.max_grad_norm >= 0, "--max-grad-norm must be >= 0");
  ALIGN_REQUIRE(f.dtype == "auto" || f.dtype == "fp32" || f.dtype == "bf16", "--dtype '", f.dtype,
                "', expected fp32, bf16 or auto");
  ALIGN_REQUIRE(!(f.dtype == "bf16" && f.device == "cpu"),
                "--dtype bf16 needs --device cuda; the CPU backend computes in fp32");
  f.layout_options = layout_flags_options(f.layout, f.default_layout, f.padding_free, f.row_tokens);
}

}  // namespace align::train
