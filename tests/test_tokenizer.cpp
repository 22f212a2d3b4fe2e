// test_tokenizer.cpp: the tokenizer against Hugging Face `tokenizers` itself.
//
// tests/data/tokenizers/{gpt2_style,llama3_style,spm_style}/ hold a
// tokenizer.json trained with PyPI tokenizers and golden.json with, for each
// line of a corpus of ASCII, accents, CJK, emoji, whitespace runs, digits,
// contractions, code, special tokens inside text and invalid UTF-8 (as raw
// bytes), the library's ids without and with special tokens and its decodes
// (dev/reference/make_tokenizer_golden.py). Equality is exact.
#include <gtest/gtest.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "tokenizer/byte_level.hpp"
#include "tokenizer/regex.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/unicode_tables.hpp"
#include "tokenizer/utf8.hpp"

namespace align::tok {
namespace {

const std::string kDir = std::string(ALIGN_TEST_DATA) + "/tokenizers/";

std::string b64decode(const std::string& in) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    if (c == '=') break;
    val = (val << 6) + (int)chars.find(c);
    bits += 6;
    if (bits >= 0) {
      out += (char)((val >> bits) & 0xFF);
      bits -= 8;
    }
  }
  return out;
}

// NFC through ICU directly, as the independent expectation for Qwen2's normaliser.
std::string nfc(const std::string& s) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::UnicodeString u = icu::Normalizer2::getNFCInstance(err)->normalize(icu::UnicodeString::fromUTF8(s), err);
  std::string out;
  u.toUTF8String(out);
  return out;
}

class TokenizerGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerGolden, MatchesHuggingFaceTokenForToken) {
  const Tokenizer tok = Tokenizer::from_file(kDir + GetParam() + "/tokenizer.json");
  const nlohmann::json golden = nlohmann::json::parse(std::ifstream(kDir + GetParam() + "/golden.json"));
  EXPECT_EQ(tok.vocab_size(), golden["vocab_size"].get<int>());
  int n = 0;
  for (const auto& c : golden["cases"]) {
    const std::string text = b64decode(c["bytes_b64"]);
    const std::vector<int32_t> ids = tok.encode(text, false), ids_special = tok.encode(text, true);
    EXPECT_EQ(ids, c["ids"].get<std::vector<int32_t>>()) << GetParam() << " line " << n << ": '" << text << "'";
    EXPECT_EQ(ids_special, c["ids_special"].get<std::vector<int32_t>>()) << GetParam() << " line " << n;
    EXPECT_EQ(tok.decode(c["ids"].get<std::vector<int32_t>>(), false), c["decoded"].get<std::string>())
        << GetParam() << " line " << n;
    EXPECT_EQ(tok.decode(c["ids_special"].get<std::vector<int32_t>>(), true), c["decoded_skip"].get<std::string>())
        << GetParam() << " line " << n;
    n++;
  }
  EXPECT_GE(n, 30);
}

// decode(encode(s)) == s for valid UTF-8. Byte-level tokenizers are lossless (up to
// Qwen2's NFC normalisation, so decomposed lines are compared after NFC); the
// SentencePiece-style normaliser prepends "▁" to every segment between special
// tokens, so after a special token the decode gains a space (as in tokenizers):
// those lines are checked for that instead.
TEST_P(TokenizerGolden, RoundTripsValidText) {
  const Tokenizer tok = Tokenizer::from_file(kDir + GetParam() + "/tokenizer.json");
  const nlohmann::json golden = nlohmann::json::parse(std::ifstream(kDir + GetParam() + "/golden.json"));
  int checked = 0;
  for (const auto& c : golden["cases"]) {
    const std::string text = b64decode(c["bytes_b64"]);
    if (!is_valid_utf8(text)) continue;
    const std::string back = tok.decode(tok.encode(text, false));
    bool has_special = false;
    for (const AddedToken& a : tok.added_tokens()) has_special |= text.find(a.content) != std::string::npos;
    if (GetParam() == "spm_style" && has_special) {
      EXPECT_GT(back.size(), text.size()) << text;
    } else if (GetParam() == "qwen2_style") {
      EXPECT_EQ(back, nfc(text));
      checked++;
    } else {
      EXPECT_EQ(back, text);
      checked++;
    }
  }
  EXPECT_GE(checked, 20);
}

INSTANTIATE_TEST_SUITE_P(Files, TokenizerGolden,
                         ::testing::Values("gpt2_style", "llama3_style", "qwen2_style", "spm_style"));

TEST(Utf8, InvalidBytesBecomeReplacementCharacters) {
  // Python: b"...".decode("utf-8", errors="replace")
  EXPECT_EQ(sanitize_utf8("a\xff" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(sanitize_utf8("\xE2\x82"), "\xEF\xBF\xBD");                       // truncated: one for the subpart
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate: three
  EXPECT_EQ(sanitize_utf8("\xF0\x9F\x98"), "\xEF\xBF\xBD");
  EXPECT_EQ(sanitize_utf8("\xC3\x28"), "\xEF\xBF\xBD(");
  EXPECT_EQ(sanitize_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");           // overlong: each byte
  EXPECT_EQ(sanitize_utf8("ok \xF0\x9F\x98\x80"), "ok \xF0\x9F\x98\x80");
}

TEST(ByteLevel, MapsEveryByteReversibly) {
  const ByteLevelMap& m = ByteLevelMap::get();
  EXPECT_EQ(m.encode(' '), "\xC4\xA0");   // Ġ
  EXPECT_EQ(m.encode('\n'), "\xC4\x8A");  // Ċ
  EXPECT_EQ(m.encode('a'), "a");
  std::string all;
  for (int b = 0; b < 256; b++) all += (char)b;
  std::string back;
  ASSERT_TRUE(m.decode(m.encode(all), back));
  EXPECT_EQ(back, all);
}

TEST(Tokenizer, BadFilesAreNamed) {
  auto expect = [](const nlohmann::json& j, const std::string& msg) {
    try {
      Tokenizer t(j, "tok.json", 0);
      ADD_FAILURE() << "no error for " << msg;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(msg), std::string::npos) << e.what();
    }
  };
  nlohmann::json base;
  base["model"] = {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}}};
  base["model"]["merges"] = nlohmann::json::array({nlohmann::json::array({"a", "b"})});
  EXPECT_NO_THROW(Tokenizer(base, "tok.json", 0));
  nlohmann::json j = base;
  j["model"]["type"] = "WordPiece";
  expect(j, "model type 'WordPiece' is not supported");
  j = base;
  j["model"]["merges"] = nlohmann::json::array({nlohmann::json::array({"a", "c"})});
  expect(j, "merge 0 ('a', 'c') uses a token missing from the vocabulary");
  j = base;
  j["normalizer"] = {{"type", "BertNormalizer"}};
  expect(j, "normalizer type 'BertNormalizer' is not supported");
  j = base;
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  expect(j, "does not compile");
  expect(nlohmann::json::object(), "no model object");
  EXPECT_THROW(Tokenizer::from_file(kDir + "nope.json"), InputError);
  const Tokenizer t(base, "tok.json", 0);
  EXPECT_EQ(t.encode("abab"), (std::vector<int32_t>{2, 2}));
  EXPECT_THROW(t.encode("abc"), InputError);  // 'c': no vocabulary entry, byte fallback or unk
  EXPECT_THROW(t.decode({7}), InputError);
}

}  // namespace
}  // namespace align::tok

namespace align::tok {
namespace {

// Code points added in Unicode 15 and 16 (U+11F50 Kawi digit, U+1E4F0 Nag Mundari digit, U+1CCF0
// outlined digit, ...) classify as HF tokenizers classifies them, whatever the system PCRE2's Unicode
// (tests/data/tokenizers/unicode_pinned.json: HF's ids, from dev/reference/make_unicode_tables.py).
TEST(PinnedUnicode, NewerCodePointsMatchHfTokenizers) {
  std::ifstream in(std::string(ALIGN_TEST_DATA) + "/tokenizers/unicode_pinned.json");
  const nlohmann::json golden = nlohmann::json::parse(in);
  size_t n = 0;
  for (auto it = golden.begin(); it != golden.end(); ++it) {
    const Tokenizer tok =
        Tokenizer::from_file(std::string(ALIGN_TEST_DATA) + "/tokenizers/" + it.key() + "/tokenizer.json");
    for (const auto& c : it.value()) {
      EXPECT_EQ(tok.encode(c["text"].get<std::string>(), false), c["ids"].get<std::vector<int32_t>>())
          << it.key() << ": " << c["text"];
      n++;
    }
  }
  EXPECT_EQ(n, 24u);
}

std::string utf8_of(uint32_t c) {
  std::string s;
  if (c < 0x80) {
    s += (char)c;
  } else if (c < 0x800) {
    s += (char)(0xC0 | (c >> 6)), s += (char)(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    s += (char)(0xE0 | (c >> 12)), s += (char)(0x80 | ((c >> 6) & 0x3F)), s += (char)(0x80 | (c & 0x3F));
  } else {
    s += (char)(0xF0 | (c >> 18)), s += (char)(0x80 | ((c >> 12) & 0x3F)), s += (char)(0x80 | ((c >> 6) & 0x3F));
    s += (char)(0x80 | (c & 0x3F));
  }
  return s;
}

// Every code point: \p{X} pinned either way (all ranges listed, or PCRE2's own class plus the code
// points after Unicode 14) matches exactly the code points the tables give category X.
TEST(PinnedUnicode, BothPinningsAgreeWithTheTablesOnEveryCodePoint) {
  std::vector<uint8_t> cat(0x110000, 2);  // Cn
  for (size_t i = 0; i < kUnicodeRangeCount; i++)
    for (uint32_t c = kUnicodeRanges[i].first; c <= kUnicodeRanges[i].last; c++) cat[c] = kUnicodeRanges[i].category;
  std::string text;  // every scalar value once, in order (surrogates cannot be written in UTF-8)
  std::vector<uint32_t> at;
  for (uint32_t c = 0; c < 0x110000; c++) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    at.push_back(c);
    text += utf8_of(c);
  }
  const bool add_newer_applies = default_unicode_mode() == UnicodeMode::AddNewer;
  for (const char* name : {"L", "N", "P", "S", "M", "Lu", "Ll", "Nd", "Zs"}) {
    for (UnicodeMode mode : {UnicodeMode::Explicit, UnicodeMode::AddNewer}) {
      if (mode == UnicodeMode::AddNewer && !add_newer_applies) continue;
      const Regex only(pin_unicode_classes(std::string("\\p{") + name + "}+", mode));
      std::vector<bool> in_class(0x110000, false);
      for (auto [b, e] : only.find_all(text)) {
        for (size_t p = b; p < e;) {
          int len = 1;
          in_class[decode_code_point(text, p, &len)] = true;
          p += len;
        }
      }
      size_t wrong = 0;
      for (uint32_t c : at) {
        const std::string n = kUnicodeCategoryNames[cat[c]];
        const bool want = std::string(name).size() == 1 ? n[0] == name[0] : n == name;
        if (in_class[c] != want && wrong++ < 5)
          ADD_FAILURE() << name << " mode " << (int)mode << ": U+" << std::hex << c << " is " << n;
      }
      EXPECT_EQ(wrong, 0u) << name;
    }
  }
}

}  // namespace
}  // namespace align::tok
