// test_pair_report.cpp: the preference-data report (src/data/pair_report.hpp).
//
// The golden: tests/data/report/{train,val}.jsonl hold every problem class the report counts, and
// expected.json is the report computed from TRL's own tokenization by an independent Python
// implementation (dev/reference/make_report_golden.py). The tools run as a user runs them
// (prepare_pairs, inspect --report), their JSON is compared field by field, and the pairs they write
// with the default flags are compared byte for byte with before_{a,b,c}{,.val}.bin, which prepare_pairs
// wrote at commit 0e95a5a, before the report existed:
//   before_a: -i train.jsonl --val-input val.jsonl --max-length 64 --skip-invalid
//   before_b: -i train.jsonl --val-fraction 0.25 --skip-invalid
//   before_c: -i train.jsonl --val-input val.jsonl --max-length 64 --truncation keep_end --skip-invalid
// (tokenizer tests/data/pairs/llama3_tok_llama3).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/file_io.hpp"
#include "data/pair_report.hpp"
#include "scratch_dir.hpp"

namespace align::data {
namespace {

// A pairs.bin with its chat_date header field (offset 80, u32; docs/formats.md) zeroed: the
// before_* files were written before the field existed, and a prepared file records the day it
// was made. Every other byte must be the same.
std::vector<uint8_t> without_chat_date(std::vector<uint8_t> bytes) {
  for (size_t i = 80; i < 84 && i < bytes.size(); i++) bytes[i] = 0;
  return bytes;
}

namespace fs = std::filesystem;
const std::string kReport = std::string(ALIGN_TEST_DATA) + "/report/";
const std::string kTok = std::string(ALIGN_TEST_DATA) + "/pairs/llama3_tok_llama3";

class ReportTool : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return scratch_.path(name); }
  // Runs a tool quietly; returns its exit status.
  int run(const std::string& cmd) const {
    const int rc = std::system((cmd + " >" + path("out.txt") + " 2>" + path("err.txt")).c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }
  int prepare(const std::string& out, const std::string& flags) const {
    return run(cat(ALIGN_PREPARE_PAIRS_BIN, " -i ", kReport, "train.jsonl -t ", kTok, " -o ", path(out), " ", flags));
  }
  nlohmann::json json(const std::string& name) const { return nlohmann::json::parse(std::ifstream(path(name))); }
  test::ScratchDir scratch_{"report"};
};

// Every field the reference has, equal in the tool's report. Doubles compare exactly: both sides
// compute each one as one division of exact integer sums (at most a few thousand tokens), and JSON
// carries doubles with round-trip precision.
void expect_contains(const nlohmann::json& expected, const nlohmann::json& got, const std::string& where) {
  if (expected.is_object()) {
    ASSERT_TRUE(got.is_object()) << where;
    for (const auto& [k, v] : expected.items()) {
      ASSERT_TRUE(got.contains(k)) << where << "/" << k << " missing";
      expect_contains(v, got[k], where + "/" + k);
    }
  } else {
    EXPECT_EQ(expected, got) << where;
  }
}

// The report without what names places (files, examples), which differ between prepare (input
// lines) and inspect (pair indices).
nlohmann::json without_places(const nlohmann::json& j) {
  if (!j.is_object()) return j;
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, v] : j.items())
    if (k != "example" && k != "first_seen" && k != "file" && k != "examples_in") out[k] = without_places(v);
  return out;
}

TEST_F(ReportTool, PrepareMatchesTheIndependentReferenceAndKeepsThePairs) {
  ASSERT_EQ(prepare("a.bin", cat("--val-input ", kReport, "val.jsonl --max-length 64 --skip-invalid")), 0);
  const nlohmann::json expected = nlohmann::json::parse(std::ifstream(kReport + "expected.json"))["keep_start"];
  const nlohmann::json got = json("a.bin.report.json");
  ASSERT_EQ(got["inputs"].size(), 2u);
  expect_contains(expected["inputs"][0], got["inputs"][0], "inputs/train.jsonl");
  expect_contains(expected["inputs"][1], got["inputs"][1], "inputs/val.jsonl");
  expect_contains(expected["splits"], got["splits"], "splits");
  // The defaults drop nothing TRL keeps: the pairs are byte for byte those of the code before the report.
  EXPECT_EQ(without_chat_date(read_file_bytes(path("a.bin"))),
            without_chat_date(read_file_bytes(kReport + "before_a.bin")));
  EXPECT_EQ(without_chat_date(read_file_bytes(path("a.val.bin"))),
            without_chat_date(read_file_bytes(kReport + "before_a.val.bin")));
  // One warning per finding above its threshold, on stderr, each naming a count and an example line.
  std::ifstream err(path("err.txt"));
  int warnings = 0;
  for (std::string line; std::getline(err, line);)
    if (line.rfind("warning: ", 0) == 0) {
      warnings++;
      EXPECT_NE(line.find("line "), std::string::npos) << line;
    }
  EXPECT_EQ(warnings, (int)got["warnings"].size());
  // train.jsonl: identical text, identical after truncation, emptied, cut, special tokens; the
  // training split: duplicates, length bias (identical tokens are said per input line above); val:
  // duplicate, leaked prompts.
  EXPECT_EQ(warnings, 9);
  // Nothing but the outputs is left in the directory (no temporary report).
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(scratch_.dir())) files++;
  EXPECT_EQ(files, 5u) << "a.bin, a.val.bin, a.bin.report.json, out.txt, err.txt";
}

TEST_F(ReportTool, KeepEndTruncationCutsPromptsAndKeepsThePairs) {
  ASSERT_EQ(
      prepare("c.bin", cat("--val-input ", kReport, "val.jsonl --max-length 64 --truncation keep_end --skip-invalid")),
      0);
  const nlohmann::json expected = nlohmann::json::parse(std::ifstream(kReport + "expected.json"))["keep_end"];
  const nlohmann::json got = json("c.bin.report.json");
  ASSERT_EQ(got["inputs"].size(), 2u);
  expect_contains(expected["inputs"][0], got["inputs"][0], "inputs/train.jsonl");
  expect_contains(expected["inputs"][1], got["inputs"][1], "inputs/val.jsonl");
  expect_contains(expected["splits"], got["splits"], "splits");
  ASSERT_GT(got["inputs"][0]["truncation"]["prompt_tokens_cut"].get<int>(), 0) << "the data exercise prompt cuts";
  EXPECT_EQ(without_chat_date(read_file_bytes(path("c.bin"))),
            without_chat_date(read_file_bytes(kReport + "before_c.bin")));
  EXPECT_EQ(without_chat_date(read_file_bytes(path("c.val.bin"))),
            without_chat_date(read_file_bytes(kReport + "before_c.val.bin")));
}

TEST_F(ReportTool, DefaultsWithAValidationFractionKeepThePairs) {
  ASSERT_EQ(prepare("b.bin", "--val-fraction 0.25 --skip-invalid"), 0);
  EXPECT_EQ(without_chat_date(read_file_bytes(path("b.bin"))),
            without_chat_date(read_file_bytes(kReport + "before_b.bin")));
  EXPECT_EQ(without_chat_date(read_file_bytes(path("b.val.bin"))),
            without_chat_date(read_file_bytes(kReport + "before_b.val.bin")));
  // The split by line hash sends some of the repeated prompts to validation: whatever it found,
  // inspect finds the same from the files alone.
  ASSERT_EQ(run(cat(ALIGN_INSPECT_BIN, " ", path("b.bin"), " --report-json ", path("b_inspect.json"))), 0);
  EXPECT_EQ(without_places(json("b_inspect.json")["splits"]), without_places(json("b.bin.report.json")["splits"]));
}

TEST_F(ReportTool, InspectReproducesTheReportFromTheFiles) {
  ASSERT_EQ(prepare("a.bin", cat("--val-input ", kReport, "val.jsonl --max-length 64 --skip-invalid")), 0);
  ASSERT_EQ(run(cat(ALIGN_INSPECT_BIN, " ", path("a.bin"), " --report-json ", path("inspect.json"))), 0);
  const nlohmann::json prep = json("a.bin.report.json"), insp = json("inspect.json");
  EXPECT_EQ(insp["tool"], "inspect");
  EXPECT_EQ(insp["inputs"].size(), 0u) << "inspect has no source facts";
  EXPECT_EQ(without_places(insp["splits"]), without_places(prep["splits"]));
  // Its examples are pair indices: the first identical pair written is line 11, the 11th pair (index
  // 10) after the 10 filler lines before it.
  EXPECT_EQ(insp["splits"]["train"]["identical_tokens"]["example"], 10);
  EXPECT_EQ(prep["splits"]["train"]["identical_tokens"]["example"], 11);
}

TEST_F(ReportTool, ChoicesDropWhatTheReportFinds) {
  ASSERT_EQ(
      prepare("c.bin", cat("--val-input ", kReport,
                           "val.jsonl --max-length 64 --skip-invalid --drop-identical --dedupe --drop-leaked-val")),
      0);
  const nlohmann::json expected = nlohmann::json::parse(std::ifstream(kReport + "expected.json"))["keep_start"];
  const nlohmann::json got = json("c.bin.report.json");
  const nlohmann::json& et = expected["splits"]["train"];
  const nlohmann::json& ev = expected["splits"]["val"];
  const nlohmann::json& t = got["splits"]["train"];
  const nlohmann::json& v = got["splits"]["val"];
  // What is found is counted as without the flags; what is dropped is what was found. In train.jsonl
  // the identical pairs and the duplicates are different lines, so the drops add up.
  EXPECT_EQ(t["identical_tokens"]["pairs"], et["identical_tokens"]["pairs"]);
  EXPECT_EQ(t["dropped"]["identical"], et["identical_tokens"]["pairs"]);
  EXPECT_EQ(t["dropped"]["duplicate"], et["duplicate_pairs"]["pairs"]);
  EXPECT_EQ(t["pairs_written"].get<int>(), et["pairs_written"].get<int>() - et["identical_tokens"]["pairs"].get<int>() -
                                               et["duplicate_pairs"]["pairs"].get<int>());
  EXPECT_EQ(v["dropped"]["duplicate"], ev["duplicate_pairs"]["pairs"]);
  // One of the three leaked validation prompts ("Same again?") belongs to a training pair whose answers
  // are identical: --drop-identical removed it from training, so it no longer leaks.
  EXPECT_EQ(v["leaked_prompts"]["pairs"], ev["leaked_prompts"]["pairs"].get<int>() - 1);
  EXPECT_EQ(v["dropped"]["leaked_val"], v["leaked_prompts"]["pairs"]);
  EXPECT_EQ(v["pairs_written"].get<int>(), ev["pairs_written"].get<int>() - ev["duplicate_pairs"]["pairs"].get<int>() -
                                               v["leaked_prompts"]["pairs"].get<int>());
  // The files written are clean of what was dropped.
  ASSERT_EQ(run(cat(ALIGN_INSPECT_BIN, " ", path("c.bin"), " --report-json ", path("clean.json"))), 0);
  const nlohmann::json clean = json("clean.json");
  EXPECT_EQ(clean["splits"]["train"]["identical_tokens"]["pairs"], 0);
  EXPECT_EQ(clean["splits"]["train"]["duplicate_pairs"]["pairs"], 0);
  EXPECT_EQ(clean["splits"]["val"]["duplicate_pairs"]["pairs"], 0);
  EXPECT_EQ(clean["splits"]["val"]["leaked_prompts"]["pairs"], 0);
  EXPECT_EQ(clean["splits"]["train"]["pairs_written"], t["pairs_written"]);
}

// ---- the pieces -----------------------------------------------------------------------------

PairsFile::View view(const PairRecord& p) {
  return {p.prompt, p.chosen, p.rejected};
}

TEST(PairReport, SpecialTokensInTextExceptWherePreparationExpectsThem) {
  const TokenizerDir td = load_tokenizer_dir(kTok);
  const SpecialTokenScanner scan(td);
  auto found = [&](const std::string& line) {
    std::vector<std::string> out;
    for (uint16_t k : scan.find(parse_preference(nlohmann::json::parse(line)))) out.push_back(scan.tokens()[k]);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(found(R"({"prompt": "<|begin_of_text|>q", "chosen": " a<|eot_id|>", "rejected": " b"})"), V{});
  EXPECT_EQ(found(R"({"prompt": "q<|begin_of_text|>", "chosen": " a<|eot_id|> ", "rejected": " b"})"),
            (V{"<|begin_of_text|>", "<|eot_id|>"}));
  EXPECT_EQ(found(R"({"prompt": "q", "chosen": "<|eot_id|>", "rejected": "x <|end_header_id|>"})"),
            V{"<|end_header_id|>"});
  EXPECT_EQ(found(R"({"prompt": "q", "chosen": " <|eot_id", "rejected": " b"})"), V{}) << "a partial string";
  // Conversations: any message, including a BOS or EOS at either end (the template writes its own).
  EXPECT_EQ(found(R"({"prompt": [{"role": "user", "content": "<|begin_of_text|>hi"}],
                      "chosen": [{"role": "assistant", "content": "a<|eot_id|>"}],
                      "rejected": [{"role": "assistant", "content": "b"}]})"),
            (V{"<|begin_of_text|>", "<|eot_id|>"}));
}

TEST(PairReport, FindingsAndChoices) {
  const std::vector<PairRecord> pairs = {
      {{1, 2}, {3, 4}, {3, 5}},  // 0
      {{1, 2}, {3, 4}, {3, 5}},  // 1: repeats 0
      {{1, 2}, {6}, {6}},        // 2: identical answers, repeated prompt
      {{1, 2, 0}, {3}, {4}},     // 3: a prompt that extends 0's is another prompt
      {{9}, {3, 4}, {3, 5}},     // 4: same answers, other prompt: no duplicate
  };
  PairFindings keep_all(ReportChoices{}), drop(ReportChoices{true, true, true});
  std::vector<bool> kept;
  for (size_t i = 0; i < pairs.size(); i++) {
    EXPECT_TRUE(keep_all.add((int64_t)i, view(pairs[i])));
    kept.push_back(drop.add((int64_t)i, view(pairs[i])));
  }
  EXPECT_EQ(kept, (std::vector<bool>{true, false, false, true, true}));
  for (const PairFindings* f : {&keep_all, &drop}) {
    EXPECT_EQ(f->identical_tokens.count, 1u);
    EXPECT_EQ(f->identical_tokens.example, 2);
    EXPECT_EQ(f->duplicate_pairs.count, 1u);
    EXPECT_EQ(f->duplicate_pairs.example, 1);
    EXPECT_EQ(f->duplicate_of, 0);
    EXPECT_EQ(f->duplicate_prompts.count, 2u);
    EXPECT_EQ(f->duplicate_prompt_of, 0);
  }
  EXPECT_EQ(drop.dropped_identical, 1u);
  EXPECT_EQ(drop.dropped_duplicate, 1u);
  // Leakage against the kept training prompts: {1,2} and {9} leak, {1} does not.
  PairFindings val(ReportChoices{false, false, true});
  const PairRecord v0{{1}, {3}, {4}}, v1{{9}, {7}, {8}}, v2{{1, 2}, {5}, {6}};
  EXPECT_TRUE(val.check_leak(0, view(v0), drop));
  EXPECT_FALSE(val.check_leak(1, view(v1), drop));
  EXPECT_FALSE(val.check_leak(2, view(v2), drop));
  EXPECT_EQ(val.leaked.count, 2u);
  EXPECT_EQ(val.leaked.example, 1);
  EXPECT_EQ(val.leaked_from, 4);
  EXPECT_EQ(val.dropped_leaked, 2u);
}

TEST(PairReport, HashesSeparateLengthsAndRoles) {
  const std::vector<uint32_t> a = {1}, b = {1, 0}, c = {0, 1}, e = {};
  EXPECT_FALSE(hash_tokens(a) == hash_tokens(b));
  EXPECT_FALSE(hash_tokens(b) == hash_tokens(c));
  EXPECT_FALSE(hash_tokens(e) == hash_tokens(std::vector<uint32_t>{0}));
  EXPECT_FALSE(hash_tokens(a, 1) == hash_tokens(a, 2));
  EXPECT_TRUE(hash_tokens(b, 3) == hash_tokens(std::vector<uint32_t>{1, 0}, 3));
}

TEST(PairReport, StatisticsOnKnownLengths) {
  // chosen lengths 1..5, rejected 3,3,3,3,3: differences -2,-1,0,1,2 (mean 0, median 0);
  // shared prefixes: pair i shares min(i, 1) tokens (only token 7 in common at the start).
  std::vector<PairRecord> pairs;
  for (uint32_t i = 1; i <= 5; i++) {
    PairRecord p{std::vector<uint32_t>(10 * i, 1), std::vector<uint32_t>(i, 2), {7, 8, 8}};
    if (i > 1) p.chosen[0] = 7;
    pairs.push_back(p);
  }
  std::vector<PairsFile::View> views;
  for (const auto& p : pairs) views.push_back(view(p));
  const PairStats s = pair_stats(views);
  EXPECT_EQ(s.pairs, 5u);
  EXPECT_EQ(s.prompt.p50, 30u);  // nearest rank: index round(0.5 * 4) = 2
  EXPECT_EQ(s.prompt.p90, 50u);  // index round(0.9 * 4) = round(3.6) = 4
  EXPECT_EQ(s.prompt.max, 50u);
  EXPECT_EQ(s.prompt.mean, 30.0);
  EXPECT_EQ(s.chosen_longer, 2u);
  EXPECT_EQ(s.rejected_longer, 2u);
  EXPECT_EQ(s.equal_length, 1u);
  EXPECT_EQ(s.mean_difference, 0.0);
  EXPECT_EQ(s.median_difference, 0.0);
  EXPECT_EQ(s.shared_prefix_pairs, 4u);
  EXPECT_EQ(s.shared_prefix_mean_tokens, 4.0 / 5);
  EXPECT_EQ(s.shared_prefix_token_share, 2 * 4.0 / (15 + 15));
  // An even count: the median is the mean of the two middle differences (numpy's median).
  views.pop_back();
  EXPECT_EQ(pair_stats(views).median_difference, -0.5);
  // Histograms cover every pair once.
  uint64_t c = 0, d = 0;
  for (uint64_t x : s.chosen_hist) c += x;
  for (uint64_t x : s.difference_hist) d += x;
  EXPECT_EQ(c, 5u);
  EXPECT_EQ(d, 5u);
  EXPECT_EQ(s.difference_lo, -2);
  EXPECT_EQ(percentile({}, 0.5), 0u);
}

}  // namespace
}  // namespace align::data
