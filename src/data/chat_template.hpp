// chat_template.hpp: the built-in chat templates, rendering a conversation to
// text exactly as transformers' apply_chat_template renders the canonical
// Jinja templates of these families (checked against it in
// tests/test_prepare_pairs.cpp through golden ids):
//   chatml   <|im_start|>{role}\n{content}<|im_end|>\n ...      gen: <|im_start|>assistant\n
//   llama3   {bos}<|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|> ...
//                                                              gen: <|start_header_id|>assistant<|end_header_id|>\n\n
//   zephyr   <|{role}|>\n{content}{eos}\n ...                  gen: <|assistant|>\n
//   plain    User: {content}\n\n / Assistant: {content}{eos}\n\n / {system}\n\n   gen: Assistant:
// The rendered text is tokenized without the tokenizer's own special tokens,
// so a template that writes BOS (llama3) never gets a second one.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace align::data {

enum class ChatTemplate { ChatML, Llama3, Zephyr, Plain };

struct Message {
  std::string role;     // "system", "user", "assistant" (any role name is rendered)
  std::string content;
  bool operator==(const Message&) const = default;
};

const char* chat_template_name(ChatTemplate t);
ChatTemplate parse_chat_template(const std::string& name);  // InputError listing the names
// The built-in template a tokenizer_config.json's Jinja chat_template is, by its markers; nullopt otherwise.
std::optional<ChatTemplate> detect_chat_template(const std::string& jinja);

std::string render_chat(ChatTemplate t, const std::vector<Message>& messages, bool add_generation_prompt,
                        const std::string& bos_token, const std::string& eos_token);

}  // namespace align::data
