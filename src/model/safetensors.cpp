// safetensors.cpp: .safetensors reader and fp32 writer (safetensors.hpp).
#include "model/safetensors.hpp"

#include <cstring>
#include <nlohmann/json.hpp>

#include "common/bf16.hpp"
#include "common/error.hpp"
#include "common/file_io.hpp"

namespace align {

namespace {
size_t dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
  return 0;
}
}  // namespace

size_t SafeTensor::numel() const {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  return n;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path), bytes_(read_file_bytes(path)) {
  ALIGN_REQUIRE(bytes_.size() >= 8, path, ": file is ", bytes_.size(), " bytes, too short for a safetensors header");
  uint64_t n;
  std::memcpy(&n, bytes_.data(), 8);
  ALIGN_REQUIRE(n <= bytes_.size() - 8, path, ": header length ", n, " exceeds the file's ", bytes_.size() - 8,
                " bytes after the length field");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes_.begin() + 8, bytes_.begin() + 8 + n);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(cat(path, ": header is not valid JSON: ", e.what()));
  }
  ALIGN_REQUIRE(header.is_object(), path, ": header is not a JSON object");
  const uint8_t* data = bytes_.data() + 8 + n;
  const size_t data_size = bytes_.size() - 8 - n;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string where = cat(path, ": tensor '", name, "'");
    ALIGN_REQUIRE(entry.is_object() && entry.contains("dtype") && entry.contains("shape") &&
                      entry.contains("data_offsets"),
                  where, ": expected an object with dtype, shape and data_offsets");
    ALIGN_REQUIRE(entry["dtype"].is_string(), where, ": dtype is not a string");
    SafeTensor t;
    t.dtype = entry["dtype"].get<std::string>();
    const size_t esize = dtype_size(t.dtype);
    ALIGN_REQUIRE(esize > 0, where, ": dtype '", t.dtype, "' is not known");
    ALIGN_REQUIRE(entry["shape"].is_array(), where, ": shape is not an array");
    for (const auto& d : entry["shape"]) {
      ALIGN_REQUIRE(d.is_number_integer() && d.get<int64_t>() >= 0, where, ": shape entry ", d.dump(),
                    ", expected a non-negative integer");
      t.shape.push_back(d.get<int64_t>());
    }
    const auto& off = entry["data_offsets"];
    ALIGN_REQUIRE(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
                  where, ": data_offsets ", off.dump(), ", expected [begin, end]");
    const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    ALIGN_REQUIRE(b <= e && e <= data_size, where, ": data_offsets [", b, ", ", e, "] outside the ", data_size,
                  "-byte data section");
    ALIGN_REQUIRE(e - b == t.numel() * esize, where, ": holds ", e - b, " bytes, dtype ", t.dtype, " and shape need ",
                  t.numel() * esize);
    t.data = data + b;
    t.bytes = e - b;
    tensors_.emplace(name, std::move(t));
  }
}

const SafeTensor* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const SafeTensor& SafetensorsFile::at(const std::string& name) const {
  const SafeTensor* t = find(name);
  ALIGN_REQUIRE(t != nullptr, path_, ": no tensor named '", name, "'");
  return *t;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  for (const auto& kv : tensors_) out.push_back(kv.first);
  return out;
}

std::vector<float> SafetensorsFile::to_float(const std::string& name) const {
  const SafeTensor& t = at(name);
  std::vector<float> out(t.numel());
  for (size_t i = 0; i < out.size(); i++) {
    if (t.dtype == "F32") {
      std::memcpy(&out[i], t.data + 4 * i, 4);
    } else if (t.dtype == "F64") {
      double d;
      std::memcpy(&d, t.data + 8 * i, 8);
      out[i] = static_cast<float>(d);
    } else if (t.dtype == "BF16" || t.dtype == "F16") {
      uint16_t h;
      std::memcpy(&h, t.data + 2 * i, 2);
      out[i] = t.dtype == "BF16" ? bf16_to_float(h) : fp16_to_float(h);
    } else {
      throw InputError(cat(path_, ": tensor '", name, "' has dtype ", t.dtype, ", expected F32, F16, BF16 or F64"));
    }
  }
  return out;
}

std::vector<int64_t> SafetensorsFile::to_int64(const std::string& name) const {
  const SafeTensor& t = at(name);
  std::vector<int64_t> out(t.numel());
  for (size_t i = 0; i < out.size(); i++) {
    if (t.dtype == "I64") {
      std::memcpy(&out[i], t.data + 8 * i, 8);
    } else if (t.dtype == "I32") {
      int32_t v;
      std::memcpy(&v, t.data + 4 * i, 4);
      out[i] = v;
    } else {
      throw InputError(cat(path_, ": tensor '", name, "' has dtype ", t.dtype, ", expected I64 or I32"));
    }
  }
  return out;
}

void write_safetensors_f32(const std::string& path, const std::vector<SafeTensorOut>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  size_t offset = 0;
  for (const SafeTensorOut& t : tensors) {
    size_t numel = 1;
    for (int64_t d : t.shape) numel *= static_cast<size_t>(d);
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + 4 * numel}}};
    offset += 4 * numel;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned, as the reference writer does
  const uint64_t n = text.size();
  write_file_atomic(path, [&](std::FILE* fp) {
    write_all(fp, &n, 8, path);
    write_all(fp, text.data(), text.size(), path);
    for (const SafeTensorOut& t : tensors) {
      size_t numel = 1;
      for (int64_t d : t.shape) numel *= static_cast<size_t>(d);
      write_all(fp, t.data, 4 * numel, path);
    }
  });
}

}  // namespace align
