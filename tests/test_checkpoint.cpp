// test_checkpoint.cpp: model.bin round trips and every kind of bad file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/bf16.hpp"
#include "common/error.hpp"
#include "common/file_io.hpp"
#include "model/checkpoint.hpp"
#include "model/init.hpp"
#include "model/tensor_table.hpp"
#include "scratch_dir.hpp"
#include "test_util.hpp"

namespace align {
namespace {

namespace fs = std::filesystem;

class CheckpointTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return scratch_.path(name); }
  test::ScratchDir scratch_{"ckpt"};
};

std::vector<float> random_params(const ModelConfig& c, uint64_t seed) {
  std::vector<float> p(TensorTable(c).total_size());
  test::fill_random_params(c, p.data(), seed);
  return p;
}

TEST_F(CheckpointTest, Fp32RoundTripIsBitIdentical) {
  for (const auto& nc : test::tiny_configs()) {
    const std::vector<float> p = random_params(nc.config, 11);
    save_model(path("m.bin"), nc.config, p.data(), DType::F32);
    const LoadedModel m = load_model(path("m.bin"));
    EXPECT_EQ(m.info.config, nc.config) << nc.name;
    EXPECT_EQ(m.info.dtype, DType::F32);
    ASSERT_EQ(m.params.size(), p.size());
    EXPECT_EQ(std::memcmp(m.params.data(), p.data(), 4 * p.size()), 0) << nc.name;
    // Saving what was loaded gives the same bytes.
    save_model(path("m2.bin"), m.info.config, m.params.data(), DType::F32);
    EXPECT_EQ(read_file_bytes(path("m.bin")), read_file_bytes(path("m2.bin")));
  }
}

TEST_F(CheckpointTest, Bf16StoresRoundedValuesAndRoundTripsExactly) {
  const ModelConfig c = test::tiny_configs()[2].config;
  const std::vector<float> p = random_params(c, 12);
  save_model(path("b.bin"), c, p.data(), DType::BF16);
  EXPECT_EQ(file_size(path("b.bin")), kModelHeaderBytes + 2 * p.size());
  const LoadedModel m = load_model(path("b.bin"));
  EXPECT_EQ(m.info.dtype, DType::BF16);
  for (size_t i = 0; i < p.size(); i++) {
    ASSERT_EQ(m.params[i], bf16_to_float(float_to_bf16(p[i]))) << i;
    // bf16 keeps 8 significant bits: relative rounding error at most 2^-9.
    ASSERT_LE(std::abs(m.params[i] - p[i]), std::ldexp(std::abs(p[i]), -8)) << i;
  }
  save_model(path("b2.bin"), c, m.params.data(), DType::BF16);
  EXPECT_EQ(read_file_bytes(path("b.bin")), read_file_bytes(path("b2.bin")));
}

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1.0078125: ties to even (1.0).
  EXPECT_EQ(float_to_bf16(1.00390625f), 0x3f80);
  // 1 + 3·2^-8 is halfway between 1.0078125 (odd) and 1.015625 (even): rounds up.
  EXPECT_EQ(float_to_bf16(1.01171875f), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::nanf("")))));
  EXPECT_EQ(fp16_to_float(0x3c00), 1.0f);
  EXPECT_EQ(fp16_to_float(0xc000), -2.0f);
  EXPECT_EQ(fp16_to_float(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
}

// Writes a good file, applies `spoil` to its bytes, and expects load_model to
// throw InputError whose message starts with the path and contains `expect`.
void expect_bad(const std::string& file, const std::function<void(std::vector<uint8_t>&)>& spoil,
                const std::string& expect) {
  const ModelConfig c = test::tiny_configs()[0].config;
  const std::vector<float> p = random_params(c, 13);
  save_model(file, c, p.data(), DType::F32);
  std::vector<uint8_t> bytes = read_file_bytes(file);
  spoil(bytes);
  std::ofstream(file, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  try {
    load_model(file);
    ADD_FAILURE() << "no error for " << expect;
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(file + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(expect), std::string::npos) << "expected '" << expect << "' in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
  }
}

void put_u32(std::vector<uint8_t>& b, size_t off, uint32_t v) { std::memcpy(b.data() + off, &v, 4); }

TEST_F(CheckpointTest, BadFilesGiveOneClearLine) {
  const std::string f = path("bad.bin");
  expect_bad(f, [](auto& b) { b.resize(b.size() - 4); }, "(truncated)");
  expect_bad(f, [](auto& b) { b.resize(100); }, "shorter than the 256-byte header");
  expect_bad(f, [](auto& b) { b.push_back(0); }, "(trailing bytes)");
  expect_bad(f, [](auto& b) { std::memcpy(b.data(), "GPT2MODL", 8); }, "magic is 'GPT2MODL'");
  expect_bad(f, [](auto& b) { put_u32(b, 8, 2); }, "format version 2, this build reads version 1");
  expect_bad(f, [](auto& b) { put_u32(b, 32, 0); }, "field n_head = 0");           // n_head
  expect_bad(f, [](auto& b) { put_u32(b, 36, 3); }, "field n_kv_head = 3");        // kv heads > heads
  expect_bad(f, [](auto& b) { put_u32(b, 28, 3); }, "field num_elements");         // 3 layers: table size differs
  expect_bad(f, [](auto& b) { put_u32(b, 64, 7); }, "field tied_head = 7");
  expect_bad(f, [](auto& b) { put_u32(b, 92, 5); }, "field dtype = 5");
  expect_bad(f, [](auto& b) { b[200] = 1; }, "reserved header byte 200");
  expect_bad(f, [](auto& b) { b[kModelHeaderBytes + 17] ^= 0x40; }, "checksum");
  expect_bad(f, [](auto& b) { b.clear(); }, "0 bytes");
  // Nothing but the test's own files is left behind (no temporary files).
  for (const auto& e : fs::directory_iterator(scratch_.dir())) EXPECT_EQ(e.path().filename(), "bad.bin");
}

TEST_F(CheckpointTest, MissingFileIsNamed) {
  try {
    load_model(path("nope.bin"));
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("nope.bin: cannot open"), std::string::npos) << e.what();
  }
}

TEST_F(CheckpointTest, FailedSaveLeavesNoPartialFile) {
  ModelConfig c = test::tiny_configs()[0].config;
  const std::vector<float> p = random_params(c, 14);
  EXPECT_THROW(save_model(path("nodir/m.bin"), c, p.data(), DType::F32), InputError);
  c.n_head = 0;
  EXPECT_THROW(save_model(path("m.bin"), c, p.data(), DType::F32), InputError);
  EXPECT_TRUE(fs::is_empty(scratch_.dir()));
}

TEST(InitParams, DeterministicAndShaped) {
  const ModelConfig c = test::tiny_configs()[0].config;
  const TensorTable t(c);
  std::vector<float> a(t.total_size()), b(t.total_size());
  init_params(c, a.data(), 1);
  init_params(c, b.data(), 1);
  EXPECT_EQ(a, b);
  init_params(c, b.data(), 2);
  EXPECT_NE(a, b);
  const TensorSpec& ln = t.at(tensor_names::layer(0, tensor_names::kAttnNormW));
  for (size_t i = 0; i < ln.numel; i++) EXPECT_EQ(a[ln.offset + i], 1.f);
  const TensorSpec& e = t.at(tensor_names::kTokEmbed);
  for (size_t i = (size_t)c.vocab_size * c.n_embd; i < e.numel; i++) EXPECT_EQ(a[e.offset + i], 0.f) << "padded row";
  double ss = 0;
  for (size_t i = 0; i < (size_t)c.vocab_size * c.n_embd; i++) ss += a[e.offset + i] * a[e.offset + i];
  EXPECT_NEAR(std::sqrt(ss / (c.vocab_size * c.n_embd)), 0.02, 0.002);  // 592 samples: std error ~3%
}

// Weights that would turn every forward into NaN, or padded vocabulary rows that are not zero (their
// logits would compete with real tokens), are refused at load with the tensor and index; before,
// every tool loaded them (sample, eval_pairs, export_hf and inspect exited 0).
TEST_F(CheckpointTest, NonFiniteWeightsAndNonzeroPaddedRowsAreRefusedWithTheirPlace) {
  const ModelConfig c = ModelConfig::llama(37, 1, 2, 1, 8, 16, 8, /*tied=*/false);  // Vp = 128 > V = 37
  const TensorTable table(c);
  const std::vector<float> good = random_params(c, 5);
  save_model(path("good.bin"), c, good.data(), DType::F32);
  EXPECT_NO_THROW(load_model(path("good.bin")));
  struct Case {
    const char* tensor;
    size_t index;
    float value;
    std::string expect;
  };
  const float nan = std::nanf(""), inf = INFINITY;
  const std::vector<Case> cases = {
      {tensor_names::kTokEmbed, 3 * 8 + 2, nan, "tensor 'tok_embed.weight' element 26 (row 3, column 2) is nan"},
      {"layers.0.mlp.out.weight", 5, -inf, "tensor 'layers.0.mlp.out.weight' element 5 (row 0, column 5) is -inf"},
      {tensor_names::kFinalNormW, 7, inf, "tensor 'final_norm.weight' element 7 is inf"},
      {tensor_names::kTokEmbed, 40 * 8 + 1, 0.25f,
       "tensor 'tok_embed.weight' element 321 (row 40, column 1) is 0.25 in a padded vocabulary row (rows 37..127"},
      {tensor_names::kLmHead, 127 * 8 + 7, nan, "tensor 'lm_head.weight' element 1023 (row 127, column 7) is nan"},
  };
  for (const Case& k : cases) {
    std::vector<float> p = good;
    p[table.at(k.tensor).offset + k.index] = k.value;
    for (const DType dt : {DType::F32, DType::BF16}) {
      save_model(path("bad.bin"), c, p.data(), dt);
      try {
        load_model(path("bad.bin"));
        ADD_FAILURE() << k.expect;
      } catch (const InputError& e) {
        EXPECT_EQ(std::string(e.what()).rfind(path("bad.bin") + ": " + k.expect, 0), 0u) << e.what();
      }
      // Allowed explicitly (inspect --allow-bad-weights), the values arrive as stored.
      const LoadedModel m = load_model(path("bad.bin"), BadWeights::Allow);
      EXPECT_FALSE(find_bad_weight(c, m.params.data()).empty());
    }
  }
}

}  // namespace
}  // namespace align
