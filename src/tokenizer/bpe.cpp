// bpe.cpp: BPE vocabulary, merges and piece encoding (bpe.hpp).
#include "tokenizer/bpe.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <queue>

#include "common/error.hpp"
#include "tokenizer/utf8.hpp"

namespace align::tok {

BpeModel::BpeModel(const nlohmann::json& m, const std::string& where) {
  ALIGN_REQUIRE(m.value("type", std::string("BPE")) == "BPE", where, ": model type '", m.value("type", std::string()),
                "' is not supported, expected BPE");
  ALIGN_REQUIRE(m.contains("vocab") && m["vocab"].is_object(), where, ": model.vocab is not an object");
  ALIGN_REQUIRE(m.contains("merges") && m["merges"].is_array(), where, ": model.merges is not an array");
  for (const auto& [token, id] : m["vocab"].items()) {
    ALIGN_REQUIRE(id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < (1 << 30), where,
                  ": model.vocab['", token, "'] = ", id.dump(), ", expected a non-negative id");
    vocab_[token] = id.get<int32_t>();
    tokens_[id.get<int32_t>()] = token;
    max_id_ = std::max(max_id_, id.get<int32_t>());
  }
  ALIGN_REQUIRE(m.value("continuing_subword_prefix", nlohmann::json()).is_null() &&
                    m.value("end_of_word_suffix", nlohmann::json()).is_null(),
                where, ": continuing_subword_prefix / end_of_word_suffix are not supported");
  ALIGN_REQUIRE(m.value("dropout", nlohmann::json()).is_null() || m["dropout"].get<double>() == 0.0, where,
                ": BPE dropout is not supported");
  int32_t rank = 0;
  for (const auto& merge : m["merges"]) {
    std::string a, b;
    if (merge.is_string()) {  // older writers: "a b"
      const std::string s = merge.get<std::string>();
      const size_t sp = s.find(' ', 1);
      ALIGN_REQUIRE(sp != std::string::npos, where, ": merge ", rank, " '", s, "' is not 'left right'");
      a = s.substr(0, sp), b = s.substr(sp + 1);
    } else {
      ALIGN_REQUIRE(merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string(), where,
                    ": merge ", rank, " is ", merge.dump(), ", expected [left, right]");
      a = merge[0].get<std::string>(), b = merge[1].get<std::string>();
    }
    const auto ia = vocab_.find(a), ib = vocab_.find(b), ab = vocab_.find(a + b);
    ALIGN_REQUIRE(ia != vocab_.end() && ib != vocab_.end() && ab != vocab_.end(), where, ": merge ", rank, " ('", a,
                  "', '", b, "') uses a token missing from the vocabulary");
    merges_.emplace(((uint64_t)(uint32_t)ia->second << 32) | (uint32_t)ib->second, Merge{rank, ab->second});
    rank++;
  }
  if (m.contains("unk_token") && m["unk_token"].is_string()) {
    auto it = vocab_.find(m["unk_token"].get<std::string>());
    ALIGN_REQUIRE(it != vocab_.end(), where, ": unk_token '", m["unk_token"].get<std::string>(), "' is not in the vocabulary");
    unk_ = it->second;
  }
  byte_fallback_ = m.value("byte_fallback", false);
  fuse_unk_ = m.value("fuse_unk", false);
  ignore_merges_ = m.value("ignore_merges", false);
  for (int b = 0; b < 256; b++) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    auto it = vocab_.find(name);
    byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
  }
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(std::string(token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  auto it = tokens_.find(id);
  return it == tokens_.end() ? nullptr : &it->second;
}

template <typename Id>
void BpeModel::encode(std::string_view piece, std::vector<Id>& out) const {
  if (piece.empty()) return;
  if (piece.size() <= 256) {  // long pieces (SentencePiece-style inputs are whole lines) are not worth caching
    auto it = cache_.find(std::string(piece));
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
    std::vector<int32_t> ids;
    encode_uncached(piece, ids);
    if (cache_.size() > 200000) cache_.clear();
    out.insert(out.end(), ids.begin(), ids.end());
    cache_.emplace(std::string(piece), std::move(ids));
    return;
  }
  encode_uncached(piece, out);
}

template <typename Id>
void BpeModel::encode_uncached(std::string_view piece, std::vector<Id>& out) const {
  if (ignore_merges_) {
    auto it = vocab_.find(std::string(piece));
    if (it != vocab_.end()) {
      out.push_back((Id)it->second);
      return;
    }
  }
  // Initial symbols, one per character (or per byte through <0xNN>).
  std::vector<int32_t> sym;
  bool last_unk = false;
  for (size_t i = 0; i < piece.size();) {
    int len = utf8_sequence_length(piece, i);
    if (len == 0) len = 1;  // cannot happen on sanitised input; keep going byte by byte
    auto it = vocab_.find(std::string(piece.substr(i, len)));
    if (it != vocab_.end()) {
      sym.push_back(it->second);
      last_unk = false;
    } else {
      bool bytes_ok = byte_fallback_;
      for (int k = 0; k < len && bytes_ok; k++) bytes_ok = byte_ids_[(uint8_t)piece[i + k]] >= 0;
      if (bytes_ok) {
        for (int k = 0; k < len; k++) sym.push_back(byte_ids_[(uint8_t)piece[i + k]]);
        last_unk = false;
      } else if (unk_) {
        if (!(fuse_unk_ && last_unk)) sym.push_back(*unk_);
        last_unk = true;
      } else {
        throw InputError(cat("text has the character '", std::string(piece.substr(i, len)),
                             "', which the tokenizer cannot encode (no vocabulary entry, byte fallback or unk_token)"));
      }
    }
    i += len;
  }
  // Merge lowest rank first, leftmost among equal ranks. Symbols form a linked list; the heap holds
  // candidate pairs (rank, left position) and stale entries are skipped when popped.
  const int n = (int)sym.size();
  std::vector<int> prev(n), next(n);
  for (int i = 0; i < n; i++) prev[i] = i - 1, next[i] = i + 1 < n ? i + 1 : -1;
  using Cand = std::pair<int32_t, int>;  // (rank, left index)
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto rank_of = [&](int l) -> const Merge* {
    if (l < 0 || next[l] < 0) return nullptr;
    auto it = merges_.find(((uint64_t)(uint32_t)sym[l] << 32) | (uint32_t)sym[next[l]]);
    return it == merges_.end() ? nullptr : &it->second;
  };
  for (int i = 0; i + 1 < n; i++)
    if (const Merge* m = rank_of(i)) heap.push({m->rank, i});
  std::vector<bool> dead(n, false);
  while (!heap.empty()) {
    const auto [rank, l] = heap.top();
    heap.pop();
    if (dead[l]) continue;
    const Merge* m = rank_of(l);
    if (!m || m->rank != rank) continue;  // stale: the pair changed since it was pushed
    const int r = next[l];
    sym[l] = m->merged;
    dead[r] = true;
    next[l] = next[r];
    if (next[r] >= 0) prev[next[r]] = l;
    if (const Merge* left = rank_of(prev[l])) heap.push({left->rank, prev[l]});
    if (const Merge* right = rank_of(l)) heap.push({right->rank, l});
  }
  for (int i = 0; i >= 0 && i < n; i = next[i]) out.push_back((Id)sym[i]);
}

template void BpeModel::encode<int32_t>(std::string_view, std::vector<int32_t>&) const;
template void BpeModel::encode<uint32_t>(std::string_view, std::vector<uint32_t>&) const;

}  // namespace align::tok
