// sample: generate completions from a model.bin with a KV cache; with
// --compare, the reference model's completion for the same prompt and seed is
// printed beside the policy's.
//   sample -m out/model.bin -t TOKENIZER_DIR --prompt "Once upon a time" [--compare sft.bin]
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/cli.hpp"
#include "common/domain.hpp"
#include "common/text_escape.hpp"
#include "common/error.hpp"
#include "cpu/generate.hpp"
#include "data/text_encoding.hpp"
#include "model/checkpoint.hpp"

namespace {

std::string complete(const align::LoadedModel& m, const std::vector<int32_t>& prompt, int max_new,
                     const align::cpu::SamplingOptions& opt, uint64_t seed, const align::data::TokenizerDir& td) {
  align::cpu::Decoder dec(m.info.config, m.params.data());
  align::Rng rng(seed);
  ALIGN_REQUIRE(!prompt.empty(), "the prompt encodes to no tokens");
  ALIGN_REQUIRE((int)prompt.size() < m.info.config.max_seq_len, "the prompt has ", prompt.size(),
                " tokens, the model's max_seq_len is ", m.info.config.max_seq_len);
  const std::vector<float>* logits = nullptr;
  for (int32_t t : prompt) logits = &dec.feed(t);
  std::vector<int32_t> out;
  while ((int)out.size() < max_new && dec.position() < m.info.config.max_seq_len) {
    const int32_t next = align::cpu::sample_token(*logits, opt, rng);
    if (td.eos_id && next == *td.eos_id) break;
    out.push_back(next);
    if (dec.position() == m.info.config.max_seq_len) break;
    logits = &dec.feed(next);
  }
  return td.tokenizer.decode(out);
}

}  // namespace

int main(int argc, char** argv) {
  return align::run_main("sample", [&]() -> int {
    CLI::App app{"generate completions from a model.bin (KV cache), optionally beside a reference model's", "sample"};
    std::string model, compare, tokenizer, prompts_file, chat_template, chat_date = "today";
    std::vector<std::string> prompts;
    int max_new = 64, n = 1;
    uint64_t seed = 1;
    bool chat = false;
    align::cpu::SamplingOptions opt;
    opt.temperature = 0.7;
    app.add_option("-m,--model", model, "model.bin to sample from")->required();
    app.add_option("-t,--tokenizer", tokenizer, "tokenizer directory or tokenizer.json")->required();
    app.add_option("--compare", compare, "a reference model.bin sampled with the same prompts and seeds");
    app.add_option("-p,--prompt", prompts, "a prompt (repeatable)");
    app.add_option("--prompts", prompts_file, "JSONL whose lines have a 'prompt' string");
    app.add_flag("--chat", chat, "render each prompt as a user message with the chat template");
    app.add_option("--chat-template", chat_template,
                   "a Jinja chat template file, or a built-in: chatml, llama3, zephyr, plain (default: the tokenizer "
                   "directory's)");
    app.add_option("--chat-date", chat_date, "the date strftime_now gives the template, YYYY-MM-DD or today")
        ->capture_default_str();
    app.add_option("--max-new-tokens", max_new, "tokens generated at most per completion")
        ->capture_default_str()->transform(align::in_domain(align::Domain::ints(1, 1 << 24)));
    app.add_option("--temperature", opt.temperature, "sampling temperature (0: greedy)")
        ->capture_default_str()->transform(align::in_domain(align::Domain::reals(0, 100)));
    app.add_option("--top-k", opt.top_k, "sample among the k most likely tokens (0: all)")
        ->capture_default_str()->transform(align::in_domain(align::Domain::ints(0, 1 << 24)));
    app.add_option("--top-p", opt.top_p, "sample among the most likely tokens holding this mass")
        ->capture_default_str()->transform(align::in_domain(align::Domain::reals(0, 1, true)));
    app.add_option("-n,--num-samples", n, "completions per prompt")
        ->capture_default_str()->transform(align::in_domain(align::Domain::ints(1, 1 << 20)));
    app.add_option("--seed", seed, "seed of the first completion (the next ones add 1)")
        ->capture_default_str()->transform(align::in_domain(align::domains::seed()));
    if (const int rc = align::parse_args(app, argc, argv); rc >= 0) return rc;
    const align::data::TokenizerDir td = align::data::load_tokenizer_dir(tokenizer);
    if (!prompts_file.empty()) {
      std::ifstream in(prompts_file);
      ALIGN_REQUIRE(in.is_open(), prompts_file, ": cannot open");
      size_t line_no = 0;
      for (std::string line; std::getline(in, line);) {
        line_no++;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        nlohmann::json j;
        try {
          j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {
          throw align::InputError(align::cat(prompts_file, ":", line_no, ": ", align::json_error(e, line)));
        }
        ALIGN_REQUIRE(j.is_object() && j.contains("prompt") && j["prompt"].is_string(), prompts_file, ":", line_no,
                      ": expected an object with a 'prompt' string");
        prompts.push_back(j["prompt"].get<std::string>());
      }
    }
    ALIGN_REQUIRE(!prompts.empty(), "no prompt: give --prompt or --prompts");
    const align::LoadedModel policy = align::load_model(model);
    std::optional<align::LoadedModel> ref;
    if (!compare.empty()) ref = align::load_model(compare);
    const align::data::ChatDate date = align::data::parse_chat_date(chat_date, "--chat-date");
    const std::shared_ptr<const align::data::ChatTemplate> chosen =
        chat_template.empty() ? nullptr : align::data::load_chat_template(chat_template);
    const align::data::ChatTemplate* tmpl = chat ? &align::data::require_template(td, chosen) : nullptr;
    for (const std::string& p : prompts) {
      size_t dedup = 0;
      const std::vector<int32_t> ids = tmpl ? align::data::encode_chat(td, *tmpl, {{"user", p}}, true, date)
                                            : align::data::encode_plain(td, p, dedup);
      std::printf("prompt: %s\n", p.c_str());
      for (int k = 0; k < n; k++) {
        std::printf("  policy    [%d]: %s\n", k, complete(policy, ids, max_new, opt, seed + k, td).c_str());
        if (ref) std::printf("  reference [%d]: %s\n", k, complete(*ref, ids, max_new, opt, seed + k, td).c_str());
      }
    }
    return 0;
  });
}
