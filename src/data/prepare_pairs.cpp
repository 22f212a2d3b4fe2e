// prepare_pairs.cpp: preference examples -> token ids, TRL's rules (prepare_pairs.hpp).
#include "data/prepare_pairs.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <tuple>

#include "common/error.hpp"
#include "data/text_encoding.hpp"
#include "tokenizer/utf8.hpp"

namespace align::data {

void PrepareStats::add(const PrepareStats& o) {
  written += o.written;
  dropped_prompt_fills_max_length += o.dropped_prompt_fills_max_length;
  dropped_no_completion_tokens += o.dropped_no_completion_tokens;
  boundary_mismatches += o.boundary_mismatches, bos_deduplicated += o.bos_deduplicated, eos_appended += o.eos_appended;
  conversational += o.conversational, implicit_prompt += o.implicit_prompt, tokens += o.tokens;
  lengths.insert(lengths.end(), o.lengths.begin(), o.lengths.end());
}

namespace {

// The string at `v`, moved out of the DOM (the DOM is the caller's to consume).
std::string take_string(nlohmann::json& v) {
  return std::move(v.get_ref<std::string&>());
}

std::vector<Message> parse_messages(nlohmann::json& v, const char* field) {
  std::vector<Message> out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); i++) {
    auto& m = v[i];
    ALIGN_REQUIRE(m.is_object(), "field '", field, "' message ", i, " is ", m.type_name(), ", expected an object");
    ALIGN_REQUIRE(m.contains("role") && m["role"].is_string(), "field '", field, "' message ", i,
                  " has no string 'role'");
    ALIGN_REQUIRE(m.contains("content") && m["content"].is_string(), "field '", field, "' message ", i,
                  " has no string 'content' (multimodal content lists are not supported)");
    out.push_back({take_string(m["role"]), take_string(m["content"])});
  }
  return out;
}

// TRL's extract_prompt: the first index where chosen and rejected differ (a loop that runs
// out without a difference leaves the index at the last compared element), stepping back
// over one space so that it stays with the completions.
template <typename Seq, typename IsSpace>
size_t shared_prefix(const Seq& a, const Seq& b, IsSpace is_space) {
  const size_t n = std::min(a.size(), b.size());
  ALIGN_REQUIRE(n > 0, "fields 'chosen' and 'rejected' must not be empty when there is no 'prompt'");
  size_t idx = 0;
  for (idx = 0; idx < n; idx++) {
    if (!(a[idx] == b[idx])) {
      const size_t before = idx == 0 ? a.size() - 1 : idx - 1;  // Python's a[-1] at idx 0
      if (is_space(a[before]) && idx > 0) idx--;
      return idx;
    }
  }
  return n - 1;
}

// shared_prefix on the code points of two UTF-8 strings, walked in place (no code point arrays:
// a long text is not held again at four bytes per character); returns the byte offset of the
// boundary, the same in both strings since the code points before it are equal.
size_t shared_prefix_bytes(const std::string& a, const std::string& b) {
  ALIGN_REQUIRE(!a.empty() && !b.empty(), "fields 'chosen' and 'rejected' must not be empty when there is no 'prompt'");
  size_t i = 0, prev = 0, prev_len = 0;  // the current code point's offset; the previous one's offset and length
  while (i < a.size() && i < b.size()) {
    int la = 1, lb = 1;
    tok::decode_code_point(a, i, &la);
    tok::decode_code_point(b, i, &lb);
    if (la != lb || a.compare(i, la, b, i, lb) != 0) {
      if (i > 0 && prev_len == 1 && a[prev] == ' ') return prev;  // the space stays with the completions
      return i;
    }
    prev = i, prev_len = la;
    i += la;
  }
  return prev;  // no difference: the index of the shorter one's last code point
}

}  // namespace

ParsedExample parse_preference(const nlohmann::json& j) {
  nlohmann::json copy = j;
  return parse_preference(std::move(copy));
}

ParsedExample parse_preference(nlohmann::json&& j) {
  ALIGN_REQUIRE(j.is_object(), "line is a JSON ", j.type_name(), ", expected an object");
  ParsedExample ex;
  for (const char* f : {"chosen", "rejected"}) {
    ALIGN_REQUIRE(j.contains(f), "missing field '", f, "'");
    ALIGN_REQUIRE(j[f].is_string() || j[f].is_array(), "field '", f, "' is a ", j[f].type_name(),
                  ", expected a string or a list of messages");
  }
  ALIGN_REQUIRE(j["chosen"].is_string() == j["rejected"].is_string(),
                "fields 'chosen' and 'rejected' mix a string and a list of messages");
  ex.conversational = j["chosen"].is_array();
  const bool has_prompt = j.contains("prompt") && !j["prompt"].is_null();
  if (has_prompt)
    ALIGN_REQUIRE(j["prompt"].is_array() == ex.conversational && (j["prompt"].is_string() || j["prompt"].is_array()),
                  "field 'prompt' is a ", j["prompt"].type_name(), ", expected ",
                  ex.conversational ? "a list of messages like 'chosen'" : "a string like 'chosen'");
  if (ex.conversational) {
    ex.chosen_m = parse_messages(j["chosen"], "chosen");
    ex.rejected_m = parse_messages(j["rejected"], "rejected");
    if (has_prompt) {
      ex.prompt_m = parse_messages(j["prompt"], "prompt");
    } else {
      ex.implicit_prompt = true;
      const size_t k = shared_prefix(ex.chosen_m, ex.rejected_m, [](const Message&) { return false; });
      ex.prompt_m.assign(std::make_move_iterator(ex.chosen_m.begin()),
                         std::make_move_iterator(ex.chosen_m.begin() + k));
      ex.chosen_m.erase(ex.chosen_m.begin(), ex.chosen_m.begin() + k);
      ex.rejected_m.erase(ex.rejected_m.begin(), ex.rejected_m.begin() + k);
    }
    ALIGN_REQUIRE(!ex.chosen_m.empty() && !ex.rejected_m.empty(), "a completion has no messages");
  } else {
    ex.chosen = take_string(j["chosen"]);
    ex.rejected = take_string(j["rejected"]);
    if (has_prompt) {
      ex.prompt = take_string(j["prompt"]);
    } else {
      ex.implicit_prompt = true;
      const size_t k = shared_prefix_bytes(ex.chosen, ex.rejected);
      ex.prompt = ex.chosen.substr(0, k);
      ex.chosen.erase(0, k);
      ex.rejected.erase(0, k);
    }
    ALIGN_REQUIRE(!ex.chosen.empty() && !ex.rejected.empty(), "field '", ex.chosen.empty() ? "chosen" : "rejected",
                  "' is an empty string");
  }
  return ex;
}

std::optional<PairRecord> tokenize_preference(const ParsedExample& ex, const TokenizerDir& td,
                                              const PrepareOptions& opt, PrepareStats& st,
                                              PairTrace* before_truncation) {
  // Memory: a long line is held as its fields' text plus one rendering or concatenation at a time,
  // and as the prompt's ids plus one completion's ids, made as the record's unsigned ids; each
  // completion keeps only the ids after those it shares with the prompt.
  std::vector<uint32_t> prompt, with_c, with_r;
  size_t shared_c = 0, shared_r = 0;
  auto encode_completion = [&](std::vector<uint32_t>& ids, size_t& shared, auto&& make_ids) {
    ids = make_ids();
    shared = common_prefix(prompt, ids);
    if (shared > 0 && ids.size() - shared < ids.size() / 2) {  // mostly prompt: keep just the suffix
      std::vector<uint32_t>(ids.begin() + shared, ids.end()).swap(ids);
    } else {
      ids.erase(ids.begin(), ids.begin() + shared);
    }
  };
  if (ex.conversational) {
    st.conversational++;
    const ChatTemplate& t = require_template(td, opt.chat_template);
    std::vector<const Message*> prompt_messages;
    for (const Message& m : ex.prompt_m) prompt_messages.push_back(&m);
    prompt = encode_chat_unsigned(td, t, prompt_messages, true, opt.chat_date);
    for (auto [ids, shared, completion] :
         {std::tuple{&with_c, &shared_c, &ex.chosen_m}, std::tuple{&with_r, &shared_r, &ex.rejected_m}})
      encode_completion(*ids, *shared, [&, completion = completion] {  // a binding: captured by copy
        std::vector<const Message*> messages = prompt_messages;        // the prompt's and the completion's, not copied
        for (const Message& m : *completion) messages.push_back(&m);
        return encode_chat_unsigned(td, t, messages, false, opt.chat_date);
      });
  } else {
    prompt = encode_plain_unsigned(td, ex.prompt, st.bos_deduplicated);
    for (auto [ids, shared, completion] :
         {std::tuple{&with_c, &shared_c, &ex.chosen}, std::tuple{&with_r, &shared_r, &ex.rejected}})
      encode_completion(*ids, *shared, [&, completion = completion] {
        const std::string& eos = td.eos_token;
        const bool add_eos =
            !eos.empty() && !(completion->size() >= eos.size() &&
                              completion->compare(completion->size() - eos.size(), eos.size(), eos) == 0);
        std::string text;  // prompt + completion (+ EOS), built once
        text.reserve(ex.prompt.size() + completion->size() + (add_eos ? eos.size() : 0));
        text.append(ex.prompt).append(*completion);
        if (add_eos) text.append(eos), st.eos_appended++;
        return encode_plain_unsigned(td, text, st.bos_deduplicated);
      });
  }
  // The prompt/completion boundary: the shorter of the two common prefixes (ids before it are the
  // prompt's own, those between it and a completion's shared prefix go back to that completion).
  const size_t plen = std::min(shared_c, shared_r);
  if (plen < prompt.size()) st.boundary_mismatches++;
  PairRecord rec;
  for (auto [out, ids, shared] :
       {std::tuple{&rec.chosen, &with_c, shared_c}, std::tuple{&rec.rejected, &with_r, shared_r}}) {
    if (shared > plen) ids->insert(ids->begin(), prompt.begin() + plen, prompt.begin() + shared);
    *out = std::move(*ids);
  }
  prompt.resize(plen);
  rec.prompt = std::move(prompt);
  if (before_truncation) *before_truncation = {rec.prompt.size(), rec.chosen.size(), rec.rejected.size()};

  if (opt.max_prompt_length && (int)rec.prompt.size() > *opt.max_prompt_length)
    rec.prompt.erase(rec.prompt.begin(), rec.prompt.end() - *opt.max_prompt_length);
  if (opt.max_length > 0) {
    const size_t L = opt.max_length;
    if (opt.truncation == Truncation::KeepStart) {
      if (rec.prompt.size() >= L) {
        st.dropped_prompt_fills_max_length++;
        return std::nullopt;
      }
      for (auto* v : {&rec.chosen, &rec.rejected})
        if (v->size() > L - rec.prompt.size()) v->resize(L - rec.prompt.size());
    } else {
      for (auto* v : {&rec.chosen, &rec.rejected})
        if (v->size() > L) v->erase(v->begin(), v->end() - L);
      const size_t room = L - std::max(rec.chosen.size(), rec.rejected.size());
      if (rec.prompt.size() > room) rec.prompt.erase(rec.prompt.begin(), rec.prompt.end() - room);
    }
  }
  if (rec.chosen.empty() || rec.rejected.empty()) {
    st.dropped_no_completion_tokens++;
    return std::nullopt;
  }
  st.written++;
  st.tokens += rec.prompt.size() + rec.chosen.size() + rec.rejected.size();
  st.lengths.push_back((uint32_t)(rec.prompt.size() + std::max(rec.chosen.size(), rec.rejected.size())));
  return rec;
}

}  // namespace align::data
