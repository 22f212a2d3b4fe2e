// chat_template.cpp: chat templates run by the Jinja interpreter (chat_template.hpp).
#include "data/chat_template.hpp"

#include <ctime>
#include <filesystem>

#include "common/error.hpp"
#include "common/file_io.hpp"
#include "data/jinja/template.hpp"

namespace align::data {

std::string ChatDate::iso() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", year, month, day);
  return buf;
}

ChatDate today_local() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  return ChatDate{tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
}

ChatDate parse_chat_date(const std::string& text, const std::string& flag) {
  if (text == "today") return today_local();
  int y = 0, m = 0, d = 0;
  char tail = 0;
  const bool shaped = text.size() == 10 && std::sscanf(text.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 &&
                      text[4] == '-' && text[7] == '-';
  bool valid = shaped && y >= 1 && m >= 1 && m <= 12 && d >= 1;
  if (valid) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    valid = d <= days[m - 1] + (m == 2 && leap);
  }
  ALIGN_REQUIRE(valid, flag, " '", text, "' is not a date, expected YYYY-MM-DD (a calendar day) or 'today'");
  return ChatDate{y, m, d};
}

namespace {

std::tm to_tm(const ChatDate& d) {
  std::tm tm{};
  tm.tm_year = d.year - 1900, tm.tm_mon = d.month - 1, tm.tm_mday = d.day;
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  tm.tm_isdst = -1;
  std::tm probe = tm;
  timegm(&probe);  // fills the weekday and the day of the year (%a, %j)
  tm.tm_wday = probe.tm_wday, tm.tm_yday = probe.tm_yday;
  return tm;
}

// transformers 5 copies a message's reasoning between the names templates read it under.
nlohmann::ordered_json alias_reasoning(const nlohmann::ordered_json& messages) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& m : messages) {
    if (!m.is_object()) {
      out.push_back(m);
      continue;
    }
    const nlohmann::ordered_json* reasoning = nullptr;
    for (const char* k : {"reasoning_content", "thinking", "reasoning"})
      if (m.contains(k) && !m[k].is_null()) {
        reasoning = &m[k];
        break;
      }
    if (!reasoning) {
      out.push_back(m);
      continue;
    }
    // {"thinking": r, **message, "reasoning_content": r}: key order as Python builds it
    nlohmann::ordered_json a = nlohmann::ordered_json::object();
    a["thinking"] = *reasoning;
    for (auto it = m.begin(); it != m.end(); ++it) a[it.key()] = it.value();
    a["reasoning_content"] = *reasoning;
    out.push_back(a);
  }
  return out;
}

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source, std::string origin)
    : source_(source),
      origin_(std::move(origin)),
      compiled_(std::make_shared<jinja::Template>(source, "chat template " + origin_)) {}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                 const std::string& bos_token, const std::string& eos_token, const ChatDate& date,
                                 const nlohmann::ordered_json& tools) const {
  return render_values(jinja::from_json(alias_reasoning(messages)), jinja::from_json(tools), add_generation_prompt,
                       bos_token, eos_token, date);
}

std::string ChatTemplate::render(const std::vector<Message>& messages, bool add_generation_prompt,
                                 const std::string& bos_token, const std::string& eos_token,
                                 const ChatDate& date) const {
  std::vector<const Message*> ms;
  for (const Message& m : messages) ms.push_back(&m);
  return render(ms, add_generation_prompt, bos_token, eos_token, date);
}

std::string ChatTemplate::render(const std::vector<const Message*>& messages, bool add_generation_prompt,
                                 const std::string& bos_token, const std::string& eos_token,
                                 const ChatDate& date) const {
  // What from_json makes of [{"role": …, "content": …}, …] (no reasoning field to alias), built
  // directly: a long message is copied once into the interpreter, not through a JSON array too.
  jinja::List list;
  list.reserve(messages.size());
  for (const Message* m : messages) {
    jinja::Dict d;
    d.items.emplace_back("role", jinja::Value::string(m->role));
    d.items.emplace_back("content", jinja::Value::string(m->content));
    list.push_back(jinja::Value::make_dict(std::move(d)));
  }
  return render_values(jinja::Value::make_list(std::move(list)), jinja::Value::none(), add_generation_prompt, bos_token,
                       eos_token, date);
}

std::string ChatTemplate::render_values(jinja::Value messages, jinja::Value tools, bool add_generation_prompt,
                                        const std::string& bos_token, const std::string& eos_token,
                                        const ChatDate& date) const {
  jinja::Dict vars;
  vars.set("messages", std::move(messages));
  vars.set("tools", std::move(tools));
  vars.set("documents", jinja::Value::none());
  vars.set("add_generation_prompt", jinja::Value::boolean(add_generation_prompt));
  // transformers passes the tokenizer's special_tokens_map: only the tokens it has.
  if (!bos_token.empty()) vars.set("bos_token", jinja::Value::string(bos_token));
  if (!eos_token.empty()) vars.set("eos_token", jinja::Value::string(eos_token));
  vars.set("strftime_now", jinja::strftime_function(to_tm(date)));
  return compiled_->render(vars);
}

std::shared_ptr<const ChatTemplate> load_chat_template(const std::string& name_or_path) {
  if (const char* src = builtin_chat_template_source(name_or_path))
    return std::make_shared<ChatTemplate>(src, "'" + name_or_path + "' (built in)");
  if (!std::filesystem::is_regular_file(name_or_path)) {
    std::string names;
    for (const std::string& n : builtin_chat_template_names()) names += (names.empty() ? "" : ", ") + n;
    throw InputError(
        cat("--chat-template '", name_or_path, "' is neither a built-in template (", names, ") nor a Jinja file"));
  }
  const std::vector<uint8_t> bytes = read_file_bytes(name_or_path);
  return std::make_shared<ChatTemplate>(std::string(bytes.begin(), bytes.end()), name_or_path);
}

}  // namespace align::data
