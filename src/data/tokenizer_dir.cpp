// tokenizer_dir.cpp: tokenizer.json + tokenizer_config.json (tokenizer_dir.hpp).
#include "data/tokenizer_dir.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/file_io.hpp"
#include "common/json_file.hpp"

namespace align::data {

namespace fs = std::filesystem;

namespace {
// "eos_token": "</s>" or {"content": "</s>", ...}
std::string token_text(const nlohmann::json& cfg, const char* key) {
  if (!cfg.contains(key) || cfg[key].is_null()) return "";
  if (cfg[key].is_string()) return cfg[key].get<std::string>();
  if (cfg[key].is_object() && cfg[key].contains("content")) return cfg[key]["content"].get<std::string>();
  return "";
}

// The chat template source and where it came from, or nullopt.
std::optional<std::pair<std::string, std::string>> find_template(const fs::path& config, const nlohmann::json* cfg,
                                                                 const fs::path& jinja_file) {
  if (fs::exists(jinja_file)) {
    const std::vector<uint8_t> bytes = read_file_bytes(jinja_file.string());
    return std::make_pair(std::string(bytes.begin(), bytes.end()), jinja_file.string());
  }
  if (!cfg || !cfg->contains("chat_template") || (*cfg)["chat_template"].is_null()) return std::nullopt;
  const nlohmann::json& t = (*cfg)["chat_template"];
  if (t.is_string()) return std::make_pair(t.get<std::string>(), config.string());
  ALIGN_REQUIRE(t.is_array(), config.string(), ": field chat_template is a ", t.type_name(),
                ", expected a string or a list of {name, template}");
  std::string names;
  for (const auto& e : t) {
    ALIGN_REQUIRE(e.is_object() && e.contains("name") && e["name"].is_string() && e.contains("template") &&
                      e["template"].is_string(),
                  config.string(), ": an entry of chat_template is not {\"name\": str, \"template\": str}");
    if (e["name"] == "default")
      return std::make_pair(e["template"].get<std::string>(), config.string() + " (chat_template 'default')");
    names += (names.empty() ? "" : ", ") + e["name"].get<std::string>();
  }
  throw InputError(cat(config.string(), ": chat_template lists named templates (", names,
                       ") but none named 'default'; give one with --chat-template"));
}
}  // namespace

TokenizerDir load_tokenizer_dir(const std::string& path) {
  const bool is_dir = fs::is_directory(path);
  const fs::path json = is_dir ? fs::path(path) / "tokenizer.json" : fs::path(path);
  TokenizerDir d{tok::Tokenizer::from_file(json.string()), "", "", std::nullopt, std::nullopt, nullptr, ""};
  const fs::path config = json.parent_path() / "tokenizer_config.json";
  nlohmann::json cfg;
  const bool has_config = fs::exists(config);
  if (has_config) {
    cfg = read_json_file(config.string());
    d.bos_token = token_text(cfg, "bos_token");
    d.eos_token = token_text(cfg, "eos_token");
  }
  try {
    if (auto t = find_template(config, has_config ? &cfg : nullptr, json.parent_path() / "chat_template.jinja"))
      d.chat_template = std::make_shared<ChatTemplate>(t->first, t->second);
  } catch (const InputError& e) {
    d.chat_template_error = e.what();
  }
  if (!d.bos_token.empty()) {
    d.bos_id = d.tokenizer.token_to_id(d.bos_token);
    ALIGN_REQUIRE(d.bos_id, config.string(), ": bos_token '", d.bos_token, "' is not in the tokenizer");
  }
  if (!d.eos_token.empty()) {
    d.eos_id = d.tokenizer.token_to_id(d.eos_token);
    ALIGN_REQUIRE(d.eos_id, config.string(), ": eos_token '", d.eos_token, "' is not in the tokenizer");
  }
  return d;
}

}  // namespace align::data
