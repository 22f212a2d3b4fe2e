// fuzz_replay: every fuzz target's entry point, without libFuzzer, so that the normal build and
// `make test` (gcc, no sanitizer runtime needed) run the kept inputs too.
//   fuzz_replay DIR   runs each file DIR/<target>/* through <target> (the layout of
//                     tests/fuzz/regressions/ and of fuzz_make_seeds' output)
// Each target aborts on a finding (fuzz_util.hpp), so a regression fails the test with its name.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/file_io.hpp"

#define ALIGN_FUZZ_TARGETS(X)                                                                            \
  X(fuzz_model_bin) X(fuzz_pairs_bin) X(fuzz_sft_bin) X(fuzz_checkpoint) X(fuzz_safetensors)             \
  X(fuzz_safetensors_index) X(fuzz_hf_config) X(fuzz_tokenizer_json) X(fuzz_tokenizer_config)            \
  X(fuzz_chat_template) X(fuzz_jsonl_rows) X(fuzz_recipe)

// Each target's LLVMFuzzerTestOneInput is compiled under the name <target>_entry (CMakeLists.txt).
#define DECLARE(t) extern "C" int t##_entry(const uint8_t* data, size_t size);
ALIGN_FUZZ_TARGETS(DECLARE)
#undef DECLARE

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_replay DIR (with DIR/<target>/ folders of inputs)\n");
    return 2;
  }
  namespace fs = std::filesystem;
  std::map<std::string, int (*)(const uint8_t*, size_t)> entries;
#define ENTRY(t) entries[#t] = t##_entry;
  ALIGN_FUZZ_TARGETS(ENTRY)
#undef ENTRY
  size_t inputs = 0;
  for (const auto& sub : fs::directory_iterator(argv[1])) {
    if (!sub.is_directory()) continue;
    const auto it = entries.find(sub.path().filename().string());
    if (it == entries.end()) {
      std::fprintf(stderr, "fuzz_replay: %s is not a fuzz target's folder\n", sub.path().c_str());
      return 2;
    }
    for (const auto& f : fs::directory_iterator(sub.path())) {
      if (!f.is_regular_file()) continue;
      const std::vector<uint8_t> bytes = align::read_file_bytes(f.path().string());
      std::fprintf(stderr, "fuzz_replay: %s %s\n", it->first.c_str(), f.path().filename().c_str());
      it->second(bytes.data(), bytes.size());
      inputs++;
    }
  }
  std::printf("fuzz_replay: %zu inputs passed\n", inputs);
  return 0;
}
