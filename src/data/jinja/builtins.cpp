// builtins.cpp: lookups, operators, filters, tests and globals (builtins.hpp).
// Each follows jinja2 3.1's filters.py/tests.py, with transformers' tojson.
#include "data/jinja/builtins.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include "common/error.hpp"
#include "data/jinja/pystr.hpp"

namespace align::data::jinja {

namespace {

using Kind = Value::Kind;

[[noreturn]] void fail(const std::string& msg) {
  throw Failure(msg);
}

// Binds positional/keyword arguments to a fixed parameter list; unknown ones fail.
struct Args {
  std::vector<std::optional<Value>> v;
  Args(CallArgs& a, const std::string& what, std::initializer_list<const char*> names) {
    std::vector<std::string> n(names.begin(), names.end());
    v.resize(n.size());
    if (a.positional.size() > n.size())
      fail(cat(what, "() takes at most ", n.size(), " arguments (", a.positional.size(), " given)"));
    for (size_t i = 0; i < a.positional.size(); i++) v[i] = a.positional[i];
    for (auto& [k, val] : a.keywords) {
      auto it = std::find(n.begin(), n.end(), k);
      if (it == n.end()) fail(cat(what, "() got an unexpected keyword argument '", k, "'"));
      v[it - n.begin()] = val;
    }
  }
  bool has(size_t i) const { return v[i].has_value(); }
  const Value& get(size_t i, const Value& dflt) const { return v[i] ? *v[i] : dflt; }
};

const Value& undef() {
  static const Value u = Value::undefined();
  return u;
}

std::string str_arg(const Value& v, const std::string& what) {
  if (v.kind != Kind::String) fail(cat(what, " must be a str, not ", type_name(v)));
  return v.s;
}

int64_t int_arg(const Value& v, const std::string& what) {
  if (v.kind == Kind::Int) return v.i;
  if (v.kind == Kind::Bool) return v.b;
  fail(cat(what, " must be an integer, not ", type_name(v)));
}

[[noreturn]] void fail_undefined(const Value& u) {
  fail(u.s.empty() ? "undefined value used" : u.s);
}

Value method(const std::string& name, Function f) {
  return Value::function(name, std::move(f));
}

Value string_method(const std::string& s, const std::string& name) {
  auto opt_str = [](const Args& a, size_t i) -> std::optional<std::string> {
    if (!a.has(i) || a.v[i]->is_none()) return std::nullopt;
    return str_arg(*a.v[i], "argument");
  };
  if (name == "strip" || name == "lstrip" || name == "rstrip")
    return method(name, [s, name, opt_str](CallArgs& c) {
      Args a(c, name, {"chars"});
      return Value::string(pystr::strip(s, opt_str(a, 0), name != "rstrip", name != "lstrip"));
    });
  if (name == "split" || name == "rsplit")
    return method(name, [s, name, opt_str](CallArgs& c) {
      Args a(c, name, {"sep", "maxsplit"});
      const int64_t maxsplit = a.has(1) ? int_arg(*a.v[1], "maxsplit") : -1;
      if (name == "rsplit" && maxsplit >= 0) fail("str.rsplit with maxsplit is not supported");
      List out;
      for (auto& p : pystr::split(s, opt_str(a, 0), maxsplit)) out.push_back(Value::string(p));
      return Value::make_list(std::move(out));
    });
  if (name == "startswith" || name == "endswith")
    return method(name, [s, name](CallArgs& c) {
      Args a(c, name, {"prefix"});
      if (!a.has(0)) fail(cat(name, "() takes at least 1 argument (0 given)"));
      std::vector<std::string> options;
      if (a.v[0]->is_list()) {
        for (auto& x : *a.v[0]->list) options.push_back(str_arg(x, name + " argument"));
      } else {
        options.push_back(str_arg(*a.v[0], name + " argument"));
      }
      for (auto& p : options)
        if (name == "startswith" ? pystr::starts_with(s, p) : pystr::ends_with(s, p)) return Value::boolean(true);
      return Value::boolean(false);
    });
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize")
    return method(name, [s, name](CallArgs& c) {
      Args a(c, name, {});
      return Value::string(name == "upper"   ? pystr::upper(s)
                           : name == "lower" ? pystr::lower(s)
                           : name == "title" ? pystr::title(s)
                                             : pystr::capitalize(s));
    });
  if (name == "replace")
    return method(name, [s](CallArgs& c) {
      Args a(c, "replace", {"old", "new", "count"});
      if (!a.has(0) || !a.has(1)) fail("replace() takes at least 2 arguments");
      return Value::string(pystr::replace(s, str_arg(*a.v[0], "replace() argument 1"),
                                          str_arg(*a.v[1], "replace() argument 2"),
                                          a.has(2) ? int_arg(*a.v[2], "count") : -1));
    });
  if (name == "find" || name == "count")
    return method(name, [s, name](CallArgs& c) {
      Args a(c, name, {"sub"});
      if (!a.has(0)) fail(cat(name, "() takes at least 1 argument (0 given)"));
      const std::string sub = str_arg(*a.v[0], name + " argument");
      return Value::integer(name == "find" ? pystr::find(s, sub) : pystr::count(s, sub));
    });
  if (name == "join")
    return method(name, [s](CallArgs& c) {
      Args a(c, "join", {"iterable"});
      std::string out;
      const List items = iterate(a.get(0, undef()));
      for (size_t i = 0; i < items.size(); i++) {
        if (items[i].kind != Kind::String)
          fail(cat("sequence item ", i, ": expected str instance, ", type_name(items[i]), " found"));
        out += (i ? s : "") + items[i].s;
      }
      return Value::string(out);
    });
  if (name == "isdigit" || name == "isspace" || name == "isalpha" || name == "isupper" || name == "islower")
    return method(name, [s, name](CallArgs& c) {
      Args a(c, name, {});
      const std::u32string cps = pystr::decode(s);
      if (cps.empty()) return Value::boolean(false);
      if (name == "isspace") return Value::boolean(std::all_of(cps.begin(), cps.end(), pystr::is_space));
      if (name == "isdigit" || name == "isalpha") {  // Python's answer needs Unicode tables beyond ASCII
        for (char32_t x : cps)
          if (x >= 0x80) fail(cat("str.", name, " on non-ASCII text is not supported"));
        return Value::boolean(std::all_of(cps.begin(), cps.end(), [&](char32_t x) {
          return name == "isdigit" ? (x >= '0' && x <= '9') : std::isalpha((int)x) != 0;
        }));
      }
      const bool up = name == "isupper";
      return Value::boolean(pystr::upper(s) == s && pystr::lower(s) != s   ? up
                            : pystr::lower(s) == s && pystr::upper(s) != s ? !up
                                                                           : false);
    });
  static const std::set<std::string> python_str_methods = {
      "casefold", "center",     "encode",     "expandtabs",   "format",       "format_map",  "index",
      "isalnum",  "isascii",    "isdecimal",  "isidentifier", "isnumeric",    "isprintable", "istitle",
      "ljust",    "maketrans",  "partition",  "removeprefix", "removesuffix", "rfind",       "rindex",
      "rjust",    "rpartition", "splitlines", "swapcase",     "translate",    "zfill"};
  if (python_str_methods.count(name)) fail(cat("the str method '", name, "' is not supported"));
  return Value::undefined(cat("'str object' has no attribute '", name, "'"));
}

Value dict_method(const Value& d, const std::string& name) {
  if (name == "items" || name == "keys" || name == "values")
    return method(name, [d, name](CallArgs& c) {
      Args a(c, name, {});
      List out;
      for (auto& [k, v] : d.dict->items) {
        if (name == "items")
          out.push_back(Value::make_tuple({Value::string(k), v}));
        else
          out.push_back(name == "keys" ? Value::string(k) : v);
      }
      return Value::make_list(std::move(out));
    });
  if (name == "get")
    return method(name, [d](CallArgs& c) {
      Args a(c, "get", {"key", "default"});
      if (!a.has(0)) fail("get expected at least 1 argument, got 0");
      if (a.v[0]->kind == Kind::String)
        if (const Value* v = d.dict->find(a.v[0]->s)) return *v;
      return a.get(1, Value::none());
    });
  return Value();
}

Value list_method(const Value& l, const std::string& name) {
  if (name == "index" || name == "count")
    return method(name, [l, name](CallArgs& c) {
      Args a(c, name, {"value"});
      int64_t n = 0;
      for (size_t i = 0; i < l.list->size(); i++)
        if (equal((*l.list)[i], a.get(0, undef()))) {
          if (name == "index") return Value::integer((int64_t)i);
          n++;
        }
      if (name == "index") fail(cat(to_repr(a.get(0, undef())), " is not in list"));
      return Value::integer(n);
    });
  return Value();
}

bool is_mutating(const std::string& name) {
  static const std::set<std::string> m = {"append",  "extend", "insert",     "pop",     "remove", "clear",   "sort",
                                          "reverse", "update", "setdefault", "popitem", "add",    "discard", "copy"};
  return m.count(name) > 0;
}

int64_t floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
  return q;
}

int cmp3(const Value& a, const Value& b, const char* op) {
  if (a.is_number() && b.is_number()) {
    if (a.kind != Kind::Float && b.kind != Kind::Float) {
      const int64_t x = a.kind == Kind::Bool ? a.b : a.i, y = b.kind == Kind::Bool ? b.b : b.i;
      return x < y ? -1 : x > y;
    }
    return a.as_double() < b.as_double() ? -1 : a.as_double() > b.as_double();
  }
  if (a.kind == Kind::String && b.kind == Kind::String) return a.s < b.s ? -1 : a.s > b.s;  // UTF-8 order = code points
  if (a.kind == Kind::List && b.kind == Kind::List) {
    for (size_t i = 0; i < std::min(a.list->size(), b.list->size()); i++)
      if (!equal((*a.list)[i], (*b.list)[i])) return cmp3((*a.list)[i], (*b.list)[i], op);
    return a.list->size() < b.list->size() ? -1 : a.list->size() > b.list->size();
  }
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  fail(cat("'", op, "' not supported between instances of '", type_name(a), "' and '", type_name(b), "'"));
}

// jinja2's make_attrgetter: "a.b.0" looks up a, then b, then item 0.
Value attr_path(const Value& v, const std::string& path) {
  Value cur = v;
  size_t from = 0;
  while (true) {
    const size_t dot = path.find('.', from);
    const std::string part = path.substr(from, dot == std::string::npos ? std::string::npos : dot - from);
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    cur = digits ? get_item(cur, Value::integer(std::stoll(part))) : get_item(cur, Value::string(part));
    if (dot == std::string::npos) return cur;
    from = dot + 1;
  }
}

// Sort key for sort/dictsort/unique/min/max: strings lowercased unless case_sensitive.
Value sort_key(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.kind == Kind::String) return Value::string(pystr::lower(v.s));
  return v;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Remaining arguments after the first `skip` positional ones, for select/map forwarding to a test/filter.
CallArgs rest_args(const CallArgs& c, size_t skip) {
  CallArgs r;
  for (size_t i = skip; i < c.positional.size(); i++) r.positional.push_back(c.positional[i]);
  r.keywords = c.keywords;
  return r;
}

List select_items(const Value& seq, CallArgs& c, bool by_attr, bool keep_if) {
  List out;
  const List items = iterate(seq);
  std::string attr;
  size_t skip = 0;
  if (by_attr) {
    if (c.positional.empty()) fail("selectattr/rejectattr need an attribute name");
    attr = str_arg(c.positional[0], "attribute");
    skip = 1;
  }
  std::optional<std::string> test;
  if (c.positional.size() > skip) test = str_arg(c.positional[skip], "test name");
  CallArgs targs = rest_args(c, skip + 1);
  for (const Value& item : items) {
    const Value probe = by_attr ? attr_path(item, attr) : item;
    CallArgs a = targs;
    const bool pass = test ? apply_test(*test, probe, a) : truthy(probe);
    if (pass == keep_if) out.push_back(item);
  }
  return out;
}

}  // namespace

List iterate(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined:
      return {};
    case Kind::List:
      return *v.list;
    case Kind::Dict: {
      List keys;
      for (auto& kv : v.dict->items) keys.push_back(Value::string(kv.first));
      return keys;
    }
    case Kind::String: {
      List out;
      for (char32_t c : pystr::decode(v.s)) out.push_back(Value::string(pystr::encode(std::u32string(1, c))));
      return out;
    }
    default:
      fail(cat("'", type_name(v), "' object is not iterable"));
  }
}

Value get_attr(const Value& obj, const std::string& name) {
  switch (obj.kind) {
    case Kind::Undefined:
      fail_undefined(obj);
    case Kind::Dict: {
      if (Value m = dict_method(obj, name); m.kind == Kind::Function) return m;
      if (is_mutating(name)) fail(cat("the dict method '", name, "' is not allowed (templates cannot change data)"));
      if (const Value* v = obj.dict->find(name)) return *v;
      return Value::undefined(cat("'dict object' has no attribute '", name, "'"));
    }
    case Kind::Namespace:
      if (const Value* v = obj.dict->find(name)) return *v;
      return Value::undefined(cat("'Namespace object' has no attribute '", name, "'"));
    case Kind::String:
      return string_method(obj.s, name);
    case Kind::List: {
      if (Value m = list_method(obj, name); m.kind == Kind::Function) return m;
      if (is_mutating(name)) fail(cat("the list method '", name, "' is not allowed (templates cannot change data)"));
      return Value::undefined(cat("'list object' has no attribute '", name, "'"));
    }
    default:
      return Value::undefined(cat("'", type_name(obj), " object' has no attribute '", name, "'"));
  }
}

Value get_item(const Value& obj, const Value& key) {
  switch (obj.kind) {
    case Kind::Undefined:
      fail_undefined(obj);
    case Kind::Dict:
    case Kind::Namespace:
      if (key.kind == Kind::String) {
        if (const Value* v = obj.dict->find(key.s)) return *v;
        return obj.kind == Kind::Dict ? get_attr(obj, key.s)
                                      : Value::undefined(cat("'Namespace object' has no attribute '", key.s, "'"));
      }
      return Value::undefined(cat("'dict object' has no attribute ", to_repr(key)));
    case Kind::List:
    case Kind::String: {
      if (key.kind == Kind::String) return get_attr(obj, key.s);
      if (key.kind != Kind::Int && key.kind != Kind::Bool)
        fail(cat(type_name(obj), " indices must be integers or slices, not ", type_name(key)));
      const std::u32string cps = obj.kind == Kind::String ? pystr::decode(obj.s) : std::u32string();
      const int64_t n = obj.kind == Kind::List ? (int64_t)obj.list->size() : (int64_t)cps.size();
      int64_t i = key.kind == Kind::Bool ? key.b : key.i;
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::undefined(cat(type_name(obj), " index out of range"));
      if (obj.kind == Kind::List) return (*obj.list)[i];
      return Value::string(pystr::encode(std::u32string(1, cps[i])));
    }
    default:
      return Value::undefined(cat("'", type_name(obj), " object' has no attribute ", to_repr(key)));
  }
}

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  if (obj.is_undefined()) fail_undefined(obj);
  if (obj.kind != Kind::List && obj.kind != Kind::String)
    fail(cat("'", type_name(obj), "' object is not subscriptable"));
  const std::u32string cps = obj.kind == Kind::String ? pystr::decode(obj.s) : std::u32string();
  const int64_t n = obj.kind == Kind::List ? (int64_t)obj.list->size() : (int64_t)cps.size();
  auto opt = [](const Value& v) -> std::optional<int64_t> {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    return int_arg(v, "slice index");
  };
  const int64_t st = opt(step).value_or(1);
  if (st == 0) fail("slice step cannot be zero");
  // Python's PySlice_AdjustIndices
  auto adjust = [&](std::optional<int64_t> x, int64_t dflt) {
    if (!x) return dflt;
    int64_t v = *x;
    if (v < 0) {
      v += n;
      if (v < 0) v = st < 0 ? -1 : 0;
    } else if (v >= n) {
      v = st < 0 ? n - 1 : n;
    }
    return v;
  };
  const int64_t b = adjust(opt(start), st < 0 ? n - 1 : 0), e = adjust(opt(stop), st < 0 ? -1 : n);
  List out;
  std::u32string sout;
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) {
    if (obj.kind == Kind::List)
      out.push_back((*obj.list)[i]);
    else
      sout += cps[i];
  }
  return obj.kind == Kind::List ? Value::make_list(std::move(out)) : Value::string(pystr::encode(sout));
}

Value call_value(const Value& fn, CallArgs& args) {
  if (fn.kind == Kind::Function) return (*fn.fn)(args);
  if (fn.is_undefined()) fail_undefined(fn);
  fail(cat("'", type_name(fn), "' object is not callable"));
}

Value negate(const Value& v) {
  if (v.kind == Kind::Int || v.kind == Kind::Bool) return Value::integer(-(v.kind == Kind::Bool ? v.b : v.i));
  if (v.kind == Kind::Float) return Value::number(-v.f);
  if (v.is_undefined()) fail_undefined(v);
  fail(cat("bad operand type for unary -: '", type_name(v), "'"));
}

Value binary_op(const std::string& op, const Value& a, const Value& b) {
  if (op == "~") return Value::string(to_str(a) + to_str(b));
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  const bool ints = (a.kind == Kind::Int || a.kind == Kind::Bool) && (b.kind == Kind::Int || b.kind == Kind::Bool);
  const int64_t x = a.kind == Kind::Bool ? a.b : a.i, y = b.kind == Kind::Bool ? b.b : b.i;
  if (op == "+") {
    if (ints) return Value::integer(x + y);
    if (a.is_number() && b.is_number()) return Value::number(a.as_double() + b.as_double());
    if (a.kind == Kind::String && b.kind == Kind::String) return Value::string(a.s + b.s);
    if (a.kind == Kind::List && b.kind == Kind::List) {
      List l = *a.list;
      l.insert(l.end(), b.list->begin(), b.list->end());
      return Value::make_list(std::move(l));
    }
    if (a.kind == Kind::String) fail(cat("can only concatenate str (not \"", type_name(b), "\") to str"));
    if (a.kind == Kind::List) fail(cat("can only concatenate list (not \"", type_name(b), "\") to list"));
    fail(cat("unsupported operand type(s) for +: '", type_name(a), "' and '", type_name(b), "'"));
  }
  if (op == "*") {
    if (ints) return Value::integer(x * y);
    if (a.is_number() && b.is_number()) return Value::number(a.as_double() * b.as_double());
    const Value* seq = a.kind == Kind::String || a.kind == Kind::List ? &a : &b;
    const Value* times = seq == &a ? &b : &a;
    if ((seq->kind == Kind::String || seq->kind == Kind::List) &&
        (times->kind == Kind::Int || times->kind == Kind::Bool)) {
      const int64_t k = times->kind == Kind::Bool ? times->b : times->i;
      if (seq->kind == Kind::String) {
        std::string out;
        for (int64_t i = 0; i < k; i++) out += seq->s;
        return Value::string(out);
      }
      List out;
      for (int64_t i = 0; i < k; i++) out.insert(out.end(), seq->list->begin(), seq->list->end());
      return Value::make_list(std::move(out));
    }
    fail(cat("unsupported operand type(s) for *: '", type_name(a), "' and '", type_name(b), "'"));
  }
  if (!a.is_number() || !b.is_number()) {
    if (op == "%" && a.kind == Kind::String) fail("printf-style string formatting with % is not supported");
    fail(cat("unsupported operand type(s) for ", op, ": '", type_name(a), "' and '", type_name(b), "'"));
  }
  if (op == "-") return ints ? Value::integer(x - y) : Value::number(a.as_double() - b.as_double());
  if (op == "/") {
    if (b.as_double() == 0) fail("division by zero");
    return Value::number(a.as_double() / b.as_double());
  }
  if (op == "//" || op == "%") {
    if (b.as_double() == 0) fail(op == "//" ? "integer division or modulo by zero" : "modulo by zero");
    if (ints) return op == "//" ? Value::integer(floordiv(x, y)) : Value::integer(x - floordiv(x, y) * y);
    const double p = a.as_double(), q = b.as_double();
    const double fl = std::floor(p / q);
    return op == "//" ? Value::number(fl) : Value::number(p - fl * q);
  }
  if (op == "**") {
    if (ints && y >= 0) {
      int64_t r = 1;
      for (int64_t i = 0; i < y; i++) r *= x;
      return Value::integer(r);
    }
    return Value::number(std::pow(a.as_double(), b.as_double()));
  }
  fail(cat("unknown operator ", op));
}

bool compare_op(const std::string& op, const Value& a, const Value& b) {
  if (op == "==") return equal(a, b);
  if (op == "!=") return !equal(a, b);
  if (op == "in" || op == "notin") {
    bool found = false;
    if (b.kind == Kind::String) {
      if (a.kind != Kind::String) fail(cat("'in <string>' requires string as left operand, not ", type_name(a)));
      found = b.s.find(a.s) != std::string::npos;
    } else if (b.kind == Kind::Dict || b.kind == Kind::Namespace) {
      found = a.kind == Kind::String && b.dict->find(a.s) != nullptr;
    } else {
      for (const Value& x : iterate(b))
        if (equal(a, x)) {
          found = true;
          break;
        }
    }
    return op == "in" ? found : !found;
  }
  const int c = cmp3(a, b, op.c_str());
  if (op == "<") return c < 0;
  if (op == ">") return c > 0;
  if (op == "<=") return c <= 0;
  return c >= 0;
}

// ---- filters -------------------------------------------------------------------

namespace {

using FilterFn = Value (*)(const Value&, CallArgs&);

Value f_trim(const Value& v, CallArgs& c) {
  Args a(c, "trim", {"chars"});
  std::optional<std::string> chars;
  if (a.has(0) && !a.v[0]->is_none()) chars = str_arg(*a.v[0], "chars");
  return Value::string(pystr::strip(to_str(v), chars, true, true));
}
Value f_length(const Value& v, CallArgs& c) {
  Args a(c, "length", {});
  switch (v.kind) {
    case Kind::Undefined:
      return Value::integer(0);
    case Kind::String:
      return Value::integer((int64_t)pystr::length(v.s));
    case Kind::List:
      return Value::integer((int64_t)v.list->size());
    case Kind::Dict:
    case Kind::Namespace:
      return Value::integer((int64_t)v.dict->items.size());
    default:
      fail(cat("object of type '", type_name(v), "' has no len()"));
  }
}
Value f_upper(const Value& v, CallArgs& c) {
  Args a(c, "upper", {});
  return Value::string(pystr::upper(to_str(v)));
}
Value f_lower(const Value& v, CallArgs& c) {
  Args a(c, "lower", {});
  return Value::string(pystr::lower(to_str(v)));
}
Value f_capitalize(const Value& v, CallArgs& c) {
  Args a(c, "capitalize", {});
  return Value::string(pystr::capitalize(to_str(v)));
}
// jinja2's do_title: words start after runs of whitespace or -({[<, first letter upper, rest lower.
Value f_title(const Value& v, CallArgs& c) {
  Args a(c, "title", {});
  const std::u32string cps = pystr::decode(to_str(v));
  std::string out;
  size_t i = 0;
  auto is_sep = [](char32_t x) {
    return pystr::is_space(x) || x == '-' || x == '(' || x == '{' || x == '[' || x == '<';
  };
  while (i < cps.size()) {
    size_t j = i;
    if (is_sep(cps[i])) {
      while (j < cps.size() && is_sep(cps[j])) j++;
      out += pystr::encode(cps.substr(i, j - i));
    } else {
      while (j < cps.size() && !is_sep(cps[j])) j++;
      out += pystr::upper(pystr::encode(cps.substr(i, 1))) + pystr::lower(pystr::encode(cps.substr(i + 1, j - i - 1)));
    }
    i = j;
  }
  return Value::string(out);
}
Value f_default(const Value& v, CallArgs& c) {
  Args a(c, "default", {"default_value", "boolean"});
  const bool boolean = a.has(1) && truthy(*a.v[1]);
  if (v.is_undefined() || (boolean && !truthy(v))) return a.get(0, Value::string(""));
  return v;
}
Value f_join(const Value& v, CallArgs& c) {
  Args a(c, "join", {"d", "attribute"});
  const std::string sep = a.has(0) ? to_str(*a.v[0]) : "";
  std::string out;
  const List items = iterate(v);
  for (size_t i = 0; i < items.size(); i++)
    out += (i ? sep : "") + to_str(a.has(1) ? attr_path(items[i], to_str(*a.v[1])) : items[i]);
  return Value::string(out);
}
Value f_first(const Value& v, CallArgs& c) {
  Args a(c, "first", {});
  const List items = iterate(v);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}
Value f_last(const Value& v, CallArgs& c) {
  Args a(c, "last", {});
  const List items = iterate(v);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}
Value f_list(const Value& v, CallArgs& c) {
  Args a(c, "list", {});
  return Value::make_list(iterate(v));
}
Value f_string(const Value& v, CallArgs& c) {
  Args a(c, "string", {});
  return Value::string(to_str(v));
}
Value f_items(const Value& v, CallArgs& c) {
  Args a(c, "items", {});
  if (v.is_undefined()) return Value::make_list();
  if (v.kind != Kind::Dict && v.kind != Kind::Namespace) fail(cat("Can only get item pairs from a mapping."));
  List out;
  for (auto& [k, x] : v.dict->items) out.push_back(Value::make_tuple({Value::string(k), x}));
  return Value::make_list(std::move(out));
}
Value f_replace(const Value& v, CallArgs& c) {
  Args a(c, "replace", {"old", "new", "count"});
  if (!a.has(0) || !a.has(1)) fail("replace needs the old and new strings");
  return Value::string(pystr::replace(to_str(v), to_str(*a.v[0]), to_str(*a.v[1]),
                                      a.has(2) && !a.v[2]->is_none() ? int_arg(*a.v[2], "count") : -1));
}
Value f_tojson(const Value& v, CallArgs& c) {
  Args a(c, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"});
  const bool ensure_ascii = a.has(0) && truthy(*a.v[0]);
  int indent = -1;
  if (a.has(1) && !a.v[1]->is_none()) {
    if (a.v[1]->kind == Kind::String) fail("tojson: a string indent is not supported");
    indent = (int)std::max<int64_t>(0, int_arg(*a.v[1], "indent"));
  }
  std::string item_sep = indent >= 0 ? "," : ", ", key_sep = ": ";
  if (a.has(2) && !a.v[2]->is_none()) {
    const List seps = iterate(*a.v[2]);
    if (seps.size() != 2) fail("tojson: separators must be a pair of strings");
    item_sep = str_arg(seps[0], "separator"), key_sep = str_arg(seps[1], "separator");
  }
  return Value::string(to_json(v, indent, item_sep, key_sep, a.has(3) && truthy(*a.v[3]), ensure_ascii));
}
Value f_int(const Value& v, CallArgs& c) {
  Args a(c, "int", {"default", "base"});
  const Value dflt = a.get(0, Value::integer(0));
  if (a.has(1) && int_arg(*a.v[1], "base") != 10) fail("the int filter's base other than 10 is not supported");
  if (v.kind == Kind::Int) return v;
  if (v.kind == Kind::Bool) return Value::integer(v.b);
  if (v.kind == Kind::Float) return std::isfinite(v.f) ? Value::integer((int64_t)v.f) : dflt;
  if (v.kind == Kind::String) {
    const std::string t = pystr::strip(v.s, std::nullopt, true, true);
    char* end = nullptr;
    const long long i = std::strtoll(t.c_str(), &end, 10);
    if (!t.empty() && end && *end == 0) return Value::integer(i);
    const double d = std::strtod(t.c_str(), &end);
    if (!t.empty() && end && *end == 0 && std::isfinite(d)) return Value::integer((int64_t)d);
  }
  return dflt;
}
Value f_float(const Value& v, CallArgs& c) {
  Args a(c, "float", {"default"});
  if (v.is_number()) return Value::number(v.as_double());
  if (v.kind == Kind::String) {
    const std::string t = pystr::strip(v.s, std::nullopt, true, true);
    char* end = nullptr;
    const double d = std::strtod(t.c_str(), &end);
    if (!t.empty() && end && *end == 0) return Value::number(d);
  }
  return a.get(0, Value::number(0.0));
}
Value f_abs(const Value& v, CallArgs& c) {
  Args a(c, "abs", {});
  if (v.kind == Kind::Int || v.kind == Kind::Bool) return Value::integer(std::llabs(v.kind == Kind::Bool ? v.b : v.i));
  if (v.kind == Kind::Float) return Value::number(std::fabs(v.f));
  fail(cat("bad operand type for abs(): '", type_name(v), "'"));
}
Value f_round(const Value& v, CallArgs& c) {
  Args a(c, "round", {"precision", "method"});
  const int64_t prec = a.has(0) ? int_arg(*a.v[0], "precision") : 0;
  const std::string m = a.has(1) ? str_arg(*a.v[1], "method") : "common";
  if (!v.is_number()) fail(cat("round: expected a number, got ", type_name(v)));
  if (m == "common") {
    // Python's round(x, n): the exact binary value correctly rounded, ties to even, which is what
    // glibc's printf does for "%.*f".
    if (prec < 0 || prec > 300) fail("round: precision outside 0..300 is not supported");
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.*f", (int)prec, v.as_double());
    return Value::number(std::strtod(buf, nullptr));
  }
  const double scale = std::pow(10.0, (double)prec), x = v.as_double() * scale;
  if (m == "ceil") return Value::number(std::ceil(x) / scale);
  if (m == "floor") return Value::number(std::floor(x) / scale);
  fail("method must be 'common', 'ceil' or 'floor'");
}
Value f_reverse(const Value& v, CallArgs& c) {
  Args a(c, "reverse", {});
  if (v.kind == Kind::String) {
    std::u32string cps = pystr::decode(v.s);
    std::reverse(cps.begin(), cps.end());
    return Value::string(pystr::encode(cps));
  }
  List items = iterate(v);
  std::reverse(items.begin(), items.end());
  return Value::make_list(std::move(items));
}
Value f_sort(const Value& v, CallArgs& c) {
  Args a(c, "sort", {"reverse", "case_sensitive", "attribute"});
  const bool rev = a.has(0) && truthy(*a.v[0]), cs = a.has(1) && truthy(*a.v[1]);
  List items = iterate(v);
  auto key = [&](const Value& x) { return sort_key(a.has(2) ? attr_path(x, to_str(*a.v[2])) : x, cs); };
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return rev ? cmp3(key(y), key(x), "<") < 0 : cmp3(key(x), key(y), "<") < 0;
  });
  return Value::make_list(std::move(items));
}
Value f_dictsort(const Value& v, CallArgs& c) {
  Args a(c, "dictsort", {"case_sensitive", "by", "reverse"});
  const bool cs = a.has(0) && truthy(*a.v[0]), rev = a.has(2) && truthy(*a.v[2]);
  const bool by_value = a.has(1) && to_str(*a.v[1]) == "value";
  CallArgs none;
  List items = *f_items(v, none).list;
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    const Value kx = sort_key((*x.list)[by_value], cs), ky = sort_key((*y.list)[by_value], cs);
    return rev ? cmp3(ky, kx, "<") < 0 : cmp3(kx, ky, "<") < 0;
  });
  return Value::make_list(std::move(items));
}
Value f_unique(const Value& v, CallArgs& c) {
  Args a(c, "unique", {"case_sensitive", "attribute"});
  const bool cs = a.has(0) && truthy(*a.v[0]);
  List out, seen;
  for (const Value& x : iterate(v)) {
    const Value k = sort_key(a.has(1) ? attr_path(x, to_str(*a.v[1])) : x, cs);
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equal(s, k); })) {
      seen.push_back(k);
      out.push_back(x);
    }
  }
  return Value::make_list(std::move(out));
}
Value min_max(const Value& v, CallArgs& c, bool want_max) {
  Args a(c, want_max ? "max" : "min", {"case_sensitive", "attribute"});
  const bool cs = a.has(0) && truthy(*a.v[0]);
  const List items = iterate(v);
  if (items.empty()) return Value::undefined(cat("No aggregated item, sequence was empty."));
  size_t best = 0;
  auto key = [&](const Value& x) { return sort_key(a.has(1) ? attr_path(x, to_str(*a.v[1])) : x, cs); };
  for (size_t i = 1; i < items.size(); i++) {
    const int cmp = cmp3(key(items[i]), key(items[best]), "<");
    if (want_max ? cmp > 0 : cmp < 0) best = i;
  }
  return items[best];
}
Value f_max(const Value& v, CallArgs& c) {
  return min_max(v, c, true);
}
Value f_min(const Value& v, CallArgs& c) {
  return min_max(v, c, false);
}
Value f_sum(const Value& v, CallArgs& c) {
  Args a(c, "sum", {"attribute", "start"});
  Value total = a.get(1, Value::integer(0));
  for (const Value& x : iterate(v)) total = binary_op("+", total, a.has(0) ? attr_path(x, to_str(*a.v[0])) : x);
  return total;
}
Value f_select(const Value& v, CallArgs& c) {
  return Value::make_list(select_items(v, c, false, true));
}
Value f_reject(const Value& v, CallArgs& c) {
  return Value::make_list(select_items(v, c, false, false));
}
Value f_selectattr(const Value& v, CallArgs& c) {
  return Value::make_list(select_items(v, c, true, true));
}
Value f_rejectattr(const Value& v, CallArgs& c) {
  return Value::make_list(select_items(v, c, true, false));
}
Value f_map(const Value& v, CallArgs& c) {
  List out;
  const List items = iterate(v);
  for (auto& [k, x] : c.keywords)
    if (k == "attribute") {
      const Value* dflt = nullptr;
      for (auto& [k2, d] : c.keywords)
        if (k2 == "default") dflt = &d;
      for (const Value& it : items) {
        Value r = attr_path(it, str_arg(x, "attribute"));
        out.push_back(r.is_undefined() && dflt ? *dflt : r);
      }
      return Value::make_list(std::move(out));
    }
  if (c.positional.empty()) fail("map needs a filter name or attribute=");
  const std::string filter = str_arg(c.positional[0], "filter name");
  const CallArgs rest = rest_args(c, 1);
  for (const Value& it : items) {
    CallArgs r = rest;
    out.push_back(apply_filter(filter, it, r));
  }
  return Value::make_list(std::move(out));
}
Value f_attr(const Value& v, CallArgs& c) {
  Args a(c, "attr", {"name"});
  return get_attr(v, str_arg(a.get(0, undef()), "attribute name"));
}
Value f_indent(const Value& v, CallArgs& c) {
  Args a(c, "indent", {"width", "first", "blank"});
  const std::string pad =
      a.has(0) && a.v[0]->kind == Kind::String ? a.v[0]->s : std::string(a.has(0) ? int_arg(*a.v[0], "width") : 4, ' ');
  const bool first = a.has(1) && truthy(*a.v[1]), blank = a.has(2) && truthy(*a.v[2]);
  std::string s = to_str(v), out;
  std::vector<std::string> lines = pystr::split(s, std::string("\n"));
  for (size_t i = 0; i < lines.size(); i++) {
    if (i) out += "\n";
    if ((i > 0 || first) && (blank || !pystr::strip(lines[i], std::nullopt, true, true).empty())) out += pad;
    out += lines[i];
  }
  return Value::string(out);
}
Value f_escape(const Value& v, CallArgs& c) {
  Args a(c, "escape", {});
  return Value::string(html_escape(to_str(v)));
}
Value f_safe(const Value& v, CallArgs& c) {
  Args a(c, "safe", {});
  return v;
}
Value f_count(const Value& v, CallArgs& c) {
  return f_length(v, c);
}

const std::vector<std::pair<const char*, FilterFn>>& filters() {
  static const std::vector<std::pair<const char*, FilterFn>> table = {
      {"abs", f_abs},           {"attr", f_attr},       {"capitalize", f_capitalize},
      {"count", f_count},       {"d", f_default},       {"default", f_default},
      {"dictsort", f_dictsort}, {"e", f_escape},        {"escape", f_escape},
      {"first", f_first},       {"float", f_float},     {"indent", f_indent},
      {"int", f_int},           {"items", f_items},     {"join", f_join},
      {"last", f_last},         {"length", f_length},   {"list", f_list},
      {"lower", f_lower},       {"map", f_map},         {"max", f_max},
      {"min", f_min},           {"reject", f_reject},   {"rejectattr", f_rejectattr},
      {"replace", f_replace},   {"reverse", f_reverse}, {"round", f_round},
      {"safe", f_safe},         {"select", f_select},   {"selectattr", f_selectattr},
      {"sort", f_sort},         {"string", f_string},   {"sum", f_sum},
      {"title", f_title},       {"tojson", f_tojson},   {"trim", f_trim},
      {"unique", f_unique},     {"upper", f_upper},
  };
  return table;
}

// ---- tests ---------------------------------------------------------------------

bool t_test(const std::string& name, const Value& v, CallArgs& c) {
  auto one = [&](const char* what) -> Value {
    Args a(c, what, {"other"});
    if (!a.has(0)) fail(cat("the test '", what, "' needs an argument"));
    return *a.v[0];
  };
  auto none = [&] { Args a(c, name, {}); };
  if (name == "defined") return none(), !v.is_undefined();
  if (name == "undefined") return none(), v.is_undefined();
  if (name == "none") return none(), v.is_none();
  if (name == "boolean") return none(), v.kind == Kind::Bool;
  if (name == "false") return none(), v.kind == Kind::Bool && !v.b;
  if (name == "true") return none(), v.kind == Kind::Bool && v.b;
  if (name == "integer") return none(), v.kind == Kind::Int;
  if (name == "float") return none(), v.kind == Kind::Float;
  if (name == "number") return none(), v.is_number();
  if (name == "string") return none(), v.kind == Kind::String;
  if (name == "mapping") return none(), v.kind == Kind::Dict;
  if (name == "iterable") return none(), v.kind == Kind::List || v.kind == Kind::Dict || v.kind == Kind::String;
  if (name == "sequence") return none(), v.kind == Kind::List || v.kind == Kind::Dict || v.kind == Kind::String;
  if (name == "callable") return none(), v.kind == Kind::Function;
  if (name == "lower") return none(), v.kind == Kind::String && pystr::lower(v.s) == v.s;
  if (name == "upper") return none(), v.kind == Kind::String && pystr::upper(v.s) == v.s;
  if (name == "escaped") return none(), false;
  if (name == "even" || name == "odd") {
    none();
    const int64_t x = int_arg(v, "value");
    return (x % 2 == 0) == (name == "even");
  }
  if (name == "divisibleby") {
    const int64_t d = int_arg(one("divisibleby"), "divisor");
    if (d == 0) fail("integer division or modulo by zero");
    return int_arg(v, "value") % d == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") return equal(v, one("eq"));
  if (name == "ne" || name == "!=") return !equal(v, one("ne"));
  if (name == "lt" || name == "lessthan" || name == "<") return compare_op("<", v, one("lt"));
  if (name == "le" || name == "<=") return compare_op("<=", v, one("le"));
  if (name == "gt" || name == "greaterthan" || name == ">") return compare_op(">", v, one("gt"));
  if (name == "ge" || name == ">=") return compare_op(">=", v, one("ge"));
  if (name == "in") return compare_op("in", v, one("in"));
  if (name == "sameas") {
    const Value& o = one("sameas");
    if (v.kind != o.kind) return false;
    switch (v.kind) {
      case Kind::None:
      case Kind::Undefined:
        return true;
      case Kind::Bool:
        return v.b == o.b;
      case Kind::List:
        return v.list == o.list;
      case Kind::Dict:
      case Kind::Namespace:
        return v.dict == o.dict;
      case Kind::Function:
        return v.fn == o.fn;
      default:
        fail("the sameas test on numbers and strings depends on Python object identity; not supported");
    }
  }
  if (name == "filter") return none(), false;
  fail(cat("unknown test '", name, "'"));
}

const std::set<std::string>& test_names() {
  static const std::set<std::string> names = {
      "defined", "undefined",   "none",     "boolean",  "false", "true",  "integer",  "float", "number", "string",
      "mapping", "iterable",    "sequence", "callable", "lower", "upper", "escaped",  "even",  "odd",    "divisibleby",
      "eq",      "equalto",     "==",       "ne",       "!=",    "lt",    "lessthan", "<",     "le",     "<=",
      "gt",      "greaterthan", ">",        "ge",       ">=",    "in",    "sameas"};
  return names;
}

}  // namespace

bool has_filter(const std::string& name) {
  for (auto& [n, f] : filters())
    if (name == n) return true;
  return false;
}

bool has_test(const std::string& name) {
  return test_names().count(name) > 0;
}

Value apply_filter(const std::string& name, const Value& v, CallArgs& args) {
  for (auto& [n, f] : filters())
    if (name == n) return f(v, args);
  fail(cat("the filter '", name, "' is not supported"));
}

bool apply_test(const std::string& name, const Value& v, CallArgs& args) {
  if (!has_test(name)) fail(cat("the test '", name, "' is not supported"));
  return t_test(name, v, args);
}

Dict global_functions() {
  Dict g;
  g.set("range", Value::function("range", [](CallArgs& c) {
          Args a(c, "range", {"start", "stop", "step"});
          int64_t start = 0, stop = 0, step = 1;
          if (a.has(1)) {
            start = int_arg(*a.v[0], "start"), stop = int_arg(*a.v[1], "stop");
            if (a.has(2)) step = int_arg(*a.v[2], "step");
          } else {
            stop = int_arg(a.get(0, undef()), "stop");
          }
          if (step == 0) fail("range() arg 3 must not be zero");
          List out;
          for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
            out.push_back(Value::integer(i));
            if (out.size() > 100000) fail("range() with more than 100000 items is refused (as jinja2's sandbox)");
          }
          return Value::make_list(std::move(out));
        }));
  auto dict_of = [](CallArgs& c, const char* what) {
    Dict d;
    if (c.positional.size() > 1) fail(cat(what, "() takes at most 1 positional argument"));
    if (!c.positional.empty()) {
      const Value& src = c.positional[0];
      if (src.kind == Kind::Dict || src.kind == Kind::Namespace) {
        d = *src.dict;
      } else {
        for (const Value& kv : iterate(src)) {
          const List pair = iterate(kv);
          if (pair.size() != 2) fail(cat(what, "(): each item must be a pair"));
          d.set(str_arg(pair[0], "key"), pair[1]);
        }
      }
    }
    for (auto& [k, v] : c.keywords) d.set(k, v);
    return d;
  };
  g.set("dict", Value::function("dict", [dict_of](CallArgs& c) { return Value::make_dict(dict_of(c, "dict")); }));
  g.set("namespace", Value::function("namespace", [dict_of](CallArgs& c) {
          Dict d = dict_of(c, "namespace");
          for (auto& [k, v] : d.items)
            if (!k.empty() && k[0] == '_')
              fail(cat("Chat templates cannot store underscore-prefixed attributes on a namespace, but got '", k, "'"));
          return Value::make_namespace(std::move(d));
        }));
  g.set("raise_exception", Value::function("raise_exception", [](CallArgs& c) -> Value {
          Args a(c, "raise_exception", {"message"});
          fail(cat("raise_exception: ", to_str(a.get(0, undef()))));
        }));
  return g;
}

}  // namespace align::data::jinja
