// batches.cpp: batches from pairs.bin / sft.bin and the epoch order (batches.hpp).
#include "train/batches.hpp"

#include <algorithm>
#include <numeric>

#include "common/error.hpp"
#include "common/rng.hpp"

namespace align::train {

uint64_t TokenBatch::real_tokens() const {
  uint64_t n = 0;
  for (int32_t l : lengths) n += l;
  return n;
}

namespace {
// Appends one row: ids, and per id whether it is a trained token; position t predicts t+1.
void add_row(TokenBatch& b, int row, const std::vector<uint32_t>& ids, const std::vector<uint8_t>& trained) {
  const int T = b.T, L = (int)ids.size();
  b.lengths[row] = L;
  for (int t = 0; t < L; t++) {
    b.tokens[(size_t)row * T + t] = (int32_t)ids[t];
    if (t + 1 < L) {
      b.targets[(size_t)row * T + t] = (int32_t)ids[t + 1];
      b.completion[(size_t)row * T + t] = trained[t + 1];
    }
  }
}

TokenBatch empty_batch(int N, int T) {
  TokenBatch b;
  b.N = N, b.T = T;
  b.tokens.assign((size_t)N * T, 0);
  b.targets.assign((size_t)N * T, -1);
  b.lengths.assign(N, 0);
  b.completion.assign((size_t)N * T, 0);
  return b;
}
}  // namespace

TokenBatch pair_batch(const data::PairsFile& pairs, const std::vector<size_t>& idx, int max_seq_len) {
  const int B = (int)idx.size();
  int T = 1;
  for (size_t i : idx) {
    const auto v = pairs.get(i);
    const size_t longest = v.prompt.size() + std::max(v.chosen.size(), v.rejected.size());
    ALIGN_REQUIRE(longest <= (size_t)max_seq_len, "pair ", i, " has ", longest, " tokens, the model's max_seq_len is ",
                  max_seq_len, " (prepare the data with --max-length ", max_seq_len, ")");
    T = std::max(T, (int)longest);
  }
  TokenBatch b = empty_batch(2 * B, T);
  for (int k = 0; k < B; k++) {
    const auto v = pairs.get(idx[k]);
    for (int side = 0; side < 2; side++) {
      const auto completion = side == 0 ? v.chosen : v.rejected;
      std::vector<uint32_t> ids(v.prompt.begin(), v.prompt.end());
      ids.insert(ids.end(), completion.begin(), completion.end());
      std::vector<uint8_t> trained(ids.size(), 0);
      std::fill(trained.begin() + v.prompt.size(), trained.end(), 1);
      add_row(b, side * B + k, ids, trained);
    }
  }
  return b;
}

TokenBatch sft_batch(const data::SftFile& sft, const std::vector<size_t>& idx, int max_seq_len) {
  int T = 1;
  for (size_t i : idx) {
    const size_t n = sft.get(i).ids.size();
    ALIGN_REQUIRE(n <= (size_t)max_seq_len, "example ", i, " has ", n, " tokens, the model's max_seq_len is ",
                  max_seq_len, " (prepare the data with --max-length ", max_seq_len, ")");
    T = std::max(T, (int)n);
  }
  TokenBatch b = empty_batch((int)idx.size(), T);
  for (size_t k = 0; k < idx.size(); k++) {
    const auto v = sft.get(idx[k]);
    add_row(b, (int)k, std::vector<uint32_t>(v.ids.begin(), v.ids.end()),
            std::vector<uint8_t>(v.loss_mask.begin(), v.loss_mask.end()));
  }
  return b;
}

std::vector<size_t> epoch_order(size_t n, uint64_t seed, uint64_t epoch, bool shuffle) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (!shuffle) return order;
  Rng rng(seed * 0x9e3779b97f4a7c15ull + epoch + 1);
  for (size_t i = n; i > 1; i--) std::swap(order[i - 1], order[rng.next_u64() % i]);
  return order;
}

}  // namespace align::train
