// checkpoint.hpp: the model.bin format (docs/formats.md): a 256-byte versioned
// header holding the whole ModelConfig, the storage dtype, the element count
// and a checksum, followed by the flat parameter buffer of the tensor table.
//
// Loading validates everything before trusting it (magic, version, every
// config field's range, element count against the table, file length against
// the header, checksum, then every weight finite and the padded vocabulary
// rows zero) and throws InputError with one line naming the file and the
// field or tensor. Saving is atomic (temporary file, then rename).
// fp32 files round-trip bit for bit; bf16 files hold round-to-nearest-even
// values and round-trip bit for bit from the second save on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.hpp"

namespace align {

enum class DType : uint32_t { F32 = 0, BF16 = 1 };
const char* dtype_name(DType d);
DType parse_dtype(const std::string& s);  // "fp32" | "bf16"
size_t dtype_bytes(DType d);

inline constexpr char kModelMagic[8] = {'A', 'L', 'I', 'G', 'N', 'M', 'D', 'L'};
inline constexpr uint32_t kModelVersion = 1;
inline constexpr uint32_t kModelHeaderBytes = 256;

struct ModelFileInfo {
  ModelConfig config;
  DType dtype = DType::F32;
  uint64_t num_elements = 0;  // flat buffer elements, TensorTable(config).total_size()
  uint64_t checksum = 0;      // of the stored data bytes, see data_checksum()
};

struct LoadedModel {
  ModelFileInfo info;
  std::vector<float> params;  // (num_elements), bf16 files widened to float
};

// 64-bit FNV-1a over the data taken as little-endian 64-bit words (bytes % 8 == 0).
// Also the model's fingerprint (e.g. for caches of reference log-probs).
uint64_t data_checksum(const void* data, size_t bytes);

void save_model(const std::string& path, const ModelConfig& config, const float* params /*(total_size)*/, DType dtype);
// The first bad value of a model's weights, "" when there is none: a NaN or infinity anywhere, or a
// nonzero element in a padded vocabulary row (rows V..Vp-1 of the token embedding and of an untied
// head, which are zero by definition). Named by tensor and element index (row, column).
std::string find_bad_weight(const ModelConfig& config, const float* params /*(total_size)*/);

// What load_model does with weights find_bad_weight objects to: refuse the file (InputError naming
// the file, the tensor and the index), or load it anyway (inspect --allow-bad-weights looks at such files).
enum class BadWeights { Refuse, Allow };

ModelFileInfo read_model_info(const std::string& path);  // header only, validated against the file length
// Header and data, checksum verified, weights checked (find_bad_weight).
LoadedModel load_model(const std::string& path, BadWeights bad = BadWeights::Refuse);

}  // namespace align
