// value.cpp: Python semantics of template values (value.hpp).
#include "data/jinja/value.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "common/error.hpp"
#include "data/jinja/pystr.hpp"

namespace align::data::jinja {

const Value* Dict::find(const std::string& key) const {
  for (const auto& kv : items)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

void Dict::set(const std::string& key, Value v) {
  for (auto& kv : items)
    if (kv.first == key) {
      kv.second = std::move(v);
      return;
    }
  items.emplace_back(key, std::move(v));
}

const char* type_name(const Value& v) {
  switch (v.kind) {
    case Value::Kind::Undefined:
      return "undefined";
    case Value::Kind::None:
      return "NoneType";
    case Value::Kind::Bool:
      return "bool";
    case Value::Kind::Int:
      return "int";
    case Value::Kind::Float:
      return "float";
    case Value::Kind::String:
      return "str";
    case Value::Kind::List:
      return "list";
    case Value::Kind::Dict:
      return "dict";
    case Value::Kind::Namespace:
      return "Namespace";
    case Value::Kind::Function:
      return "function";
  }
  return "?";
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Value::Kind::Undefined:
    case Value::Kind::None:
      return false;
    case Value::Kind::Bool:
      return v.b;
    case Value::Kind::Int:
      return v.i != 0;
    case Value::Kind::Float:
      return v.f != 0;
    case Value::Kind::String:
      return !v.s.empty();
    case Value::Kind::List:
      return !v.list->empty();
    case Value::Kind::Dict:
      return !v.dict->items.empty();
    default:
      return true;
  }
}

std::string float_repr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // [-]d[.ddd]e[+-]XX, shortest round-trip digits
  const bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  const size_t e = sci.find('e');
  const int exp10 = std::atoi(sci.c_str() + e + 1);
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  std::string out;
  if (exp10 >= -5 && exp10 < 16) {  // Python's repr: fixed notation when -4 <= exponent < 16
    if (exp10 < -4) goto scientific;
    if (exp10 >= 0) {
      std::string intpart = digits.substr(0, std::min<size_t>(digits.size(), exp10 + 1));
      while ((int)intpart.size() < exp10 + 1) intpart += '0';
      std::string frac = digits.size() > (size_t)exp10 + 1 ? digits.substr(exp10 + 1) : "0";
      out = intpart + "." + frac;
    } else {
      out = "0." + std::string(-exp10 - 1, '0') + digits;
    }
    return (neg ? "-" : "") + out;
  }
scientific:
  out = digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char eb[16];
  std::snprintf(eb, sizeof eb, "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
  return (neg ? "-" : "") + out + eb;
}

std::string to_repr(const Value& v) {
  if (v.kind == Value::Kind::String) return pystr::repr(v.s);
  return to_str(v);
}

std::string to_str(const Value& v) {
  switch (v.kind) {
    case Value::Kind::Undefined:
      return "";
    case Value::Kind::None:
      return "None";
    case Value::Kind::Bool:
      return v.b ? "True" : "False";
    case Value::Kind::Int:
      return std::to_string(v.i);
    case Value::Kind::Float:
      return float_repr(v.f);
    case Value::Kind::String:
      return v.s;
    case Value::Kind::List: {
      std::string out = v.tuple ? "(" : "[";
      for (size_t k = 0; k < v.list->size(); k++) out += (k ? ", " : "") + to_repr((*v.list)[k]);
      if (v.tuple && v.list->size() == 1) out += ",";
      return out + (v.tuple ? ")" : "]");
    }
    case Value::Kind::Dict: {
      std::string out = "{";
      for (size_t k = 0; k < v.dict->items.size(); k++)
        out += (k ? ", " : "") + pystr::repr(v.dict->items[k].first) + ": " + to_repr(v.dict->items[k].second);
      return out + "}";
    }
    case Value::Kind::Namespace: {
      std::string out = "<Namespace {";
      for (size_t k = 0; k < v.dict->items.size(); k++)
        out += (k ? ", " : "") + pystr::repr(v.dict->items[k].first) + ": " + to_repr(v.dict->items[k].second);
      return out + "}>";
    }
    case Value::Kind::Function:
      return "<function " + v.s + ">";
  }
  return "";
}

bool equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind != Value::Kind::Float && b.kind != Value::Kind::Float)
      return (a.kind == Value::Kind::Bool ? a.b : a.i) == (b.kind == Value::Kind::Bool ? b.b : b.i);
    return a.as_double() == b.as_double();
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::Undefined:
    case Value::Kind::None:
      return true;
    case Value::Kind::String:
      return a.s == b.s;
    case Value::Kind::List:
      if (a.tuple != b.tuple || a.list->size() != b.list->size()) return false;
      for (size_t k = 0; k < a.list->size(); k++)
        if (!equal((*a.list)[k], (*b.list)[k])) return false;
      return true;
    case Value::Kind::Dict: {
      if (a.dict->items.size() != b.dict->items.size()) return false;
      for (const auto& kv : a.dict->items) {
        const Value* o = b.dict->find(kv.first);
        if (!o || !equal(kv.second, *o)) return false;
      }
      return true;
    }
    default:
      return a.dict == b.dict && a.fn == b.fn;  // identity
  }
}

namespace {

void json_into(std::string& out, const Value& v, int indent, int depth, const std::string& item_sep,
               const std::string& key_sep, bool sort_keys, bool ensure_ascii) {
  auto newline = [&](int d) {
    if (indent >= 0) out += "\n" + std::string((size_t)indent * d, ' ');
  };
  switch (v.kind) {
    case Value::Kind::None:
      out += "null";
      return;
    case Value::Kind::Bool:
      out += v.b ? "true" : "false";
      return;
    case Value::Kind::Int:
      out += std::to_string(v.i);
      return;
    case Value::Kind::Float:
      out += std::isnan(v.f) ? "NaN" : std::isinf(v.f) ? (v.f > 0 ? "Infinity" : "-Infinity") : float_repr(v.f);
      return;
    case Value::Kind::String:
      out += pystr::json_quote(v.s, ensure_ascii);
      return;
    case Value::Kind::List:
      if (v.list->empty()) {
        out += "[]";
        return;
      }
      out += "[";
      for (size_t k = 0; k < v.list->size(); k++) {
        if (k) out += item_sep;
        newline(depth + 1);
        json_into(out, (*v.list)[k], indent, depth + 1, item_sep, key_sep, sort_keys, ensure_ascii);
      }
      newline(depth);
      out += "]";
      return;
    case Value::Kind::Dict: {
      if (v.dict->items.empty()) {
        out += "{}";
        return;
      }
      std::vector<const std::pair<std::string, Value>*> items;
      for (const auto& kv : v.dict->items) items.push_back(&kv);
      if (sort_keys) std::stable_sort(items.begin(), items.end(), [](auto* x, auto* y) { return x->first < y->first; });
      out += "{";
      for (size_t k = 0; k < items.size(); k++) {
        if (k) out += item_sep;
        newline(depth + 1);
        out += pystr::json_quote(items[k]->first, ensure_ascii) + key_sep;
        json_into(out, items[k]->second, indent, depth + 1, item_sep, key_sep, sort_keys, ensure_ascii);
      }
      newline(depth);
      out += "}";
      return;
    }
    default:
      throw InputError(cat("tojson: Object of type ", type_name(v), " is not JSON serializable"));
  }
}

template <typename J>
Value from_any_json(const J& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value::none();
    case nlohmann::json::value_t::boolean:
      return Value::boolean(j.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::integer(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      return Value::integer((int64_t)j.template get<uint64_t>());
    case nlohmann::json::value_t::number_float:
      return Value::number(j.template get<double>());
    case nlohmann::json::value_t::string:
      return Value::string(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      List l;
      for (const auto& x : j) l.push_back(from_any_json(x));
      return Value::make_list(std::move(l));
    }
    case nlohmann::json::value_t::object: {
      Dict d;
      for (auto it = j.begin(); it != j.end(); ++it) d.items.emplace_back(it.key(), from_any_json(it.value()));
      return Value::make_dict(std::move(d));
    }
    default:
      return Value::none();
  }
}

}  // namespace

std::string to_json(const Value& v, int indent, const std::string& item_sep, const std::string& key_sep, bool sort_keys,
                    bool ensure_ascii) {
  std::string out;
  json_into(out, v, indent, 0, item_sep, key_sep, sort_keys, ensure_ascii);
  return out;
}

Value from_json(const nlohmann::ordered_json& j) {
  return from_any_json(j);
}
Value from_json(const nlohmann::json& j) {
  return from_any_json(j);
}

}  // namespace align::data::jinja
