// scratch_dir.hpp: a fresh folder for one test's files, under the system's
// temporary directory, named by a tag and the process id (so that test
// processes run side by side by ctest never share one), emptied when made and
// removed with the object. The file-writing test fixtures hold one each.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace align::test {

class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag)
      : dir_(std::filesystem::temp_directory_path() / ("align_" + tag + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~ScratchDir() {
    std::error_code ignored;  // a destructor must not throw; a leftover folder is emptied by the next run
    std::filesystem::remove_all(dir_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

 private:
  std::filesystem::path dir_;
};

}  // namespace align::test
