// batches.hpp: token batches built from prepared data in one of three layouts,
// and the seeded order in which examples are visited.
//
// A preference micro-batch of B pairs is 2B sequences, prompt + chosen and
// prompt + rejected; targets are the next token and the completion mask marks
// predictions whose target is a completion token (TRL's shifted completion_mask).
// The layouts (DESIGN.md §3, docs/training.md):
//   padded  2B right-padded rows, chosen rows then rejected rows;
//   packed  the 2B sequences back to back in as few rows of at most row_budget
//           columns as first-fit-decreasing gives (at the row width, up to the
//           budget, that computes the fewest columns: never more than padded);
//           positions restart at each sequence and no sequence sees another;
//   shared  each pair as one unit [prompt | chosen | rejected], units packed the
//           same way: chosen's positions continue the prompt's, rejected's restart
//           where chosen's began; rejected sees the prompt and itself (the batch's
//           shared-prefix run); the last prompt column predicts the first token of
//           both answers (an extra prediction, batch.hpp).
// A unit longer than row_budget gets a row of its own, as long as it is: never cut.
// Whatever the layout, `sequences` maps every prediction to its sequence, so the
// objective receives the same per-sequence sums. An SFT batch is one sequence per
// example with the example's loss mask shifted the same way (padded or packed).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/pairs_file.hpp"
#include "data/sft_file.hpp"
#include "model/batch.hpp"
#include "objectives/sequence_sums.hpp"

namespace align::train {

enum class Layout { Padded, Packed, Shared };
// "padded", "packed" or "shared"; InputError naming `what` (the flag) otherwise.
Layout parse_layout(const std::string& name, const std::string& what = "--layout");
const char* layout_name(Layout layout);

struct LayoutOptions {
  Layout layout = Layout::Padded;
  int row_budget = 0;  // columns per packed row at most; <= 0: twice the model's max_seq_len
};

struct TokenBatch {
  int N = 0, T = 0;
  std::vector<int32_t> tokens, targets, lengths;                        // (N,T), (N,T), (N)
  std::vector<int32_t> positions, seq_start, prefix_start, prefix_end;  // (N,T) each
  std::vector<int32_t> extra_at, extra_targets;                         // (E), (E)
  objectives::SequenceMap sequences;                                    // (N·T + E) predictions -> sequences
  uint64_t sequence_tokens = 0;  // Σ sequence lengths: the tokens of the padded layout's rows (TRL's num_tokens)
  Batch view() const;
  uint64_t real_tokens() const;                                 // Σ lengths: the tokens computed, padding excluded
  uint64_t computed_tokens() const { return (uint64_t)N * T; }  // padding included
  double padding_fraction() const { return 1.0 - (double)real_tokens() / std::max<uint64_t>(computed_tokens(), 1); }
};

// Rows for pairs[indices]. Each sequence must fit max_seq_len (InputError naming the pair);
// row_budget <= 0 means 2·max_seq_len (a packed row may be longer than a sequence: positions restart).
TokenBatch pair_batch(const data::PairsFile& pairs, const std::vector<size_t>& indices, int max_seq_len,
                      Layout layout = Layout::Padded, int row_budget = 0);
// The same from pairs already in memory; ids name them in messages.
TokenBatch pair_batch(const std::vector<data::PairsFile::View>& pairs, const std::vector<size_t>& ids, int max_seq_len,
                      Layout layout, int row_budget = 0);
// Rows for SFT examples[indices] (Shared is refused: an example has no second answer).
TokenBatch sft_batch(const data::SftFile& sft, const std::vector<size_t>& indices, int max_seq_len,
                     Layout layout = Layout::Padded, int row_budget = 0);

// The order of an epoch: a Fisher–Yates shuffle seeded by (seed, epoch), so any
// position of any epoch can be recomputed on resume.
std::vector<size_t> epoch_order(size_t n, uint64_t seed, uint64_t epoch, bool shuffle = true);

}  // namespace align::train
