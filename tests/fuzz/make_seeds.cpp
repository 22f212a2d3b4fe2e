// make_seeds: writes the seed corpora of the fuzz targets whose inputs tests/data does not hold as
// files (model.bin, pairs.bin, sft.bin, checkpoint files, a sharded index, recipes, JSONL rows,
// chat templates), each small and valid, so that fuzzing starts from inputs that pass the parsers.
//   fuzz_make_seeds OUT_DIR   -> OUT_DIR/<target>/seed_*
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "common/file_io.hpp"
#include "data/pairs_file.hpp"
#include "data/sft_file.hpp"
#include "model/checkpoint.hpp"
#include "model/init.hpp"
#include "model/tensor_table.hpp"
#include "train/adamw.hpp"
#include "train/checkpoint_dir.hpp"

namespace fs = std::filesystem;

namespace {
std::string g_out;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(fs::path(g_out) / target);
  const std::string path = (fs::path(g_out) / target / name).string();
  align::write_file_atomic(path, [&](std::FILE* fp) { align::write_all(fp, bytes.data(), bytes.size(), path); });
}
std::string slurp(const std::string& path) {
  const std::vector<uint8_t> b = align::read_file_bytes(path);
  return std::string(b.begin(), b.end());
}
const std::string kSep = "\n--8<--\n";
}  // namespace

int main(int argc, char** argv) {
  return align::run_main("fuzz_make_seeds", [&]() -> int {
    if (argc != 2) throw align::InputError("usage: fuzz_make_seeds OUT_DIR");
    g_out = argv[1];
    const std::string tmp = (fs::path(g_out) / ".work").string();
    fs::create_directories(tmp);

    // model.bin: a tiny llama and a tiny gpt2, fp32 and bf16.
    for (const char* arch : {"llama", "gpt2"}) {
      const align::ModelConfig c = std::string(arch) == "gpt2" ? align::ModelConfig::gpt2(40, 1, 2, 8, 8)
                                                               : align::ModelConfig::llama(40, 1, 2, 1, 8, 16, 8);
      std::vector<float> p(align::TensorTable(c).total_size());
      align::init_params(c, p.data(), 1);
      for (const auto dt : {align::DType::F32, align::DType::BF16}) {
        const std::string path = tmp + "/m.bin";
        align::save_model(path, c, p.data(), dt);
        put("fuzz_model_bin", std::string("seed_") + arch + "_" + align::dtype_name(dt), slurp(path));
      }
    }
    // pairs.bin and sft.bin: three records each.
    {
      const std::string path = tmp + "/p.bin";
      align::data::write_pairs(path, {50, 49, 7}, {{{1, 2}, {3}, {4, 5}}, {{6}, {7, 8, 9}, {10}}, {{}, {11}, {12}}});
      put("fuzz_pairs_bin", "seed_3", slurp(path));
      align::data::write_sft(path, {50, 49, 7, align::data::SftKind::Examples},
                             {{{1, 2, 3}, {0, 1, 1}}, {{4}, {1}}, {{5, 6, 7, 8, 9}, {0, 0, 1, 1, 1}}});
      put("fuzz_sft_bin", "seed_3", slurp(path));
    }
    // A checkpoint: state.json, manifest.json, optimizer.bin of 16 parameters.
    {
      const std::string dir = tmp + "/ckpt";
      fs::create_directories(dir);
      align::train::CheckpointState s;
      s.step = s.optimizer_step = 3, s.epoch = 1, s.micro_batch = 2, s.num_tokens = 99, s.seed = 42;
      s.batch_size = 2, s.grad_accum = 1, s.data_fingerprint = 0x1234;
      const std::string state = align::train::state_to_json(s).dump(2) + "\n";
      put("fuzz_checkpoint", ".state", state);
      align::write_file_atomic(dir + "/state.json",
                               [&](std::FILE* fp) { align::write_all(fp, state.data(), state.size(), "s"); });
      std::vector<float> m(16), v(16);
      for (int i = 0; i < 16; i++) m[i] = 0.1f * i - 0.5f, v[i] = 0.01f * i;
      align::train::save_adamw_state(dir + "/optimizer.bin", 3, m, v);
      align::train::write_manifest(dir, {"state.json", "optimizer.bin"});
      put("fuzz_checkpoint", "seed_dir",
          state + kSep + slurp(dir + "/manifest.json") + kSep + slurp(dir + "/optimizer.bin"));
      fs::remove(fs::path(g_out) / "fuzz_checkpoint" / ".state");
    }
    // A sharded index over the target's two fixed shards.
    put("fuzz_safetensors_index", "seed_index",
        R"({"metadata": {"total_size": 32}, "weight_map": {"x": "a.safetensors", "y": "b.safetensors"}})");
    // Recipes.
    put("fuzz_recipe", "seed_dpo", R"({"lr": 5e-7, "b": 4, "grad-accum": 2, "max-steps": 10, "warmup-ratio": 0.1,
  "lr-schedule": "cosine", "resume": true, "weight-decay": 0.01, "seed": 3, "adam-beta2": 0.95, "threads": 2,
  "model": "m.bin", "output": "out", "input": "p.bin"})");
    put("fuzz_recipe", "seed_small", R"({"epochs": 2, "save-every": 5, "dtype": "fp32", "device": "cpu"})");
    // JSONL rows (first byte: tokenizer and options), in TRL's forms.
    const std::string rows = std::string(R"({"prompt": "Hi", "chosen": " there", "rejected": " no"}
{"prompt": [{"role": "user", "content": "Q?"}], "chosen": [{"role": "assistant", "content": "A."}], "rejected": [{"role": "assistant", "content": "B"}]}
{"chosen": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}], "rejected": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "z"}]}
{"prompt": "p", "completion": "c"}
{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}
{"text": "plain text"}
)");
    for (const char opts : {'\0', '\x01', '\x06', '\x0b'})
      put("fuzz_jsonl_rows", "seed_opts" + std::to_string((int)opts), std::string(1, opts) + rows);
    // Chat templates: the canonical templates of tests/data, with a conversation.
    const std::string data = ALIGN_TEST_DATA;
    for (const char* d : {"gpt2_tok_chatml", "llama3_tok_llama3", "spm_tok_plain", "spm_tok_zephyr"}) {
      const std::string jinja = slurp(data + "/pairs/" + d + "/chat_template.jinja");
      put("fuzz_chat_template", std::string("seed_") + d, jinja + kSep + std::string("sys\0hello\0answer\0more", 22));
      put("fuzz_tokenizer_config", std::string("seed_") + d, slurp(data + "/pairs/" + d + "/tokenizer_config.json"));
    }
    fs::remove_all(tmp);
    return 0;
  });
}
