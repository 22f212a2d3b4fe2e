// fuzz_hf_config: a Hugging Face config.json (read_hf_config), and the tensor table of an accepted one.
#include "fuzz_util.hpp"
#include "model/hf_layout.hpp"
#include "model/tensor_table.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = align::fuzz::write_scratch("config.json", data, size);
  align::fuzz::expect_input_errors_only([&] {
    const align::ModelConfig c = align::read_hf_config(path);
    c.validate(path);
    const align::TensorTable table(c);
    (void)table.total_size();
  });
  return 0;
}
