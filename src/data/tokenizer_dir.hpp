// tokenizer_dir.hpp: a Hugging Face tokenizer directory: tokenizer.json plus,
// when present, tokenizer_config.json for the BOS/EOS tokens and the chat
// template, which transformers reads from chat_template.jinja when that file
// exists (transformers v5 writes it there), else from tokenizer_config.json's
// chat_template (a string, or a list of named templates: the one named
// "default"). The template is parsed when the directory is loaded; a
// template that does not parse is kept as its error, reported only when a
// conversation needs it.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "data/chat_template.hpp"
#include "tokenizer/tokenizer.hpp"

namespace align::data {

struct TokenizerDir {
  tok::Tokenizer tokenizer;
  std::string bos_token, eos_token;  // their text, "" when the config names none
  std::optional<int32_t> bos_id, eos_id;
  std::shared_ptr<const ChatTemplate> chat_template;  // null: none, or it did not parse (chat_template_error)
  std::string chat_template_error;                    // why the directory's template is unusable
};

// dir: a directory with tokenizer.json, or a tokenizer.json file itself.
TokenizerDir load_tokenizer_dir(const std::string& dir);

}  // namespace align::data
