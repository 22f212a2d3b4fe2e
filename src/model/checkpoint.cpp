// checkpoint.cpp: model.bin save and load (checkpoint.hpp, docs/formats.md).
#include "model/checkpoint.hpp"

#include <bit>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/bf16.hpp"
#include "common/binary_fields.hpp"
#include "common/error.hpp"
#include "common/file_io.hpp"
#include "model/tensor_table.hpp"


namespace align {

const char* dtype_name(DType d) { return d == DType::F32 ? "fp32" : "bf16"; }
DType parse_dtype(const std::string& s) {
  if (s == "fp32") return DType::F32;
  if (s == "bf16") return DType::BF16;
  throw InputError(cat("dtype '", s, "' is not known, expected 'fp32' or 'bf16'"));
}
size_t dtype_bytes(DType d) { return d == DType::F32 ? 4 : 2; }

uint64_t data_checksum(const void* data, size_t bytes) {
  ALIGN_ASSERT(bytes % 8 == 0, "checksum over ", bytes, " bytes");
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < bytes; i += 8) {
    uint64_t word;
    std::memcpy(&word, p + i, 8);
    h = (h ^ word) * 0x100000001b3ull;
  }
  return h;
}

namespace {

// Byte offsets of the header fields (docs/formats.md has the same table).
constexpr size_t kOffMagic = 0, kOffVersion = 8, kOffHeaderBytes = 12, kOffArch = 16, kOffVocab = 20,
                 kOffPaddedVocab = 24, kOffLayers = 28, kOffHeads = 32, kOffKvHeads = 36, kOffEmbd = 40,
                 kOffHeadDim = 44, kOffFfn = 48, kOffMaxSeq = 52, kOffEps = 56, kOffTheta = 60, kOffTied = 64,
                 kOffQkvBias = 68, kOffRopeScaling = 72, kOffRopeFactor = 76, kOffRopeLow = 80, kOffRopeHigh = 84,
                 kOffRopeOrig = 88, kOffDtype = 92, kOffNumElements = 96, kOffChecksum = 104, kOffReserved = 112;

void encode_header(uint8_t* h, const ModelFileInfo& info) {
  const ModelConfig& c = info.config;
  std::memset(h, 0, kModelHeaderBytes);
  std::memcpy(h + kOffMagic, kModelMagic, 8);
  put_field<uint32_t>(h, kOffVersion, kModelVersion);
  put_field<uint32_t>(h, kOffHeaderBytes, kModelHeaderBytes);
  put_field<uint32_t>(h, kOffArch, static_cast<uint32_t>(c.arch));
  put_field<int32_t>(h, kOffVocab, c.vocab_size);
  put_field<int32_t>(h, kOffPaddedVocab, c.padded_vocab_size);
  put_field<int32_t>(h, kOffLayers, c.n_layer);
  put_field<int32_t>(h, kOffHeads, c.n_head);
  put_field<int32_t>(h, kOffKvHeads, c.n_kv_head);
  put_field<int32_t>(h, kOffEmbd, c.n_embd);
  put_field<int32_t>(h, kOffHeadDim, c.head_dim);
  put_field<int32_t>(h, kOffFfn, c.ffn_dim);
  put_field<int32_t>(h, kOffMaxSeq, c.max_seq_len);
  put_field<float>(h, kOffEps, c.norm_eps);
  put_field<float>(h, kOffTheta, c.rope_theta);
  put_field<uint32_t>(h, kOffTied, c.tied_head ? 1 : 0);
  put_field<uint32_t>(h, kOffQkvBias, c.qkv_bias ? 1 : 0);
  put_field<uint32_t>(h, kOffRopeScaling, static_cast<uint32_t>(c.rope_scaling));
  put_field<float>(h, kOffRopeFactor, c.rope_factor);
  put_field<float>(h, kOffRopeLow, c.rope_low_freq_factor);
  put_field<float>(h, kOffRopeHigh, c.rope_high_freq_factor);
  put_field<int32_t>(h, kOffRopeOrig, c.rope_original_max_pos);
  put_field<uint32_t>(h, kOffDtype, static_cast<uint32_t>(info.dtype));
  put_field<uint64_t>(h, kOffNumElements, info.num_elements);
  put_field<uint64_t>(h, kOffChecksum, info.checksum);
}

bool get_bool(const uint8_t* h, size_t off, const std::string& path, const char* field) {
  const uint32_t v = read_field<uint32_t>(h, off);
  ALIGN_REQUIRE(v <= 1, path, ": field ", field, " = ", v, ", expected 0 or 1");
  return v == 1;
}

ModelFileInfo decode_header(const uint8_t* h, const std::string& path) {
  ALIGN_REQUIRE(std::memcmp(h + kOffMagic, kModelMagic, 8) == 0, path, ": magic is '",
                printable(std::string_view(reinterpret_cast<const char*>(h), 8)), "', expected 'ALIGNMDL' (not an align.cu model file)");
  const uint32_t version = read_field<uint32_t>(h, kOffVersion);
  ALIGN_REQUIRE(version == kModelVersion, path, ": format version ", version, ", this build reads version ",
                kModelVersion);
  const uint32_t header_bytes = read_field<uint32_t>(h, kOffHeaderBytes);
  ALIGN_REQUIRE(header_bytes == kModelHeaderBytes, path, ": field header_bytes = ", header_bytes, ", expected ",
                kModelHeaderBytes);
  ModelFileInfo info;
  ModelConfig& c = info.config;
  c.arch = static_cast<Arch>(read_field<uint32_t>(h, kOffArch));
  c.vocab_size = read_field<int32_t>(h, kOffVocab);
  c.padded_vocab_size = read_field<int32_t>(h, kOffPaddedVocab);
  c.n_layer = read_field<int32_t>(h, kOffLayers);
  c.n_head = read_field<int32_t>(h, kOffHeads);
  c.n_kv_head = read_field<int32_t>(h, kOffKvHeads);
  c.n_embd = read_field<int32_t>(h, kOffEmbd);
  c.head_dim = read_field<int32_t>(h, kOffHeadDim);
  c.ffn_dim = read_field<int32_t>(h, kOffFfn);
  c.max_seq_len = read_field<int32_t>(h, kOffMaxSeq);
  c.norm_eps = read_field<float>(h, kOffEps);
  c.rope_theta = read_field<float>(h, kOffTheta);
  c.tied_head = get_bool(h, kOffTied, path, "tied_head");
  c.qkv_bias = get_bool(h, kOffQkvBias, path, "qkv_bias");
  c.rope_scaling = static_cast<RopeScaling>(read_field<uint32_t>(h, kOffRopeScaling));
  c.rope_factor = read_field<float>(h, kOffRopeFactor);
  c.rope_low_freq_factor = read_field<float>(h, kOffRopeLow);
  c.rope_high_freq_factor = read_field<float>(h, kOffRopeHigh);
  c.rope_original_max_pos = read_field<int32_t>(h, kOffRopeOrig);
  c.validate(path);
  const uint32_t dtype = read_field<uint32_t>(h, kOffDtype);
  ALIGN_REQUIRE(dtype <= 1, path, ": field dtype = ", dtype, ", expected 0 (fp32) or 1 (bf16)");
  info.dtype = static_cast<DType>(dtype);
  info.num_elements = read_field<uint64_t>(h, kOffNumElements);
  const size_t expected = TensorTable(c).total_size();
  ALIGN_REQUIRE(info.num_elements == expected, path, ": field num_elements = ", info.num_elements,
                ", the config's tensor table needs ", expected);
  info.checksum = read_field<uint64_t>(h, kOffChecksum);
  for (size_t i = kOffReserved; i < kModelHeaderBytes; i++)
    ALIGN_REQUIRE(h[i] == 0, path, ": reserved header byte ", i, " = ", (int)h[i], ", expected 0");
  return info;
}

}  // namespace

void save_model(const std::string& path, const ModelConfig& config, const float* params, DType dtype) {
  config.validate(path);
  ModelFileInfo info;
  info.config = config;
  info.dtype = dtype;
  info.num_elements = TensorTable(config).total_size();
  std::vector<uint8_t> data(info.num_elements * dtype_bytes(dtype));
  if (dtype == DType::F32) {
    std::memcpy(data.data(), params, data.size());
  } else {
    uint16_t* out = reinterpret_cast<uint16_t*>(data.data());
    for (size_t i = 0; i < info.num_elements; i++) out[i] = float_to_bf16(params[i]);
  }
  info.checksum = data_checksum(data.data(), data.size());
  uint8_t header[kModelHeaderBytes];
  encode_header(header, info);
  write_file_atomic(path, [&](std::FILE* fp) {
    write_all(fp, header, sizeof(header), path);
    write_all(fp, data.data(), data.size(), path);
  });
}

namespace {
ModelFileInfo read_header(std::FILE* fp, const std::string& path) {
  const uint64_t size = file_size(path);
  ALIGN_REQUIRE(size >= kModelHeaderBytes, path, ": file is ", size, " bytes, shorter than the ", kModelHeaderBytes,
                "-byte header (truncated, or not a model file)");
  uint8_t header[kModelHeaderBytes];
  ALIGN_REQUIRE(std::fread(header, 1, sizeof(header), fp) == sizeof(header), path, ": cannot read the header");
  ModelFileInfo info = decode_header(header, path);
  const uint64_t expected = kModelHeaderBytes + info.num_elements * dtype_bytes(info.dtype);
  ALIGN_REQUIRE(size == expected, path, ": file is ", size, " bytes, the header describes ", expected,
                size < expected ? " (truncated)" : " (trailing bytes)");
  return info;
}
}  // namespace

ModelFileInfo read_model_info(const std::string& path) {
  std::FILE* fp = std::fopen(path.c_str(), "rb");
  ALIGN_REQUIRE(fp != nullptr, path, ": cannot open: ", std::strerror(errno));
  try {
    ModelFileInfo info = read_header(fp, path);
    std::fclose(fp);
    return info;
  } catch (...) {
    std::fclose(fp);
    throw;
  }
}

std::string find_bad_weight(const ModelConfig& config, const float* params) {
  const TensorTable table(config);
  const int V = config.vocab_size;
  for (const TensorSpec& t : table.tensors()) {
    const bool vocab_rows = t.name == tensor_names::kTokEmbed || t.name == tensor_names::kLmHead;
    const size_t cols = t.shape.size() == 2 ? (size_t)t.shape[1] : t.numel;
    for (size_t i = 0; i < t.numel; i++) {
      const float x = params[t.offset + i];
      const bool padded_row = vocab_rows && i / cols >= (size_t)V;
      if (std::isfinite(x) && !(padded_row && x != 0.f)) continue;
      const std::string where = t.shape.size() == 2 ? cat(" (row ", i / cols, ", column ", i % cols, ")") : "";
      if (!std::isfinite(x)) return cat("tensor '", t.name, "' element ", i, where, " is ", x, ", expected a finite number");
      return cat("tensor '", t.name, "' element ", i, where, " is ", x, " in a padded vocabulary row (rows ", V, "..",
                 config.padded_vocab_size - 1, " are zero by definition)");
    }
  }
  return "";
}

LoadedModel load_model(const std::string& path, BadWeights bad) {
  std::FILE* fp = std::fopen(path.c_str(), "rb");
  ALIGN_REQUIRE(fp != nullptr, path, ": cannot open: ", std::strerror(errno));
  LoadedModel m;
  std::vector<uint8_t> data;
  try {
    m.info = read_header(fp, path);
    data.resize(m.info.num_elements * dtype_bytes(m.info.dtype));
    ALIGN_REQUIRE(std::fread(data.data(), 1, data.size(), fp) == data.size(), path, ": cannot read the parameters");
    std::fclose(fp);
  } catch (...) {
    std::fclose(fp);
    throw;
  }
  const uint64_t sum = data_checksum(data.data(), data.size());
  ALIGN_REQUIRE(sum == m.info.checksum, path, ": data checksum ", std::hex, sum, ", header says ", m.info.checksum,
                " (corrupted file)");
  m.params.resize(m.info.num_elements);
  if (m.info.dtype == DType::F32) {
    std::memcpy(m.params.data(), data.data(), data.size());
  } else {
    const uint16_t* in = reinterpret_cast<const uint16_t*>(data.data());
    for (size_t i = 0; i < m.info.num_elements; i++) m.params[i] = bf16_to_float(in[i]);
  }
  if (bad == BadWeights::Refuse) {
    const std::string problem = find_bad_weight(m.info.config, m.params.data());
    ALIGN_REQUIRE(problem.empty(), path, ": ", problem, " (inspect --allow-bad-weights shows such a file)");
  }
  return m;
}

}  // namespace align
