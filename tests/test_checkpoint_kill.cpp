// test_checkpoint_kill.cpp: checkpoints survive kills at any moment.
//
// A fault hook in the file layer (set_file_fault_hook) counts every operation
// that changes the disk -- create, write, fsync, rename, mkdir, remove, folder
// fsync -- and kills the process (SIGKILL, so nothing is cleaned up) at the
// n-th. For every n over two consecutive saves, and then for every n over the
// two saves of the run resumed after that kill, what is left on disk must hold
// a complete checkpoint that --resume loads, no older than the last save that
// finished. The protocol (checkpoint_dir.hpp) is driven directly in forked
// children; then the whole trainer is killed at every file operation of a
// resumed run (a child process: tests/checkpoint_kill_child.cpp) and resumed
// again, and must end bit-identical to a run never killed.
// Scratch folders are on /dev/shm when present: the same operations, without
// waiting for a disk's fsync thousands of times.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "common/error.hpp"
#include "common/file_io.hpp"
#include "data/pairs_file.hpp"
#include "model/checkpoint.hpp"
#include "model/tensor_table.hpp"
#include "test_util.hpp"
#include "train/checkpoint_dir.hpp"

namespace align::train {
namespace {

namespace fs = std::filesystem;

fs::path scratch_root() {
  std::error_code ec;
  return fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
}

void write_text(const std::string& path, const std::string& text) {
  write_file_atomic(path, [&](std::FILE* fp) { write_all(fp, text.data(), text.size(), path); });
}
std::string read_text(const std::string& path) {
  const std::vector<uint8_t> b = read_file_bytes(path);
  return std::string(b.begin(), b.end());
}

// One save of "step n" through the real protocol: three files whose content names n.
void save_step(const std::string& out, int64_t n) {
  const std::string tmp = begin_checkpoint(out);
  write_text(tmp + "/model.bin", cat("model at step ", n, std::string(100, 'm')));
  write_text(tmp + "/optimizer.bin", cat("optimizer at step ", n));
  CheckpointState s;
  s.step = s.optimizer_step = n;
  s.batch_size = s.grad_accum = 1;
  write_text(tmp + "/state.json", state_to_json(s).dump());
  commit_checkpoint(out, {"model.bin", "optimizer.bin", "state.json"});
}

int count_ops(const std::function<void()>& body) {
  int ops = 0;
  set_file_fault_hook([&](const char*, const std::string&) { ops++; });
  body();
  set_file_fault_hook(nullptr);
  return ops;
}

// Runs body in a child killed by SIGKILL at its kill_at-th file operation; true when it was killed.
bool run_killed(const std::function<void()>& body, int kill_at) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    int ops = 0;
    set_file_fault_hook([&](const char*, const std::string&) {
      if (++ops == kill_at) ::raise(SIGKILL);
    });
    try {
      body();
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return WTERMSIG(status) == SIGKILL;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the saves failed without a kill (kill_at " << kill_at << ")";
  return false;
}

// The checkpoint --resume would load: complete, consistent, its step at least min_step.
int64_t check_loadable(const std::string& out, int64_t min_step, const std::string& what) {
  try {
    const FoundCheckpoint f = find_checkpoint(out);
    EXPECT_GE(f.state.step, min_step) << what << ": resumed from an older checkpoint than the last save that finished";
    EXPECT_EQ(read_text(f.dir + "/model.bin"), cat("model at step ", f.state.step, std::string(100, 'm'))) << what;
    EXPECT_EQ(read_text(f.dir + "/optimizer.bin"), cat("optimizer at step ", f.state.step)) << what;
    return f.state.step;
  } catch (const InputError& e) {
    ADD_FAILURE() << what << ": " << e.what();
    return -1;
  }
}

// What the protocol can see of an output folder: each of the three checkpoint folders absent,
// incomplete or complete at a step. Kills that leave the same layout leave the same next save.
std::string layout(const std::string& out) {
  std::string sig;
  for (const char* name : {"checkpoint", "checkpoint.tmp", "checkpoint.old"}) {
    const std::string dir = out + "/" + name;
    std::error_code ec;
    if (!fs::exists(dir, ec))
      sig += "-";
    else if (!verify_checkpoint(dir).empty())
      sig += "partial";
    else
      sig += cat(read_state(dir).step);
    sig += " ";
  }
  return sig;
}

class CheckpointKill : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = scratch_root() / ("align_kill_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(CheckpointKill, EveryKillOfTwoSavesAndOfTheTwoAfterLeavesALoadableCheckpoint) {
  const std::string base = (root_ / "base").string();
  fs::create_directories(base);
  save_step(base, 1);  // the checkpoint a run resumed from
  // Operations of one save and of two, counted on copies (the first save after a clean state).
  const std::string probe = (root_ / "probe").string();
  fs::copy(base, probe, fs::copy_options::recursive);
  const int one = count_ops([&] { save_step(probe, 2); });
  const int two = one + count_ops([&] { save_step(probe, 3); });
  ASSERT_GT(one, 20);  // begin, three files, the manifest, the swap: each several operations
  int double_kills = 0;
  std::set<std::string> layouts_done;
  for (int k1 = 1; k1 <= two; k1++) {
    const std::string out = (root_ / "out").string();
    fs::remove_all(out);
    fs::copy(base, out, fs::copy_options::recursive);
    ASSERT_TRUE(run_killed([&] { save_step(out, 2), save_step(out, 3); }, k1)) << k1;
    const int64_t lower = k1 > one ? 2 : 1;  // the first save finished when the kill came after its operations
    const int64_t step = check_loadable(out, lower, cat("kill at operation ", k1));
    ASSERT_GE(step, 1);
    // Resumed from that, the next two saves killed at each of their operations in turn (once per
    // distinct layout the first kill left: the rest would repeat the same operations).
    if (!layouts_done.insert(layout(out)).second) continue;
    const std::string probe2 = (root_ / "probe2").string();
    fs::remove_all(probe2);
    fs::copy(out, probe2, fs::copy_options::recursive);
    const int next = count_ops([&] { save_step(probe2, step + 1), save_step(probe2, step + 2); });
    for (int k2 = 1; k2 <= next; k2++) {
      const std::string out2 = (root_ / "out2").string();
      fs::remove_all(out2);
      fs::copy(out, out2, fs::copy_options::recursive);
      ASSERT_TRUE(run_killed([&] { save_step(out2, step + 1), save_step(out2, step + 2); }, k2));
      check_loadable(out2, step,
                     cat("kill at operation ", k1, ", resume from step ", step, ", kill at operation ", k2));
      double_kills++;
      if (HasFailure()) return;
    }
  }
  // Layouts seen: the clean one, a partial .tmp, a complete .tmp beside the current, .old and .tmp
  // mid-swap, .old left to remove -- for each of the two saves.
  EXPECT_GE(layouts_done.size(), 5u);
  EXPECT_GE(double_kills, (int)layouts_done.size() * one);
}

TEST_F(CheckpointKill, APartialOrCorruptedCheckpointIsNeverLoaded) {
  const std::string out = (root_ / "out").string();
  fs::create_directories(out);
  save_step(out, 1);
  save_step(out, 2);
  EXPECT_EQ(find_checkpoint(out).state.step, 2);
  // One flipped byte in any file of the newest: refused by its checksum, nothing older left -> an error naming it.
  std::string bytes = read_text(out + "/checkpoint/optimizer.bin");
  bytes[3] ^= 1;
  std::ofstream(out + "/checkpoint/optimizer.bin", std::ios::binary) << bytes;
  try {
    find_checkpoint(out);
    ADD_FAILURE() << "a corrupted checkpoint was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("optimizer.bin: checksum"), std::string::npos) << e.what();
  }
  // A complete older one next to it (.old, as during a swap) is taken instead.
  fs::create_directories(out + "/x");
  save_step(out + "/x", 1);
  fs::rename(out + "/x/checkpoint", out + "/checkpoint.old");
  EXPECT_EQ(find_checkpoint(out).state.step, 1);
  // A folder without its manifest (an unfinished save) is not complete.
  fs::remove(out + "/checkpoint.old/manifest.json");
  EXPECT_THROW(find_checkpoint(out), InputError);
}

TEST(CheckpointState, FieldsOutsideTheirDomainsAreRefusedWithTheirName) {
  CheckpointState s;
  s.step = s.optimizer_step = 4, s.epoch = 1, s.micro_batch = 2, s.batch_size = 2, s.grad_accum = 1, s.seed = 42;
  s.data_fingerprint = 0x0123456789abcdefull;
  const nlohmann::json good = state_to_json(s);
  const CheckpointState back = state_from_json(good, "state.json");
  EXPECT_EQ(back.step, 4);
  EXPECT_EQ(back.data_fingerprint, s.data_fingerprint);
  struct Case {
    const char* key;
    nlohmann::json value;
    const char* message;
  };
  const Case cases[] = {
      {"micro_batch", -1, "field 'micro_batch' = -1 is not in [0, "},
      {"micro_batch", "2", "field 'micro_batch' is a string, expected a number"},
      {"step", 1e300, "field 'step' = 1e+300 is not in [0, "},
      {"step", 5, "field 'step' = 5 but the optimizer state has made 4 steps"},
      {"batch_size", 0, "field 'batch_size' = 0 is not in [1, "},
      {"seed", -3, "field 'seed' = -3 is not in [0, "},
      {"num_tokens", 18446744073709551615ull, "field 'num_tokens' = 18446744073709551615 is not in [0, "},
      {"zero1", 1, "field 'zero1' is number, expected true or false"},
      {"data_fingerprint", 5, "field 'data_fingerprint' is not 16 hex digits"},
      {"format", 1, "checkpoint format 1, this build reads format 2"},
  };
  for (const Case& c : cases) {
    nlohmann::json j = good;
    j[c.key] = c.value;
    try {
      state_from_json(j, "x/state.json");
      ADD_FAILURE() << c.key << " = " << c.value.dump() << " accepted";
    } catch (const InputError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("x/state.json: ", 0), 0u) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
    }
  }
  nlohmann::json missing = good;
  missing.erase("epoch");
  EXPECT_THROW(
      {
        try {
          state_from_json(missing, "x/state.json");
        } catch (const InputError& e) {
          EXPECT_STREQ(e.what(), "x/state.json: field 'epoch' is missing");
          throw;
        }
      },
      InputError);
}

TEST(MetricsLog, TruncationKeepsRowsUpToTheStepAndDropsATornLine) {
  const fs::path p = scratch_root() / ("align_metrics_" + std::to_string(::getpid()) + ".jsonl");
  std::ofstream(p) << "{\"step\": 1, \"loss\": 0.7}\n{\"step\": 2, \"loss\": 0.6}\n{\"step\": 2, \"eval_loss\": 0.5}\n"
                      "{\"step\": 3, \"loss\": 0.5}\n{\"step\": 4, \"lo";
  EXPECT_EQ(truncate_metrics(p.string(), 2), 2u);
  EXPECT_EQ(read_text(p.string()),
            "{\"step\": 1, \"loss\": 0.7}\n{\"step\": 2, \"loss\": 0.6}\n{\"step\": 2, \"eval_loss\": 0.5}\n");
  EXPECT_EQ(truncate_metrics(p.string(), 2), 0u);  // nothing more to remove: the file is not rewritten
  fs::remove(p);
}

// The trainer itself (tests/checkpoint_kill_child.cpp, a DPO run saving every step), killed at each
// file operation of the run resumed from step 2 (the saves of steps 3 and 4 and the final model),
// then resumed to the end: the final model and metrics.jsonl equal a run never interrupted, so no
// kill lost a checkpoint, none made the resumed run diverge, and no metrics row was written twice.
class TrainerKill : public CheckpointKill {
 protected:
  // Runs the child; returns its stdout (the operation count) and sets killed.
  std::string child(const fs::path& dir, int kill_at, int stop_after, bool resume, bool* killed) {
    const std::string cmd =
        cat(ALIGN_KILL_CHILD, " ", dir.string(), " ", kill_at, " ", stop_after, " ", resume ? 1 : 0);
    std::FILE* p = ::popen(cmd.c_str(), "r");
    std::string out;
    char buf[256];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    const int status = ::pclose(p);
    *killed = WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGKILL);
    if (!*killed) {
      EXPECT_EQ(status, 0) << cmd;
    }
    return out;
  }
  void make_inputs(const fs::path& dir) {
    fs::create_directories(dir);
    fs::copy_file(root_ / "model.bin", dir / "model.bin");
    fs::copy_file(root_ / "train.bin", dir / "train.bin");
  }
};

TEST_F(TrainerKill, AKillAtAnyFileOperationResumesToTheUninterruptedResult) {
  const ModelConfig c = ModelConfig::llama(32, 1, 2, 1, 16, 32, 16);
  std::vector<float> p(TensorTable(c).total_size());
  test::fill_random_params(c, p.data(), 3, 0.1);
  save_model((root_ / "model.bin").string(), c, p.data(), DType::F32);
  data::write_pairs((root_ / "train.bin").string(), data::PairsMeta{32, -1, 1}, test::toy_preference_pairs(16, 1));
  bool killed = false;
  make_inputs(root_ / "straight");
  child(root_ / "straight", 0, 0, false, &killed);
  const std::vector<uint8_t> want_model = read_file_bytes((root_ / "straight/out/model.bin").string());
  const std::string want_metrics = read_text((root_ / "straight/out/metrics.jsonl").string());
  make_inputs(root_ / "base");
  child(root_ / "base", 0, 2, false, &killed);  // a checkpoint at step 2
  fs::copy(root_ / "base", root_ / "probe", fs::copy_options::recursive);
  const int ops = std::atoi(child(root_ / "probe", 0, 0, true, &killed).c_str());
  ASSERT_GT(ops, 40);  // two saves and the final model
  for (int k = 1; k <= ops; k++) {
    const fs::path w = root_ / "w";
    fs::remove_all(w);
    fs::copy(root_ / "base", w, fs::copy_options::recursive);
    child(w, k, 0, true, &killed);
    ASSERT_TRUE(killed) << "operation " << k;
    child(w, 0, 0, true, &killed);
    ASSERT_FALSE(killed);
    EXPECT_EQ(read_file_bytes((w / "out/model.bin").string()), want_model) << "kill at operation " << k;
    EXPECT_EQ(read_text((w / "out/metrics.jsonl").string()), want_metrics) << "kill at operation " << k;
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace align::train
