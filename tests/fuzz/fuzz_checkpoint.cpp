// fuzz_checkpoint: the files of a training checkpoint folder as --resume reads them: manifest.json
// (verify_checkpoint), state.json (read_state, with its domains and consistency checks) and an
// optimizer state (load_adamw_state for a 16-parameter slice).
// Input: state.json, then manifest.json, then optimizer.bin, separated by "--8<--" lines.
#include <filesystem>
#include <vector>

#include "fuzz_util.hpp"
#include "train/adamw.hpp"
#include "train/checkpoint_dir.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> parts = align::fuzz::split_parts(data, size, 3);
  const std::string dir = align::fuzz::scratch_dir() + "/out/checkpoint";
  std::filesystem::create_directories(dir);
  align::fuzz::write_scratch("out/checkpoint/state.json", parts[0]);
  align::fuzz::write_scratch("out/checkpoint/manifest.json", parts[1]);
  align::fuzz::write_scratch("out/checkpoint/optimizer.bin", parts[2]);
  align::fuzz::expect_input_errors_only([&] { align::train::read_state(dir); });
  align::fuzz::expect_input_errors_only([&] { align::train::verify_checkpoint(dir); });
  align::fuzz::expect_input_errors_only([&] { align::train::find_checkpoint(align::fuzz::scratch_dir() + "/out"); });
  align::fuzz::expect_input_errors_only([&] {
    std::vector<float> m(16), v(16);
    align::train::load_adamw_state(dir + "/optimizer.bin", m, v);
  });
  return 0;
}
