// test_jinja.cpp: the Jinja interpreter and chat templates against jinja2 and
// transformers themselves (tests/data/chat/, from dev/reference/make_chat_golden.py):
//   semantics.json: small templates pinning jinja2's scoping, whitespace control,
//                   filters, tests, string methods and errors, rendered in transformers'
//                   environment; our output must equal jinja2's byte for byte, and where
//                   jinja2 raised we must raise too.
//   expected.json:  15 real chat templates (tests/data/chat_templates/, sources.json says
//                   where each came from) x 10 conversations x add_generation_prompt off/on,
//                   plus TRL's prompt/chosen/rejected renderings of 3 conversational pairs,
//                   through apply_chat_template with strftime_now fixed to 2026-03-07.
// Plus the one-line errors for unsupported constructs and the Python string helpers.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "data/chat_template.hpp"
#include "data/jinja/pystr.hpp"
#include "data/jinja/template.hpp"

namespace align::data {
namespace {

const std::string kChat = std::string(ALIGN_TEST_DATA) + "/chat/";
const std::string kTemplates = std::string(ALIGN_TEST_DATA) + "/chat_templates/";
const ChatDate kDate{2026, 3, 7};

nlohmann::ordered_json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.is_open()) << path;
  return nlohmann::ordered_json::parse(in);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(JinjaSemantics, MatchesJinja2CaseByCase) {
  const nlohmann::ordered_json golden = read_json(kChat + "semantics.json");
  ASSERT_GE(golden["cases"].size(), 40u);
  size_t raised = 0;
  for (const auto& c : golden["cases"]) {
    const std::string t = c["template"].get<std::string>();
    SCOPED_TRACE(t);
    auto run = [&] {
      return ChatTemplate(t, "semantics case").render(golden["messages"], false, "<s>", "</s>", kDate);
    };
    if (c.contains("error")) {
      raised++;
      try {
        run();
        ADD_FAILURE() << "jinja2 raised " << c["error"] << " but we rendered";
      } catch (const InputError& e) {
        const std::string msg = e.what();
        EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
        EXPECT_NE(msg.find("line 1"), std::string::npos) << msg;
        if (t.find("raise_exception") != std::string::npos) {
          EXPECT_NE(msg.find("custom failure"), std::string::npos) << msg;
        }
      }
    } else {
      std::string got;
      try {
        got = run();
      } catch (const InputError& e) {
        ADD_FAILURE() << e.what();
      }
      EXPECT_EQ(got, c["text"].get<std::string>());
    }
  }
  EXPECT_GE(raised, 5u);
}

TEST(ChatTemplateGolden, RealTemplatesMatchTransformersByteForByte) {
  const nlohmann::ordered_json golden = read_json(kChat + "expected.json");
  ASSERT_EQ(golden["now"].get<std::string>(), kDate.iso());
  ASSERT_GE(golden["templates"].size(), 10u);
  std::map<std::string, const nlohmann::ordered_json*> conversations, pairs;
  for (const auto& c : golden["conversations"]) conversations[c["name"].get<std::string>()] = &c;
  for (const auto& p : golden["pairs"]) pairs[p["name"].get<std::string>()] = &p;
  size_t compared = 0;
  for (auto it = golden["templates"].begin(); it != golden["templates"].end(); ++it) {
    const std::string name = it.key();
    const ChatTemplate tmpl(read_text(kTemplates + name + ".jinja"), name + ".jinja");
    const std::string bos = it.value()["bos_token"], eos = it.value()["eos_token"];
    for (auto r = it.value()["renderings"].begin(); r != it.value()["renderings"].end(); ++r) {
      const std::string key = r.key(), conv = key.substr(0, key.find('/')), variant = key.substr(key.find('/') + 1);
      SCOPED_TRACE(name + " " + key);
      nlohmann::ordered_json messages, tools;
      bool agp = false;
      if (pairs.count(conv)) {
        const auto& p = *pairs[conv];
        messages = p["prompt"];
        agp = variant == "prompt";
        if (!agp)
          for (const auto& m : p[variant]) messages.push_back(m);
      } else {
        const auto& c = *conversations.at(conv);
        messages = c["messages"];
        agp = variant == "gen";
        if (c.contains("tools")) tools = c["tools"];
      }
      if (r.value().contains("error")) {
        // The template's own raise_exception: we raise with its message.
        std::string err = r.value()["error"];
        err = err.substr(err.find(": ") + 2);
        try {
          tmpl.render(messages, agp, bos, eos, kDate, tools);
          ADD_FAILURE() << "transformers raised " << err;
        } catch (const InputError& e) {
          EXPECT_NE(std::string(e.what()).find(err), std::string::npos) << e.what();
        }
      } else {
        std::string got;
        EXPECT_NO_THROW(got = tmpl.render(messages, agp, bos, eos, kDate, tools));
        EXPECT_EQ(got, r.value()["text"].get<std::string>());
      }
      compared++;
    }
  }
  EXPECT_GE(compared, 15u * 29u);
}

TEST(ChatTemplateGolden, EveryTemplateHasItsSourceRecorded) {
  const nlohmann::ordered_json sources = read_json(kTemplates + "sources.json");
  const nlohmann::ordered_json golden = read_json(kChat + "expected.json");
  for (auto it = golden["templates"].begin(); it != golden["templates"].end(); ++it) {
    ASSERT_TRUE(sources.contains(it.key())) << it.key();
    for (const char* f : {"repository", "path", "commit"}) EXPECT_TRUE(sources[it.key()].contains(f)) << it.key();
    EXPECT_EQ(sources[it.key()]["commit"].get<std::string>().size(), 40u);
  }
  // Every template file is in the golden set, and so is every family the data preparation promises.
  for (const auto& entry : std::filesystem::directory_iterator(kTemplates)) {
    if (entry.path().extension() != ".jinja") continue;
    EXPECT_TRUE(golden["templates"].contains(entry.path().stem().string())) << entry.path();
  }
  for (const char* family :
       {"llama3.1", "llama3.2", "llama3.3", "qwen2.5", "qwen3", "smollm2", "mistral_nemo", "mistral_v0.2", "gemma2",
        "gemma3", "phi3.5", "phi4", "zephyr", "deepseek_r1_distill_llama"})
    EXPECT_TRUE(golden["templates"].contains(family)) << family;
}

// An unsupported construct: one line naming the construct and the template line, never a fallback.
TEST(JinjaErrors, UnsupportedConstructsNameThemselvesAndTheirLine) {
  auto error_of = [](const std::string& t) {
    try {
      jinja::Template tmpl(t, "chat template x.jinja");
      tmpl.render(jinja::Dict{});
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::pair<const char*, const char*> cases[] = {
      {"ok\n{% include 'other.jinja' %}", "line 2: the 'include' statement is not supported"},
      {"a\nb\n{{ x | wordwrap }}", "line 3: the filter 'wordwrap' is not supported"},
      {"{% if 1 is sameas 1 %}{% endif %}", "line 1: the sameas test on numbers"},
      {"{{ 'a %s' % 1 }}", "line 1: printf-style string formatting"},
      {"{{ 'x'.zfill(3) }}", "line 1: the str method 'zfill' is not supported"},
      {"{% for x in y recursive %}{% endfor %}", "line 1: the recursive for loop is not supported"},
      {"\n\n{{ [1].append(2) }}", "line 3: the list method 'append' is not allowed"},
      {"{% macro m() %}{% endmacro %}{{ m(*a) }}", "*args and **kwargs in calls are not supported"},
      {"{{ {1: 2} }}", "dict keys of type int are not supported"},
      {"{% set ns = namespace() %}{% set ns._x = 1 %}", "underscore-prefixed"},
      {"{{ x is frobnicated }}", "line 1: the test 'frobnicated' is not supported"},
      {"{% frob %}", "line 1: unknown statement 'frob'"},
  };
  for (auto& [t, want] : cases) {
    const std::string msg = error_of(t);
    EXPECT_NE(msg.find("chat template x.jinja"), std::string::npos) << t << " -> " << msg;
    EXPECT_NE(msg.find(want), std::string::npos) << t << " -> " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(ChatTemplates, BuiltInsAndFiles) {
  EXPECT_EQ(builtin_chat_template_names(), (std::vector<std::string>{"chatml", "llama3", "zephyr", "plain"}));
  const auto llama3 = load_chat_template("llama3");
  // Llama 3 writes BOS once, at the start, whatever the number of messages.
  const std::string s =
      llama3->render(std::vector<Message>{{"user", "a"}, {"assistant", "b"}}, false, "<B>", "<E>", kDate);
  EXPECT_EQ(s,
            "<B><|start_header_id|>user<|end_header_id|>\n\na<|eot_id|><|start_header_id|>assistant"
            "<|end_header_id|>\n\nb<|eot_id|>");
  const auto file = load_chat_template(kTemplates + "llama3.2.jinja");
  const std::string r = file->render(std::vector<Message>{{"user", "hi"}}, true, "<B>", "<E>", ChatDate{2024, 2, 29});
  EXPECT_NE(r.find("Today Date: 29 Feb 2024\n"), std::string::npos) << r;
  try {
    load_chat_template("vicuna");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(
        std::string(e.what()).find("neither a built-in template (chatml, llama3, zephyr, plain) nor a Jinja file"),
        std::string::npos);
  }
}

TEST(ChatTemplates, DatesAreCalendarDays) {
  EXPECT_EQ(parse_chat_date("2024-02-29", "--chat-date").yyyymmdd(), 20240229u);
  for (const char* bad : {"2023-02-29", "2024-13-01", "24-01-01", "2024-1-1", "yesterday", "2024-01-01x"})
    EXPECT_THROW(parse_chat_date(bad, "--chat-date"), InputError) << bad;
  EXPECT_GT(parse_chat_date("today", "--chat-date").year, 2000);
}

TEST(PyStr, WhitespaceAndCaseFollowPython) {
  using namespace jinja::pystr;
  // Python's str.isspace set, including U+00A0, U+2003 and U+3000; not U+200B (a format character).
  for (char32_t c : {0x09u, 0x0au, 0x0bu, 0x0cu, 0x0du, 0x1cu, 0x1fu, 0x20u, 0x85u, 0xa0u, 0x1680u, 0x2000u, 0x2003u,
                     0x200au, 0x2028u, 0x2029u, 0x202fu, 0x205fu, 0x3000u})
    EXPECT_TRUE(is_space(c)) << std::hex << (unsigned)c;
  for (char32_t c : {0x200bu, 0x180eu, 0xfeffu, 0x41u}) EXPECT_FALSE(is_space(c)) << std::hex << (unsigned)c;
  EXPECT_EQ(strip("\u3000\u00a0 x y\u2003\n", std::nullopt, true, true), "x y");
  EXPECT_EQ(split("  a \u3000b\t\tc ", std::nullopt), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(split("a,,b", std::string(",")), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(upper("straße ǆ"), "STRASSE Ǆ");
  EXPECT_EQ(lower("ΟΔΟΣ"), "οδος");  // final sigma
  EXPECT_EQ(title("hello wORLD they're"), "Hello World They'Re");
  EXPECT_EQ(length("日本語😀"), 4u);
  EXPECT_EQ(json_quote("é\"\n\x01", false), "\"é\\\"\\n\\u0001\"");
  EXPECT_EQ(json_quote("é😀", true), "\"\\u00e9\\ud83d\\ude00\"");
  EXPECT_EQ(jinja::float_repr(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(jinja::float_repr(1e16), "1e+16");
  EXPECT_EQ(jinja::float_repr(123456789012345.0), "123456789012345.0");
  EXPECT_EQ(jinja::float_repr(0.0001), "0.0001");
  EXPECT_EQ(jinja::float_repr(0.00001), "1e-05");
}

}  // namespace
}  // namespace align::data
