// demo: align.cu end to end in a toy world whose preference a program can
// check, after the DPO paper's controlled-sentiment experiment.
//
// The world: "review of <item> :" prompts and reviews built from positive,
// negative and neutral words; the ground-truth reward of a review is
// (#positive − #negative) / (#positive + #negative), in [−1, 1].
//   1. SFT a tiny Llama-style model on reviews of mixed sentiment (reward ≈ 0)
//   2. sample two reviews per prompt from the SFT model; the one with the
//      higher true reward is chosen (ties dropped): pairs.bin
//   3. DPO from the SFT model, against it as the reference, for several β
//   4. report, before and after: the true reward of sampled reviews, the
//      held-out reward accuracy and margin, and KL(policy ‖ SFT): a
//      miniature reward–KL frontier (smaller β: more reward, more KL)
// Everything runs through the product's own pieces (model, trainer,
// objective, sampler) on the CPU; outputs under --out (metrics.jsonl per run,
// frontier.tsv for dev/plot_metrics.py).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/cli.hpp"
#include "common/domain.hpp"
#include "common/rng.hpp"
#include "cpu/generate.hpp"
#include "data/pairs_file.hpp"
#include "data/sft_file.hpp"
#include "model/checkpoint.hpp"
#include "model/init.hpp"
#include "train/trainer.hpp"

namespace {

namespace fs = std::filesystem;

// The vocabulary: ids are positions in this list.
const std::vector<std::string> kWords = {
    "<pad>", "<bos>", "<eos>", "review", "of", ":",
    "film", "book", "song", "game", "meal", "hotel", "phone", "show",                                     // items 6..13
    "great", "good", "lovely", "superb", "fun", "brilliant", "enjoyable", "excellent",                    // positive 14..21
    "bad", "awful", "boring", "poor", "dull", "terrible", "weak", "annoying",                             // negative 22..29
    "it", "was", "and", "the", "very", "quite", "really", "plot", "story", "ending", "music", "price",
    "staff", "a", "is", "so"};                                                                             // neutral 30..45
constexpr int kBos = 1, kEos = 2, kPosBegin = 14, kNegBegin = 22, kNeutralBegin = 30;
const int kVocab = (int)kWords.size();

double reward(const std::vector<int32_t>& review) {
  int pos = 0, neg = 0;
  for (int32_t t : review) pos += t >= kPosBegin && t < kNegBegin, neg += t >= kNegBegin && t < kNeutralBegin;
  return pos + neg == 0 ? 0.0 : double(pos - neg) / (pos + neg);
}

std::vector<uint32_t> prompt_for(int item) { return {kBos, 3, 4, (uint32_t)(6 + item), 5}; }

// A human-written review: 6..12 words, each a sentiment word with probability 0.35, positive with a
// per-review probability drawn uniformly: mixed sentiment overall.
std::vector<uint32_t> write_review(align::Rng& rng) {
  const double p_pos = rng.uniform();
  std::vector<uint32_t> r;
  for (int k = rng.uniform_int(6, 12); k > 0; k--) {
    if (rng.uniform() < 0.35) r.push_back(rng.uniform() < p_pos ? rng.uniform_int(kPosBegin, kNegBegin - 1)
                                                                : rng.uniform_int(kNegBegin, kNeutralBegin - 1));
    else r.push_back(rng.uniform_int(kNeutralBegin, kVocab - 1));
  }
  r.push_back(kEos);
  return r;
}

std::vector<int32_t> sample_review(const align::LoadedModel& m, int item, align::Rng& rng, int max_new = 16) {
  align::cpu::Decoder dec(m.info.config, m.params.data());
  const std::vector<float>* logits = nullptr;
  for (uint32_t t : prompt_for(item)) logits = &dec.feed((int32_t)t);
  std::vector<int32_t> out;
  while ((int)out.size() < max_new) {
    const int32_t y = align::cpu::sample_token(*logits, {1.0, 0, 1.0}, rng);
    if (y == kEos) break;
    out.push_back(y);
    logits = &dec.feed(y);
  }
  return out;
}

std::string text(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t t : ids) s += (s.empty() ? "" : " ") + kWords[t];
  return s;
}

struct Report {
  std::string name;
  double reward = 0, kl = 0, accuracy = 0, margin = 0;
  std::string example;
};

// Mean true reward of sampled reviews, and KL(policy ‖ ref) estimated on the same samples.
Report measure(const std::string& name, const align::LoadedModel& policy, const align::LoadedModel& ref, int samples,
               uint64_t seed) {
  Report r;
  r.name = name;
  align::Rng rng(seed);
  for (int s = 0; s < samples; s++) {
    const int item = s % 8;
    align::cpu::Decoder dp(policy.info.config, policy.params.data()), dr(ref.info.config, ref.params.data());
    const std::vector<float>*lp = nullptr, *lr = nullptr;
    for (uint32_t t : prompt_for(item)) lp = &dp.feed((int32_t)t), lr = &dr.feed((int32_t)t);
    std::vector<int32_t> y;
    auto logsm = [](const std::vector<float>& z, int32_t t) {
      const float m = *std::max_element(z.begin(), z.end());
      double sum = 0;
      for (float v : z) sum += std::exp((double)v - m);
      return (double)z[t] - m - std::log(sum);
    };
    for (int k = 0; k < 16; k++) {
      const int32_t t = align::cpu::sample_token(*lp, {1.0, 0, 1.0}, rng);
      r.kl += (logsm(*lp, t) - logsm(*lr, t)) / samples;
      if (t == kEos) break;
      y.push_back(t);
      lp = &dp.feed(t), lr = &dr.feed(t);
    }
    r.reward += reward(y) / samples;
    if (s == 0) r.example = "review of " + kWords[6 + item] + ": " + text(y);
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  return align::run_main("demo", [&]() -> int {
    CLI::App app{"align.cu end to end in a toy sentiment world: SFT, preference pairs, DPO for several betas", "demo"};
    std::string out = "demo_out";
    std::vector<double> betas = {0.05, 0.2, 1.0};
    int sft_steps = 300, dpo_steps = 120, pairs = 800, samples = 400;
    uint64_t seed = 7;
    app.add_option("--out", out, "output directory")->capture_default_str();
    app.add_option("--betas", betas, "DPO betas to run")->capture_default_str()->transform(align::in_domain(align::Domain::reals(0, 1e4, true)));
    app.add_option("--sft-steps", sft_steps, "SFT optimizer steps")->capture_default_str()->transform(align::in_domain(align::Domain::ints(1, 1e6)));
    app.add_option("--dpo-steps", dpo_steps, "DPO optimizer steps per beta")->capture_default_str()->transform(align::in_domain(align::Domain::ints(1, 1e6)));
    app.add_option("--pairs", pairs, "preference pairs sampled from the SFT model (10% held out)")
        ->capture_default_str()->transform(align::in_domain(align::Domain::ints(20, 1 << 20)));
    app.add_option("--samples", samples, "reviews sampled per model for the reward and KL figures")
        ->capture_default_str()->transform(align::in_domain(align::Domain::ints(1, 1 << 20)));
    app.add_option("--seed", seed, "seed of everything")->capture_default_str()->transform(align::in_domain(align::domains::seed()));
    if (const int rc = align::parse_args(app, argc, argv); rc >= 0) return rc;
    const auto t0 = std::chrono::steady_clock::now();
    fs::create_directories(out);
    auto path = [&](const std::string& p) { return (fs::path(out) / p).string(); };

    // 0. A tiny Llama-style model.
    align::ModelConfig c = align::ModelConfig::llama(kVocab, 2, 4, 2, 64, 128, 32, /*tied=*/true);
    std::vector<float> init(align::TensorTable(c).total_size());
    align::init_params(c, init.data(), seed);
    align::save_model(path("init.bin"), c, init.data(), align::DType::F32);

    // 1. SFT on human-written reviews of mixed sentiment.
    align::Rng rng(seed);
    std::vector<align::data::SftRecord> sft;
    for (int i = 0; i < 4000; i++) {
      std::vector<uint32_t> ids = prompt_for(i % 8), review = write_review(rng);
      std::vector<uint8_t> mask(ids.size(), 0);
      ids.insert(ids.end(), review.begin(), review.end());
      mask.resize(ids.size(), 1);
      sft.push_back({ids, mask});
    }
    align::data::write_sft(path("sft_data.bin"), {(uint32_t)kVocab, kEos, 0, align::data::SftKind::Examples}, sft);
    std::printf("[1/4] SFT on %zu reviews of mixed sentiment (%d steps)\n", sft.size(), sft_steps);
    {
      auto policy = align::train::make_cpu_backend(c, init);
      align::train::SftTask task(std::make_shared<align::data::SftFile>(path("sft_data.bin")), nullptr, c.max_seq_len,
                                 {align::train::Layout::Packed, 0});
      align::train::TrainOptions o;
      o.batch_size = 32, o.max_steps = sft_steps, o.lr = 3e-3, o.warmup_steps = 20, o.schedule = align::train::Schedule::Cosine;
      o.out_dir = path("sft"), o.quiet = true, o.seed = seed;
      const align::train::TrainSummary s = align::train::train(*policy, task, o);
      std::printf("      final SFT loss %.3f\n", s.last_loss);
    }
    const align::LoadedModel sft_model = align::load_model(path("sft/model.bin"));

    // 2. Preference pairs sampled from the SFT model, labelled by the true reward.
    std::printf("[2/4] sampling %d pairs from the SFT model, the higher-reward review chosen\n", pairs);
    std::vector<align::data::PairRecord> train_pairs, val_pairs;
    align::Rng srng(seed + 1);
    for (int i = 0, made = 0; made < pairs && i < 20 * pairs; i++) {
      const int item = i % 8;
      std::vector<int32_t> a = sample_review(sft_model, item, srng), b = sample_review(sft_model, item, srng);
      if (a.empty() || b.empty() || reward(a) == reward(b)) continue;
      if (reward(a) < reward(b)) std::swap(a, b);
      a.push_back(kEos), b.push_back(kEos);
      align::data::PairRecord p{prompt_for(item), {a.begin(), a.end()}, {b.begin(), b.end()}};
      (made % 10 == 9 ? val_pairs : train_pairs).push_back(std::move(p));
      made++;
    }
    const align::data::PairsMeta meta{(uint32_t)kVocab, kEos, 0};
    align::data::write_pairs(path("pairs.bin"), meta, train_pairs);
    align::data::write_pairs(path("pairs.val.bin"), meta, val_pairs);

    // 3. DPO for each beta, and 4. the report.
    std::vector<Report> reports;
    auto held_out = [&](align::train::Backend& b, Report& r, double beta) {
      align::objectives::ObjectiveConfig obj;
      obj.beta = beta;
      auto ref = align::train::make_cpu_backend(c, sft_model.params);
      align::train::DpoTask task(std::make_shared<align::data::PairsFile>(path("pairs.bin")),
                                 std::make_shared<align::data::PairsFile>(path("pairs.val.bin")), obj, ref.get(), false,
                                 c.max_seq_len, {align::train::Layout::Shared, 0});
      for (const auto& m : align::train::evaluate(b, task, 32)) {
        if (m.name == "eval_rewards/accuracies") r.accuracy = m.value;
        if (m.name == "eval_rewards/margins") r.margin = m.value;
      }
    };
    Report base = measure("SFT (reference)", sft_model, sft_model, samples, seed + 2);
    {
      auto b = align::train::make_cpu_backend(c, sft_model.params);
      held_out(*b, base, 0.1);
    }
    reports.push_back(base);
    for (double beta : betas) {
      std::printf("[3/4] DPO with beta %.2f on %zu pairs (%d steps)\n", beta, train_pairs.size(), dpo_steps);
      const std::string dir = align::cat("dpo_beta", beta);
      auto policy = align::train::make_cpu_backend(c, sft_model.params);
      auto ref = align::train::make_cpu_backend(c, sft_model.params);
      align::objectives::ObjectiveConfig obj;
      obj.beta = beta;
      align::train::DpoTask task(std::make_shared<align::data::PairsFile>(path("pairs.bin")),
                                 std::make_shared<align::data::PairsFile>(path("pairs.val.bin")), obj, ref.get(), false,
                                 c.max_seq_len, {align::train::Layout::Shared, 0});
      align::train::TrainOptions o;
      o.batch_size = 32, o.max_steps = dpo_steps, o.lr = 1e-3, o.warmup_steps = 10, o.out_dir = path(dir);
      o.quiet = true, o.seed = seed, o.eval_every = 20;
      align::train::train(*policy, task, o);
      const align::LoadedModel m = align::load_model(path(dir + "/model.bin"));
      Report r = measure(align::cat("DPO beta=", beta), m, sft_model, samples, seed + 2);
      held_out(*policy, r, beta);
      reports.push_back(r);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[4/4] true reward of sampled reviews (in [-1, 1]), held-out pairs, KL to the SFT model\n\n");
    std::printf("| %-16s | %12s | %16s | %14s | %12s |\n", "model", "true reward", "held-out acc.", "margin", "KL(π‖SFT)");
    std::printf("|%s|%s|%s|%s|%s|\n", std::string(18, '-').c_str(), std::string(14, '-').c_str(),
                std::string(18, '-').c_str(), std::string(16, '-').c_str(), std::string(14, '-').c_str());
    std::ofstream tsv(path("frontier.tsv"));
    tsv << "model\ttrue_reward\theldout_accuracy\tmargin\tkl\n";
    for (const Report& r : reports) {
      // The reference against itself has every margin exactly 0: accuracy is not defined there.
      const std::string acc = &r == &reports.front() ? "- (= ref)" : align::cat(std::to_string(r.accuracy).substr(0, 5));
      std::printf("| %-16s | %+12.3f | %16s | %+14.3f | %12.3f |\n", r.name.c_str(), r.reward, acc.c_str(), r.margin,
                  r.kl);
      tsv << r.name << "\t" << r.reward << "\t" << r.accuracy << "\t" << r.margin << "\t" << r.kl << "\n";
    }
    std::printf("\nexamples (first sample of each model):\n");
    for (const Report& r : reports) std::printf("  %-16s %s\n", r.name.c_str(), r.example.c_str());
    std::printf("\nwall time %.1f s; outputs in %s/ (metrics.jsonl per run, frontier.tsv)\n", secs, out.c_str());
    return 0;
  });
}
