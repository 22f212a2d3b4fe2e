// safetensors.hpp: reader and (fp32) writer for Hugging Face .safetensors files.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
//   { name: {"dtype": "F32"|"F16"|"BF16"|..., "shape": [...], "data_offsets": [begin, end]},
//     "__metadata__": {...} }
// then the data; offsets are relative to the end of the header, row-major.
// The reader checks N against the file size and every tensor's offsets and
// byte count against its dtype and shape before any data is touched.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace align {

struct SafeTensor {
  std::string dtype;            // "F32", "F16", "BF16", "F64", "I64", "I32", ...
  std::vector<int64_t> shape;   // row-major
  const uint8_t* data = nullptr;
  size_t bytes = 0;
  size_t numel() const;
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);  // throws InputError naming path (and tensor)
  const std::string& path() const { return path_; }
  const SafeTensor* find(const std::string& name) const;
  const SafeTensor& at(const std::string& name) const;  // InputError when absent
  std::vector<std::string> names() const;
  // The tensor's values as float (F32, F16, BF16, F64); InputError for other dtypes.
  std::vector<float> to_float(const std::string& name) const;
  std::vector<int64_t> to_int64(const std::string& name) const;  // I64, I32

 private:
  std::string path_;
  std::vector<uint8_t> bytes_;
  std::map<std::string, SafeTensor> tensors_;
};

struct SafeTensorOut {
  std::string name;
  std::vector<int64_t> shape;
  const float* data = nullptr;  // numel floats, written as F32
};
void write_safetensors_f32(const std::string& path, const std::vector<SafeTensorOut>& tensors);

}  // namespace align
