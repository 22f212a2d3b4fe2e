// batches.cpp: batches from pairs.bin / sft.bin in the three layouts, and the
// epoch order (batches.hpp).
//
// Every layout is built the same way: each pair (or sequence) becomes a unit,
// a run of columns whose fields are relative to the unit's first column; the
// units are placed into rows (one per row for padded, first-fit-decreasing
// otherwise), and copied there with their column fields shifted. So the three
// layouts differ only in what a unit is and how units are placed.
#include "train/batches.hpp"

#include <algorithm>
#include <numeric>

#include "common/error.hpp"
#include "common/rng.hpp"

namespace align::train {

Layout parse_layout(const std::string& name, const std::string& what) {
  if (name == "padded") return Layout::Padded;
  if (name == "packed") return Layout::Packed;
  if (name == "shared") return Layout::Shared;
  throw InputError(cat(what, " '", name, "', expected padded, packed or shared"));
}

const char* layout_name(Layout layout) {
  switch (layout) {
    case Layout::Padded:
      return "padded";
    case Layout::Packed:
      return "packed";
    case Layout::Shared:
      return "shared";
  }
  return "?";
}

Batch TokenBatch::view() const {
  Batch b{N, T, tokens.data(), targets.data(), lengths.data()};
  if (!positions.empty()) {  // rows filled in by hand (benchmarks) may leave the packed fields out
    b.positions = positions.data(), b.seq_start = seq_start.data();
    b.prefix_start = prefix_start.data(), b.prefix_end = prefix_end.data();
  }
  b.E = (int)extra_at.size(), b.extra_at = extra_at.data(), b.extra_targets = extra_targets.data();
  return b;
}

uint64_t TokenBatch::real_tokens() const {
  uint64_t n = 0;
  for (int32_t l : lengths) n += l;
  return n;
}

namespace {

// One prediction: its target and where its log-prob goes (sequence_sums.hpp).
struct Prediction {
  int32_t target = -1, seq = -1, seq2 = -1, order = 0;
  uint8_t completion = 0;
};

// A run of columns placed as a whole; column fields are relative to its first column.
struct Unit {
  std::vector<int32_t> tokens, positions, seq_start, prefix_start, prefix_end;  // (L) each
  std::vector<Prediction> own;                                                  // (L) the prediction of each column
  std::vector<std::pair<int32_t, Prediction>> extra;                            // (column, prediction)
  int len() const { return (int)tokens.size(); }
  void push(uint32_t token, int position, int start, int ps, int pe, Prediction p) {
    tokens.push_back((int32_t)token), positions.push_back(position), seq_start.push_back(start);
    prefix_start.push_back(ps), prefix_end.push_back(pe), own.push_back(p);
  }
};

// One sequence ids, trained per id; column t predicts t+1 and belongs to sequence `seq`.
Unit sequence_unit(std::span<const uint32_t> ids, const std::vector<uint8_t>& trained, int seq) {
  Unit u;
  const int L = (int)ids.size();
  for (int t = 0; t < L; t++) {
    Prediction p;
    p.order = t;
    if (t + 1 < L) p.target = (int32_t)ids[t + 1], p.seq = seq, p.completion = trained[t + 1];
    u.push(ids[t], t, 0, 0, 0, p);
  }
  return u;
}

std::vector<uint32_t> concat(std::span<const uint32_t> a, std::span<const uint32_t> b) {
  std::vector<uint32_t> v(a.begin(), a.end());
  v.insert(v.end(), b.begin(), b.end());
  return v;
}

// [prompt | chosen | rejected] of pair k of B.
Unit shared_unit(const data::PairsFile::View& v, int k, int B) {
  Unit u;
  const int P = (int)v.prompt.size(), C = (int)v.chosen.size(), R = (int)v.rejected.size();
  for (int t = 0; t < P; t++) {
    Prediction p;
    p.order = t;
    if (t + 1 < P) {  // a prompt token: both rows of the padded layout predict it
      p.target = (int32_t)v.prompt[t + 1], p.seq = k, p.seq2 = B + k;
    } else if (C > 0) {  // the last prompt column: chosen's first token, and rejected's as an extra
      p.target = (int32_t)v.chosen[0], p.seq = k, p.completion = 1;
    }
    u.push(v.prompt[t], t, 0, 0, 0, p);
  }
  if (P > 0 && R > 0) u.extra.push_back({P - 1, Prediction{(int32_t)v.rejected[0], B + k, -1, P - 1, 1}});
  for (int i = 0; i < C; i++) {
    Prediction p;
    p.order = P + i;
    if (i + 1 < C) p.target = (int32_t)v.chosen[i + 1], p.seq = k, p.completion = 1;
    u.push(v.chosen[i], P + i, 0, 0, 0, p);
  }
  for (int i = 0; i < R; i++) {
    Prediction p;
    p.order = P + i;
    if (i + 1 < R) p.target = (int32_t)v.rejected[i + 1], p.seq = B + k, p.completion = 1;
    u.push(v.rejected[i], P + i, P + C, 0, P, p);  // sees the prompt [0, P) and itself from P + C
  }
  return u;
}

// First-fit-decreasing of the units into rows of at most `width` columns (a longer unit gets a
// row of its own); empty units take no room. Returns (row, column) per unit; rows, T set.
std::vector<std::pair<int, int>> first_fit_decreasing(const std::vector<Unit>& units, int width, int& rows, int& T) {
  std::vector<std::pair<int, int>> at(units.size(), {0, 0});
  std::vector<size_t> order(units.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return units[a].len() > units[b].len(); });
  std::vector<int> fill;
  for (size_t u : order) {
    const int len = units[u].len();
    if (len == 0) continue;
    int r = 0;
    while (r < (int)fill.size() && fill[r] + len > width) r++;
    if (r == (int)fill.size()) fill.push_back(0);
    at[u] = {r, fill[r]};
    fill[r] += len;
  }
  rows = std::max<int>(1, (int)fill.size());
  T = 1;
  for (int f : fill) T = std::max(T, f);
  return at;
}

// Rows for the units: one per unit in order (padded), or first-fit-decreasing. The batch is
// rectangular (rows × T, T the fullest row), so the row width that computes the fewest columns
// is taken among widths from the longest unit up to the budget: the longest unit's width
// alone never computes more than the padded layout, so packing is never worse than padding.
// `fallback` is one more width to try: one whose columns are known not to exceed the padded
// layout's (for shared pairs, twice the longest sequence: B rows at most of that width).
std::vector<std::pair<int, int>> place(const std::vector<Unit>& units, bool pack, int budget, int fallback,
                                       int& rows) {
  if (!pack) {
    std::vector<std::pair<int, int>> at(units.size());
    for (size_t u = 0; u < units.size(); u++) at[u] = {(int)u, 0};
    rows = (int)units.size();
    return at;
  }
  int longest = 1;
  for (const Unit& u : units) longest = std::max(longest, u.len());
  std::vector<int> widths{budget};  // and from the longest unit up in steps of 1/16
  for (int w = longest; w < budget; w = std::max(w + 1, w + w / 16)) widths.push_back(w);
  if (fallback >= longest && fallback < budget) widths.push_back(fallback);
  std::vector<std::pair<int, int>> best;
  int64_t best_cost = -1;
  for (const int w : widths) {
    int r = 0, T = 0;
    std::vector<std::pair<int, int>> at = first_fit_decreasing(units, w, r, T);
    if (best_cost < 0 || (int64_t)r * T < best_cost) best_cost = (int64_t)r * T, best = std::move(at), rows = r;
  }
  return best;
}

TokenBatch assemble(const std::vector<Unit>& units, int S, bool pack, int budget, int fallback = 0) {
  int rows = 0;
  const std::vector<std::pair<int, int>> at = place(units, pack, budget, fallback, rows);
  int T = 1;
  std::vector<int> length(rows, 0);
  for (size_t u = 0; u < units.size(); u++) {
    length[at[u].first] = std::max(length[at[u].first], at[u].second + units[u].len());
    T = std::max(T, at[u].second + units[u].len());
  }
  TokenBatch b;
  b.N = rows, b.T = T;
  const size_t M = (size_t)rows * T;
  b.tokens.assign(M, 0), b.targets.assign(M, -1), b.lengths = length;
  b.positions.assign(M, 0), b.seq_start.assign(M, 0), b.prefix_start.assign(M, 0), b.prefix_end.assign(M, 0);
  objectives::SequenceMap& m = b.sequences;
  m.S = S;
  m.targets.assign(M, -1), m.seq.assign(M, -1), m.seq2.assign(M, -1), m.completion.assign(M, 0), m.order.assign(M, 0);
  auto put = [&](size_t i, const Prediction& p) {
    if (i < m.size()) {
      m.targets[i] = p.target, m.seq[i] = p.seq, m.seq2[i] = p.seq2, m.completion[i] = p.completion,
      m.order[i] = p.order;
    } else {
      m.targets.push_back(p.target), m.seq.push_back(p.seq), m.seq2.push_back(p.seq2);
      m.completion.push_back(p.completion), m.order.push_back(p.order);
    }
  };
  for (size_t u = 0; u < units.size(); u++) {
    const Unit& unit = units[u];
    const auto [row, col] = at[u];
    for (int t = 0; t < unit.len(); t++) {
      const size_t i = (size_t)row * T + col + t;
      b.tokens[i] = unit.tokens[t];
      b.targets[i] = unit.own[t].target;
      b.positions[i] = unit.positions[t];
      b.seq_start[i] = col + unit.seq_start[t];
      b.prefix_start[i] = col + unit.prefix_start[t];
      b.prefix_end[i] = col + unit.prefix_end[t];
      put(i, unit.own[t]);
    }
  }
  for (size_t u = 0; u < units.size(); u++)
    for (const auto& [c, p] : units[u].extra) {
      const int32_t i = (int32_t)((size_t)at[u].first * T + at[u].second + c);
      b.extra_at.push_back(i), b.extra_targets.push_back(p.target);
      put(m.size(), p);
    }
  return b;
}

// The default row budget: twice max_seq_len, the most a shared pair can span (prompt + two
// answers); the width search in place() keeps rows narrower when that computes fewer columns.
int budget_of(int row_budget, int max_seq_len) {
  return row_budget > 0 ? row_budget : 2 * max_seq_len;
}

}  // namespace

TokenBatch pair_batch(const data::PairsFile& pairs, const std::vector<size_t>& idx, int max_seq_len, Layout layout,
                      int row_budget) {
  std::vector<data::PairsFile::View> views;
  for (size_t i : idx) views.push_back(pairs.get(i));
  return pair_batch(views, idx, max_seq_len, layout, row_budget);
}

TokenBatch pair_batch(const std::vector<data::PairsFile::View>& pairs, const std::vector<size_t>& ids, int max_seq_len,
                      Layout layout, int row_budget) {
  const int B = (int)pairs.size();
  uint64_t sequence_tokens = 0;
  int longest_sequence = 0;
  for (int k = 0; k < B; k++) {
    const auto& v = pairs[k];
    const size_t i = ids[k];
    const size_t longest = v.prompt.size() + std::max(v.chosen.size(), v.rejected.size());
    ALIGN_REQUIRE(longest <= (size_t)max_seq_len, "pair ", i, " has ", longest, " tokens, the model's max_seq_len is ",
                  max_seq_len, " (prepare the data with --max-length ", max_seq_len, ")");
    sequence_tokens += 2 * v.prompt.size() + v.chosen.size() + v.rejected.size();
    longest_sequence = std::max(longest_sequence, (int)longest);
  }
  std::vector<Unit> units;
  if (layout == Layout::Shared) {
    for (int k = 0; k < B; k++) units.push_back(shared_unit(pairs[k], k, B));
  } else {
    for (int side = 0; side < 2; side++)
      for (int k = 0; k < B; k++) {
        const auto& v = pairs[k];
        const auto completion = side == 0 ? v.chosen : v.rejected;
        std::vector<uint8_t> trained(v.prompt.size() + completion.size(), 0);
        std::fill(trained.begin() + v.prompt.size(), trained.end(), 1);
        units.push_back(sequence_unit(concat(v.prompt, completion), trained, side * B + k));
      }
  }
  TokenBatch b = assemble(units, 2 * B, layout != Layout::Padded, budget_of(row_budget, max_seq_len),
                          layout == Layout::Shared ? 2 * longest_sequence : 0);
  b.sequence_tokens = sequence_tokens;
  return b;
}

TokenBatch sft_batch(const data::SftFile& sft, const std::vector<size_t>& idx, int max_seq_len, Layout layout,
                     int row_budget) {
  ALIGN_REQUIRE(layout != Layout::Shared, "the shared layout is for preference pairs; SFT takes padded or packed");
  std::vector<Unit> units;
  uint64_t sequence_tokens = 0;
  for (size_t k = 0; k < idx.size(); k++) {
    const auto v = sft.get(idx[k]);
    ALIGN_REQUIRE(v.ids.size() <= (size_t)max_seq_len, "example ", idx[k], " has ", v.ids.size(),
                  " tokens, the model's max_seq_len is ", max_seq_len, " (prepare the data with --max-length ",
                  max_seq_len, ")");
    units.push_back(sequence_unit(v.ids, std::vector<uint8_t>(v.loss_mask.begin(), v.loss_mask.end()), (int)k));
    sequence_tokens += v.ids.size();
  }
  TokenBatch b = assemble(units, (int)idx.size(), layout != Layout::Padded, budget_of(row_budget, max_seq_len));
  b.sequence_tokens = sequence_tokens;
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
