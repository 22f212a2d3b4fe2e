// layouts.cpp: the three batch layouts side by side (src/train/batches.hpp):
// pairs per second and tokens computed per pair for padded, packed and shared on
// three synthetic length distributions, generated with a fixed seed:
//   hh        HH-RLHF-like: multi-turn prompts of a few hundred tokens (100..500),
//             answers of tens (5..80)
//   uf        UltraFeedback-like: short prompts (20..150), long answers (100..500)
//   uniform   prompt, chosen and rejected each uniform in 10..300
// One timed unit is a DPO step as train_dpo --precompute-ref runs it: the policy's
// forward, the objective and the backward (no optimizer: it costs the same in every
// layout). Every layout sees the same batches in the same order; the layouts are
// interleaved batch by batch so that a machine shared with other work slows all
// three alike. The loss of each batch is checked to agree across layouts (the
// layouts are exact; a disagreement beyond float32 rounding aborts the run).
//   pairs/s          pairs of the timed batches / their total wall time
//   pairs/cpu-s      the same per second of the process's CPU time (all threads): on a
//                    machine shared with other work, the steadier measure (run with one
//                    thread, OMP_NUM_THREADS=1, so that no thread spins waiting)
//   tokens/pair      columns computed (rows × T, padding included) per pair
//   padding          1 - real tokens / columns computed
//   attn pairs/pair  visible (query, key) pairs per pair: the attention's work
// Runs on any backend (--device cpu|cuda). Prints a markdown table.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <ctime>
#include <cstdio>
#include <map>
#include <vector>

#include "common/cli.hpp"
#include "common/error.hpp"
#include "common/rng.hpp"
#include "model/init.hpp"
#include "objectives/preference_step.hpp"
#include "train/backend.hpp"
#include "train/batches.hpp"

namespace {

using align::train::Layout;

struct Range {
  int lo, hi;
};
struct Distribution {
  const char* name;
  Range prompt, answer;
};
const Distribution kDistributions[] = {
    {"hh", {100, 500}, {5, 80}}, {"uf", {20, 150}, {100, 500}}, {"uniform", {10, 300}, {10, 300}}};

std::vector<align::data::PairRecord> make_pairs(const Distribution& d, int n, int vocab, uint64_t seed) {
  align::Rng rng(seed);
  auto ids = [&](Range r) {
    std::vector<uint32_t> v(rng.uniform_int(r.lo, r.hi));
    for (auto& x : v) x = (uint32_t)rng.uniform_int(0, vocab - 1);
    return v;
  };
  std::vector<align::data::PairRecord> out;
  for (int i = 0; i < n; i++) out.push_back({ids(d.prompt), ids(d.answer), ids(d.answer)});
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  return align::run_main("bench_layouts", [&]() -> int {
    CLI::App app{"padded, packed and shared batch layouts: pairs/s and tokens per pair", "bench_layouts"};
    std::string device = "cpu", dtype = "fp32", only;
    int layers = 2, heads = 4, embd = 128, vocab = 8192, seq = 1024, pairs = 8, batches = 3, warmup = 1;
    uint64_t seed = 17;
    app.add_option("--device", device, "cpu or cuda")->capture_default_str();
    app.add_option("--dtype", dtype, "fp32 or bf16 (cuda)")->capture_default_str();
    app.add_option("--layers", layers, "layers L")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--heads", heads, "heads NH")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--embd", embd, "width C")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--vocab", vocab, "vocabulary V")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--seq", seq, "max_seq_len, and the packed row budget")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("-b,--pairs", pairs, "pairs per batch B")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--batches", batches, "timed batches per layout and distribution")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--warmup", warmup, "untimed batches first")->capture_default_str();
    app.add_option("--seed", seed, "seed of the lengths and tokens")->capture_default_str();
    app.add_option("--only", only, "one distribution: hh, uf or uniform");
    if (const int rc = align::parse_args(app, argc, argv); rc >= 0) return rc;

    const align::ModelConfig c = align::ModelConfig::gpt2(vocab, layers, heads, embd, seq);
    std::vector<float> params(align::TensorTable(c).total_size());
    align::init_params(c, params.data(), 1337);
    auto policy = align::train::make_backend(device, dtype, c, params);
    align::objectives::ObjectiveConfig objective;  // sigmoid DPO, β = 0.1, stored reference sums
    const Layout layouts[] = {Layout::Padded, Layout::Packed, Layout::Shared};
    std::printf("model: %s; %s %s; B = %d pairs per batch, %d timed batches (+%d warm-up), seed %llu\n\n",
                c.summary().c_str(), device.c_str(), dtype.c_str(), pairs, batches, warmup, (unsigned long long)seed);
    std::printf("| data | layout | pairs/s | vs padded | pairs/cpu-s | vs padded | tokens/pair | padding | "
                "attn pairs/pair |\n");
    std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    std::fflush(stdout);

    for (const Distribution& d : kDistributions) {
      if (!only.empty() && only != d.name) continue;
      const std::vector<align::data::PairRecord> data = make_pairs(d, pairs * (batches + warmup), vocab, seed);
      std::map<Layout, double> seconds, cpu_seconds, columns, real, visible;
      for (int k = 0; k < batches + warmup; k++) {
        std::vector<align::data::PairsFile::View> views;
        std::vector<size_t> ids;
        for (int i = k * pairs; i < (k + 1) * pairs; i++)
          views.push_back({data[i].prompt, data[i].chosen, data[i].rejected}), ids.push_back(i);
        std::vector<double> ref(2 * pairs, 0.0);
        double padded_loss = 0;
        for (const Layout layout : layouts) {
          const auto t0 = std::chrono::steady_clock::now();
          const std::clock_t c0 = std::clock();
          const align::train::TokenBatch b = align::train::pair_batch(views, ids, seq, layout, seq);
          policy->zero_grad();
          const double loss =
              align::objectives::preference_step(*policy, b.view(), b.sequences, objective, ref, 1.0).loss;
          const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          const double dc = (double)(std::clock() - c0) / CLOCKS_PER_SEC;
          // float32: the layouts agree to ~1e-6 relative (tests/test_layouts.cpp); 1e-3 catches a broken layout.
          if (layout == Layout::Padded) padded_loss = loss;
          ALIGN_REQUIRE(std::abs(loss - padded_loss) <= 1e-3 * (1 + std::abs(padded_loss)), d.name, " batch ", k, ": ",
                        align::train::layout_name(layout), " loss ", loss, " differs from padded ", padded_loss);
          if (k < warmup) continue;
          seconds[layout] += dt, cpu_seconds[layout] += dc;
          columns[layout] += (double)b.computed_tokens();
          real[layout] += (double)b.real_tokens();
          visible[layout] += (double)align::prepare_batch(b.view(), c.vocab_size, c.max_seq_len).visible_pairs();
        }
      }
      const double n = (double)pairs * batches;
      for (const Layout layout : layouts)
        std::printf("| %s | %s | %.2f | %.2fx | %.2f | %.2fx | %.0f | %.1f%% | %.0f |\n", d.name,
                    align::train::layout_name(layout), n / seconds[layout], seconds[Layout::Padded] / seconds[layout],
                    n / cpu_seconds[layout], cpu_seconds[Layout::Padded] / cpu_seconds[layout], columns[layout] / n,
                    100.0 * (1.0 - real[layout] / columns[layout]), visible[layout] / n);
      std::fflush(stdout);
    }
    return 0;
  });
}
