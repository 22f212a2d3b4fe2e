// prepare_pairs.cpp: preference examples -> token ids, TRL's rules (prepare_pairs.hpp).
#include "data/prepare_pairs.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

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

std::vector<Message> parse_messages(const nlohmann::json& v, const char* field) {
  std::vector<Message> out;
  for (size_t i = 0; i < v.size(); i++) {
    const auto& m = v[i];
    ALIGN_REQUIRE(m.is_object(), "field '", field, "' message ", i, " is ", m.type_name(), ", expected an object");
    ALIGN_REQUIRE(m.contains("role") && m["role"].is_string(), "field '", field, "' message ", i,
                  " has no string 'role'");
    ALIGN_REQUIRE(m.contains("content") && m["content"].is_string(), "field '", field, "' message ", i,
                  " has no string 'content' (multimodal content lists are not supported)");
    out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
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

std::vector<uint32_t> code_points(const std::string& s) {
  std::vector<uint32_t> cps;
  for (size_t i = 0; i < s.size();) {
    int len = 1;
    cps.push_back(tok::decode_code_point(s, i, &len));
    i += len;
  }
  return cps;
}

std::string substr_cp(const std::string& s, size_t from_cp, size_t n_cp = std::string::npos) {
  size_t i = 0, cp = 0;
  while (i < s.size() && cp < from_cp) {
    int len = 1;
    tok::decode_code_point(s, i, &len);
    i += len, cp++;
  }
  size_t j = i;
  for (size_t k = 0; j < s.size() && k < n_cp; k++) {
    int len = 1;
    tok::decode_code_point(s, j, &len);
    j += len;
  }
  return s.substr(i, j - i);
}

}  // namespace

ParsedExample parse_preference(const nlohmann::json& j) {
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
      ex.prompt_m.assign(ex.chosen_m.begin(), ex.chosen_m.begin() + k);
      ex.chosen_m.erase(ex.chosen_m.begin(), ex.chosen_m.begin() + k);
      ex.rejected_m.erase(ex.rejected_m.begin(), ex.rejected_m.begin() + k);
    }
    ALIGN_REQUIRE(!ex.chosen_m.empty() && !ex.rejected_m.empty(), "a completion has no messages");
  } else {
    ex.chosen = j["chosen"].get<std::string>();
    ex.rejected = j["rejected"].get<std::string>();
    if (has_prompt) {
      ex.prompt = j["prompt"].get<std::string>();
    } else {
      ex.implicit_prompt = true;
      const std::vector<uint32_t> a = code_points(ex.chosen), b = code_points(ex.rejected);
      const size_t k = shared_prefix(a, b, [](uint32_t c) { return c == ' '; });
      ex.prompt = substr_cp(ex.chosen, 0, k);
      ex.chosen = substr_cp(ex.chosen, k);
      ex.rejected = substr_cp(ex.rejected, k);
    }
    ALIGN_REQUIRE(!ex.chosen.empty() && !ex.rejected.empty(), "field '", ex.chosen.empty() ? "chosen" : "rejected",
                  "' is an empty string");
  }
  return ex;
}

std::optional<PairRecord> tokenize_preference(const ParsedExample& ex, const TokenizerDir& td,
                                              const PrepareOptions& opt, PrepareStats& st,
                                              PairTrace* before_truncation) {
  std::vector<int32_t> prompt, with_c, with_r;
  if (ex.conversational) {
    st.conversational++;
    const ChatTemplate& t = require_template(td, opt.chat_template);
    std::vector<Message> pc = ex.prompt_m, pr = ex.prompt_m;
    pc.insert(pc.end(), ex.chosen_m.begin(), ex.chosen_m.end());
    pr.insert(pr.end(), ex.rejected_m.begin(), ex.rejected_m.end());
    prompt = encode_chat(td, t, ex.prompt_m, true, opt.chat_date);
    with_c = encode_chat(td, t, pc, false, opt.chat_date);
    with_r = encode_chat(td, t, pr, false, opt.chat_date);
  } else {
    prompt = encode_plain(td, ex.prompt, st.bos_deduplicated);
    with_c = encode_plain(td, ex.prompt + with_eos(td, ex.chosen, st.eos_appended), st.bos_deduplicated);
    with_r = encode_plain(td, ex.prompt + with_eos(td, ex.rejected, st.eos_appended), st.bos_deduplicated);
  }
  const size_t plen = std::min(common_prefix(prompt, with_c), common_prefix(prompt, with_r));
  if (plen < prompt.size()) st.boundary_mismatches++;
  PairRecord rec;
  rec.prompt.assign(with_c.begin(), with_c.begin() + plen);
  rec.chosen.assign(with_c.begin() + plen, with_c.end());
  rec.rejected.assign(with_r.begin() + plen, with_r.end());
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
