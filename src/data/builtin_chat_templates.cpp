// builtin_chat_templates.cpp: the Jinja sources of the four built-in chat
// templates (chat_template.hpp), for tokenizers that ship none. They are
// the canonical templates of their families, the same text
// dev/reference/make_pairs_golden.py gives transformers, so their renderings
// are checked against TRL through tests/data/pairs.
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "data/chat_template.hpp"

namespace align::data {

namespace {

const std::vector<std::pair<std::string, const char*>>& builtins() {
  static const std::vector<std::pair<std::string, const char*>> t = {
      {"chatml",
       R"jinja({% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})jinja"},
      {"llama3",
       R"jinja({% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %})jinja"},
      {"zephyr",
       "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + "
       "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token "
       "}}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n"
       "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"},
      {"plain",
       R"jinja({% for m in messages %}{% if m['role'] == 'user' %}{{ 'User: ' + m['content'] + '\n\n' }}{% elif m['role'] == 'assistant' %}{{ 'Assistant: ' + m['content'] + eos_token + '\n\n' }}{% else %}{{ m['content'] + '\n\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %})jinja"},
  };
  return t;
}

}  // namespace

const std::vector<std::string>& builtin_chat_template_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (auto& [name, src] : builtins()) n.push_back(name);
    return n;
  }();
  return names;
}

const char* builtin_chat_template_source(const std::string& name) {
  for (auto& [n, src] : builtins())
    if (n == name) return src;
  return nullptr;
}

}  // namespace align::data
