// json_file.cpp: JSON files (json_file.hpp).
#include "common/json_file.hpp"

#include "common/error.hpp"
#include "common/file_io.hpp"

namespace align {

nlohmann::json read_json_file(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  try {
    return nlohmann::json::parse(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception& e) {
    throw InputError(cat(path, ": not valid JSON: ", e.what()));
  }
}

}  // namespace align
