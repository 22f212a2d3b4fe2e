// safetensors.cpp: .safetensors reader and fp32 writer (safetensors.hpp).
#include "model/safetensors.hpp"

#include <algorithm>
#include <cerrno>
#include <set>
#include <filesystem>

#include <cstring>
#include <nlohmann/json.hpp>

#include "common/bf16.hpp"
#include "common/error.hpp"
#include "common/file_io.hpp"
#include "common/json_file.hpp"

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

SafetensorsFile::SafetensorsFile(const std::string& path)
    : file_(std::make_unique<MappedFile>(path)), path_(path), map_(file_->data()), size_(file_->size()) {
  parse();
}

SafetensorsFile::~SafetensorsFile() = default;

void SafetensorsFile::parse() {
  const std::string& path = path_;
  ALIGN_REQUIRE(size_ >= 8, path, ": file is ", size_, " bytes, too short for a safetensors header");
  uint64_t n;
  std::memcpy(&n, map_, 8);
  ALIGN_REQUIRE(n <= size_ - 8, path, ": header length ", n, " exceeds the file's ", size_ - 8,
                " bytes after the length field");
  ALIGN_REQUIRE(n <= kMaxHeaderBytes, path, ": header length ", n, " exceeds the ", kMaxHeaderBytes, "-byte limit");
  nlohmann::json header;
  // A name given twice would silently take the last entry (nlohmann keeps the last value); the
  // reference loader refuses such a header, and so do we.
  std::set<std::string> seen;
  auto refuse_duplicates = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (depth == 1 && event == nlohmann::json::parse_event_t::key && !seen.insert(parsed.get<std::string>()).second)
      throw InputError(cat(path, ": header names tensor '", printable(parsed.get<std::string>()), "' twice"));
    return true;
  };
  try {
    header = nlohmann::json::parse(map_ + 8, map_ + 8 + n, refuse_duplicates);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(cat(path, ": header is not valid JSON: ", e.what()));
  }
  ALIGN_REQUIRE(header.is_object(), path, ": header is not a JSON object");
  const uint8_t* data = map_ + 8 + n;
  const size_t data_size = size_ - 8 - n;
  std::vector<std::pair<std::pair<uint64_t, uint64_t>, std::string>> extents;  // ([begin, end), name)
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string where = cat(path, ": tensor '", printable(name), "'");
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
    uint64_t bytes = esize;
    for (const int64_t d : t.shape)
      ALIGN_REQUIRE(!__builtin_mul_overflow(bytes, (uint64_t)d, &bytes), where, ": shape ", entry["shape"].dump(),
                    " holds more bytes than 64 bits count");
    const auto& off = entry["data_offsets"];
    ALIGN_REQUIRE(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
                  where, ": data_offsets ", off.dump(), ", expected [begin, end]");
    const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    ALIGN_REQUIRE(b <= e && e <= data_size, where, ": data_offsets [", b, ", ", e, "] outside the ", data_size,
                  "-byte data section");
    ALIGN_REQUIRE(e - b == bytes, where, ": holds ", e - b, " bytes, dtype ", t.dtype, " and shape need ", bytes);
    t.data = data + b;
    t.bytes = e - b;
    extents.push_back({{b, e}, name});
    tensors_.emplace(name, std::move(t));
  }
  // As the reference loader: the tensors tile the data section exactly, in offset order, with no
  // overlap, no hole between two of them and nothing after the last.
  std::sort(extents.begin(), extents.end());
  uint64_t at = 0;
  for (const auto& [range, name] : extents) {
    ALIGN_REQUIRE(range.first == at, path, ": tensor '", printable(name), "' starts at data byte ", range.first,
                  range.first < at ? ", inside the tensor before it (overlapping offsets)" : ", after a hole; expected ",
                  range.first < at ? std::string() : std::to_string(at));
    at = range.second;
  }
  ALIGN_REQUIRE(at == data_size, path, ": the tensors end at data byte ", at, " of ", data_size,
                " (trailing bytes after the data)");
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

std::vector<float> tensor_to_float(const SafeTensor& t, const std::string& where) {
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
      throw InputError(cat(where, " has dtype ", t.dtype, ", expected F32, F16, BF16 or F64"));
    }
  }
  return out;
}

std::vector<int64_t> tensor_to_int64(const SafeTensor& t, const std::string& where) {
  std::vector<int64_t> out(t.numel());
  for (size_t i = 0; i < out.size(); i++) {
    if (t.dtype == "I64") {
      std::memcpy(&out[i], t.data + 8 * i, 8);
    } else if (t.dtype == "I32") {
      int32_t v;
      std::memcpy(&v, t.data + 4 * i, 4);
      out[i] = v;
    } else {
      throw InputError(cat(where, " has dtype ", t.dtype, ", expected I64 or I32"));
    }
  }
  return out;
}

std::vector<float> SafetensorsFile::to_float(const std::string& name) const {
  return tensor_to_float(at(name), cat(path_, ": tensor '", name, "'"));
}

std::vector<int64_t> SafetensorsFile::to_int64(const std::string& name) const {
  return tensor_to_int64(at(name), cat(path_, ": tensor '", name, "'"));
}

// ---- sharded checkpoints ---------------------------------------------------------------
SafetensorsSet::SafetensorsSet(const std::string& dir_or_file) : path_(dir_or_file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir_or_file, ec)) {
    files_.push_back(std::make_unique<SafetensorsFile>(dir_or_file));
  } else {
    const fs::path dir(dir_or_file);
    const fs::path index = dir / "model.safetensors.index.json";
    if (fs::exists(index)) {
      const nlohmann::json j = read_json_file(index.string());
      ALIGN_REQUIRE(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(), index.string(),
                    ": no weight_map object");
      std::map<std::string, const SafetensorsFile*> by_file;
      for (const auto& [name, file] : j["weight_map"].items()) {
        ALIGN_REQUIRE(file.is_string(), index.string(), ": weight_map entry for '", name, "' is not a file name");
        const std::string f = file.get<std::string>();
        ALIGN_REQUIRE(f.find('/') == std::string::npos && f != ".." && !f.empty(), index.string(), ": shard name '",
                      f, "' is not a file in the directory");
        if (!by_file.count(f)) {
          files_.push_back(std::make_unique<SafetensorsFile>((dir / f).string()));
          by_file[f] = files_.back().get();
        }
        ALIGN_REQUIRE(by_file[f]->find(name) != nullptr, (dir / f).string(), ": has no tensor '", name,
                      "', which ", index.string(), " places there");
        owner_[name] = by_file[f];
      }
    } else {
      const fs::path single = dir / "model.safetensors";
      ALIGN_REQUIRE(fs::exists(single), dir_or_file, ": no model.safetensors or model.safetensors.index.json");
      files_.push_back(std::make_unique<SafetensorsFile>(single.string()));
    }
  }
  for (const auto& f : files_)
    for (const std::string& name : f->names()) {
      if (!owner_.count(name)) owner_[name] = f.get();
      else ALIGN_REQUIRE(owner_[name] == f.get() || files_.size() > 1, f->path(), ": tensor '", name, "' twice");
    }
}

const SafeTensor* SafetensorsSet::find(const std::string& name) const {
  auto it = owner_.find(name);
  return it == owner_.end() ? nullptr : it->second->find(name);
}

const SafeTensor& SafetensorsSet::at(const std::string& name) const {
  const SafeTensor* t = find(name);
  ALIGN_REQUIRE(t != nullptr, path_, ": no tensor named '", name, "'");
  return *t;
}

std::vector<std::string> SafetensorsSet::names() const {
  std::vector<std::string> out;
  for (const auto& kv : owner_) out.push_back(kv.first);
  return out;
}

std::string SafetensorsSet::where(const std::string& name) const {
  auto it = owner_.find(name);
  return cat(it == owner_.end() ? path_ : it->second->path(), ": tensor '", name, "'");
}

std::vector<float> SafetensorsSet::to_float(const std::string& name) const { return tensor_to_float(at(name), where(name)); }

void write_safetensors(const std::string& path, const std::vector<SafeTensorOut>& tensors, const std::string& dtype,
                       const std::map<std::string, std::string>& metadata) {
  ALIGN_ASSERT(dtype == "F32" || dtype == "BF16" || dtype == "F16", "cannot write dtype ", dtype);
  const size_t esize = dtype == "F32" ? 4 : 2;
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (const SafeTensorOut& t : tensors) {
    size_t numel = 1;
    for (int64_t d : t.shape) numel *= static_cast<size_t>(d);
    header[t.name] = {{"dtype", dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + esize * numel}}};
    offset += esize * numel;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned, as the reference writer does
  const uint64_t n = text.size();
  write_file_atomic(path, [&](std::FILE* fp) {
    write_all(fp, &n, 8, path);
    write_all(fp, text.data(), text.size(), path);
    std::vector<uint16_t> half;
    for (const SafeTensorOut& t : tensors) {
      size_t numel = 1;
      for (int64_t d : t.shape) numel *= static_cast<size_t>(d);
      if (dtype == "F32") {
        write_all(fp, t.data, 4 * numel, path);
        continue;
      }
      half.resize(numel);
      for (size_t i = 0; i < numel; i++) half[i] = dtype == "BF16" ? float_to_bf16(t.data[i]) : float_to_fp16(t.data[i]);
      write_all(fp, half.data(), 2 * numel, path);
    }
  });
}

}  // namespace align
