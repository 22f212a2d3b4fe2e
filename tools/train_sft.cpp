// train_sft: supervised fine-tuning of a model.bin on an sft.bin (loss on the
// trained tokens only: completions or assistant turns), on the CPU backend.
//   train_sft -i sft.bin -m base.bin [-j val.bin] -o out/
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "common/cli.hpp"
#include "common/error.hpp"
#include "dist/communicator.hpp"
#include "data/sft_file.hpp"
#include "model/checkpoint.hpp"
#include "train/signals.hpp"
#include "train/train_flags.hpp"

int main(int argc, char** argv) {
  return align::run_main("train_sft", [&]() -> int {
    CLI::App app{"supervised fine-tuning of a model.bin on an sft.bin", "train_sft"};
    align::train::CommonFlags f;
    f.opt.lr = 2e-5;      // TRL's SFTConfig default
    f.layout = "packed";  // examples back to back, no padding
    std::string input;
    align::train::add_training_flags(app, f);
    app.add_option("-i,--input", input, "sft.bin (from prepare_sft)")->required();
    if (const int rc = align::parse_args(app, align::train::args_with_recipe(app, argc, argv)); rc >= 0) return rc;
    align::train::finish_training_flags(f);
    const std::unique_ptr<align::dist::Communicator> comm = align::train::start_communicator(f);
    const bool lead = comm->rank() == 0;
    const align::LoadedModel start = align::load_model(f.model);
    const align::ModelConfig& c = start.info.config;
    auto train_data = std::make_shared<align::data::SftFile>(input);
    ALIGN_REQUIRE(train_data->meta().vocab_size <= (uint32_t)c.vocab_size, input, ": token ids go up to vocab_size ",
                  train_data->meta().vocab_size, ", the model has ", c.vocab_size, " tokens (a different tokenizer?)");
    std::shared_ptr<align::data::SftFile> val;
    if (!f.val.empty()) val = std::make_shared<align::data::SftFile>(f.val);
    if (lead) std::printf("model %s: %s\ntraining on %s: %zu examples\n", f.model.c_str(), c.summary().c_str(), input.c_str(),
                train_data->size());
    f.opt.data_fingerprint = train_data->content_fingerprint();
    std::unique_ptr<align::train::Backend> policy = align::train::make_backend(f.device, f.dtype, c, start.params);
    ALIGN_REQUIRE(f.layout_options.layout != align::train::Layout::Shared,
                  "--layout shared is for preference pairs; train_sft takes padded or packed");
    align::train::SftTask task(train_data, val, c.max_seq_len, f.layout_options);
    if (lead) std::printf("batch layout: %s\n", align::train::layout_name(f.layout_options.layout));
    align::train::install_stop_handlers();
    const align::train::TrainSummary s = align::train::train(*policy, task, f.opt);
    if (s.interrupted) return 130;
    if (lead) std::printf("done: %ld steps; final model %s/model.bin\n", s.steps, f.output.c_str());
    return 0;
  });
}
