// test_hf_io.cpp: Hugging Face import and export: round trips (fp32 exact,
// bf16/fp16 rounded as the formats round), sharded checkpoints, and bad
// directories and files. (dev/reference/check_hf_export.py separately
// confirms that transformers loads an export with the original logits.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/bf16.hpp"
#include "common/error.hpp"
#include "common/rng.hpp"
#include "model/hf_io.hpp"
#include "model/safetensors.hpp"
#include "model/tensor_table.hpp"
#include "scratch_dir.hpp"

namespace align {
namespace {

namespace fs = std::filesystem;
const std::string kHf = std::string(ALIGN_TEST_DATA) + "/hf/";

class HfIoTest : public ::testing::Test {
 protected:
  std::string path(const std::string& p) const { return scratch_.path(p); }
  test::ScratchDir scratch_{"hfio"};
};

TEST_F(HfIoTest, ExportThenImportIsBitIdentical) {
  for (const char* name : {"gpt2_tiny", "llama_gqa", "llama3_rope_headdim", "qwen2_bias_tied"}) {
    const ImportedModel a = import_hf(kHf + name);
    EXPECT_TRUE(a.report.unused.empty()) << name;
    export_hf(path(name), a.config, a.params.data(), "fp32", "");
    const ImportedModel b = import_hf(path(name));
    EXPECT_EQ(b.config, a.config) << name;
    ASSERT_EQ(b.params.size(), a.params.size());
    EXPECT_EQ(std::memcmp(b.params.data(), a.params.data(), 4 * a.params.size()), 0) << name;
    EXPECT_EQ(b.report.unused.size(), 0u) << name;
  }
}

TEST_F(HfIoTest, HalfPrecisionExportsRoundAsTheFormatsDo) {
  const ImportedModel a = import_hf(kHf + "llama_gqa");
  export_hf(path("bf16"), a.config, a.params.data(), "bf16", "");
  export_hf(path("fp16"), a.config, a.params.data(), "fp16", "");
  const ImportedModel b = import_hf(path("bf16")), h = import_hf(path("fp16"));
  for (size_t i = 0; i < a.params.size(); i++) {
    ASSERT_EQ(b.params[i], bf16_to_float(float_to_bf16(a.params[i]))) << i;
    ASSERT_EQ(h.params[i], (float)(_Float16)a.params[i]) << i;  // the compiler's IEEE half as reference
  }
  const nlohmann::json cfg = nlohmann::json::parse(std::ifstream(path("bf16/config.json")));
  EXPECT_EQ(cfg["torch_dtype"], "bfloat16");
  EXPECT_EQ(cfg["rms_norm_eps"].get<double>(), 1e-06);  // shortest decimal, not 9.99999997e-07
}

TEST(Fp16, MatchesTheCompilersConversion) {
  Rng rng(5);
  std::vector<float> values = {0.f, -0.f, 1.f, 65504.f, 65519.f, 65520.f, 1e-8f, 5.96e-8f, 2.98e-8f, 2.99e-8f,
                               6.1e-5f, 6.09e-5f, 1e30f, -1e30f, std::numeric_limits<float>::infinity()};
  for (int i = 0; i < 200000; i++) values.push_back((float)(rng.normal() * std::pow(10.0, rng.uniform(-9, 6))));
  for (float v : values) {
    const _Float16 ref = (_Float16)v;
    uint16_t bits;
    std::memcpy(&bits, &ref, 2);
    ASSERT_EQ(float_to_fp16(v), bits) << v;
  }
  for (uint32_t h = 0; h < 65536; h++) {  // every half survives the round trip (NaNs stay NaN)
    const float f = fp16_to_float((uint16_t)h);
    if (std::isnan(f)) ASSERT_TRUE(std::isnan(fp16_to_float(float_to_fp16(f))));
    else ASSERT_EQ(float_to_fp16(f), h) << h;
  }
}

TEST_F(HfIoTest, ShardedCheckpointImportsLikeOneFile) {
  const ImportedModel a = import_hf(kHf + "gpt2_tiny");
  const std::vector<HfTensor> tensors = hf_tensors_from_params(a.config, a.params.data());
  fs::create_directories(path("sharded"));
  fs::copy_file(kHf + "gpt2_tiny/config.json", path("sharded/config.json"));
  std::vector<SafeTensorOut> first, second;
  nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  for (size_t i = 0; i < tensors.size(); i++) {
    const bool one = i < tensors.size() / 2;
    (one ? first : second).push_back({tensors[i].name, tensors[i].shape, tensors[i].data.data()});
    index["weight_map"][tensors[i].name] = one ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  write_safetensors(path("sharded/model-00001-of-00002.safetensors"), first, "BF16");
  write_safetensors(path("sharded/model-00002-of-00002.safetensors"), second, "F32");
  std::ofstream(path("sharded/model.safetensors.index.json")) << index.dump();
  const ImportedModel b = import_hf(path("sharded"));
  const TensorTable table(a.config);  // named: a temporary's tensors() would dangle in the loop
  for (const TensorSpec& t : table.tensors()) {
    for (size_t i = 0; i < t.numel; i++) {
      const float want = a.params[t.offset + i];
      const float got = b.params[t.offset + i];
      // Tensors in the BF16 shard come back rounded; the F32 shard exactly.
      ASSERT_TRUE(got == want || got == bf16_to_float(float_to_bf16(want))) << t.name << "[" << i << "]";
    }
  }
  // An index that places a tensor in the wrong shard is named.
  index["weight_map"]["transformer.wte.weight"] = "model-00002-of-00002.safetensors";
  std::ofstream(path("sharded/model.safetensors.index.json"), std::ios::trunc) << index.dump();
  try {
    import_hf(path("sharded"));
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("has no tensor 'transformer.wte.weight'"), std::string::npos) << e.what();
  }
}

void expect_input_error(const std::function<void()>& f, const std::string& expect) {
  try {
    f();
    ADD_FAILURE() << "no error, expected: " << expect;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
  }
}

TEST_F(HfIoTest, BadDirectoriesAndFilesAreNamed) {
  expect_input_error([&] { import_hf(path("missing")); }, "not a directory");
  fs::create_directories(path("empty"));
  expect_input_error([&] { import_hf(path("empty")); }, "config.json: cannot open");
  fs::copy_file(kHf + "llama_gqa/config.json", path("empty/config.json"));
  expect_input_error([&] { import_hf(path("empty")); }, "no model.safetensors or model.safetensors.index.json");
  // A config.json that describes a bigger model than the weights hold is refused before allocating.
  fs::create_directories(path("big"));
  fs::copy_file(kHf + "llama_gqa/model.safetensors", path("big/model.safetensors"));
  {
    nlohmann::json cfg = nlohmann::json::parse(std::ifstream(kHf + "llama_gqa/config.json"));
    cfg["hidden_size"] = 65536;
    cfg["num_hidden_layers"] = 1024;
    std::ofstream(path("big/config.json")) << cfg.dump();
  }
  expect_input_error([&] { import_hf(path("big")); }, "config.json implies");
  // A truncated safetensors file: the offsets point past the end.
  const std::vector<uint8_t> full = [] {
    std::ifstream f(kHf + "llama_gqa/model.safetensors", std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
  }();
  std::ofstream(path("empty/model.safetensors"), std::ios::binary)
      .write(reinterpret_cast<const char*>(full.data()), full.size() / 2);
  expect_input_error([&] { import_hf(path("empty")); }, "outside the");
  // A header length beyond the 100 MB bound, in a file that is large enough for it to be tempting.
  {
    std::ofstream f(path("huge.safetensors"), std::ios::binary);
    const uint64_t n = (100u << 20) + 1;
    f.write(reinterpret_cast<const char*>(&n), 8);
    f.seekp(8 + n + 16);
    f.put(0);
  }
  expect_input_error([&] { SafetensorsFile f(path("huge.safetensors")); }, "exceeds the 104857600-byte limit");
  // Export refuses to write into a non-empty directory and leaves no temporary directory behind.
  const ImportedModel a = import_hf(kHf + "gpt2_tiny");
  fs::create_directories(path("full"));
  std::ofstream(path("full/x")) << "x";
  expect_input_error([&] { export_hf(path("full"), a.config, a.params.data(), "fp32", ""); }, "not an empty directory");
  expect_input_error([&] { export_hf(path("out"), a.config, a.params.data(), "fp8", ""); }, "--dtype 'fp8'");
  for (const auto& e : fs::directory_iterator(scratch_.dir()))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
}

TEST_F(HfIoTest, TokenizerFilesAreCopied) {
  const ImportedModel a = import_hf(kHf + "gpt2_tiny");
  fs::create_directories(path("tok"));
  std::ofstream(path("tok/tokenizer.json")) << "{}";
  std::ofstream(path("tok/tokenizer_config.json")) << "{}";
  const std::vector<std::string> copied = export_hf(path("out"), a.config, a.params.data(), "fp32", path("tok"));
  EXPECT_EQ(copied, (std::vector<std::string>{"tokenizer.json", "tokenizer_config.json"}));
  EXPECT_TRUE(fs::exists(path("out/tokenizer.json")));
}

}  // namespace
}  // namespace align
