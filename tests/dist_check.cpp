// dist_check: data-parallel training on MPI ranks against one process.
//   mpirun -np N dist_check DIR [--zero1] [--device cuda]
// With --device cuda (CUDA builds; `make test` runs it on the software device)
// the ranks train on the CUDA backend in fp32 and exchange over NCCL.
// All ranks train a toy DPO task with a global micro-batch of 8 pairs (8/N per
// rank) for 6 steps with gradient accumulation 2; rank 0 then trains the same
// with one process and a micro-batch of 8, and compares:
//   * losses of every step and final parameters agree within float32 rounding
//     (1e-5 relative): the gradient sum over ranks is ordered differently from
//     the single process's sum over rows, so bit equality is not expected;
//   * a run stopped at step 3 and resumed on the same ranks (sharded ZeRO-1
//     optimizer state included) is bit-identical to the uninterrupted run
//     (same ranks, same reduction order).
// Prints "dist_check: P passed, F failed" on rank 0; exit status 1 on any failure.
#include <chrono>
#include <cmath>
#include <thread>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/file_io.hpp"
#include "common/rng.hpp"
#include "dist/communicator.hpp"
#ifdef ALIGN_WITH_CUDA
#include "dist/nccl.hpp"
#endif
#include "model/checkpoint.hpp"
#include "model/init.hpp"
#include "train/backend.hpp"
#include "train/trainer.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using namespace align;

namespace {

std::vector<double> losses(const std::string& metrics) {
  std::ifstream f(metrics);
  std::vector<double> out;
  for (std::string l; std::getline(f, l);) {
    const nlohmann::json j = nlohmann::json::parse(l);
    if (j.contains("loss")) out.push_back(j["loss"].get<double>());
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: mpirun -np N dist_check DIR [--zero1]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const std::string mode = argc > 2 ? argv[2] : "";
  bool zero1 = false, cuda = false;
  for (int i = 2; i < argc; i++) {
    zero1 |= std::strcmp(argv[i], "--zero1") == 0;
    cuda |= std::strcmp(argv[i], "--device") == 0 && i + 1 < argc && std::strcmp(argv[i + 1], "cuda") == 0;
  }
  if (mode == "--hang" || mode == "--die") {
    // Failure behaviour: rank 1 never arrives (sleeps) or dies; rank 0's collective must end the
    // job within the 2 s timeout with a line naming the rank, the operation and the step.
    auto comm = dist::make_communicator(2.0);
    comm->set_step(7);
    if (comm->rank() == 1) {
      if (mode == "--die") std::_Exit(9);
      std::this_thread::sleep_for(std::chrono::seconds(60));
    }
    double x = 1;
    comm->all_reduce_sum(&x, 1);
    std::printf("FAIL: the collective returned\n");
    return 1;
  }
#ifdef ALIGN_WITH_CUDA
  std::unique_ptr<dist::Communicator> comm =
      cuda ? std::unique_ptr<dist::Communicator>(dist::make_nccl_communicator(120.0)) : dist::make_communicator(120.0);
#else
  if (cuda) {
    std::fprintf(stderr, "dist_check: --device cuda needs a CUDA build\n");
    return 2;
  }
  auto comm = dist::make_communicator(120.0);
#endif
  const int rank = comm->rank(), R = comm->world_size();
  const ModelConfig c = ModelConfig::llama(32, 1, 2, 1, 16, 32, 16);
  std::vector<float> init(TensorTable(c).total_size());
  init_params(c, init.data(), 3);
  if (rank == 0) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    data::write_pairs(dir + "/train.bin", data::PairsMeta{32, -1, 1}, test::toy_preference_pairs(48, 1));
    data::write_pairs(dir + "/val.bin", data::PairsMeta{32, -1, 1}, test::toy_preference_pairs(12, 2));
  }
  comm->barrier();
  auto run = [&](const std::string& out, dist::Communicator* cm, long stop_after, bool resume) {
    auto policy = train::make_backend(cuda ? "cuda" : "cpu", "fp32", c, init);
    auto ref = train::make_backend(cuda ? "cuda" : "cpu", "fp32", c, init);
    objectives::ObjectiveConfig obj;
    train::DpoTask task(std::make_shared<data::PairsFile>(dir + "/train.bin"),
                        std::make_shared<data::PairsFile>(dir + "/val.bin"), obj, ref.get(), false, c.max_seq_len);
    train::TrainOptions o;
    o.batch_size = 8, o.grad_accum = 2, o.max_steps = 6, o.lr = 5e-3, o.warmup_steps = 1, o.quiet = true;
    o.eval_every = 3, o.out_dir = dir + "/" + out, o.comm = cm, o.zero1 = zero1 && cm && cm->world_size() > 1;
    o.stop_after_step = stop_after, o.resume = resume;
    return train::train(*policy, task, o);
  };
  run("dist", comm.get(), 0, false);
  run("dist_resumed", comm.get(), 3, false);
  run("dist_resumed", comm.get(), 0, true);
  int failed = 0, passed = 0;
  if (rank == 0) {
    auto single = dist::make_single_communicator();
    run("single", single.get(), 0, false);
    const LoadedModel a = load_model(dir + "/dist/model.bin"), b = load_model(dir + "/single/model.bin");
    double worst = 0, scale = 0;
    size_t differing = 0;
    for (size_t i = 0; i < a.params.size(); i++) {
      worst = std::max(worst, (double)std::abs(a.params[i] - b.params[i]));
      scale = std::max(scale, (double)std::abs(b.params[i]));
      differing += a.params[i] != b.params[i];
    }
    const std::vector<double> la = losses(dir + "/dist/metrics.jsonl"), lb = losses(dir + "/single/metrics.jsonl");
    double worst_loss = 0;
    for (size_t i = 0; i < la.size() && i < lb.size(); i++)
      worst_loss = std::max(worst_loss, std::abs(la[i] - lb[i]) / std::abs(lb[i]));
    std::printf("%d %s ranks%s vs one process: %zu step losses, worst relative difference %.2e; parameters: %zu of %zu "
                "differ, worst %.2e of max %.2e\n",
                R, comm->name(), zero1 ? " (ZeRO-1)" : "", la.size(), worst_loss, differing, a.params.size(), worst, scale);
    const bool same = la.size() == lb.size() && la.size() == 6 && worst_loss <= 1e-5 && worst <= 1e-5 * scale;
    (same ? passed : failed)++;
    if (!same) std::printf("FAIL: the data-parallel run differs from one process beyond float rounding\n");
    const bool resumed = read_file_bytes(dir + "/dist/model.bin") == read_file_bytes(dir + "/dist_resumed/model.bin");
    (resumed ? passed : failed)++;
    std::printf("%s: resume of the %s checkpoint on %d ranks is %sbit-identical to the uninterrupted run\n",
                resumed ? "ok" : "FAIL", zero1 ? "sharded (ZeRO-1)" : "data-parallel", R, resumed ? "" : "NOT ");
    if (zero1) {
      bool shards = true;
      for (int r = 0; r < R; r++) shards &= fs::exists(cat(dir, "/dist/checkpoint/optimizer.rank", r, ".bin"));
      (shards ? passed : failed)++;
      std::printf("%s: one optimizer shard per rank in the checkpoint\n", shards ? "ok" : "FAIL");
    }
    std::printf("dist_check: %d passed, %d failed\n", passed, failed);
  }
  double f = failed;
  comm->broadcast(&f, sizeof(f), 0);
  return f > 0 ? 1 : 0;
}
