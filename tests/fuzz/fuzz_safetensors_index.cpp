// fuzz_safetensors_index: model.safetensors.index.json of a sharded checkpoint, over two fixed shards
// (a.safetensors holding "x", b.safetensors holding "y"); every tensor of an accepted set is read.
#include <filesystem>

#include "fuzz_util.hpp"
#include "model/safetensors.hpp"

namespace {
std::string make_dir() {
  const std::string dir = align::fuzz::scratch_dir() + "/sharded";
  std::filesystem::create_directories(dir);
  const float x[6] = {1, 2, 3, 4, 5, 6}, y[2] = {-1, 0.5f};
  align::write_safetensors_f32(dir + "/a.safetensors", {{"x", {2, 3}, x}});
  align::write_safetensors_f32(dir + "/b.safetensors", {{"y", {2}, y}});
  return dir;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = make_dir();
  align::fuzz::write_scratch("sharded/model.safetensors.index.json", data, size);
  align::fuzz::expect_input_errors_only([&] {
    const align::SafetensorsSet set(dir);
    for (const std::string& name : set.names()) {
      set.where(name);
      align::fuzz::expect_input_errors_only([&] { set.to_float(name); });
    }
  });
  return 0;
}
