// file_io.cpp: whole-file reads, atomic writes, durable directory operations (file_io.hpp).
#include "common/file_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "common/error.hpp"

namespace align {

namespace fs = std::filesystem;

namespace {
FileFaultHook& fault_hook() {
  static FileFaultHook hook;
  return hook;
}
std::string parent_of(const std::string& path) {
  const fs::path p = fs::path(path).parent_path();
  return p.empty() ? std::string(".") : p.string();
}
}  // namespace

void set_file_fault_hook(FileFaultHook hook) { fault_hook() = std::move(hook); }
void file_fault_point(const char* op, const std::string& path) {
  if (fault_hook()) fault_hook()(op, path);
}

uint64_t file_size(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  ALIGN_REQUIRE(!ec, path, ": cannot read: ", ec.message());
  return size;
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::FILE* fp = std::fopen(path.c_str(), "rb");
  ALIGN_REQUIRE(fp != nullptr, path, ": cannot open: ", std::strerror(errno));
  std::vector<uint8_t> bytes;
  try {
    bytes.resize(file_size(path));
  } catch (...) {
    std::fclose(fp);
    throw;
  }
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
  file_fault_point("write", path);
  ALIGN_REQUIRE(bytes == 0 || std::fwrite(data, 1, bytes, fp) == bytes, path, ": write failed: ", std::strerror(errno));
}

void fsync_directory(const std::string& path) {
  file_fault_point("fsync_dir", path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY);
  ALIGN_REQUIRE(fd >= 0, path, ": cannot open the folder: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some file systems (e.g. some network mounts) cannot fsync a folder; that is no error of the data.
  ALIGN_REQUIRE(rc == 0 || err == EINVAL || err == ENOTSUP, path, ": cannot sync the folder: ", std::strerror(err));
}

void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& write) {
  const std::string tmp = cat(path, ".tmp.", ::getpid());
  std::error_code ec;
  ALIGN_REQUIRE(!fs::is_directory(path, ec), path, ": is a folder, expected a file name to write");
  file_fault_point("create", tmp);
  std::FILE* fp = std::fopen(tmp.c_str(), "wb");
  ALIGN_REQUIRE(fp != nullptr, tmp, ": cannot create: ", std::strerror(errno));
  try {
    write(fp);
    file_fault_point("fsync", tmp);
    ALIGN_REQUIRE(std::fflush(fp) == 0 && ::fsync(::fileno(fp)) == 0, tmp, ": flush failed: ", std::strerror(errno));
  } catch (...) {
    std::fclose(fp);
    std::remove(tmp.c_str());
    throw;
  }
  const bool closed = std::fclose(fp) == 0;
  if (closed) file_fault_point("rename", path);
  if (!closed || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw InputError(cat(path, ": cannot write: ", why));
  }
  fsync_directory(parent_of(path));
}

void make_directory(const std::string& path) {
  file_fault_point("mkdir", path);
  std::error_code ec;
  fs::create_directory(path, ec);
  ALIGN_REQUIRE(!ec, path, ": cannot create the folder: ", ec.message());
  fsync_directory(parent_of(path));
}

void remove_tree(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) return;
  file_fault_point("remove", path);
  fs::remove_all(path, ec);
  ALIGN_REQUIRE(!ec, path, ": cannot remove: ", ec.message());
  fsync_directory(parent_of(path));
}

void rename_path(const std::string& from, const std::string& to) {
  file_fault_point("rename", from);
  std::error_code ec;
  fs::rename(from, to, ec);
  ALIGN_REQUIRE(!ec, from, ": cannot rename to ", to, ": ", ec.message());
  fsync_directory(parent_of(to));
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::equivalent(a, b, ec) && !ec;
}

uint64_t bytes_checksum(const void* data, size_t bytes, uint64_t h) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t word;
    std::memcpy(&word, p + i, 8);
    h = (h ^ word) * 0x100000001b3ull;
  }
  for (; i < bytes; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

uint64_t file_checksum(const std::string& path) {
  std::FILE* fp = std::fopen(path.c_str(), "rb");
  ALIGN_REQUIRE(fp != nullptr, path, ": cannot open: ", std::strerror(errno));
  // Blocks of a multiple of 8 bytes, so the result equals bytes_checksum over the whole file.
  std::vector<uint8_t> block(8 << 20);
  uint64_t h = 0xcbf29ce484222325ull;
  size_t got;
  while ((got = std::fread(block.data(), 1, block.size(), fp)) > 0) h = bytes_checksum(block.data(), got, h);
  const bool failed = std::ferror(fp);
  std::fclose(fp);
  ALIGN_REQUIRE(!failed, path, ": read error");
  return h;
}

}  // namespace align
