// train_dpo: preference training (DPO and its family, SimPO, ORPO, RPO/MPO
// sums) of a model.bin on a pairs.bin, on the CPU backend.
//   train_dpo -i pairs.bin -m sft.bin [-r ref.bin] [-j val.bin] -o out/
// The reference defaults to the starting model. --precompute-ref computes the
// reference log-probs once, stores them in the pairs file tagged with the
// reference's fingerprint, reuses them while the tag matches, and trains
// without a reference model in memory. SimPO and ORPO need no reference.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <sstream>

#include "common/cli.hpp"
#include "common/domain.hpp"
#include "common/error.hpp"
#include "dist/communicator.hpp"
#include "data/pairs_file.hpp"
#include "model/checkpoint.hpp"
#include "objectives/objective.hpp"
#include "train/signals.hpp"
#include "train/train_flags.hpp"

namespace {

// "a,b,c" -> items; an empty item ("sigmoid," or "a,,b") is refused, never dropped.
std::vector<std::string> split_list(const std::string& s, const char* flag) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); i++)
    if (i == s.size() || s[i] == ',') {
      ALIGN_REQUIRE(i > start, flag, " '", s, "': item ", out.size() + 1, " is empty");
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  return out;
}

void check_vocab(const align::data::PairsFile& pairs, const std::string& path, const align::ModelConfig& c) {
  ALIGN_REQUIRE(pairs.meta().vocab_size <= (uint32_t)c.vocab_size, path, ": token ids go up to vocab_size ",
                pairs.meta().vocab_size, ", the model has ", c.vocab_size, " tokens (a different tokenizer?)");
}

}  // namespace

int main(int argc, char** argv) {
  return align::run_main("train_dpo", [&]() -> int {
    CLI::App app{"preference training (DPO family, SimPO, ORPO) of a model.bin on a pairs.bin", "train_dpo"};
    align::train::CommonFlags f;
    f.opt.lr = 1e-6;      // TRL's DPOConfig default
    f.layout = "shared";  // the prompt computed once per pair
    std::string input, ref_path, losses = "sigmoid", weights, f_div = "reverse_kl";
    double beta = 0.1, orpo_lambda = 0.1, ld_alpha = -1;
    bool precompute = false;
    align::objectives::ObjectiveConfig obj;
    align::train::add_training_flags(app, f);
    app.add_option("-i,--input", input, "pairs.bin (from prepare_pairs)")->required();
    app.add_option("-r,--ref", ref_path, "reference model.bin (default: the --model it starts from)");
    app.add_option("--loss", losses, "loss type, or several joined by commas (sigmoid, robust, ipo, hinge, exo_pair, "
                   "nca_pair, bco_pair, sppo_hard, apo_zero, apo_down, discopop, sigmoid_norm, aot, aot_unpaired, sft, "
                   "simpo, orpo)")->capture_default_str();
    app.add_option("--loss-weights", weights, "weights of the --loss terms, joined by commas (default: 1 each)");
    const align::Domain positive = align::Domain::reals(0, 1e4, true), any = align::Domain::reals(-1e4, 1e4);
    app.add_option("--beta", beta, "β of the DPO family and SimPO")->capture_default_str()->transform(align::in_domain(positive));
    app.add_option("--orpo-lambda", orpo_lambda, "ORPO's λ (TRL calls it beta)")
        ->capture_default_str()->transform(align::in_domain(positive));
    app.add_option("--label-smoothing", obj.label_smoothing, "ε: cDPO (sigmoid), robust, exo_pair, aot, simpo")
        ->capture_default_str()->transform(align::in_domain(align::domains::fraction_open()));
    app.add_option("--simpo-gamma", obj.simpo_gamma, "SimPO's target margin γ")->capture_default_str()->transform(align::in_domain(any));
    app.add_option("--discopop-tau", obj.discopop_tau, "DiscoPOP's τ")->capture_default_str()->transform(align::in_domain(positive));
    app.add_option("--f-divergence", f_div, "reverse_kl, forward_kl, js_divergence or alpha_divergence")
        ->capture_default_str();
    app.add_option("--f-alpha", obj.f_alpha, "α of alpha_divergence")->capture_default_str()->transform(align::in_domain(any));
    app.add_option("--ld-alpha", ld_alpha, "LD-DPO: weight of completion tokens past the shared length")
        ->transform(align::in_domain(align::domains::probability()));
    app.add_flag("--wpo", obj.wpo_weighting, "WPO: weight pairs by their length-normalised probability");
    app.add_flag("--reference-free", obj.reference_free, "take the reference log-probs as 0");
    app.add_flag("--precompute-ref", precompute, "compute reference log-probs once and store them in the pairs files");
    if (const int rc = align::parse_args(app, align::train::args_with_recipe(app, argc, argv)); rc >= 0) return rc;
    align::train::finish_training_flags(f);
    const std::unique_ptr<align::dist::Communicator> comm = align::train::start_communicator(f);
    const bool lead = comm->rank() == 0;

    obj.losses.clear();
    const align::Domain kWeight = align::Domain::reals(0, 1e6);  // a negative weight would maximise the loss
    const std::vector<std::string> names = split_list(losses, "--loss"), ws = split_list(weights, "--loss-weights");
    ALIGN_REQUIRE(!names.empty(), "--loss: no loss given");
    ALIGN_REQUIRE(ws.empty() || ws.size() == names.size(), "--loss-weights has ", ws.size(), " values for ",
                  names.size(), " --loss terms");
    for (size_t k = 0; k < names.size(); k++)
      obj.losses.push_back({align::objectives::parse_loss(names[k]),
                            ws.empty() ? 1.0 : align::parse_in_domain(ws[k], kWeight, "--loss-weights")});
    obj.f_divergence = align::objectives::parse_f_divergence(f_div);
    obj.beta = beta;
    if (obj.has(align::objectives::LossType::Orpo)) {
      ALIGN_REQUIRE(app.count("--beta") == 0, "--beta does not apply to orpo; its λ is --orpo-lambda");
      obj.beta = orpo_lambda;
    }
    if (app.count("--ld-alpha") > 0) obj.ld_alpha = ld_alpha;
    obj.validate();

    const align::LoadedModel start = align::load_model(f.model);
    const align::ModelConfig& c = start.info.config;
    auto train_pairs = std::make_shared<align::data::PairsFile>(input);
    check_vocab(*train_pairs, input, c);
    std::shared_ptr<align::data::PairsFile> val_pairs;
    if (!f.val.empty()) {
      val_pairs = std::make_shared<align::data::PairsFile>(f.val);
      check_vocab(*val_pairs, f.val, c);
    }
    if (lead) std::printf("model %s: %s\ntraining on %s: %zu pairs%s\n", f.model.c_str(), c.summary().c_str(), input.c_str(),
                train_pairs->size(), val_pairs ? align::cat(", validation ", val_pairs->size(), " pairs").c_str() : "");

    // The reference: live, stored (precomputed), or not needed.
    std::unique_ptr<align::train::Backend> reference;
    bool stored = false;
    if (obj.needs_reference()) {
      const std::string rp = ref_path.empty() ? f.model : ref_path;
      const align::LoadedModel ref = rp == f.model ? align::LoadedModel{} : align::load_model(rp);
      const align::LoadedModel& r = rp == f.model ? start : ref;
      ALIGN_REQUIRE(r.info.config == c, rp, ": the reference model's config differs from the policy's");
      if (precompute) {
        const uint64_t tag = align::train::reference_tag(r.info.checksum, obj);
        std::unique_ptr<align::train::Backend> ref_backend;
        for (const std::string& path : {input, f.val}) {
          if (path.empty()) continue;
          if (align::data::PairsFile(path).reference_fingerprint() == tag) {
            if (lead) std::printf("%s: reusing the stored reference log-probs of %s\n", path.c_str(), rp.c_str());
            continue;
          }
          if (!ref_backend) ref_backend = align::train::make_backend(f.device, f.dtype, r.info.config, r.params);
          const size_t n = align::train::precompute_reference(path, *ref_backend, obj, tag, f.opt.batch_size,
                                                              comm.get(), f.layout_options);
          if (lead) std::printf("%s: stored reference log-probs of %zu pairs from %s\n", path.c_str(), n, rp.c_str());
        }
        // Reopen: the files now hold the sums; no reference model stays in memory.
        train_pairs = std::make_shared<align::data::PairsFile>(input);
        if (val_pairs) val_pairs = std::make_shared<align::data::PairsFile>(f.val);
        stored = true;
      } else {
        reference = align::train::make_backend(f.device, f.dtype, r.info.config, r.params);
      }
    } else {
      ALIGN_REQUIRE(ref_path.empty() && !precompute, "this objective uses no reference model; drop --ref / --precompute-ref");
    }

    f.opt.data_fingerprint = train_pairs->content_fingerprint();
    std::unique_ptr<align::train::Backend> policy = align::train::make_backend(f.device, f.dtype, c, start.params);
    align::train::DpoTask task(train_pairs, val_pairs, obj, reference.get(), stored, c.max_seq_len, f.layout_options);
    if (lead) std::printf("batch layout: %s\n", align::train::layout_name(f.layout_options.layout));
    align::train::install_stop_handlers();
    const align::train::TrainSummary s = align::train::train(*policy, task, f.opt);
    if (s.interrupted) return 130;
    if (lead) std::printf("done: %ld steps; final model %s/model.bin\n", s.steps, f.output.c_str());
    return 0;
  });
}
