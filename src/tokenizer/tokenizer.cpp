// tokenizer.cpp: tokenizer.json loading, encode and decode (tokenizer.hpp).
#include "tokenizer/tokenizer.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/file_io.hpp"
#include "tokenizer/byte_level.hpp"
#include "tokenizer/utf8.hpp"

namespace align::tok {

uint64_t fnv1a64(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : bytes) h = (h ^ (uint8_t)c) * 0x100000001b3ull;
  return h;
}

Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_file(const std::string& path) {
  // Parsed from the same bytes it is fingerprinted by.
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception& e) {
    throw InputError(cat(path, ": not valid JSON: ", e.what()));
  }
  return Tokenizer(j, path, fnv1a64(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size())));
}

namespace {
// The ids of a post-processor's template around one sequence "$A".
void template_ids(const nlohmann::json& pp, const std::string& where, std::vector<int32_t>& prefix,
                  std::vector<int32_t>& suffix) {
  if (pp.is_null()) return;
  const std::string type = pp.value("type", std::string());
  if (type == "Sequence") {
    for (const auto& p : pp.at("processors")) template_ids(p, where, prefix, suffix);
  } else if (type == "ByteLevel") {
    // offsets only; no ids
  } else if (type == "TemplateProcessing") {
    bool seen_a = false;
    for (const auto& item : pp.at("single")) {
      if (item.contains("Sequence")) {
        seen_a = true;
        continue;
      }
      const std::string name = item.at("SpecialToken").at("id").get<std::string>();
      const auto& spec = pp.at("special_tokens").at(name);
      for (const auto& id : spec.at("ids")) (seen_a ? suffix : prefix).push_back(id.get<int32_t>());
    }
  } else if (type == "RobertaProcessing" || type == "BertProcessing") {
    prefix.push_back(pp.at("cls").at(1).get<int32_t>());
    suffix.push_back(pp.at("sep").at(1).get<int32_t>());
  } else {
    throw InputError(cat(where, ": post_processor type '", type,
                         "' is not supported (TemplateProcessing, ByteLevel, Sequence, RobertaProcessing, BertProcessing)"));
  }
}

bool is_word_byte(char c) { return std::isalnum((unsigned char)c) || c == '_' || ((unsigned char)c & 0x80); }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
}  // namespace

Tokenizer::Tokenizer(const nlohmann::json& j, const std::string& where, uint64_t fingerprint)
    : fingerprint_(fingerprint) {
  ALIGN_REQUIRE(j.is_object() && j.contains("model"), where, ": no model object (not a tokenizer.json)");
  try {
    model_ = std::make_unique<BpeModel>(j["model"], where);
    normalizer_ = Normalizer::from_json(j.value("normalizer", nlohmann::json()), where);
    pre_tokenizer_ = PreTokenizer::from_json(j.value("pre_tokenizer", nlohmann::json()), where);
    decoder_ = Decoder::from_json(j.value("decoder", nlohmann::json()), where);
    template_ids(j.value("post_processor", nlohmann::json()), where, prefix_ids_, suffix_ids_);
    vocab_size_ = model_->max_id() + 1;
    for (const auto& a : j.value("added_tokens", nlohmann::json::array())) {
      AddedToken t;
      t.id = a.at("id").get<int32_t>();
      t.content = a.at("content").get<std::string>();
      t.special = a.value("special", false);
      t.lstrip = a.value("lstrip", false);
      t.rstrip = a.value("rstrip", false);
      t.single_word = a.value("single_word", false);
      t.normalized = a.value("normalized", false);
      ALIGN_REQUIRE(t.id >= 0 && !t.content.empty(), where, ": added token ", a.dump(), " has no content or a negative id");
      vocab_size_ = std::max(vocab_size_, t.id + 1);
      added_.push_back(std::move(t));
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(cat(where, ": ", e.what()));
  }
  added_by_first_byte_.resize(256);
  for (const AddedToken& t : added_) added_by_first_byte_[(uint8_t)t.content[0]].push_back(&t);
  for (auto& v : added_by_first_byte_)
    std::stable_sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->content.size() > b->content.size(); });
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  for (const AddedToken& t : added_)
    if (t.content == token) return t.id;
  return model_->token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  for (const AddedToken& t : added_)
    if (t.id == id) return t.content;
  if (const std::string* s = model_->id_to_token(id)) return *s;
  return std::nullopt;
}

bool Tokenizer::is_special(int32_t id) const {
  for (const AddedToken& t : added_)
    if (t.id == id) return t.special;
  return false;
}

const AddedToken* Tokenizer::match_added(std::string_view text, size_t pos, size_t* begin, size_t* end) const {
  for (const AddedToken* t : added_by_first_byte_[(uint8_t)text[pos]]) {
    if (text.compare(pos, t->content.size(), t->content) != 0) continue;
    size_t b = pos, e = pos + t->content.size();
    if (t->single_word && ((b > 0 && is_word_byte(text[b - 1])) || (e < text.size() && is_word_byte(text[e])))) continue;
    if (t->lstrip)
      while (b > 0 && is_space(text[b - 1])) b--;
    if (t->rstrip)
      while (e < text.size() && is_space(text[e])) e++;
    *begin = b, *end = e;
    return t;
  }
  return nullptr;
}

template <typename Id>
void Tokenizer::encode_segment(std::string_view view, bool at_start, std::vector<Id>& out) const {
  if (view.empty()) return;
  std::string segment(view);  // the one copy a segment needs (normalizers and pre-tokenizers edit it)
  if (normalizer_) normalizer_->apply(segment);
  const bool byte_level = pre_tokenizer_ && pre_tokenizer_->byte_level();
  auto encode_piece = [&](Piece&& p) {
    if (p.text.empty()) return;
    if (byte_level)
      model_->encode(ByteLevelMap::get().encode(p.text), out);
    else
      model_->encode(p.text, out);
  };
  // Pieces go to the model as the pre-tokenizer produces them: memory stays a small multiple of the text.
  if (pre_tokenizer_)
    pre_tokenizer_->apply(Piece{std::move(segment), at_start}, encode_piece);
  else
    encode_piece(Piece{std::move(segment), at_start});
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  return encode_as<int32_t>(text, add_special_tokens);
}

std::vector<uint32_t> Tokenizer::encode_unsigned(std::string_view text, bool add_special_tokens) const {
  return encode_as<uint32_t>(text, add_special_tokens);
}

template <typename Id>
std::vector<Id> Tokenizer::encode_as(std::string_view raw, bool add_special_tokens) const {
  // Valid input is used in place (no copy of a long text); invalid bytes become U+FFFD in a copy.
  std::string sanitized;
  const bool valid = is_valid_utf8(raw);
  if (!valid) sanitized = sanitize_utf8(raw);
  const std::string_view text = valid ? raw : std::string_view(sanitized);
  std::vector<Id> out;
  // A long text gets its ids' room at once (a token covers at least one byte, or is one of a
  // segment's few added ones): growing by doubling would hold the old and new arrays together.
  // Room not written to is address space, not memory.
  if (text.size() >= (1u << 20)) out.reserve(prefix_ids_.size() + text.size() + 64 + suffix_ids_.size());
  if (add_special_tokens) out.insert(out.end(), prefix_ids_.begin(), prefix_ids_.end());
  size_t seg_start = 0;
  for (size_t i = 0; i < text.size();) {
    size_t b, e;
    const AddedToken* t = added_.empty() ? nullptr : match_added(text, i, &b, &e);
    if (!t) {
      i++;
      continue;
    }
    if (b < seg_start) b = seg_start;  // lstrip cannot reach into what an earlier token took
    encode_segment(text.substr(seg_start, b - seg_start), seg_start == 0, out);  // views, not copies
    out.push_back((Id)t->id);
    seg_start = i = e;
  }
  encode_segment(text.substr(seg_start), seg_start == 0, out);
  if (add_special_tokens) out.insert(out.end(), suffix_ids_.begin(), suffix_ids_.end());
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  for (int32_t id : ids) {
    if (skip_special_tokens && is_special(id)) continue;
    std::optional<std::string> t = id_to_token(id);
    ALIGN_REQUIRE(t.has_value(), "token id ", id, " is not in the tokenizer's vocabulary (", vocab_size_, " ids)");
    tokens.push_back(std::move(*t));
  }
  if (!decoder_) {
    std::string s;
    for (size_t i = 0; i < tokens.size(); i++) s += (i ? " " : "") + tokens[i];
    return s;
  }
  decoder_->apply(tokens);
  std::string s;
  for (const std::string& t : tokens) s += t;
  return s;
}

}  // namespace align::tok
