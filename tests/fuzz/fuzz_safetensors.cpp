// fuzz_safetensors: one .safetensors file (header JSON, offsets, dtypes); every tensor of an
// accepted file is converted.
#include "fuzz_util.hpp"
#include "model/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = align::fuzz::write_scratch("model.safetensors", data, size);
  align::fuzz::expect_input_errors_only([&] {
    const align::SafetensorsFile f(path);
    for (const std::string& name : f.names()) {
      const align::SafeTensor& t = f.at(name);
      if (t.dtype == "I64" || t.dtype == "I32") {
        if (f.to_int64(name).size() != t.numel()) std::abort();
      } else {
        align::fuzz::expect_input_errors_only([&] {
          if (f.to_float(name).size() != t.numel()) std::abort();
        });
      }
    }
  });
  return 0;
}
