// hf_layout.cpp: Hugging Face <-> align.cu tensor correspondence and config.json mapping (hf_layout.hpp).
#include "model/hf_layout.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.hpp"
#include "common/json_file.hpp"

namespace align {

std::vector<HfSource> hf_tensor_map(const ModelConfig& c, const TensorTable& table, const std::string& p,
                                    bool include_tied_head) {
  namespace n = tensor_names;
  std::vector<HfSource> out;
  auto map = [&](const std::string& ours, std::vector<std::string> theirs, bool transpose) {
    const TensorSpec* t = table.find(ours);
    ALIGN_ASSERT(t != nullptr, "tensor table has no ", ours);
    out.push_back({t, std::move(theirs), transpose});
  };
  if (c.arch == Arch::GPT2) {
    map(n::kTokEmbed, {p + "wte.weight"}, false);
    map(n::kPosEmbed, {p + "wpe.weight"}, false);
    for (int i = 0; i < c.n_layer; i++) {
      const std::string h = cat(p, "h.", i, ".");
      map(n::layer(i, n::kAttnNormW), {h + "ln_1.weight"}, false);
      map(n::layer(i, n::kAttnNormB), {h + "ln_1.bias"}, false);
      map(n::layer(i, n::kQkvW), {h + "attn.c_attn.weight"}, true);
      map(n::layer(i, n::kQkvB), {h + "attn.c_attn.bias"}, false);
      map(n::layer(i, n::kAttnOutW), {h + "attn.c_proj.weight"}, true);
      map(n::layer(i, n::kAttnOutB), {h + "attn.c_proj.bias"}, false);
      map(n::layer(i, n::kMlpNormW), {h + "ln_2.weight"}, false);
      map(n::layer(i, n::kMlpNormB), {h + "ln_2.bias"}, false);
      map(n::layer(i, n::kMlpInW), {h + "mlp.c_fc.weight"}, true);
      map(n::layer(i, n::kMlpInB), {h + "mlp.c_fc.bias"}, false);
      map(n::layer(i, n::kMlpOutW), {h + "mlp.c_proj.weight"}, true);
      map(n::layer(i, n::kMlpOutB), {h + "mlp.c_proj.bias"}, false);
    }
    map(n::kFinalNormW, {p + "ln_f.weight"}, false);
    map(n::kFinalNormB, {p + "ln_f.bias"}, false);
  } else {
    map(n::kTokEmbed, {p + "embed_tokens.weight"}, false);
    for (int i = 0; i < c.n_layer; i++) {
      const std::string h = cat(p, "layers.", i, ".");
      map(n::layer(i, n::kAttnNormW), {h + "input_layernorm.weight"}, false);
      map(n::layer(i, n::kQkvW), {h + "self_attn.q_proj.weight", h + "self_attn.k_proj.weight", h + "self_attn.v_proj.weight"},
          false);
      if (c.qkv_bias)
        map(n::layer(i, n::kQkvB), {h + "self_attn.q_proj.bias", h + "self_attn.k_proj.bias", h + "self_attn.v_proj.bias"},
            false);
      map(n::layer(i, n::kAttnOutW), {h + "self_attn.o_proj.weight"}, false);
      map(n::layer(i, n::kMlpNormW), {h + "post_attention_layernorm.weight"}, false);
      map(n::layer(i, n::kMlpInW), {h + "mlp.gate_proj.weight", h + "mlp.up_proj.weight"}, false);
      map(n::layer(i, n::kMlpOutW), {h + "mlp.down_proj.weight"}, false);
    }
    map(n::kFinalNormW, {p + "norm.weight"}, false);
  }
  if (!c.tied_head) map(n::kLmHead, {"lm_head.weight"}, false);
  else if (include_tied_head) out.push_back({table.find(n::kTokEmbed), {"lm_head.weight"}, false});
  return out;
}

namespace {
template <typename V>
V get_or(const nlohmann::json& j, const char* key, V fallback) {
  return j.contains(key) && !j[key].is_null() ? j[key].get<V>() : fallback;
}
}  // namespace

ModelConfig config_from_hf_json(const nlohmann::json& j, const std::string& where) {
  ALIGN_REQUIRE(j.is_object() && j.contains("model_type"), where, ": no model_type field");
  const std::string type = j["model_type"].get<std::string>();
  ModelConfig c;
  try {
    if (type == "gpt2") {
      const std::string act = get_or<std::string>(j, "activation_function", "gelu_new");
      ALIGN_REQUIRE(act == "gelu_new" || act == "gelu_pytorch_tanh", where, ": activation_function '", act,
                    "', expected gelu_new (tanh-GELU)");
      c = ModelConfig::gpt2(j.at("vocab_size").get<int>(), j.at("n_layer").get<int>(), j.at("n_head").get<int>(),
                            j.at("n_embd").get<int>(), j.at("n_positions").get<int>());
      c.ffn_dim = get_or<int>(j, "n_inner", 4 * c.n_embd);
      c.norm_eps = get_or<float>(j, "layer_norm_epsilon", 1e-5f);
      c.tied_head = get_or<bool>(j, "tie_word_embeddings", true);
      ALIGN_REQUIRE(!get_or<bool>(j, "scale_attn_by_inverse_layer_idx", false), where,
                    ": scale_attn_by_inverse_layer_idx = true is not supported");
    } else if (type == "llama" || type == "qwen2" || type == "mistral") {
      const std::string act = get_or<std::string>(j, "hidden_act", "silu");
      ALIGN_REQUIRE(act == "silu", where, ": hidden_act '", act, "', expected silu (SwiGLU)");
      ALIGN_REQUIRE(!get_or<bool>(j, "mlp_bias", false), where, ": mlp_bias = true is not supported");
      ALIGN_REQUIRE(!get_or<bool>(j, "attention_bias", false), where,
                    ": attention_bias = true (bias on o_proj too) is not supported");
      if (type == "mistral" && j.contains("sliding_window") && !j["sliding_window"].is_null())
        ALIGN_REQUIRE(j["sliding_window"].get<int64_t>() >= get_or<int64_t>(j, "max_position_embeddings", 0), where,
                      ": sliding_window attention is not supported");
      const int heads = j.at("num_attention_heads").get<int>();
      c = ModelConfig::llama(j.at("vocab_size").get<int>(), j.at("num_hidden_layers").get<int>(), heads,
                             get_or<int>(j, "num_key_value_heads", heads), j.at("hidden_size").get<int>(),
                             j.at("intermediate_size").get<int>(), j.at("max_position_embeddings").get<int>(),
                             get_or<bool>(j, "tie_word_embeddings", false), type == "qwen2");
      c.head_dim = get_or<int>(j, "head_dim", heads > 0 ? c.n_embd / heads : 0);  // 0 heads: refused by validate()
      c.norm_eps = get_or<float>(j, "rms_norm_eps", 1e-6f);
      // transformers v5 keeps RoPE settings in rope_parameters, v4 in rope_theta + rope_scaling.
      nlohmann::json rope = nlohmann::json::object();
      if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) rope = j["rope_parameters"];
      else if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) rope = j["rope_scaling"];
      c.rope_theta = get_or<float>(rope, "rope_theta", get_or<float>(j, "rope_theta", 10000.f));
      const std::string rope_type = get_or<std::string>(rope, "rope_type", get_or<std::string>(rope, "type", "default"));
      if (rope_type == "llama3") {
        c.rope_scaling = RopeScaling::Llama3;
        c.rope_factor = rope.at("factor").get<float>();
        c.rope_low_freq_factor = rope.at("low_freq_factor").get<float>();
        c.rope_high_freq_factor = rope.at("high_freq_factor").get<float>();
        c.rope_original_max_pos = rope.at("original_max_position_embeddings").get<int>();
      } else {
        ALIGN_REQUIRE(rope_type == "default", where, ": rope type '", rope_type, "' is not supported (default, llama3)");
      }
    } else {
      throw InputError(cat(where, ": model_type '", type, "' is not supported (gpt2, llama, qwen2, mistral)"));
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(cat(where, ": ", e.what()));
  }
  c.validate(where);
  return c;
}

ModelConfig read_hf_config(const std::string& path) {
  return config_from_hf_json(read_json_file(path), path);
}

namespace {
// Rows each Hugging Face part contributes to our tensor, in order.
std::vector<int64_t> part_rows(const ModelConfig& c, const HfSource& src) {
  const TensorSpec& t = *src.tensor;
  if (src.hf_names.size() == 3) return {c.q_dim(), c.kv_dim(), c.kv_dim()};  // q, k, v
  if (src.hf_names.size() == 2) return {c.ffn_dim, c.ffn_dim};               // gate, up
  const bool vocab = t.shape.size() == 2 && t.shape[0] == c.padded_vocab_size &&
                     (t.name == tensor_names::kTokEmbed || t.name == tensor_names::kLmHead);
  return {vocab ? (int64_t)c.vocab_size : t.shape[0]};
}
}  // namespace

std::vector<HfTensor> hf_tensors_from_params(const ModelConfig& c, const float* params) {
  const TensorTable table(c);
  std::vector<HfTensor> out;
  for (const HfSource& src : hf_tensor_map(c, table, c.arch == Arch::GPT2 ? "transformer." : "model.")) {
    const TensorSpec& t = *src.tensor;
    const int64_t cols = t.shape.size() == 2 ? t.shape[1] : 1;
    const std::vector<int64_t> rows = part_rows(c, src);
    int64_t row = 0;
    for (size_t k = 0; k < src.hf_names.size(); k++) {
      HfTensor h;
      h.name = src.hf_names[k];
      const int64_t r = rows[k];
      if (t.shape.size() == 1) h.shape = {r};
      else h.shape = src.transpose ? std::vector<int64_t>{cols, r} : std::vector<int64_t>{r, cols};
      h.data.resize((size_t)r * cols);
      const float* p = params + t.offset + row * cols;
      for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < cols; j++) (src.transpose ? h.data[j * r + i] : h.data[i * cols + j]) = p[i * cols + j];
      row += r;
      out.push_back(std::move(h));
    }
  }
  return out;
}

namespace {
// The shortest decimal that reads back as the same float (1e-06, not 9.99999997e-07).
double json_float(float v) {
  for (int precision = 6; precision <= 9; precision++) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.*g", precision, (double)v);
    const double d = std::strtod(buf, nullptr);
    if ((float)d == v) return d;
  }
  return v;
}
}  // namespace

nlohmann::json hf_config_json(const ModelConfig& c, const std::string& torch_dtype) {
  nlohmann::json j;
  if (c.arch == Arch::GPT2) {
    j = {{"architectures", {"GPT2LMHeadModel"}}, {"model_type", "gpt2"}, {"vocab_size", c.vocab_size},
         {"n_positions", c.max_seq_len}, {"n_embd", c.n_embd}, {"n_layer", c.n_layer}, {"n_head", c.n_head},
         {"n_inner", c.ffn_dim}, {"layer_norm_epsilon", json_float(c.norm_eps)}, {"activation_function", "gelu_new"},
         {"tie_word_embeddings", c.tied_head}, {"attn_pdrop", 0.0}, {"embd_pdrop", 0.0}, {"resid_pdrop", 0.0},
         {"scale_attn_weights", true}, {"scale_attn_by_inverse_layer_idx", false}, {"reorder_and_upcast_attn", false}};
  } else {
    const bool qwen2 = c.qkv_bias;
    j = {{"architectures", {qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}}, {"model_type", qwen2 ? "qwen2" : "llama"},
         {"vocab_size", c.vocab_size}, {"hidden_size", c.n_embd}, {"intermediate_size", c.ffn_dim},
         {"num_hidden_layers", c.n_layer}, {"num_attention_heads", c.n_head}, {"num_key_value_heads", c.n_kv_head},
         {"head_dim", c.head_dim}, {"max_position_embeddings", c.max_seq_len}, {"rms_norm_eps", json_float(c.norm_eps)},
         {"rope_theta", json_float(c.rope_theta)}, {"hidden_act", "silu"}, {"tie_word_embeddings", c.tied_head},
         {"attention_dropout", 0.0}};
    if (!qwen2) j["attention_bias"] = false, j["mlp_bias"] = false;
    if (c.rope_scaling == RopeScaling::Llama3)
      j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", json_float(c.rope_factor)},
                           {"low_freq_factor", json_float(c.rope_low_freq_factor)},
                           {"high_freq_factor", json_float(c.rope_high_freq_factor)},
                           {"original_max_position_embeddings", c.rope_original_max_pos}};
  }
  j["torch_dtype"] = torch_dtype;
  return j;
}

namespace {
std::string prefix_of(const ModelConfig& c, const SafetensorsSet& file) {
  const char* base_name = c.arch == Arch::GPT2 ? "wte.weight" : "embed_tokens.weight";
  for (const char* p : {c.arch == Arch::GPT2 ? "transformer." : "model.", ""})
    if (file.find(cat(p, base_name))) return p;
  return c.arch == Arch::GPT2 ? "transformer." : "model.";
}
}  // namespace

void check_hf_tensors(const ModelConfig& c, const SafetensorsSet& file) {
  const TensorTable table(c);
  for (const HfSource& src : hf_tensor_map(c, table, prefix_of(c, file))) {
    const std::vector<int64_t> rows = part_rows(c, src);
    const int64_t cols = src.tensor->shape.size() == 2 ? src.tensor->shape[1] : 1;
    for (size_t k = 0; k < src.hf_names.size(); k++) {
      const SafeTensor* t = file.find(src.hf_names[k]);
      ALIGN_REQUIRE(t != nullptr, file.path(), ": no tensor named '", src.hf_names[k], "', which config.json implies");
      ALIGN_REQUIRE(t->numel() == (size_t)(rows[k] * cols), file.where(src.hf_names[k]), " has ", t->numel(),
                    " elements, config.json implies ", rows[k] * cols);
    }
  }
}

HfLoadReport load_hf_weights(const ModelConfig& c, const SafetensorsSet& file, float* params) {
  const TensorTable table(c);
  std::fill(params, params + table.total_size(), 0.f);
  const std::string prefix = prefix_of(c, file);
  std::set<std::string> used;
  for (const HfSource& src : hf_tensor_map(c, table, prefix)) {
    const TensorSpec& t = *src.tensor;
    const int64_t cols = t.shape.size() == 2 ? t.shape[1] : 1;
    int64_t row = 0;  // next row of our tensor to fill
    for (const std::string& name : src.hf_names) {
      const SafeTensor& st = file.at(name);
      const std::vector<float> v = file.to_float(name);
      const std::string where = file.where(name);
      // Rows and columns of the source as it will land (after the Conv1D transpose).
      int64_t rows, scols;
      if (t.shape.size() == 1) {
        ALIGN_REQUIRE(st.shape.size() == 1, where, " has ", st.shape.size(), " dims, expected 1");
        rows = st.shape[0], scols = 1;
      } else {
        ALIGN_REQUIRE(st.shape.size() == 2, where, " has ", st.shape.size(), " dims, expected 2");
        rows = src.transpose ? st.shape[1] : st.shape[0];
        scols = src.transpose ? st.shape[0] : st.shape[1];
      }
      ALIGN_REQUIRE(scols == cols && row + rows <= t.shape[0], where, " has shape [",
                    st.shape[0], st.shape.size() > 1 ? cat(", ", st.shape[1]) : "", "], which does not fit ", t.name,
                    " of shape [", t.shape[0], t.shape.size() > 1 ? cat(", ", t.shape[1]) : "", "]");
      float* dst = params + t.offset + row * cols;
      for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < cols; k++) dst[r * cols + k] = src.transpose ? v[k * rows + r] : v[r * cols + k];
      row += rows;
      used.insert(name);
    }
    // Only the vocabulary tensors may be shorter (V of Vp rows); everything else must be filled exactly.
    const bool vocab_rows = t.shape.size() == 2 && t.shape[0] == c.padded_vocab_size && row == c.vocab_size;
    ALIGN_REQUIRE(row == t.shape[0] || vocab_rows, file.path(), ": tensors for ", t.name, " give ", row,
                  " rows, expected ", t.shape[0]);
  }
  if (c.tied_head && file.find("lm_head.weight")) {
    // A tied head may still be written out; accept it only if it is the embedding.
    const std::vector<float> head = file.to_float("lm_head.weight");
    const TensorSpec& e = table.at(tensor_names::kTokEmbed);
    ALIGN_REQUIRE(head.size() == (size_t)c.vocab_size * c.n_embd &&
                      std::equal(head.begin(), head.end(), params + e.offset),
                  file.path(), ": lm_head.weight differs from the token embedding, but the config ties them");
    used.insert("lm_head.weight");
  }
  HfLoadReport report;
  for (const std::string& name : file.names()) {
    if (used.count(name)) continue;
    const bool buffer = name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias") ||
                        name.ends_with("rotary_emb.inv_freq");
    (buffer ? report.ignored_buffers : report.unused).push_back(name);
  }
  return report;
}

}  // namespace align
