// parser.hpp: Jinja template text -> syntax tree, with the whitespace rules
// of transformers' environment: trim_blocks and lstrip_blocks on, `{%-`/`-%}`
// stripping, `+` opting out, newlines normalized to \n and one trailing
// newline dropped (jinja2's keep_trailing_newline=False). Anything outside
// the supported language is an InputError naming the construct and line.
#pragma once

#include <string>

#include "data/jinja/ast.hpp"

namespace align::data::jinja {

// where: how messages name the template ("chat template x.jinja").
Body parse_template(const std::string& source, const std::string& where);

}  // namespace align::data::jinja
