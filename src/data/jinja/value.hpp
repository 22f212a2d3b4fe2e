// value.hpp: the values a Jinja template computes with, modelled on the
// Python objects jinja2 sees when transformers renders a chat template:
// undefined (jinja2's default Undefined: prints empty, is falsy, fails when
// used), None, bool, int (int64), float, str (UTF-8, code-point semantics in
// pystr.hpp), list, dict (insertion-ordered string keys, as Python dicts and
// the JSON messages keep them), namespace (a dict whose attributes `set`
// may change) and callables (globals, macros, bound methods).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace align::data::jinja {

struct Value;
using List = std::vector<Value>;

struct Dict {
  std::vector<std::pair<std::string, Value>> items;  // insertion order
  const Value* find(const std::string& key) const;
  void set(const std::string& key, Value v);
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keywords;
};
using Function = std::function<Value(CallArgs&)>;

struct Value {
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Namespace, Function };
  Kind kind = Kind::Undefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;  // String: the text; Undefined: the name that was looked up (for messages); Function: its name
  std::shared_ptr<List> list;
  bool tuple = false;          // List: a Python tuple (prints with parentheses, never equals a list)
  std::shared_ptr<Dict> dict;  // Dict and Namespace
  std::shared_ptr<Function> fn;

  Value() = default;
  static Value undefined(std::string name = "") {
    Value v;
    v.s = std::move(name);
    return v;
  }
  static Value none() {
    Value v;
    v.kind = Kind::None;
    return v;
  }
  static Value boolean(bool x) {
    Value v;
    v.kind = Kind::Bool;
    v.b = x;
    return v;
  }
  static Value integer(int64_t x) {
    Value v;
    v.kind = Kind::Int;
    v.i = x;
    return v;
  }
  static Value number(double x) {
    Value v;
    v.kind = Kind::Float;
    v.f = x;
    return v;
  }
  static Value string(std::string x) {
    Value v;
    v.kind = Kind::String;
    v.s = std::move(x);
    return v;
  }
  static Value make_list(List x = {}) {
    Value v;
    v.kind = Kind::List;
    v.list = std::make_shared<List>(std::move(x));
    return v;
  }
  static Value make_tuple(List x) {
    Value v = make_list(std::move(x));
    v.tuple = true;
    return v;
  }
  static Value make_dict(Dict x = {}) {
    Value v;
    v.kind = Kind::Dict;
    v.dict = std::make_shared<Dict>(std::move(x));
    return v;
  }
  static Value make_namespace(Dict x = {}) {
    Value v = make_dict(std::move(x));
    v.kind = Kind::Namespace;
    return v;
  }
  static Value function(std::string name, Function f) {
    Value v;
    v.kind = Kind::Function;
    v.s = std::move(name);
    v.fn = std::make_shared<Function>(std::move(f));
    return v;
  }

  bool is_undefined() const { return kind == Kind::Undefined; }
  bool is_none() const { return kind == Kind::None; }
  bool is_string() const { return kind == Kind::String; }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float || kind == Kind::Bool; }
  bool is_list() const { return kind == Kind::List; }
  bool is_dict() const { return kind == Kind::Dict; }
  double as_double() const { return kind == Kind::Float ? f : kind == Kind::Bool ? (double)b : (double)i; }
};

// Python's type name of a value, for messages ("str", "list", "dict", ...).
const char* type_name(const Value& v);
bool truthy(const Value& v);
// Python's str(v): what `{{ v }}` prints (undefined: empty).
std::string to_str(const Value& v);
// Python's repr(v) (strings quoted), as str() of a list shows its items.
std::string to_repr(const Value& v);
// Python's float repr: shortest round-trip digits, exponent outside 1e-4 <= |x| < 1e16.
std::string float_repr(double x);
// Python's ==.
bool equal(const Value& a, const Value& b);
// json.dumps(v, ensure_ascii, indent, separators, sort_keys) as transformers' tojson calls it.
// indent < 0: none. InputError for values JSON cannot hold (undefined, functions, namespaces).
std::string to_json(const Value& v, int indent, const std::string& item_sep, const std::string& key_sep, bool sort_keys,
                    bool ensure_ascii);

// JSON data (messages, tools, extra variables) as template values; object key order kept.
Value from_json(const nlohmann::ordered_json& j);
Value from_json(const nlohmann::json& j);

}  // namespace align::data::jinja
