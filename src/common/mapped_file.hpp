// mapped_file.hpp: a read-only memory map of a whole file (RAII: unmapped in
// the destructor), so readers of large files (safetensors, pairs.bin,
// sft.bin) validate and read in place without copying.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace align {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // InputError naming the path when it cannot be opened or mapped
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace align
