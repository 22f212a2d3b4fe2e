// template.hpp: a parsed Jinja template and its renderer, in the environment
// transformers builds for chat templates (utils/chat_template_utils.py):
// trim_blocks, lstrip_blocks, loop controls, the `generation` tag, its
// tojson, and the globals raise_exception, namespace, dict, range (plus
// whatever the caller passes: messages, add_generation_prompt, special
// tokens, strftime_now). Every failure is one InputError line naming the
// template and line: a syntax error, a construct this interpreter does not
// implement, an undefined value used, or the template's raise_exception.
#pragma once

#include <ctime>
#include <string>

#include "data/jinja/ast.hpp"
#include "data/jinja/value.hpp"

namespace align::data::jinja {

class Template {
 public:
  // where: how messages name the template, e.g. "chat template (tokenizer_config.json)".
  Template(const std::string& source, std::string where);
  // variables: the render call's keyword arguments (a Dict value); globals are added underneath.
  std::string render(const Dict& variables) const;
  const std::string& where() const { return where_; }

 private:
  std::string where_;
  Body body_;
};

// strftime_now(format) for a fixed moment (transformers calls datetime.now().strftime).
Value strftime_function(const std::tm& when);

}  // namespace align::data::jinja
