// fuzz_tokenizer_config: tokenizer_config.json next to a fixed tokenizer.json (load_tokenizer_dir:
// BOS/EOS tokens, the chat template); an accepted directory renders a conversation when it has a template.
#include <filesystem>

#include "data/text_encoding.hpp"
#include "data/tokenizer_dir.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    const std::string d = align::fuzz::scratch_dir() + "/tok";
    std::filesystem::create_directories(d);
    std::filesystem::copy_file(align::fuzz::test_data("pairs/gpt2_tok_chatml/tokenizer.json"), d + "/tokenizer.json",
                               std::filesystem::copy_options::overwrite_existing);
    return d;
  }();
  align::fuzz::write_scratch("tok/tokenizer_config.json", data, size);
  align::fuzz::expect_input_errors_only([&] {
    const align::data::TokenizerDir td = align::data::load_tokenizer_dir(dir);
    if (td.chat_template) {
      const std::vector<align::data::Message> m = {{"system", "s"}, {"user", "hi"}, {"assistant", "yo"}};
      align::data::encode_chat(td, *td.chat_template, m, false, align::data::ChatDate{2024, 7, 26});
    }
  });
  return 0;
}
