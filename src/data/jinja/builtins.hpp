// builtins.hpp: what a template can do with values, as jinja2 (in
// transformers' sandbox) does it: attribute and item lookup (Python methods
// of str, dict and list bound as callables), slices, operators, the filters
// and tests by name, and the global functions (range, dict, namespace,
// raise_exception). Failures throw jinja::Failure with Python's wording; the
// renderer adds the template name and line.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

#include "data/jinja/value.hpp"

namespace align::data::jinja {

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Value get_attr(const Value& obj, const std::string& name);
Value get_item(const Value& obj, const Value& key);
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
Value call_value(const Value& fn, CallArgs& args);

// op: + - * / // % ** ~
Value binary_op(const std::string& op, const Value& a, const Value& b);
// op: == != < > <= >= in notin
bool compare_op(const std::string& op, const Value& a, const Value& b);
Value negate(const Value& v);
// The items a for loop (or a filter) iterates: list items, dict keys, string code points; undefined: none.
List iterate(const Value& v);

bool has_filter(const std::string& name);
bool has_test(const std::string& name);
Value apply_filter(const std::string& name, const Value& v, CallArgs& args);
bool apply_test(const std::string& name, const Value& v, CallArgs& args);

// The global functions every template sees (range, dict, namespace, raise_exception, cycler is not one).
Dict global_functions();

}  // namespace align::data::jinja
