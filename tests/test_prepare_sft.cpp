// test_prepare_sft.cpp: SFT preparation: which tokens are trained on, checked by
// decoding the trained spans back to the text they must be; sft.bin round trip
// and corruption.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/file_io.hpp"
#include "data/prepare_sft.hpp"

namespace align::data {
namespace {

const std::string kTok = std::string(ALIGN_TEST_DATA) + "/pairs/llama3_tok_llama3";

// The text of the trained tokens, span by span ("|" between spans).
std::string trained_text(const TokenizerDir& td, const SftRecord& r) {
  std::string out;
  std::vector<int32_t> span;
  for (size_t i = 0; i <= r.ids.size(); i++) {
    if (i < r.ids.size() && r.loss_mask[i]) {
      span.push_back((int32_t)r.ids[i]);
    } else if (!span.empty()) {
      out += (out.empty() ? "" : "|") + td.tokenizer.decode(span);
      span.clear();
    }
  }
  return out;
}

TEST(PrepareSft, PromptCompletionTrainsOnTheCompletionAndEos) {
  const TokenizerDir td = load_tokenizer_dir(kTok);
  SftStats st;
  const auto r = tokenize_sft(nlohmann::json{{"prompt", "What is 2+2?"}, {"completion", " Four."}}, td, {}, st);
  ASSERT_TRUE(r);
  EXPECT_EQ(trained_text(td, *r), " Four.<|eot_id|>");
  EXPECT_EQ(r->ids[0], (uint32_t)*td.bos_id);
  EXPECT_EQ(r->ids.back(), (uint32_t)*td.eos_id);
  EXPECT_EQ(st.eos_appended, 1u);
}

TEST(PrepareSft, MessagesTrainOnEveryAssistantTurnOnly) {
  const TokenizerDir td = load_tokenizer_dir(kTok);
  SftStats st;
  const nlohmann::json j = {{"messages", {{{"role", "system"}, {"content", "Be brief."}},
                                         {{"role", "user"}, {"content", "Sky colour?"}},
                                         {{"role", "assistant"}, {"content", "Blue."}},
                                         {{"role", "user"}, {"content", "Grass?"}},
                                         {{"role", "assistant"}, {"content", "Green."}}}}};
  const auto r = tokenize_sft(j, td, {}, st);
  ASSERT_TRUE(r);
  EXPECT_EQ(trained_text(td, *r), "Blue.<|eot_id|>|Green.<|eot_id|>");
  EXPECT_EQ(st.boundary_mismatches, 0u);
  // The whole sequence is the template's rendering, BOS once.
  std::vector<int32_t> all(r->ids.begin(), r->ids.end());
  EXPECT_EQ(td.tokenizer.decode(all).rfind("<|begin_of_text|><|start_header_id|>system", 0), 0u);
}

TEST(PrepareSft, ConversationalPromptCompletionAndText) {
  const TokenizerDir td = load_tokenizer_dir(kTok);
  SftStats st;
  const nlohmann::json pc = {{"prompt", {{{"role", "user"}, {"content", "Hi"}}}},
                             {"completion", {{{"role", "assistant"}, {"content", "Hello!"}}}}};
  EXPECT_EQ(trained_text(td, *tokenize_sft(pc, td, {}, st)), "Hello!<|eot_id|>");
  const auto t = tokenize_sft(nlohmann::json{{"text", "Plain document."}}, td, {}, st);
  EXPECT_EQ(std::count(t->loss_mask.begin(), t->loss_mask.end(), 1), (long)t->ids.size());
}

TEST(PrepareSft, TruncationAndDrops) {
  const TokenizerDir td = load_tokenizer_dir(kTok);
  SftOptions opt;
  SftStats st;
  const nlohmann::json j = {{"prompt", "one two three four five six seven"}, {"completion", " eight nine"}};
  const auto full = tokenize_sft(j, td, {}, st);
  opt.max_length = 3;  // keep_start: only prompt tokens remain -> nothing to train on
  EXPECT_FALSE(tokenize_sft(j, td, opt, st).has_value());
  EXPECT_EQ(st.dropped_no_trained_tokens, 1u);
  opt.truncation = Truncation::KeepEnd;  // keep_end: the last 3 tokens, all completion
  const auto end = tokenize_sft(j, td, opt, st);
  ASSERT_TRUE(end);
  EXPECT_EQ(end->ids, std::vector<uint32_t>(full->ids.end() - 3, full->ids.end()));
  EXPECT_EQ(end->loss_mask, std::vector<uint8_t>(3, 1));
}

TEST(PrepareSft, MalformedLinesAreExplained) {
  const TokenizerDir td = load_tokenizer_dir(kTok);
  auto expect = [&](const nlohmann::json& j, const std::string& msg) {
    SftStats st;
    try {
      tokenize_sft(j, td, {}, st);
      ADD_FAILURE() << "no error for " << j.dump();
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(msg), std::string::npos) << e.what();
    }
  };
  expect({{"prompt", "p"}}, "expected 'prompt' and 'completion', 'messages', or 'text'");
  expect({{"prompt", "p"}, {"completion", 4}}, "field 'completion' is a number, expected a string");
  expect({{"messages", nlohmann::json::array()}}, "field 'messages' is an empty list");
  expect({{"messages", {{{"role", "user"}}}}}, "message 0 needs string 'role' and 'content'");
  expect({{"text", ""}}, "field 'text' is an empty string");
}

TEST(SftFile, RoundTripAndCorruption) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("align_sft_" + std::to_string(::getpid()) + ".bin")).string();
  const std::vector<SftRecord> recs = {{{1, 2, 3}, {0, 1, 1}}, {{4, 5, 6, 7, 8}, {1, 1, 1, 1, 1}}};
  write_sft(path, SftMeta{10, 2, 99, SftKind::Stream, 20240229}, recs);
  {
    const SftFile f(path);
    EXPECT_EQ(f.size(), 2u);
    EXPECT_EQ(f.meta().kind, SftKind::Stream);
    EXPECT_EQ(f.meta().chat_date, 20240229u);
    EXPECT_EQ(f.num_trained_tokens(), 7u);
    const auto v = f.get(1);
    EXPECT_EQ(std::vector<uint32_t>(v.ids.begin(), v.ids.end()), recs[1].ids);
    EXPECT_EQ(std::vector<uint8_t>(v.loss_mask.begin(), v.loss_mask.end()), recs[1].loss_mask);
  }
  const std::vector<uint8_t> good = read_file_bytes(path);
  auto expect = [&](const std::function<void(std::vector<uint8_t>&)>& spoil, const std::string& msg) {
    std::vector<uint8_t> b = good;
    spoil(b);
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(b.data()), b.size());
    try {
      SftFile f(path);
      ADD_FAILURE() << "no error for " << msg;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(msg), std::string::npos) << e.what();
    }
  };
  const size_t data = 128 + 8 * 3;
  expect([](auto& b) { b.resize(b.size() - 4); }, "(truncated)");
  expect([](auto& b) { std::memcpy(b.data(), "ALIGNPRS", 8); }, "expected 'ALIGNSFT'");
  expect([&](auto& b) { b[data + 4] = 11; }, "record 0: token id 11 at position 0, expected < 10");
  expect([&](auto& b) { b[data + 16] = 2; }, "record 0: loss mask 2 at position 0");
  expect([](auto& b) { b[32] = 5; }, "field kind = 5");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace align::data
