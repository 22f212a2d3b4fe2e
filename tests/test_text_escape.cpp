// test_text_escape.cpp: user text in error messages: invalid UTF-8 never echoed raw,
// byte offsets and excerpts (src/common/text_escape.hpp).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/text_escape.hpp"

namespace align {
namespace {

TEST(TextEscape, InvalidBytesAndControlsAreEscaped) {
  EXPECT_EQ(escape_text("ok é 日本 😀"), "ok é 日本 😀");
  EXPECT_EQ(escape_text("a\xff"
                        "b\xc3"),
            "a\\xffb\\xc3");                                           // stray byte, truncated sequence
  EXPECT_EQ(escape_text("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // an encoded surrogate
  EXPECT_EQ(escape_text("\xc0\xaf"), "\\xc0\\xaf");                    // overlong '/'
  EXPECT_EQ(escape_text("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(escape_text(std::string("l1\nl2\t\0x", 8)), "l1\\nl2\\t\\x00x");
  EXPECT_EQ(first_invalid_utf8("abc"), std::string_view::npos);
  EXPECT_EQ(first_invalid_utf8("日本\xffx"), 6u);
}

TEST(TextEscape, ExcerptsCutOnCharacterStarts) {
  const std::string s = std::string(40, 'a') + "日本語\xfe" + std::string(40, 'b');
  const std::string e = excerpt(s, first_invalid_utf8(s), 8);
  EXPECT_EQ(e, "...日本語\\xfebbbbbbb...");  // 8 bytes back lands inside 日: moved to its start
}

TEST(TextEscape, JsonErrorsGiveTheByteOffset) {
  const std::string bad_utf8 = "{\"a\": \"x\xff\"}";
  try {
    (void)nlohmann::json::parse(bad_utf8);
    FAIL();
  } catch (const nlohmann::json::exception& e) {
    EXPECT_EQ(json_error(e, bad_utf8), "invalid UTF-8 at byte 8: '{\"a\": \"x\\xff\"}'");
  }
  const std::string bad_json = "{\"a\": nope}";
  try {
    (void)nlohmann::json::parse(bad_json);
    FAIL();
  } catch (const nlohmann::json::exception& e) {
    const std::string m = json_error(e, bad_json);
    EXPECT_EQ(m.rfind("not valid JSON at byte 7 (", 0), 0u) << m;
    EXPECT_EQ(m.find("last read"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace align
