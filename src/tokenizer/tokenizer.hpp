// tokenizer.hpp: a Hugging Face tokenizer.json, encode and decode, token for
// token equal to the tokenizers library for byte-level BPE (GPT-2, Llama 3,
// Qwen2, SmolLM) and SentencePiece-style BPE (Llama 2, Mistral, TinyLlama).
//
// encode(text):
//   1. invalid UTF-8 becomes U+FFFD (maximal subparts, as Python's "replace")
//   2. added tokens are cut out first (leftmost-longest; lstrip, rstrip and
//      single_word honoured), matched on the raw text
//   3. every other segment: normaliser, pre-tokeniser (pipeline.hpp), bytes
//      mapped to GPT-2's characters if a ByteLevel step ran, BPE per piece
//   4. with add_special_tokens, the post-processor's template (e.g. BOS)
// decode(ids): tokens (added tokens by content) through the decoder chain.
// Not thread-safe (BPE cache, regex match data): one instance per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/bpe.hpp"
#include "tokenizer/pipeline.hpp"

namespace align::tok {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false, lstrip = false, rstrip = false, single_word = false, normalized = false;
};

class Tokenizer {
 public:
  static Tokenizer from_file(const std::string& path);
  Tokenizer(const nlohmann::json& j, const std::string& where, uint64_t fingerprint);
  Tokenizer(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = false) const;
  // The same ids as the unsigned ones data files store (a long text's ids are not held twice).
  std::vector<uint32_t> encode_unsigned(std::string_view text, bool add_special_tokens = false) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  int32_t vocab_size() const { return vocab_size_; }  // largest id + 1, added tokens included
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  bool is_special(int32_t id) const;
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  // The ids the post-processor puts before and after a single sequence (e.g. BOS).
  const std::vector<int32_t>& prefix_ids() const { return prefix_ids_; }
  const std::vector<int32_t>& suffix_ids() const { return suffix_ids_; }
  uint64_t fingerprint() const { return fingerprint_; }  // 64-bit FNV-1a of the tokenizer.json bytes

 private:
  template <typename Id>
  std::vector<Id> encode_as(std::string_view text, bool add_special_tokens) const;
  template <typename Id>
  void encode_segment(std::string_view segment, bool at_start, std::vector<Id>& out) const;
  const AddedToken* match_added(std::string_view text, size_t pos, size_t* begin, size_t* end) const;

  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Decoder> decoder_;
  std::vector<AddedToken> added_;
  std::vector<std::vector<const AddedToken*>> added_by_first_byte_;  // (256), longest first
  std::vector<int32_t> prefix_ids_, suffix_ids_;
  int32_t vocab_size_ = 0;
  uint64_t fingerprint_ = 0;
};

uint64_t fnv1a64(std::string_view bytes);

}  // namespace align::tok
