// tokenizer_dir.hpp: a Hugging Face tokenizer directory: tokenizer.json plus,
// when present, tokenizer_config.json for the BOS/EOS tokens and the chat
// template (there or in chat_template.jinja, as transformers v5 writes it),
// detected as one of the built-ins (chat_template.hpp).
#pragma once

#include <optional>
#include <string>

#include "data/chat_template.hpp"
#include "tokenizer/tokenizer.hpp"

namespace align::data {

struct TokenizerDir {
  tok::Tokenizer tokenizer;
  std::string bos_token, eos_token;        // their text, "" when the config names none
  std::optional<int32_t> bos_id, eos_id;
  std::optional<ChatTemplate> chat_template;  // detected from tokenizer_config.json's chat_template
  bool has_jinja_template = false;            // a chat_template was present (detected or not)
};

// dir: a directory with tokenizer.json, or a tokenizer.json file itself.
TokenizerDir load_tokenizer_dir(const std::string& dir);

}  // namespace align::data
