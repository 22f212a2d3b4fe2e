// checkpoint_dir.hpp: a training checkpoint on disk, how it is verified, and
// the protocol that swaps a new one in so that a kill at any moment, any
// number of times, always leaves one complete checkpoint to resume from.
//
// A checkpoint is a folder holding model.bin, optimizer.bin (or one
// optimizer.rank<r>.bin per ZeRO-1 rank), state.json (where training stands:
// the step, the data order's position, the optimizer's own step count, the
// training data's fingerprint and the settings a resume must repeat) and,
// written last, manifest.json: the size and 64-bit FNV-1a checksum of every
// other file. A folder is complete exactly when its manifest verifies; a
// partial or corrupted one is never loaded.
//
// Under the output folder OUT live at most three: OUT/checkpoint (the current
// one), OUT/checkpoint.tmp (the one being written) and OUT/checkpoint.old (the
// previous one, during the swap). Saving (rank 0):
//   1. if OUT/checkpoint is not complete, the newest complete one of .tmp and
//      .old is renamed to OUT/checkpoint (a kill during an earlier swap);
//   2. with OUT/checkpoint complete (or absent on the first save), .tmp and
//      .old are removed;
//   3. the files are written into OUT/checkpoint.tmp, each fsynced, then the
//      manifest, then the folder is fsynced;
//   4. checkpoint -> checkpoint.old, checkpoint.tmp -> checkpoint, and
//      checkpoint.old removed, fsyncing OUT after each.
// No step removes or renames the only complete checkpoint, so after a kill
// anywhere one of the three folders verifies; loading takes the complete one
// with the highest step. tests/test_checkpoint_kill.cpp kills the process at
// every file operation of two consecutive saves (and again during the save
// after each) and loads what is left.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace align::train {

inline constexpr int kCheckpointFormat = 2;

struct CheckpointState {
  int64_t step = 0;         // optimizer steps done
  int64_t epoch = 0;        // the epoch in progress
  int64_t micro_batch = 0;  // micro-batches of that epoch done
  uint64_t num_tokens = 0;  // attended tokens so far, all ranks
  uint64_t seed = 0;        // of the data order
  int64_t batch_size = 0, grad_accum = 0, world_size = 1;
  bool zero1 = false;
  int64_t optimizer_step = 0;     // the optimizer's own step count (AdamW's t), equal to step
  uint64_t data_fingerprint = 0;  // of the training data's content (0: unknown)
};

nlohmann::json state_to_json(const CheckpointState& s);
// Every field present, of its type and in its domain (common/domain.hpp), and step consistent with
// optimizer_step; InputError naming `where` and the field.
CheckpointState state_from_json(const nlohmann::json& j, const std::string& where);
CheckpointState read_state(const std::string& dir);  // dir/state.json

// Writes dir/manifest.json over `files` (names inside dir), fsynced.
void write_manifest(const std::string& dir, const std::vector<std::string>& files);
// "" when dir holds a manifest whose every file is present with its size and checksum, and that
// lists state.json; otherwise the first reason it is not complete.
std::string verify_checkpoint(const std::string& dir);

// The newest complete checkpoint under out (checkpoint/, checkpoint.tmp/, checkpoint.old/), by step.
struct FoundCheckpoint {
  std::string dir;
  CheckpointState state;
};
// InputError when there is none, naming why each folder present was refused.
FoundCheckpoint find_checkpoint(const std::string& out);

// Steps 1-2 of the protocol, then creates out/checkpoint.tmp; returns its path. Rank 0 only.
std::string begin_checkpoint(const std::string& out);
// Steps 3 (the manifest over `files`, written into the .tmp folder) and 4. Rank 0 only.
void commit_checkpoint(const std::string& out, const std::vector<std::string>& files);

// metrics.jsonl cut back to the rows of steps <= step (and any torn last line dropped), rewritten
// atomically, so that a resumed run never repeats history. Returns the number of rows removed.
size_t truncate_metrics(const std::string& path, int64_t step);

}  // namespace align::train
