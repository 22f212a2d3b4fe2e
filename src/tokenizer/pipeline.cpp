// pipeline.cpp: normalisers, pre-tokenisers and decoders of tokenizer.json (pipeline.hpp).
#include "tokenizer/pipeline.hpp"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "tokenizer/byte_level.hpp"
#include "tokenizer/utf8.hpp"

namespace align::tok {

const char* const kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

std::string type_of(const nlohmann::json& j, const std::string& where) {
  ALIGN_REQUIRE(j.is_object() && j.contains("type") && j["type"].is_string(), where, ": ", j.dump().substr(0, 80),
                " has no type");
  return j["type"].get<std::string>();
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  std::string out;
  size_t i = 0;
  for (size_t p; (p = s.find(from, i)) != std::string::npos; i = p + from.size()) out.append(s, i, p - i).append(to);
  out.append(s, i, std::string::npos);
  s.swap(out);
}

// A "pattern" object: {"String": "..."} or {"Regex": "..."}.
struct Pattern {
  std::string literal;
  std::unique_ptr<Regex> regex;
  Pattern(const nlohmann::json& j, const std::string& where) {
    if (j.contains("String")) literal = j["String"].get<std::string>();
    else if (j.contains("Regex")) regex = std::make_unique<Regex>(j["Regex"].get<std::string>());
    else throw InputError(cat(where, ": pattern ", j.dump(), " is neither String nor Regex"));
  }
  std::vector<std::pair<size_t, size_t>> find_all(const std::string& s) const {
    std::vector<std::pair<size_t, size_t>> out;
    for_each_match(s, [&](size_t b, size_t e) { out.emplace_back(b, e); });
    return out;
  }
  void for_each_match(const std::string& s, const std::function<void(size_t, size_t)>& f) const {
    if (regex) return regex->for_each_match(s, f);
    if (literal.empty()) return;
    for (size_t p = s.find(literal); p != std::string::npos; p = s.find(literal, p + literal.size()))
      f(p, p + literal.size());
  }
};

// ---- normalizers ------------------------------------------------------------------------
struct NormSequence : Normalizer {
  std::vector<std::unique_ptr<Normalizer>> steps;
  void apply(std::string& t) const override {
    for (const auto& s : steps) s->apply(t);
  }
};
struct NormPrepend : Normalizer {
  std::string prefix;
  void apply(std::string& t) const override {
    if (!t.empty()) t.insert(0, prefix);
  }
};
struct NormReplace : Normalizer {
  std::unique_ptr<Pattern> pattern;
  std::string content;
  void apply(std::string& t) const override {
    std::string out;
    size_t i = 0;
    for (const auto& [b, e] : pattern->find_all(t)) out.append(t, i, b - i).append(content), i = e;
    out.append(t, i, std::string::npos);
    t.swap(out);
  }
};

// Unicode normal forms through ICU (the tables tokenizers' `unicode-normalization` crate also follows).
struct NormUnicode : Normalizer {
  const icu::Normalizer2* form = nullptr;
  void apply(std::string& t) const override {
    UErrorCode err = U_ZERO_ERROR;
    const icu::UnicodeString in = icu::UnicodeString::fromUTF8(t);
    if (form->isNormalized(in, err) && U_SUCCESS(err)) return;
    err = U_ZERO_ERROR;
    const icu::UnicodeString out = form->normalize(in, err);
    ALIGN_ASSERT(U_SUCCESS(err), "ICU normalisation failed: ", u_errorName(err));
    t.clear();
    out.toUTF8String(t);
  }
};
struct NormLowercase : Normalizer {
  void apply(std::string& t) const override {
    icu::UnicodeString s = icu::UnicodeString::fromUTF8(t);
    s.toLower(icu::Locale::getRoot());
    t.clear();
    s.toUTF8String(t);
  }
};

// ---- pre-tokenizers ----------------------------------------------------------------------
enum class SplitBehavior { Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous };

// Splits a piece at the matches `for_each(text, f)` reports, arranging matches and gaps per the
// behaviour, and emits the parts in order as they complete. Every part is a contiguous byte range of
// the piece and only the last one can still grow, so one open range is all the state there is: a
// long text is never held as a list of its pieces.
template <typename ForEach>
void split_piece(Piece&& p, SplitBehavior behavior, bool invert, ForEach&& for_each, const PreTokenizer::Emit& emit) {
  bool first = p.first;
  bool open = false, last_match = false;
  size_t cb = 0, ce = 0;  // the open part
  auto flush = [&] {
    if (open && ce > cb) {
      emit(Piece{p.text.substr(cb, ce - cb), first});
      first = false;
    }
    open = false;
  };
  auto segment = [&](size_t b, size_t e, bool match) {
    switch (behavior) {
      case SplitBehavior::Isolated:
        flush(), open = true, cb = b, ce = e;
        break;
      case SplitBehavior::Removed:
        flush();
        if (!match) open = true, cb = b, ce = e;
        break;
      case SplitBehavior::MergedWithPrevious:
        if (match && open)
          ce = e;
        else
          flush(), open = true, cb = b, ce = e;
        break;
      case SplitBehavior::MergedWithNext:  // a match waits for what follows it
        if (open && last_match)
          ce = e;
        else
          flush(), open = true, cb = b, ce = e;
        break;
      case SplitBehavior::Contiguous:
        if (match && last_match && open)
          ce = e;
        else
          flush(), open = true, cb = b, ce = e;
        break;
    }
    last_match = match;
  };
  size_t i = 0;
  for_each(p.text, [&](size_t b, size_t e) {
    if (b > i) segment(i, b, invert);
    segment(b, e, !invert);
    i = e;
  });
  if (i < p.text.size()) segment(i, p.text.size(), invert);
  flush();
}

SplitBehavior parse_behavior(const std::string& s, const std::string& where) {
  if (s == "Isolated") return SplitBehavior::Isolated;
  if (s == "Removed") return SplitBehavior::Removed;
  if (s == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (s == "Contiguous") return SplitBehavior::Contiguous;
  throw InputError(cat(where, ": split behavior '", s, "' is not known"));
}

struct PreSequence : PreTokenizer {
  std::vector<std::unique_ptr<PreTokenizer>> steps;
  void run(size_t k, Piece&& p, const Emit& emit) const {
    if (k == steps.size()) return emit(std::move(p));
    steps[k]->apply(std::move(p), [&](Piece&& q) { run(k + 1, std::move(q), emit); });
  }
  void apply(Piece p, const Emit& emit) const override { run(0, std::move(p), emit); }
  bool byte_level() const override {
    for (const auto& s : steps)
      if (s->byte_level()) return true;
    return false;
  }
};
struct PreSplit : PreTokenizer {
  std::unique_ptr<Pattern> pattern;
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
  void apply(Piece p, const Emit& emit) const override {
    split_piece(
        std::move(p), behavior, invert, [&](const std::string& s, const auto& f) { pattern->for_each_match(s, f); },
        emit);
  }
};
struct PreByteLevel : PreTokenizer {
  bool add_prefix_space = false;
  std::unique_ptr<Regex> regex;  // GPT-2's pattern when use_regex
  void apply(Piece p, const Emit& emit) const override {
    if (add_prefix_space && !p.text.empty() && p.text[0] != ' ') p.text.insert(0, " ");
    if (!regex) return emit(std::move(p));
    split_piece(
        std::move(p), SplitBehavior::Isolated, false,
        [&](const std::string& s, const auto& f) { regex->for_each_match(s, f); }, emit);
    // Mapping bytes to characters happens in the tokenizer, once, just before BPE.
  }
  bool byte_level() const override { return true; }
};
struct PreMetaspace : PreTokenizer {
  std::string replacement = "\xE2\x96\x81";  // ▁
  std::string scheme = "always";
  bool split = true;
  void apply(Piece p, const Emit& emit) const override {
    replace_all(p.text, " ", replacement);
    const bool prepend = scheme == "always" || (scheme == "first" && p.first);
    if (prepend && p.text.rfind(replacement, 0) != 0) p.text.insert(0, replacement);
    if (!split) return emit(std::move(p));
    split_piece(
        std::move(p), SplitBehavior::MergedWithNext, false,
        [&](const std::string& s, const auto& f) {
          for (size_t q = s.find(replacement); q != std::string::npos; q = s.find(replacement, q + replacement.size()))
            f(q, q + replacement.size());
        },
        emit);
  }
};
struct PreDigits : PreTokenizer {
  bool individual = false;
  Regex digits{"\\p{N}+"}, digit{"\\p{N}"};
  void apply(Piece p, const Emit& emit) const override {
    const Regex& r = individual ? digit : digits;
    split_piece(
        std::move(p), SplitBehavior::Isolated, false,
        [&](const std::string& s, const auto& f) { r.for_each_match(s, f); }, emit);
  }
};

// ---- decoders ----------------------------------------------------------------------------
struct DecSequence : Decoder {
  std::vector<std::unique_ptr<Decoder>> steps;
  void apply(std::vector<std::string>& t) const override {
    for (const auto& s : steps) s->apply(t);
  }
};
struct DecByteLevel : Decoder {
  // Every token's characters back to bytes (a token with a character outside the map keeps its
  // own UTF-8), then the whole byte string as text with U+FFFD for invalid sequences.
  void apply(std::vector<std::string>& t) const override {
    std::string bytes;
    for (const std::string& s : t)
      if (!ByteLevelMap::get().decode(s, bytes)) bytes += s;
    t.assign(1, sanitize_utf8(bytes));
  }
};
struct DecReplace : Decoder {
  std::string from, to;
  void apply(std::vector<std::string>& t) const override {
    for (std::string& s : t) replace_all(s, from, to);
  }
};
struct DecByteFallback : Decoder {
  // Runs of <0xNN> tokens become the text of their bytes, or one U+FFFD per byte when invalid.
  void apply(std::vector<std::string>& t) const override {
    std::vector<std::string> out;
    std::string bytes;
    size_t run = 0;
    auto flush = [&] {
      if (run == 0) return;
      if (is_valid_utf8(bytes)) out.push_back(bytes);
      else
        for (size_t k = 0; k < run; k++) out.push_back("\xEF\xBF\xBD");
      bytes.clear();
      run = 0;
    };
    for (const std::string& s : t) {
      const bool is_byte = s.size() == 6 && s.compare(0, 3, "<0x") == 0 && s[5] == '>' && std::isxdigit((uint8_t)s[3]) &&
                           std::isxdigit((uint8_t)s[4]);
      if (is_byte) {
        bytes += (char)std::stoi(s.substr(3, 2), nullptr, 16);
        run++;
      } else {
        flush();
        out.push_back(s);
      }
    }
    flush();
    t.swap(out);
  }
};
struct DecFuse : Decoder {
  void apply(std::vector<std::string>& t) const override {
    std::string all;
    for (const std::string& s : t) all += s;
    t.assign(1, all);
  }
};
struct DecStrip : Decoder {
  std::string content;
  int start = 0, stop = 0;
  void apply(std::vector<std::string>& t) const override {
    for (std::string& s : t) {
      for (int k = 0; k < start && s.rfind(content, 0) == 0 && !content.empty(); k++) s.erase(0, content.size());
      for (int k = 0; k < stop && s.size() >= content.size() && !content.empty() &&
                      s.compare(s.size() - content.size(), content.size(), content) == 0;
           k++)
        s.erase(s.size() - content.size());
    }
  }
};
struct DecMetaspace : Decoder {
  std::string replacement = "\xE2\x96\x81";
  bool strip_first = true;
  void apply(std::vector<std::string>& t) const override {
    for (size_t i = 0; i < t.size(); i++) {
      replace_all(t[i], replacement, " ");
      if (i == 0 && strip_first && !t[i].empty() && t[i][0] == ' ') t[i].erase(0, 1);
    }
  }
};

}  // namespace

std::unique_ptr<Normalizer> Normalizer::from_json(const nlohmann::json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, where);
  if (type == "Sequence") {
    auto s = std::make_unique<NormSequence>();
    for (const auto& step : j.at("normalizers")) s->steps.push_back(from_json(step, where));
    return s;
  }
  if (type == "Prepend") {
    auto s = std::make_unique<NormPrepend>();
    s->prefix = j.at("prepend").get<std::string>();
    return s;
  }
  if (type == "Replace") {
    auto s = std::make_unique<NormReplace>();
    s->pattern = std::make_unique<Pattern>(j.at("pattern"), where);
    s->content = j.at("content").get<std::string>();
    return s;
  }
  if (type == "NFC" || type == "NFKC" || type == "NFD" || type == "NFKD") {
    auto s = std::make_unique<NormUnicode>();
    UErrorCode err = U_ZERO_ERROR;
    s->form = type == "NFC"    ? icu::Normalizer2::getNFCInstance(err)
              : type == "NFKC" ? icu::Normalizer2::getNFKCInstance(err)
              : type == "NFD"  ? icu::Normalizer2::getNFDInstance(err)
                               : icu::Normalizer2::getNFKDInstance(err);
    ALIGN_ASSERT(U_SUCCESS(err), "ICU normaliser ", type, ": ", u_errorName(err));
    return s;
  }
  if (type == "Lowercase") return std::make_unique<NormLowercase>();
  throw InputError(cat(where, ": normalizer type '", type,
                       "' is not supported (Sequence, Prepend, Replace, NFC, NFKC, NFD, NFKD, Lowercase)"));
}

std::unique_ptr<PreTokenizer> PreTokenizer::from_json(const nlohmann::json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, where);
  if (type == "Sequence") {
    auto s = std::make_unique<PreSequence>();
    for (const auto& step : j.at("pretokenizers")) s->steps.push_back(from_json(step, where));
    return s;
  }
  if (type == "Split") {
    auto s = std::make_unique<PreSplit>();
    s->pattern = std::make_unique<Pattern>(j.at("pattern"), where);
    s->behavior = parse_behavior(j.at("behavior").get<std::string>(), where);
    s->invert = j.value("invert", false);
    return s;
  }
  if (type == "ByteLevel") {
    auto s = std::make_unique<PreByteLevel>();
    s->add_prefix_space = j.value("add_prefix_space", true);
    if (j.value("use_regex", true)) s->regex = std::make_unique<Regex>(kGpt2SplitPattern);
    return s;
  }
  if (type == "Metaspace") {
    auto s = std::make_unique<PreMetaspace>();
    s->replacement = j.value("replacement", s->replacement);
    if (j.contains("prepend_scheme")) s->scheme = j["prepend_scheme"].get<std::string>();
    else s->scheme = j.value("add_prefix_space", true) ? "always" : "never";
    s->split = j.value("split", true);
    return s;
  }
  if (type == "Digits") {
    auto s = std::make_unique<PreDigits>();
    s->individual = j.value("individual_digits", false);
    return s;
  }
  throw InputError(cat(where, ": pre_tokenizer type '", type,
                       "' is not supported (Sequence, Split, ByteLevel, Metaspace, Digits)"));
}

std::unique_ptr<Decoder> Decoder::from_json(const nlohmann::json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, where);
  if (type == "Sequence") {
    auto s = std::make_unique<DecSequence>();
    for (const auto& step : j.at("decoders")) s->steps.push_back(from_json(step, where));
    return s;
  }
  if (type == "ByteLevel") return std::make_unique<DecByteLevel>();
  if (type == "ByteFallback") return std::make_unique<DecByteFallback>();
  if (type == "Fuse") return std::make_unique<DecFuse>();
  if (type == "Replace") {
    auto s = std::make_unique<DecReplace>();
    const auto& p = j.at("pattern");
    ALIGN_REQUIRE(p.contains("String"), where, ": decoder Replace with a regex pattern is not supported");
    s->from = p["String"].get<std::string>();
    s->to = j.at("content").get<std::string>();
    return s;
  }
  if (type == "Strip") {
    auto s = std::make_unique<DecStrip>();
    s->content = j.at("content").get<std::string>();
    s->start = j.value("start", 0);
    s->stop = j.value("stop", 0);
    return s;
  }
  if (type == "Metaspace") {
    auto s = std::make_unique<DecMetaspace>();
    s->replacement = j.value("replacement", s->replacement);
    const std::string scheme = j.value("prepend_scheme", std::string(j.value("add_prefix_space", true) ? "always" : "never"));
    s->strip_first = scheme != "never";
    return s;
  }
  throw InputError(cat(where, ": decoder type '", type,
                       "' is not supported (Sequence, ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip)"));
}

}  // namespace align::tok
