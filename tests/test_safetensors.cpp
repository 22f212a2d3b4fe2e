// test_safetensors.cpp: the safetensors reader against files it wrote and
// against hand-broken files (header length, JSON, offsets, sizes, dtypes).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/error.hpp"
#include "model/safetensors.hpp"

namespace align {
namespace {

std::string tmp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (name + std::to_string(::getpid()))).string();
}

void write_raw(const std::string& path, const std::string& header, const std::vector<uint8_t>& data) {
  std::ofstream f(path, std::ios::binary);
  const uint64_t n = header.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f.write(header.data(), header.size());
  f.write(reinterpret_cast<const char*>(data.data()), data.size());
}

TEST(Safetensors, RoundTrip) {
  const std::string p = tmp_path("st_ok");
  const std::vector<float> a = {1.5f, -2.f, 3.25f, 0.f, 7.f, -0.5f}, b = {42.f};
  write_safetensors_f32(p, {{"a", {2, 3}, a.data()}, {"b", {1}, b.data()}});
  const SafetensorsFile f(p);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(f.at("a").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f.to_float("a"), a);
  EXPECT_EQ(f.to_float("b"), b);
  EXPECT_EQ(f.find("c"), nullptr);
  EXPECT_THROW(f.at("c"), InputError);
  std::remove(p.c_str());
}

TEST(Safetensors, Bf16AndF16AndIntegers) {
  const std::string p = tmp_path("st_types");
  // bf16 1.0 = 0x3f80, -2.0 = 0xc000; fp16 1.0 = 0x3c00, 0.5 = 0x3800; i64 -7, 9
  std::vector<uint8_t> data = {0x80, 0x3f, 0x00, 0xc0, 0x00, 0x3c, 0x00, 0x38};
  const int64_t ints[2] = {-7, 9};
  data.resize(24);
  std::memcpy(data.data() + 8, ints, 16);
  write_raw(p,
            R"({"x":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"h":{"dtype":"F16","shape":[2],"data_offsets":[4,8]},)"
            R"("i":{"dtype":"I64","shape":[2],"data_offsets":[8,24]},"__metadata__":{"format":"pt"}})",
            data);
  const SafetensorsFile f(p);
  EXPECT_EQ(f.to_float("x"), (std::vector<float>{1.f, -2.f}));
  EXPECT_EQ(f.to_float("h"), (std::vector<float>{1.f, 0.5f}));
  EXPECT_EQ(f.to_int64("i"), (std::vector<int64_t>{-7, 9}));
  EXPECT_THROW(f.to_float("i"), InputError);
  std::remove(p.c_str());
}

// What the reference loader (safetensors' validate) refuses: the tensors must tile the data section
// exactly, each name once. Before these checks all four were accepted (the duplicate's last entry won).
TEST(Safetensors, OverlapsHolesDuplicatesAndTrailingBytesAreRefused) {
  const std::string p = tmp_path("st_tiling");
  const std::vector<uint8_t> data(16, 0);
  struct Case {
    std::string header;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},)"
       R"("c":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
       "tensor 'b' starts at data byte 4, inside the tensor before it (overlapping offsets)"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
       "tensor 'b' starts at data byte 12, after a hole; expected 8"},
      {R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       "header names tensor 'a' twice"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
       "the tensors end at data byte 8 of 16 (trailing bytes after the data)"},
      {R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}})",
       "holds more bytes than 64 bits count"},
  };
  for (const Case& c : cases) {
    write_raw(p, c.header, data);
    try {
      SafetensorsFile f(p);
      ADD_FAILURE() << "no error for " << c.header;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(c.expect), std::string::npos) << e.what();
    }
  }
  // Zero-sized tensors sit anywhere in the sequence, as the reference allows.
  write_raw(p, R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"e":{"dtype":"F32","shape":[0],"data_offsets":[16,16]}})",
            data);
  EXPECT_NO_THROW(SafetensorsFile f(p));
  std::remove(p.c_str());
}

TEST(Safetensors, BrokenFilesAreNamed) {
  const std::string p = tmp_path("st_bad");
  const std::vector<uint8_t> data(8, 0);
  struct Case {
    std::string header;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})", "outside the 8-byte data section"},
      {R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", "holds 8 bytes, dtype F32 and shape need 12"},
      {R"({"x":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", "dtype 'Q4' is not known"},
      {R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", "shape entry -2"},
      {R"({"x":{"dtype":"F32","shape":[2]}})", "expected an object with dtype, shape and data_offsets"},
      {R"({"x":)", "header is not valid JSON"},
      {R"([1,2])", "header is not a JSON object"},
  };
  for (const Case& c : cases) {
    write_raw(p, c.header, data);
    try {
      SafetensorsFile f(p);
      ADD_FAILURE() << "no error for " << c.header;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(c.expect), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).rfind(p, 0), 0u) << e.what();
    }
  }
  // Header length larger than the file.
  {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    const uint64_t n = 1000;
    f.write(reinterpret_cast<const char*>(&n), 8);
    f.write("{}", 2);
  }
  try {
    SafetensorsFile f(p);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("header length 1000 exceeds"), std::string::npos) << e.what();
  }
  std::remove(p.c_str());
}

}  // namespace
}  // namespace align
