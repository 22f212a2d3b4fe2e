// text_encoding.cpp: shared encoding steps of data preparation (text_encoding.hpp).
#include "data/text_encoding.hpp"

#include "common/error.hpp"

namespace align::data {

std::string with_eos(const TokenizerDir& td, const std::string& text, size_t& appended) {
  const std::string& eos = td.eos_token;
  if (eos.empty() || (text.size() >= eos.size() && text.compare(text.size() - eos.size(), eos.size(), eos) == 0))
    return text;
  appended++;
  return text + eos;
}

std::vector<int32_t> encode_plain(const TokenizerDir& td, const std::string& text, size_t& bos_deduplicated) {
  std::vector<int32_t> ids = td.tokenizer.encode(text, true);
  if (td.bos_id && ids.size() >= 2 && ids[0] == *td.bos_id && ids[1] == *td.bos_id) {
    ids.erase(ids.begin());
    bos_deduplicated++;
  }
  return ids;
}

std::vector<int32_t> encode_chat(const TokenizerDir& td, ChatTemplate t, const std::vector<Message>& messages,
                                 bool add_generation_prompt) {
  return td.tokenizer.encode(render_chat(t, messages, add_generation_prompt, td.bos_token, td.eos_token), false);
}

ChatTemplate require_template(const TokenizerDir& td, const std::optional<ChatTemplate>& override_template) {
  const std::optional<ChatTemplate> t = override_template ? override_template : td.chat_template;
  ALIGN_REQUIRE(t.has_value(), "conversational data needs a chat template: the tokenizer's is ",
                td.has_jinja_template ? "not one of the built-ins" : "missing",
                "; choose one with --chat-template (chatml, llama3, zephyr, plain)");
  return *t;
}

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) n++;
  return n;
}

}  // namespace align::data
