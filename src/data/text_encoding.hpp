// text_encoding.hpp: the encoding steps that preference and SFT preparation
// share, with TRL's conventions: EOS text appended to plain completions,
// special tokens added to plain text (a doubled BOS reduced to one), chat
// templates rendered and encoded without the tokenizer's own special tokens,
// and the prompt/completion boundary found as a common token prefix.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/chat_template.hpp"
#include "data/tokenizer_dir.hpp"

namespace align::data {

// text + EOS text unless text already ends with it; `appended` counts additions.
std::string with_eos(const TokenizerDir& td, const std::string& text, size_t& appended);
// Plain text with the tokenizer's special tokens; a leading [BOS, BOS] becomes [BOS] (counted).
std::vector<int32_t> encode_plain(const TokenizerDir& td, const std::string& text, size_t& bos_deduplicated);
// A conversation rendered by the template (strftime_now answering `date`), encoded without the
// tokenizer's special tokens.
std::vector<int32_t> encode_chat(const TokenizerDir& td, const ChatTemplate& t, const std::vector<Message>& messages,
                                 bool add_generation_prompt, const ChatDate& date);
// The template to use: the override, else the tokenizer's, else an InputError saying how to choose one.
const ChatTemplate& require_template(const TokenizerDir& td,
                                     const std::shared_ptr<const ChatTemplate>& override_template);
size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b);

// The same steps giving the unsigned ids that data files store (a long text's ids are made once,
// not made and then converted).
std::vector<uint32_t> encode_plain_unsigned(const TokenizerDir& td, const std::string& text, size_t& bos_deduplicated);
std::vector<uint32_t> encode_chat_unsigned(const TokenizerDir& td, const ChatTemplate& t,
                                           const std::vector<const Message*>& messages, bool add_generation_prompt,
                                           const ChatDate& date);
size_t common_prefix(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b);

}  // namespace align::data
