// fuzz_recipe: a --config recipe of the trainers (args_with_recipe, then the flags' parse with their
// domains, then finish_training_flags), as train_dpo and train_sft read it.
#include "common/cli.hpp"
#include "fuzz_util.hpp"
#include "train/train_flags.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = align::fuzz::write_scratch("recipe.json", data, size);
  align::fuzz::expect_input_errors_only([&] {
    CLI::App app{"fuzz", "train_fuzz"};
    align::train::CommonFlags f;
    std::string input;
    align::train::add_training_flags(app, f);
    app.add_option("-i,--input", input, "data")->required();
    std::string config = "--config", recipe = path;
    char* argv[] = {(char*)"train_fuzz", config.data(), recipe.data(), nullptr};
    const std::vector<std::string> args = align::train::args_with_recipe(app, 3, argv);
    const int rc = align::parse_args(app, args);  // run_all.sh closes stdout: "help": true prints the help
    if (rc < 0) align::train::finish_training_flags(f);
  });
  return 0;
}
