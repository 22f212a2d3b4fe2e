// fuzz_pairs_bin: pairs.bin (PairsFile) on arbitrary bytes; every record of an accepted file is read.
#include "data/pairs_file.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = align::fuzz::write_scratch("pairs.bin", data, size);
  align::fuzz::expect_input_errors_only([&] {
    const align::data::PairsFile f(path);
    uint64_t sum = 0;
    for (size_t i = 0; i < f.size(); i++) {
      const auto v = f.get(i);
      for (const uint32_t id : v.prompt) sum += id;
      for (const uint32_t id : v.chosen) sum += id;
      for (const uint32_t id : v.rejected) sum += id;
      if (const auto r = f.reference(i)) sum += (uint64_t)(r->first == r->first);
      for (const uint32_t id : v.chosen)
        if (id >= f.meta().vocab_size) std::abort();  // the reader promised ids below the vocabulary
    }
    if (sum == 1) std::fputc(0, stderr);  // keep the reads
  });
  return 0;
}
