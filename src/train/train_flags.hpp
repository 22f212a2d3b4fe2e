// train_flags.hpp: the command-line flags train_dpo and train_sft share, and
// the JSON recipe file (--config) that may set any flag, the command line
// winning: the recipe's entries are placed before the real arguments and
// every option keeps its last value.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "train/trainer.hpp"

namespace align::train {

struct CommonFlags {
  std::string model, output, val, schedule = "linear", device = "auto", dtype = "auto";
  std::string layout;            // set by the tool before add_training_flags: its default layout
  std::string default_layout;    // (filled in by add_training_flags)
  bool padding_free = false;     // TRL's name for --layout packed
  int row_tokens = 0;            // columns per packed row, 0: the model's max_seq_len
  LayoutOptions layout_options;  // the parsed --layout / --padding-free / --row-tokens
  int threads = 0;
  double dist_timeout = 600;  // seconds a collective may wait for the other ranks
  TrainOptions opt;
};

// Registers -m, -o, -j and the training flags on `app` (call before the tool's own flags;
// it also sets every option's policy to "last value wins").
void add_training_flags(CLI::App& app, CommonFlags& f);
// argv with the recipe of --config FILE (if any) spliced in before the real arguments. Each key must
// name a flag of app (InputError naming the file and key otherwise); booleans go to switches only.
// The values then pass the flags' own domains (common/domain.hpp) like typed ones.
std::vector<std::string> args_with_recipe(const CLI::App& app, int argc, char** argv);
// Applies threads / schedule / layout after parsing; InputError for values out of range.
void finish_training_flags(CommonFlags& f);
// Registers --layout, --padding-free and --row-tokens (eval_pairs uses them too); `layout`
// holds the default. layout_flags_options() parses them afterwards (InputError naming the flag).
void add_layout_flags(CLI::App& app, std::string& layout, bool& padding_free, int& row_tokens);
LayoutOptions layout_flags_options(const std::string& layout, const std::string& default_layout, bool padding_free,
                                   int row_tokens);
// The communicator for this process, sets f.opt.comm: NCCL when --device resolves to cuda and
// a launcher (mpirun, torchrun variables, Slurm) started several ranks; MPI for CPU ranks under
// mpirun; else one process. Defined in make_backend.cpp (it needs to know the CUDA build).
std::unique_ptr<dist::Communicator> start_communicator(CommonFlags& f);

}  // namespace align::train
