// eval_pairs: held-out preference metrics of a policy against a reference
// (DPO loss, reward accuracy and margins, log-probs, as TRL's eval_ metrics),
// and a Monte Carlo estimate of KL(policy ‖ reference) from completions the
// policy samples for the pairs' prompts:
//   KL ≈ mean over samples y ~ π(·|x) of Σ_t [log π(y_t | x, y_<t) − log π_ref(y_t | x, y_<t)]
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <memory>

#include "common/cli.hpp"
#include "common/domain.hpp"
#include "common/error.hpp"
#include "cpu/generate.hpp"
#include "data/pairs_file.hpp"
#include "model/checkpoint.hpp"
#include "train/train_flags.hpp"
#include "train/trainer.hpp"

namespace {

double log_softmax_at(const std::vector<float>& logits, int32_t token) {
  const float maxv = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float z : logits) sum += std::exp((double)z - maxv);
  return (double)logits[token] - maxv - std::log(sum);
}

}  // namespace

int main(int argc, char** argv) {
  return align::run_main("eval_pairs", [&]() -> int {
    CLI::App app{"held-out preference metrics and KL(policy || reference) of a model.bin", "eval_pairs"};
    std::string model, ref_path, input;
    double beta = 0.1;
    int batch = 8, kl_prompts = 16, kl_tokens = 64, row_tokens = 0;
    std::string layout = "shared";
    bool padding_free = false;
    uint64_t seed = 1;
    app.add_option("-m,--model", model, "policy model.bin")->required();
    app.add_option("-r,--ref", ref_path, "reference model.bin")->required();
    app.add_option("-i,--input", input, "held-out pairs.bin")->required();
    app.add_option("--beta", beta, "β of the rewards and the DPO loss")
        ->capture_default_str()->transform(align::in_domain(align::Domain::reals(0, 1e4, true)));
    app.add_option("-b,--batch-size", batch, "pairs per batch")->capture_default_str()->transform(align::in_domain(align::domains::batch()));
    app.add_option("--kl-prompts", kl_prompts, "prompts sampled for the KL estimate (0: skip it)")
        ->capture_default_str()->transform(align::in_domain(align::Domain::ints(0, 1 << 24)));
    app.add_option("--kl-max-tokens", kl_tokens, "tokens sampled per completion at most")
        ->capture_default_str()->transform(align::in_domain(align::Domain::ints(1, 1 << 24)));
    app.add_option("--seed", seed, "sampling seed")->capture_default_str()->transform(align::in_domain(align::domains::seed()));
    align::train::add_layout_flags(app, layout, padding_free, row_tokens);
    if (const int rc = align::parse_args(app, argc, argv); rc >= 0) return rc;
    const align::train::LayoutOptions layout_options =
        align::train::layout_flags_options(layout, "shared", padding_free, row_tokens);
    const align::LoadedModel policy = align::load_model(model), ref = align::load_model(ref_path);
    ALIGN_REQUIRE(policy.info.config == ref.info.config, ref_path, ": the reference's config differs from the policy's");
    auto pairs = std::make_shared<align::data::PairsFile>(input);
    ALIGN_REQUIRE(pairs->size() > 0, input, ": no pairs");
    ALIGN_REQUIRE(pairs->meta().vocab_size <= (uint32_t)policy.info.config.vocab_size, input,
                  ": token ids go up to vocab_size ", pairs->meta().vocab_size, ", the model has ",
                  policy.info.config.vocab_size);
    auto pb = align::train::make_cpu_backend(policy.info.config, policy.params);
    auto rb = align::train::make_cpu_backend(ref.info.config, ref.params);
    align::objectives::ObjectiveConfig obj;
    obj.beta = beta;
    align::train::DpoTask task(pairs, pairs, obj, rb.get(), false, policy.info.config.max_seq_len, layout_options);
    std::printf("%s: %zu pairs\n", input.c_str(), pairs->size());
    for (const auto& m : align::train::evaluate(*pb, task, batch)) std::printf("  %-26s %.6f\n", m.name.c_str(), m.value);

    if (kl_prompts > 0) {
      const align::ModelConfig& c = policy.info.config;
      double kl = 0;
      int samples = 0;
      for (size_t i = 0; i < pairs->size() && samples < kl_prompts; i++) {
        const auto v = pairs->get(i);
        if (v.prompt.empty() || (int)v.prompt.size() >= c.max_seq_len) continue;
        align::cpu::Decoder dp(c, policy.params.data()), dr(c, ref.params.data());
        align::Rng rng(seed + i);
        const std::vector<float>*lp = nullptr, *lr = nullptr;
        for (uint32_t t : v.prompt) lp = &dp.feed((int32_t)t), lr = &dr.feed((int32_t)t);
        double sum = 0;
        for (int k = 0; k < kl_tokens && dp.position() < c.max_seq_len; k++) {
          const int32_t y = align::cpu::sample_token(*lp, {1.0, 0, 1.0}, rng);  // exact samples from π
          sum += log_softmax_at(*lp, y) - log_softmax_at(*lr, y);
          if (y == pairs->meta().eos_id || dp.position() == c.max_seq_len) break;
          lp = &dp.feed(y), lr = &dr.feed(y);
        }
        kl += sum;
        samples++;
      }
      if (samples > 0)
        std::printf("  %-26s %.6f  (%d sampled completions of up to %d tokens)\n", "kl(policy||reference)",
                    kl / samples, samples, kl_tokens);
    }
    return 0;
  });
}
