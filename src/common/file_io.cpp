// file_io.cpp: whole-file reads and atomic writes (file_io.hpp).
#include "common/file_io.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "common/error.hpp"

namespace align {

uint64_t file_size(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  ALIGN_REQUIRE(!ec, path, ": cannot read: ", ec.message());
  return size;
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::FILE* fp = std::fopen(path.c_str(), "rb");
  ALIGN_REQUIRE(fp != nullptr, path, ": cannot open: ", std::strerror(errno));
  std::vector<uint8_t> bytes(file_size(path));
  const size_t got = bytes.empty() ? 0 : std::fread(bytes.data(), 1, bytes.size(), fp);
  std::fclose(fp);
  ALIGN_REQUIRE(got == bytes.size(), path, ": read ", got, " of ", bytes.size(), " bytes");
  return bytes;
}

std::istream& open_input(const std::string& path, std::ifstream& file) {
  if (path == "-") return std::cin;
  file.open(path);
  ALIGN_REQUIRE(file.is_open(), path, ": cannot open: ", std::strerror(errno));
  return file;
}

void write_all(std::FILE* fp, const void* data, size_t bytes, const std::string& path) {
  ALIGN_REQUIRE(bytes == 0 || std::fwrite(data, 1, bytes, fp) == bytes, path, ": write failed: ", std::strerror(errno));
}

void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& write) {
  const std::string tmp = cat(path, ".tmp.", ::getpid());
  std::FILE* fp = std::fopen(tmp.c_str(), "wb");
  ALIGN_REQUIRE(fp != nullptr, tmp, ": cannot create: ", std::strerror(errno));
  try {
    write(fp);
    ALIGN_REQUIRE(std::fflush(fp) == 0 && ::fsync(::fileno(fp)) == 0, tmp, ": flush failed: ", std::strerror(errno));
  } catch (...) {
    std::fclose(fp);
    std::remove(tmp.c_str());
    throw;
  }
  const bool closed = std::fclose(fp) == 0;
  if (!closed || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw InputError(cat(path, ": cannot write: ", why));
  }
}

}  // namespace align
