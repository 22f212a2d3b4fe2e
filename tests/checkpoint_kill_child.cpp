// checkpoint_kill_child: a short DPO run on the CPU backend for test_checkpoint_kill.cpp, with a
// kill (SIGKILL) at the n-th file operation, so the trainer's own save path is interrupted the way a
// real kill would interrupt it. A separate program, because the trainer runs OpenMP threads, which
// do not survive a fork.
//   checkpoint_kill_child DIR KILL_AT STOP_AFTER_STEP RESUME
// DIR holds model.bin and train.bin (written by the test); the run writes DIR/out/. KILL_AT 0: no
// kill. Prints the number of file operations it made.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/file_io.hpp"
#include "data/pairs_file.hpp"
#include "model/checkpoint.hpp"
#include "train/tasks.hpp"
#include "train/trainer.hpp"

int main(int argc, char** argv) {
  if (argc != 5) return 2;
  const std::string dir = argv[1];
  const int kill_at = std::atoi(argv[2]);
  int ops = 0;
  align::set_file_fault_hook([&](const char*, const std::string&) {
    if (++ops == kill_at) ::raise(SIGKILL);
  });
  const align::LoadedModel m = align::load_model(dir + "/model.bin");
  auto policy = align::train::make_cpu_backend(m.info.config, m.params);
  auto ref = align::train::make_cpu_backend(m.info.config, m.params);
  auto pairs = std::make_shared<align::data::PairsFile>(dir + "/train.bin");
  align::objectives::ObjectiveConfig obj;
  align::train::DpoTask task(pairs, nullptr, obj, ref.get(), false, m.info.config.max_seq_len);
  align::train::TrainOptions o;
  o.batch_size = 4, o.grad_accum = 1, o.max_steps = 4, o.lr = 5e-3, o.save_every = 1, o.quiet = true;
  o.out_dir = dir + "/out";
  o.stop_after_step = std::atol(argv[3]);
  o.resume = std::atoi(argv[4]) != 0;
  o.data_fingerprint = pairs->content_fingerprint();
  align::train::train(*policy, task, o);
  std::printf("%d\n", ops);
  return 0;
}
