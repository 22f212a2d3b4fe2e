// test_prepare_pairs.cpp: preference data preparation against TRL's own
// (tests/data/pairs/, from dev/reference/make_pairs_golden.py: TRL main's
// DPOTrainer._prepare_dataset with transformers' apply_chat_template), the
// pairs.bin round trip, truncation, and bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/file_io.hpp"
#include "data/pairs_file.hpp"
#include "data/prepare_pairs.hpp"

namespace align::data {
namespace {

namespace fs = std::filesystem;
const std::string kDir = std::string(ALIGN_TEST_DATA) + "/pairs/";

class PairsGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(PairsGolden, MatchesTrlTokenForToken) {
  const TokenizerDir td = load_tokenizer_dir(kDir + GetParam());
  const nlohmann::json expected = nlohmann::json::parse(std::ifstream(kDir + GetParam() + "/expected.json"));
  ASSERT_TRUE(td.chat_template) << td.chat_template_error;
  // The directory's own template is executed; for the built-in families it is their canonical text.
  if (const char* builtin = builtin_chat_template_source(expected["template"].get<std::string>())) {
    EXPECT_EQ(td.chat_template->source(), builtin);
  }
  std::ifstream in(kDir + GetParam() + "/input.jsonl");
  PrepareOptions opt;
  opt.max_length = 0;  // TRL's golden ran without truncation
  opt.chat_date = parse_chat_date(expected["chat_date"].get<std::string>(), "chat_date");
  size_t n = 0;
  for (std::string line; std::getline(in, line); n++) {
    PrepareStats st;
    const std::optional<PairRecord> p = tokenize_preference(parse_preference(nlohmann::json::parse(line)), td, opt, st);
    ASSERT_TRUE(p.has_value()) << "line " << n;
    const auto& e = expected["pairs"][n];
    std::vector<uint32_t> prompt = e["prompt_ids"].get<std::vector<uint32_t>>();
    // The one deliberate difference: a prompt whose text starts with the BOS text gets BOS twice
    // in TRL (text BOS + the tokenizer's); align.cu keeps one and counts it.
    if (td.bos_id && prompt.size() >= 2 && prompt[0] == (uint32_t)*td.bos_id && prompt[1] == prompt[0]) {
      prompt.erase(prompt.begin());
      EXPECT_EQ(st.bos_deduplicated, 3u) << "prompt, prompt+chosen, prompt+rejected";
    }
    EXPECT_EQ(p->prompt, prompt) << GetParam() << " line " << n << ": " << line;
    EXPECT_EQ(p->chosen, e["chosen_ids"].get<std::vector<uint32_t>>()) << GetParam() << " line " << n;
    EXPECT_EQ(p->rejected, e["rejected_ids"].get<std::vector<uint32_t>>()) << GetParam() << " line " << n;
  }
  EXPECT_EQ(n, expected["pairs"].size());
}

INSTANTIATE_TEST_SUITE_P(Setups, PairsGolden,
                         ::testing::Values("llama3_tok_llama3", "gpt2_tok_chatml", "spm_tok_zephyr", "spm_tok_plain",
                                           "llama3_tok_llama3.2"));

// The implicit prompt of string pairs is TRL's extract_prompt, by code points: a difference inside a
// multi-byte character, a space before it, no difference at all (tests/data/pairs/extract_prompt.json,
// from TRL by make_pairs_golden.py). The line's object is consumed (its strings moved out) or copied.
TEST(PreparePairs, ImplicitPromptOfStringsIsTrls) {
  const nlohmann::json rows = nlohmann::json::parse(std::ifstream(kDir + "extract_prompt.json"));
  ASSERT_GE(rows.size(), 10u);
  for (const auto& r : rows) {
    SCOPED_TRACE(r["chosen"].get<std::string>() + " / " + r["rejected"].get<std::string>());
    const nlohmann::json line = {{"chosen", r["chosen"]}, {"rejected", r["rejected"]}};
    for (const ParsedExample& ex : {parse_preference(line), parse_preference(nlohmann::json(line))}) {
      EXPECT_TRUE(ex.implicit_prompt);
      EXPECT_EQ(ex.prompt, r["expected_prompt"].get<std::string>());
      EXPECT_EQ(ex.chosen, r["expected_chosen"].get<std::string>());
      EXPECT_EQ(ex.rejected, r["expected_rejected"].get<std::string>());
    }
  }
}

TEST(PreparePairs, TruncationKeepsTheRightEnds) {
  const TokenizerDir td = load_tokenizer_dir(kDir + "gpt2_tok_chatml");
  const ParsedExample ex =
      parse_preference(nlohmann::json::parse(R"({"prompt": "one two three four five six", "chosen": " a b c d e f g h",
                                                 "rejected": " z"})"));
  PrepareOptions opt;
  opt.max_length = 0;
  PrepareStats st;
  const PairRecord full = *tokenize_preference(ex, td, opt, st);
  ASSERT_GT(full.prompt.size(), 4u);
  ASSERT_GT(full.chosen.size(), 6u);
  opt.max_length = (int)full.prompt.size() + 3;  // keep_start: prompt whole, completions cut to 3
  const PairRecord ks = *tokenize_preference(ex, td, opt, st);
  EXPECT_EQ(ks.prompt, full.prompt);
  EXPECT_EQ(ks.chosen, std::vector<uint32_t>(full.chosen.begin(), full.chosen.begin() + 3));
  EXPECT_EQ(ks.rejected, full.rejected);  // already short
  opt.truncation = Truncation::KeepEnd;
  opt.max_length = (int)full.chosen.size() + 2;  // keep_end: chosen whole, 2 prompt tokens from its end
  const PairRecord ke = *tokenize_preference(ex, td, opt, st);
  EXPECT_EQ(ke.chosen, full.chosen);
  EXPECT_EQ(ke.prompt, std::vector<uint32_t>(full.prompt.end() - 2, full.prompt.end()));
  opt.truncation = Truncation::KeepStart;
  opt.max_length = (int)full.prompt.size();  // the prompt fills max_length: dropped, counted
  PrepareStats dropped;
  EXPECT_FALSE(tokenize_preference(ex, td, opt, dropped).has_value());
  EXPECT_EQ(dropped.dropped_prompt_fills_max_length, 1u);
  opt.max_length = 0;
  opt.max_prompt_length = 2;  // keeps the prompt's end
  const PairRecord mp = *tokenize_preference(ex, td, opt, st);
  EXPECT_EQ(mp.prompt, std::vector<uint32_t>(full.prompt.end() - 2, full.prompt.end()));
}

TEST(PreparePairs, MalformedExamplesAreExplained) {
  auto expect = [](const std::string& line, const std::string& msg) {
    try {
      parse_preference(nlohmann::json::parse(line));
      ADD_FAILURE() << "no error for " << line;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(msg), std::string::npos) << e.what();
    }
  };
  expect(R"({"prompt": "p", "rejected": "r"})", "missing field 'chosen'");
  expect(R"({"prompt": "p", "chosen": 3, "rejected": "r"})", "field 'chosen' is a number, expected a string");
  expect(R"({"prompt": "p", "chosen": "c", "rejected": [{"role": "assistant", "content": "r"}]})", "mix a string");
  expect(R"({"prompt": "p", "chosen": "", "rejected": "r"})", "field 'chosen' is an empty string");
  expect(R"({"prompt": [{"role": "user"}], "chosen": [{"role": "assistant", "content": "c"}],
             "rejected": [{"role": "assistant", "content": "r"}]})", "field 'prompt' message 0 has no string 'content'");
  expect(R"({"prompt": 5, "chosen": "c", "rejected": "r"})", "field 'prompt' is a number");
  expect(R"([1, 2])", "expected an object");
  expect(R"({"chosen": "", "rejected": ""})", "must not be empty");
  const TokenizerDir td = load_tokenizer_dir(std::string(ALIGN_TEST_DATA) + "/tokenizers/gpt2_style");
  PrepareStats st;
  try {
    tokenize_preference(parse_preference(nlohmann::json::parse(
                            R"({"prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": "c"}],
                                "rejected": [{"role": "assistant", "content": "r"}]})")),
                        td, PrepareOptions{}, st);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("needs a chat template"), std::string::npos) << e.what();
  }
}

class PairsFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (fs::temp_directory_path() / ("align_pairs_" + std::to_string(::getpid()) + ".bin")).string();
  }
  void TearDown() override { fs::remove(path_); }
  std::string path_;
};

TEST_F(PairsFileTest, RoundTripAndReferenceStore) {
  std::vector<PairRecord> pairs = {{{1, 2, 3}, {4, 5}, {6}}, {{}, {7}, {8, 9, 10, 11}}, {{12}, {13}, {14}}};
  write_pairs(path_, PairsMeta{100, 5, 0xabcdef, 20260307}, pairs);
  {
    const PairsFile f(path_);
    EXPECT_EQ(f.meta().chat_date, 20260307u);
    EXPECT_EQ(f.size(), 3u);
    EXPECT_EQ(f.meta().vocab_size, 100u);
    EXPECT_EQ(f.meta().eos_id, 5);
    EXPECT_EQ(f.meta().tokenizer_fingerprint, 0xabcdefu);
    EXPECT_EQ(f.num_tokens(), 14u);
    for (size_t i = 0; i < pairs.size(); i++) {
      const PairsFile::View v = f.get(i);
      EXPECT_EQ(std::vector<uint32_t>(v.prompt.begin(), v.prompt.end()), pairs[i].prompt);
      EXPECT_EQ(std::vector<uint32_t>(v.chosen.begin(), v.chosen.end()), pairs[i].chosen);
      EXPECT_EQ(std::vector<uint32_t>(v.rejected.begin(), v.rejected.end()), pairs[i].rejected);
      EXPECT_FALSE(f.reference(i).has_value());
    }
  }
  PairsFile::store_reference(path_, 0x1234, {{-1.5, -2.5}, {-3.0, -4.0}, {-0.5, -0.25}});
  const PairsFile f(path_);
  EXPECT_EQ(f.reference_fingerprint(), 0x1234u);
  EXPECT_EQ(*f.reference(1), std::make_pair(-3.0, -4.0));
}

TEST_F(PairsFileTest, CorruptedFilesNameTheProblem) {
  write_pairs(path_, PairsMeta{100, -1, 7}, {{{1, 2}, {3}, {4}}, {{5}, {6, 7}, {8}}});
  const std::vector<uint8_t> good = read_file_bytes(path_);
  auto expect = [&](const std::function<void(std::vector<uint8_t>&)>& spoil, const std::string& msg) {
    std::vector<uint8_t> b = good;
    spoil(b);
    std::ofstream(path_, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(b.data()), b.size());
    try {
      PairsFile f(path_);
      ADD_FAILURE() << "no error for " << msg;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(msg), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).rfind(path_ + ": ", 0), 0u) << e.what();
    }
  };
  const size_t data = 128 + 8 * 3;
  expect([](auto& b) { b.resize(b.size() - 1); }, "(truncated)");
  expect([](auto& b) { b.resize(50); }, "shorter than the 128-byte header");
  expect([](auto& b) { std::memcpy(b.data(), "NOTPAIRS", 8); }, "magic is 'NOTPAIRS'");
  expect([](auto& b) { b[8] = 3; }, "format version 3");
  expect([&](auto& b) { b[data + 12 + 4 * 1] = 200; }, "record 0: token id 200 in the prompt, expected < 100");
  expect([&](auto& b) { b[data + 28 + 12 + 4 * 2] = 100; }, "record 1: token id 100 in the chosen");
  expect([&](auto& b) { b[data + 0] = 3; }, "record 0: lengths 3+1+1 do not fill");
  expect([&](auto& b) { b[128 + 8] = 27; }, "record 0: lengths 2+1+1 do not fill its 27 bytes");
  expect([](auto& b) { b[32] = 200; }, "too short for the 200 pairs of its header");
  expect([](auto& b) { b[32] = 3; }, "section offsets");
  expect([](auto& b) { b[80] = 0x55; }, "field chat_date = 85, expected 0 (not recorded) or a date as YYYYMMDD");
  expect([](auto& b) { b[84] = 1; }, "reserved header byte 84");
}

// Files written before the chat_date field (zeros at offset 80) stay readable: "not recorded".
TEST_F(PairsFileTest, FilesWithoutAChatDateStayReadable) {
  write_pairs(path_, PairsMeta{100, -1, 7}, {{{1}, {2}, {3}}});
  std::vector<uint8_t> b = read_file_bytes(path_);
  for (size_t i = 80; i < 128; i++) EXPECT_EQ(b[i], 0) << i;
  EXPECT_EQ(PairsFile(path_).meta().chat_date, 0u);
}

// Every real chat template of tests/data/chat_templates/ (`--chat-template FILE`) on the conversational
// rows: TRL's prompt/chosen/rejected ids, or the template's own refusal (Gemma 2 and Mistral v0.2 reject
// system messages) as an error (tests/data/pairs/real_templates.json, make_pairs_golden.py).
TEST(PreparePairs, EveryRealTemplateMatchesTrl) {
  const nlohmann::json golden = nlohmann::json::parse(std::ifstream(kDir + "real_templates.json"));
  const TokenizerDir td = load_tokenizer_dir(kDir + golden["tokenizer"].get<std::string>());
  ASSERT_GE(golden["templates"].size(), 15u);
  size_t compared = 0, refused = 0;
  for (auto it = golden["templates"].begin(); it != golden["templates"].end(); ++it) {
    PrepareOptions opt;
    opt.max_length = 0;
    opt.chat_date = parse_chat_date(golden["chat_date"].get<std::string>(), "chat_date");
    opt.chat_template = load_chat_template(std::string(ALIGN_TEST_DATA) + "/chat_templates/" + it.key());
    for (size_t r = 0; r < golden["rows"].size(); r++) {
      SCOPED_TRACE(it.key() + " row " + std::to_string(r));
      const auto& e = it.value()[r];
      PrepareStats st;
      const ParsedExample ex = parse_preference(golden["rows"][r]);
      if (e.contains("error")) {
        EXPECT_THROW(tokenize_preference(ex, td, opt, st), InputError) << e["error"];
        refused++;
        continue;
      }
      const std::optional<PairRecord> p = tokenize_preference(ex, td, opt, st);
      ASSERT_TRUE(p.has_value());
      EXPECT_EQ(p->prompt, e["prompt_ids"].get<std::vector<uint32_t>>());
      EXPECT_EQ(p->chosen, e["chosen_ids"].get<std::vector<uint32_t>>());
      EXPECT_EQ(p->rejected, e["rejected_ids"].get<std::vector<uint32_t>>());
      compared++;
    }
  }
  EXPECT_GE(compared, 80u);
  EXPECT_EQ(refused, 4u);
}

// The real Llama 3.2 template always writes its system block with the date: the prompt carries it.
TEST(PreparePairs, RealLlama32TemplateWritesItsDateBlock) {
  const TokenizerDir td = load_tokenizer_dir(kDir + "llama3_tok_llama3.2");
  PrepareOptions opt;
  opt.chat_date = ChatDate{2026, 3, 7};
  PrepareStats st;
  const auto p = tokenize_preference(
      parse_preference(nlohmann::json::parse(
          R"({"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "Yo"}], "rejected": [{"role": "assistant", "content": "No"}]})")),
      td, opt, st);
  ASSERT_TRUE(p.has_value());
  std::vector<int32_t> prompt(p->prompt.begin(), p->prompt.end());
  const std::string text = td.tokenizer.decode(prompt);
  EXPECT_NE(text.find("Cutting Knowledge Date: December 2023\nToday Date: 07 Mar 2026"), std::string::npos) << text;
}

}  // namespace
}  // namespace align::data
