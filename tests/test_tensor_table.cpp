// test_tensor_table.cpp: the tensor table's counts, alignment and views.
// Parameter counts are checked against published figures of real models.
#include <gtest/gtest.h>

#include <set>

#include "model/model_view.hpp"
#include "model/tensor_table.hpp"
#include "test_util.hpp"

namespace align {
namespace {

TEST(TensorTable, Gpt2SmallCountMatchesPublishedFigure) {
  // GPT-2 124M: 124,439,808 parameters with V = 50257 (Hugging Face), and
  // 124,475,904 with the vocabulary padded to 50304 (llm.c's figure).
  const ModelConfig c = ModelConfig::gpt2(50257, 12, 12, 768, 1024);
  const TensorTable t(c);
  EXPECT_EQ(t.num_parameters(), 124475904u);
  EXPECT_EQ(t.num_parameters() - (size_t)(c.padded_vocab_size - c.vocab_size) * c.n_embd, 124439808u);
  EXPECT_EQ(t.tensors().size(), 2u + 12u * 12u + 2u);
}

TEST(TensorTable, Llama32OneBCountMatchesPublishedFigure) {
  // Llama-3.2-1B: 1,235,814,400 parameters (tied head, GQA 32/8, F 8192).
  ModelConfig c = ModelConfig::llama(128256, 16, 32, 8, 2048, 8192, 131072, /*tied=*/true);
  EXPECT_EQ(TensorTable(c).num_parameters(), 1235814400u);
  c.tied_head = false;
  EXPECT_EQ(TensorTable(c).num_parameters(), 1235814400u + 128256u * 2048u);
}

TEST(TensorTable, OffsetsAlignedDisjointAndNamesUnique) {
  for (const auto& nc : test::tiny_configs()) {
    const TensorTable t(nc.config);
    std::set<std::string> names;
    size_t end = 0;
    for (const TensorSpec& s : t.tensors()) {
      EXPECT_EQ(s.offset % TensorTable::kAlign, 0u) << s.name;
      EXPECT_GE(s.offset, end) << s.name << " overlaps the previous tensor";
      end = s.offset + s.numel;
      EXPECT_TRUE(names.insert(s.name).second) << "duplicate " << s.name;
      EXPECT_EQ(s.decay, s.shape.size() == 2 && s.name != tensor_names::kTokEmbed && s.name != tensor_names::kPosEmbed)
          << s.name;
    }
    EXPECT_LE(end, t.total_size());
    EXPECT_EQ(t.total_size() % TensorTable::kAlign, 0u);
  }
}

// Data parallel reduces gradients slice by slice: every element must be in exactly one
// slice, and each tensor wholly inside the slice of its layer (or the tail / embeddings).
TEST(TensorTable, BackwardSlicesCoverTheBufferOnceInBackwardOrder) {
  for (const auto& nc : test::tiny_configs()) {
    const TensorTable t(nc.config);
    const std::vector<Slice> slices = t.backward_slices();
    const int L = nc.config.n_layer;
    ASSERT_EQ(slices.size(), (size_t)L + 2) << nc.name;
    std::vector<int> covered(t.total_size(), 0);
    for (const Slice& s : slices) {
      EXPECT_LT(s.begin, s.end) << nc.name;
      for (size_t i = s.begin; i < s.end; i++) covered[i]++;
    }
    for (size_t i = 0; i < covered.size(); i++) ASSERT_EQ(covered[i], 1) << nc.name << " element " << i;
    auto slice_of = [&](const TensorSpec& x) -> int {  // index in backward order
      if (x.name.rfind("layers.", 0) == 0) return L - std::stoi(x.name.substr(7));
      if (x.name == tensor_names::kTokEmbed || x.name == tensor_names::kPosEmbed) return L + 1;
      return 0;  // final norm, untied head
    };
    for (const TensorSpec& x : t.tensors()) {
      const Slice& s = slices[slice_of(x)];
      EXPECT_GE(x.offset, s.begin) << nc.name << " " << x.name;
      EXPECT_LE(x.offset + x.numel, s.end) << nc.name << " " << x.name;
    }
  }
}

TEST(TensorTable, ViewPointsAtTheNamedTensors) {
  for (const auto& nc : test::tiny_configs()) {
    const ModelConfig& c = nc.config;
    const TensorTable t(c);
    std::vector<float> buf(t.total_size());
    const ModelView<float> v = make_model_view(t, buf.data(), c);
    EXPECT_EQ(v.tok_embed, buf.data() + t.at(tensor_names::kTokEmbed).offset);
    EXPECT_EQ(v.lm_head, c.tied_head ? v.tok_embed : buf.data() + t.at(tensor_names::kLmHead).offset);
    EXPECT_EQ(v.pos_embed != nullptr, c.arch == Arch::GPT2);
    ASSERT_EQ(v.layers.size(), (size_t)c.n_layer);
    const TensorSpec& qkv = t.at(tensor_names::layer(1, tensor_names::kQkvW));
    EXPECT_EQ(v.layers[1].qkv_w, buf.data() + qkv.offset);
    EXPECT_EQ(qkv.shape, (std::vector<int64_t>{c.qkv_dim(), c.n_embd}));
    EXPECT_EQ(v.layers[0].qkv_b != nullptr, c.has_qkv_bias());
    EXPECT_EQ(v.layers[0].attn_norm_b != nullptr, c.arch == Arch::GPT2);
    EXPECT_EQ(t.at(tensor_names::layer(0, tensor_names::kMlpInW)).shape[0], c.mlp_in_dim());
  }
}

}  // namespace
}  // namespace align
