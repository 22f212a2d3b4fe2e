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

namespace {

template <typename Id>
void deduplicate_bos(const TokenizerDir& td, std::vector<Id>& ids, size_t& bos_deduplicated) {
  if (td.bos_id && ids.size() >= 2 && ids[0] == (Id)*td.bos_id && ids[1] == (Id)*td.bos_id) {
    ids.erase(ids.begin());
    bos_deduplicated++;
  }
}

template <typename Id>
size_t common_prefix_of(const std::vector<Id>& a, const std::vector<Id>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) n++;
  return n;
}

}  // namespace

std::vector<int32_t> encode_plain(const TokenizerDir& td, const std::string& text, size_t& bos_deduplicated) {
  std::vector<int32_t> ids = td.tokenizer.encode(text, true);
  deduplicate_bos(td, ids, bos_deduplicated);
  return ids;
}

std::vector<uint32_t> encode_plain_unsigned(const TokenizerDir& td, const std::string& text, size_t& bos_deduplicated) {
  std::vector<uint32_t> ids = td.tokenizer.encode_unsigned(text, true);
  deduplicate_bos(td, ids, bos_deduplicated);
  return ids;
}

std::vector<uint32_t> encode_chat_unsigned(const TokenizerDir& td, const ChatTemplate& t,
                                           const std::vector<const Message*>& messages, bool add_generation_prompt,
                                           const ChatDate& date) {
  return td.tokenizer.encode_unsigned(t.render(messages, add_generation_prompt, td.bos_token, td.eos_token, date),
                                      false);
}

std::vector<int32_t> encode_chat(const TokenizerDir& td, const ChatTemplate& t, const std::vector<Message>& messages,
                                 bool add_generation_prompt, const ChatDate& date) {
  return td.tokenizer.encode(t.render(messages, add_generation_prompt, td.bos_token, td.eos_token, date), false);
}

const ChatTemplate& require_template(const TokenizerDir& td,
                                     const std::shared_ptr<const ChatTemplate>& override_template) {
  if (override_template) return *override_template;
  if (!td.chat_template_error.empty()) throw InputError(td.chat_template_error);
  ALIGN_REQUIRE(td.chat_template,
                "conversational data needs a chat template and the tokenizer has none; give "
                "--chat-template with a Jinja file or a built-in name (chatml, llama3, zephyr, plain)");
  return *td.chat_template;
}

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  return common_prefix_of(a, b);
}
size_t common_prefix(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  return common_prefix_of(a, b);
}

}  // namespace align::data
