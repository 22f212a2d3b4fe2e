// chat_template.cpp: built-in chat templates (chat_template.hpp).
#include "data/chat_template.hpp"

#include "common/error.hpp"

namespace align::data {

const char* chat_template_name(ChatTemplate t) {
  switch (t) {
    case ChatTemplate::ChatML: return "chatml";
    case ChatTemplate::Llama3: return "llama3";
    case ChatTemplate::Zephyr: return "zephyr";
    case ChatTemplate::Plain: return "plain";
  }
  return "?";
}

ChatTemplate parse_chat_template(const std::string& s) {
  for (ChatTemplate t : {ChatTemplate::ChatML, ChatTemplate::Llama3, ChatTemplate::Zephyr, ChatTemplate::Plain})
    if (s == chat_template_name(t)) return t;
  throw InputError(cat("chat template '", s, "' is not known, expected chatml, llama3, zephyr or plain"));
}

std::optional<ChatTemplate> detect_chat_template(const std::string& j) {
  if (j.find("<|start_header_id|>") != std::string::npos && j.find("<|eot_id|>") != std::string::npos)
    return ChatTemplate::Llama3;
  if (j.find("<|im_start|>") != std::string::npos && j.find("<|im_end|>") != std::string::npos)
    return ChatTemplate::ChatML;
  if (j.find("<|user|>") != std::string::npos && j.find("<|assistant|>") != std::string::npos)
    return ChatTemplate::Zephyr;
  if (j.find("'User: '") != std::string::npos && j.find("'Assistant:") != std::string::npos) return ChatTemplate::Plain;
  return std::nullopt;
}

namespace {
// Jinja's `| trim`: strips leading and trailing whitespace.
std::string trim(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}
}  // namespace

std::string render_chat(ChatTemplate t, const std::vector<Message>& messages, bool add_generation_prompt,
                        const std::string& bos, const std::string& eos) {
  std::string out;
  switch (t) {
    case ChatTemplate::ChatML:
      for (const Message& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      if (add_generation_prompt) out += "<|im_start|>assistant\n";
      break;
    case ChatTemplate::Llama3:
      for (size_t i = 0; i < messages.size(); i++) {
        if (i == 0) out += bos;
        out += "<|start_header_id|>" + messages[i].role + "<|end_header_id|>\n\n" + trim(messages[i].content) +
               "<|eot_id|>";
      }
      if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
    case ChatTemplate::Zephyr:
      for (const Message& m : messages)
        if (m.role == "user" || m.role == "system" || m.role == "assistant")
          out += "<|" + m.role + "|>\n" + m.content + eos + "\n";
      if (add_generation_prompt && !messages.empty()) out += "<|assistant|>\n";
      break;
    case ChatTemplate::Plain:
      for (const Message& m : messages) {
        if (m.role == "user") out += "User: " + m.content + "\n\n";
        else if (m.role == "assistant") out += "Assistant: " + m.content + eos + "\n\n";
        else out += m.content + "\n\n";
      }
      if (add_generation_prompt) out += "Assistant:";
      break;
  }
  return out;
}

}  // namespace align::data
