// safetensors.hpp: reader and (fp32) writer for Hugging Face .safetensors files.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
//   { name: {"dtype": "F32"|"F16"|"BF16"|..., "shape": [...], "data_offsets": [begin, end]},
//     "__metadata__": {...} }
// then the data; offsets are relative to the end of the header, row-major.
// The reader maps the file (no copy, so multi-GB checkpoints cost no memory
// up front), bounds the header at 100 MB, and checks N against the file size
// and every tensor's offsets and byte count against its dtype and shape
// before any data is touched. SafetensorsSet adds sharded checkpoints
// (model.safetensors.index.json: {"weight_map": {tensor: file}}).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/mapped_file.hpp"

namespace align {

struct SafeTensor {
  std::string dtype;            // "F32", "F16", "BF16", "F64", "I64", "I32", ...
  std::vector<int64_t> shape;   // row-major
  const uint8_t* data = nullptr;
  size_t bytes = 0;
  size_t numel() const;
};

// A tensor's values as float (F32, F16, BF16, F64) or int64 (I64, I32); `where` names it in errors.
std::vector<float> tensor_to_float(const SafeTensor& t, const std::string& where);
std::vector<int64_t> tensor_to_int64(const SafeTensor& t, const std::string& where);

class SafetensorsFile {
 public:
  static constexpr uint64_t kMaxHeaderBytes = 100u << 20;
  explicit SafetensorsFile(const std::string& path);  // throws InputError naming path (and tensor)
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  const std::string& path() const { return path_; }
  const SafeTensor* find(const std::string& name) const;
  const SafeTensor& at(const std::string& name) const;  // InputError when absent
  std::vector<std::string> names() const;
  // The tensor's values as float (F32, F16, BF16, F64); InputError for other dtypes.
  std::vector<float> to_float(const std::string& name) const;
  std::vector<int64_t> to_int64(const std::string& name) const;  // I64, I32

 private:
  void parse();
  std::unique_ptr<MappedFile> file_;
  std::string path_;
  const uint8_t* map_ = nullptr;  // the whole file, read-only
  size_t size_ = 0;
  std::map<std::string, SafeTensor> tensors_;
};

// All tensors of a Hugging Face model directory: model.safetensors, or the shards
// listed by model.safetensors.index.json (each name must be in the file the index says).
class SafetensorsSet {
 public:
  explicit SafetensorsSet(const std::string& dir_or_file);
  const std::string& path() const { return path_; }
  const SafeTensor* find(const std::string& name) const;
  const SafeTensor& at(const std::string& name) const;
  std::vector<std::string> names() const;
  std::vector<float> to_float(const std::string& name) const;
  std::string where(const std::string& name) const;  // "file: tensor 'name'", for messages

 private:
  std::string path_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> owner_;
};

struct SafeTensorOut {
  std::string name;
  std::vector<int64_t> shape;
  const float* data = nullptr;  // numel floats, converted to the file's dtype
};
// Writes F32, BF16 or F16 tensors (dtype "F32" | "BF16" | "F16"), atomically, with optional __metadata__.
void write_safetensors(const std::string& path, const std::vector<SafeTensorOut>& tensors, const std::string& dtype,
                       const std::map<std::string, std::string>& metadata = {});
inline void write_safetensors_f32(const std::string& path, const std::vector<SafeTensorOut>& tensors) {
  write_safetensors(path, tensors, "F32");
}

}  // namespace align
