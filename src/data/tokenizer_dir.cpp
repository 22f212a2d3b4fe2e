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
}  // namespace

TokenizerDir load_tokenizer_dir(const std::string& path) {
  const bool is_dir = fs::is_directory(path);
  const fs::path json = is_dir ? fs::path(path) / "tokenizer.json" : fs::path(path);
  TokenizerDir d{tok::Tokenizer::from_file(json.string()), "", "", std::nullopt, std::nullopt, std::nullopt, false};
  const fs::path config = json.parent_path() / "tokenizer_config.json";
  if (fs::exists(config)) {
    const nlohmann::json cfg = read_json_file(config.string());
    d.bos_token = token_text(cfg, "bos_token");
    d.eos_token = token_text(cfg, "eos_token");
    if (cfg.contains("chat_template")) {
      std::string jinja;
      if (cfg["chat_template"].is_string()) jinja = cfg["chat_template"].get<std::string>();
      else if (cfg["chat_template"].is_array())
        for (const auto& t : cfg["chat_template"])
          if (t.value("name", std::string()) == "default") jinja = t.value("template", std::string());
      d.has_jinja_template = !jinja.empty();
      d.chat_template = detect_chat_template(jinja);
    }
  }
  // transformers v5 writes the template to chat_template.jinja instead of tokenizer_config.json.
  const fs::path jinja_file = json.parent_path() / "chat_template.jinja";
  if (!d.has_jinja_template && fs::exists(jinja_file)) {
    const std::vector<uint8_t> bytes = read_file_bytes(jinja_file.string());
    const std::string jinja(bytes.begin(), bytes.end());
    d.has_jinja_template = !jinja.empty();
    d.chat_template = detect_chat_template(jinja);
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
