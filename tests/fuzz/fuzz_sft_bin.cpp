// fuzz_sft_bin: sft.bin (SftFile) on arbitrary bytes; every record of an accepted file is read.
#include "data/sft_file.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = align::fuzz::write_scratch("sft.bin", data, size);
  align::fuzz::expect_input_errors_only([&] {
    const align::data::SftFile f(path);
    for (size_t i = 0; i < f.size(); i++) {
      const auto v = f.get(i);
      if (v.ids.size() != v.loss_mask.size()) std::abort();
      for (const uint32_t id : v.ids)
        if (id >= f.meta().vocab_size) std::abort();  // the reader promised ids below the vocabulary
      for (const uint8_t m : v.loss_mask)
        if (m > 1) std::abort();
    }
  });
  return 0;
}
