// prepare_sft.cpp: SFT examples -> ids and loss masks (prepare_sft.hpp).
#include "data/prepare_sft.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "data/text_encoding.hpp"

namespace align::data {

void SftStats::add(const SftStats& o) {
  written += o.written, conversational += o.conversational, dropped_no_trained_tokens += o.dropped_no_trained_tokens;
  boundary_mismatches += o.boundary_mismatches, eos_appended += o.eos_appended, bos_deduplicated += o.bos_deduplicated;
  truncated += o.truncated, tokens += o.tokens, trained_tokens += o.trained_tokens;
  lengths.insert(lengths.end(), o.lengths.begin(), o.lengths.end());
}

namespace {

std::vector<Message> messages_of(const nlohmann::json& v, const char* field) {
  ALIGN_REQUIRE(v.is_array() && !v.empty(), "field '", field, "' is ", v.is_array() ? "an empty list" : v.type_name(),
                ", expected a non-empty list of messages");
  std::vector<Message> out;
  for (size_t i = 0; i < v.size(); i++) {
    ALIGN_REQUIRE(v[i].is_object() && v[i].contains("role") && v[i]["role"].is_string() && v[i].contains("content") &&
                      v[i]["content"].is_string(),
                  "field '", field, "' message ", i, " needs string 'role' and 'content'");
    out.push_back({v[i]["role"].get<std::string>(), v[i]["content"].get<std::string>()});
  }
  return out;
}

std::string string_of(const nlohmann::json& j, const char* field) {
  ALIGN_REQUIRE(j.contains(field), "missing field '", field, "'");
  ALIGN_REQUIRE(j[field].is_string(), "field '", field, "' is a ", j[field].type_name(), ", expected a string");
  ALIGN_REQUIRE(!j[field].get<std::string>().empty(), "field '", field, "' is an empty string");
  return j[field].get<std::string>();
}

// Truncates, drops examples with nothing to learn, counts.
std::optional<SftRecord> finish(std::vector<int32_t> ids, std::vector<uint8_t> mask, const SftOptions& opt,
                                SftStats& st) {
  if (opt.max_length > 0 && ids.size() > (size_t)opt.max_length) {
    const size_t L = opt.max_length;
    if (opt.truncation == Truncation::KeepStart) {
      ids.resize(L), mask.resize(L);
    } else {
      ids.erase(ids.begin(), ids.end() - L), mask.erase(mask.begin(), mask.end() - L);
    }
    st.truncated++;
  }
  const size_t trained = std::count(mask.begin(), mask.end(), 1);
  if (trained == 0) {
    st.dropped_no_trained_tokens++;
    return std::nullopt;
  }
  st.written++;
  st.tokens += ids.size();
  st.trained_tokens += trained;
  st.lengths.push_back((uint32_t)ids.size());
  return SftRecord{std::vector<uint32_t>(ids.begin(), ids.end()), std::move(mask)};
}

// ids of prompt+completion with the completion (from where the prompt's ids stop agreeing) masked in.
std::optional<SftRecord> split_at_prompt(const std::vector<int32_t>& prompt, std::vector<int32_t> full,
                                         const SftOptions& opt, SftStats& st) {
  const size_t p = common_prefix(prompt, full);
  if (p < prompt.size()) st.boundary_mismatches++;
  std::vector<uint8_t> mask(full.size(), 0);
  std::fill(mask.begin() + p, mask.end(), 1);
  return finish(std::move(full), std::move(mask), opt, st);
}

}  // namespace

std::optional<SftRecord> tokenize_sft(const nlohmann::json& j, const TokenizerDir& td, const SftOptions& opt,
                                      SftStats& st) {
  ALIGN_REQUIRE(j.is_object(), "line is a JSON ", j.type_name(), ", expected an object");
  if (j.contains("messages")) {
    st.conversational++;
    const std::vector<Message> msgs = messages_of(j["messages"], "messages");
    const ChatTemplate& t = require_template(td, opt.chat_template);
    std::vector<int32_t> full = encode_chat(td, t, msgs, false, opt.chat_date);
    std::vector<uint8_t> mask(full.size(), 0);
    for (size_t i = 0; i < msgs.size(); i++) {
      if (msgs[i].role != "assistant") continue;
      const std::vector<Message> before(msgs.begin(), msgs.begin() + i), upto(msgs.begin(), msgs.begin() + i + 1);
      const std::vector<int32_t> a = encode_chat(td, t, before, true, opt.chat_date),
                                 b = encode_chat(td, t, upto, false, opt.chat_date);
      const size_t start = common_prefix(a, b), end = std::min(common_prefix(b, full), b.size());
      if (start < a.size() || end < b.size()) st.boundary_mismatches++;
      for (size_t k = start; k < end; k++) mask[k] = 1;
    }
    return finish(std::move(full), std::move(mask), opt, st);
  }
  if (j.contains("text")) {
    return tokenize_document(string_of(j, "text"), td, opt, st);
  }
  ALIGN_REQUIRE(j.contains("prompt") && j.contains("completion"),
                "expected 'prompt' and 'completion', 'messages', or 'text'");
  if (j["prompt"].is_array() || j["completion"].is_array()) {
    st.conversational++;
    const std::vector<Message> p = messages_of(j["prompt"], "prompt"), c = messages_of(j["completion"], "completion");
    const ChatTemplate& t = require_template(td, opt.chat_template);
    std::vector<Message> all = p;
    all.insert(all.end(), c.begin(), c.end());
    return split_at_prompt(encode_chat(td, t, p, true, opt.chat_date), encode_chat(td, t, all, false, opt.chat_date),
                           opt, st);
  }
  const std::string prompt = string_of(j, "prompt"), completion = string_of(j, "completion");
  std::vector<int32_t> p = encode_plain(td, prompt, st.bos_deduplicated);
  std::vector<int32_t> full = encode_plain(td, prompt + with_eos(td, completion, st.eos_appended), st.bos_deduplicated);
  return split_at_prompt(p, std::move(full), opt, st);
}

std::optional<SftRecord> tokenize_document(const std::string& text, const TokenizerDir& td, const SftOptions& opt,
                                           SftStats& st) {
  std::vector<int32_t> ids = encode_plain(td, with_eos(td, text, st.eos_appended), st.bos_deduplicated);
  std::vector<uint8_t> mask(ids.size(), 1);
  return finish(std::move(ids), std::move(mask), opt, st);
}

}  // namespace align::data
