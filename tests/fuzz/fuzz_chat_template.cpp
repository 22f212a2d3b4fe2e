// fuzz_chat_template: a chat template (chat_template.jinja next to a fixed tokenizer.json and
// tokenizer_config.json) and a conversation rendered with it, through the public entry points
// data preparation uses (load_tokenizer_dir, require_template, encode_chat), so the target keeps
// testing whatever implementation stands behind them.
// Input: the template, then (after a "--8<--" line) message contents separated by NUL bytes,
// given the roles system/user/assistant in turn.
#include <filesystem>

#include "data/text_encoding.hpp"
#include "data/tokenizer_dir.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    const std::string d = align::fuzz::scratch_dir() + "/tok_chat";
    std::filesystem::create_directories(d);
    std::filesystem::copy_file(align::fuzz::test_data("pairs/gpt2_tok_chatml/tokenizer.json"), d + "/tokenizer.json",
                               std::filesystem::copy_options::overwrite_existing);
    align::fuzz::write_scratch("tok_chat/tokenizer_config.json",
                               R"({"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"})");
    return d;
  }();
  const std::vector<std::string> parts = align::fuzz::split_parts(data, size, 2);
  align::fuzz::write_scratch("tok_chat/chat_template.jinja", parts[0]);
  std::vector<align::data::Message> messages;
  static const char* roles[] = {"system", "user", "assistant"};
  size_t start = 0;
  for (size_t i = 0; i <= parts[1].size() && messages.size() < 16; i++)
    if (i == parts[1].size() || parts[1][i] == '\0') {
      messages.push_back({roles[messages.size() % 3], parts[1].substr(start, i - start)});
      start = i + 1;
    }
  align::fuzz::expect_input_errors_only([&] {
    const align::data::TokenizerDir td = align::data::load_tokenizer_dir(dir);
    const align::data::ChatTemplate t = align::data::require_template(td, nullptr);
    align::data::encode_chat(td, t, messages, true, align::data::ChatDate{2024, 7, 26});
    align::data::encode_chat(td, t, messages, false, align::data::ChatDate{2024, 7, 26});
  });
  return 0;
}
