// pipeline.hpp: the normaliser, pre-tokeniser and decoder stages of a
// tokenizer.json, each built from its JSON object. Only the components that
// GPT-2-, Llama-3-, Qwen2- and SentencePiece-style files use are supported;
// any other type is refused by name rather than ignored.
//
//   Normalizer:    Sequence, Prepend, Replace (string or regex), NFC, NFKC,
//                  NFD, NFKD (through ICU), Lowercase
//   PreTokenizer:  Sequence, Split (regex or string; Isolated, Removed,
//                  MergedWithPrevious, MergedWithNext, Contiguous; invert),
//                  ByteLevel (add_prefix_space, use_regex), Metaspace
//                  (replacement, prepend_scheme, split), Digits
//   Decoder:       Sequence, ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "tokenizer/regex.hpp"

namespace align::tok {

class Normalizer {
 public:
  static std::unique_ptr<Normalizer> from_json(const nlohmann::json& j, const std::string& where);  // null -> nullptr
  virtual ~Normalizer() = default;
  virtual void apply(std::string& text) const = 0;
};

// A piece of text being pre-tokenised; `first` marks the piece at the very start of the input
// (Metaspace's prepend_scheme "first" looks at it).
struct Piece {
  std::string text;
  bool first = false;
};

class PreTokenizer {
 public:
  static std::unique_ptr<PreTokenizer> from_json(const nlohmann::json& j, const std::string& where);
  virtual ~PreTokenizer() = default;
  using Emit = std::function<void(Piece&&)>;
  // Splits one piece, handing each resulting piece to `emit` in order as soon as it is known, so that
  // a long text is never held as a list of all its pieces.
  virtual void apply(Piece piece, const Emit& emit) const = 0;
  // Whether the pieces must be mapped to byte-level characters before BPE (a ByteLevel step ran).
  virtual bool byte_level() const { return false; }
};

class Decoder {
 public:
  static std::unique_ptr<Decoder> from_json(const nlohmann::json& j, const std::string& where);
  virtual ~Decoder() = default;
  virtual void apply(std::vector<std::string>& tokens) const = 0;  // the token strings, in place
};

// The GPT-2 split pattern ByteLevel uses when use_regex is true.
extern const char* const kGpt2SplitPattern;

}  // namespace align::tok
