// chat_template.hpp: chat templates executed, not recognised. A template is
// the Jinja program a tokenizer ships (tokenizer_config.json's
// chat_template, a named entry of a list-valued one, or chat_template.jinja),
// any Jinja file given with --chat-template, or one of four built-in
// templates for tokenizers that have none (chatml, llama3, zephyr, plain:
// their sources are compiled in, see builtin_chat_templates.cpp). Rendering
// runs it through the Jinja interpreter (src/data/jinja/) with the variables
// transformers' apply_chat_template passes: messages, add_generation_prompt,
// tools and documents (None unless given), bos_token, eos_token, and
// strftime_now answering for a fixed date (ChatDate), so a prepared file is
// reproducible. The rendered text is tokenized without the tokenizer's own
// special tokens, so a template that writes BOS never gets a second one.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace align::data {

namespace jinja {
class Template;
struct Value;
}

struct Message {
  std::string role;  // "system", "user", "assistant" (any role name is passed to the template)
  std::string content;
  bool operator==(const Message&) const = default;
};

// The day strftime_now reports (transformers: the current local time; here a chosen day at 00:00:00).
struct ChatDate {
  int year = 1970, month = 1, day = 1;
  uint32_t yyyymmdd() const { return (uint32_t)(year * 10000 + month * 100 + day); }
  std::string iso() const;  // YYYY-MM-DD
};
ChatDate today_local();
// "YYYY-MM-DD" (a real calendar day) or "today"; InputError naming `flag` otherwise.
ChatDate parse_chat_date(const std::string& text, const std::string& flag);

class ChatTemplate {
 public:
  // Parses `source`; InputError (naming `origin` and the line) when it is not valid or uses
  // something the interpreter does not implement.
  ChatTemplate(const std::string& source, std::string origin);
  const std::string& origin() const { return origin_; }
  const std::string& source() const { return source_; }

  // messages: JSON message objects as transformers receives them (any fields; reasoning
  // fields aliased as transformers 5 does); tools: a JSON list or null.
  std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt, const std::string& bos_token,
                     const std::string& eos_token, const ChatDate& date,
                     const nlohmann::ordered_json& tools = nullptr) const;
  std::string render(const std::vector<Message>& messages, bool add_generation_prompt, const std::string& bos_token,
                     const std::string& eos_token, const ChatDate& date) const;
  // The same on messages held elsewhere (a prompt's and a completion's, without joining copies).
  std::string render(const std::vector<const Message*>& messages, bool add_generation_prompt,
                     const std::string& bos_token, const std::string& eos_token, const ChatDate& date) const;

 private:
  std::string render_values(jinja::Value messages, jinja::Value tools, bool add_generation_prompt,
                            const std::string& bos_token, const std::string& eos_token, const ChatDate& date) const;

  std::string source_, origin_;
  std::shared_ptr<const jinja::Template> compiled_;
};

// The built-in names, in the order help texts list them.
const std::vector<std::string>& builtin_chat_template_names();
// The Jinja source of a built-in template; nullptr when `name` is not one.
const char* builtin_chat_template_source(const std::string& name);
// --chat-template VALUE: a built-in name, or else a path to a Jinja file (InputError when neither).
std::shared_ptr<const ChatTemplate> load_chat_template(const std::string& name_or_path);

}  // namespace align::data
