// fuzz_model_bin: model.bin headers and data (load_model, read_model_info) on arbitrary bytes.
#include "fuzz_util.hpp"
#include "model/checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = align::fuzz::write_scratch("model.bin", data, size);
  align::fuzz::expect_input_errors_only([&] { align::read_model_info(path); });
  align::fuzz::expect_input_errors_only([&] {
    const align::LoadedModel m = align::load_model(path);
    if (m.params.size() != m.info.num_elements) std::abort();
  });
  return 0;
}
