// template.cpp: the tree-walking renderer (template.hpp). Scopes follow
// jinja2: each for-loop iteration, macro call, call/filter/with block and
// block set gets a fresh frame that reads through to its parents; `set`
// writes the innermost frame (so it does not leak out of a loop, hence
// namespace()); `if` opens no frame.
#include "data/jinja/template.hpp"

#include <memory>

#include "common/error.hpp"
#include "data/jinja/builtins.hpp"
#include "data/jinja/parser.hpp"

namespace align::data::jinja {

namespace {

struct Frame;
using FramePtr = std::shared_ptr<Frame>;

struct Frame {
  Dict vars;
  FramePtr parent;
  explicit Frame(FramePtr p) : parent(std::move(p)) {}
  const Value* lookup(const std::string& name) const {
    for (const Frame* f = this; f; f = f->parent.get())
      if (const Value* v = f->vars.find(name)) return v;
    return nullptr;
  }
};

enum class Flow { Normal, Break, Continue };

class Renderer {
 public:
  explicit Renderer(const std::string& where) : where_(where) {}

  Flow exec(const Body& body, const FramePtr& frame, std::string& out) {
    for (const StmtPtr& s : body) {
      const Flow f = exec_one(*s, frame, out);
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

 private:
  const std::string& where_;
  int depth_ = 0;
  std::vector<FramePtr> macro_scopes_;  // the frames macros were defined in, for the render's lifetime

  [[noreturn]] void fail(int line, const std::string& what) const {
    throw InputError(cat(where_, " line ", line, ": ", what));
  }

  Flow exec_one(const Stmt& s, const FramePtr& frame, std::string& out) {
    switch (s.kind) {
      case Stmt::Kind::Text:
        out += s.text;
        return Flow::Normal;
      case Stmt::Kind::Output:
        out += to_str(eval(*s.expr, frame));
        return Flow::Normal;
      case Stmt::Kind::If:
        for (size_t i = 0; i < s.conds.size(); i++)
          if (truthy(eval(*s.conds[i], frame))) return exec(s.bodies[i], frame, out);
        if (s.bodies.size() > s.conds.size()) return exec(s.bodies.back(), frame, out);
        return Flow::Normal;
      case Stmt::Kind::For:
        return exec_for(s, frame, out);
      case Stmt::Kind::Set: {
        Value v = eval(*s.expr, frame);
        if (!s.attr.empty()) {
          const Value* ns = frame->lookup(s.targets[0]);
          if (!ns || ns->kind != Value::Kind::Namespace)
            fail(s.line, cat("cannot assign attribute on non-namespace object '", s.targets[0], "'"));
          if (s.attr[0] == '_')
            fail(s.line, cat("Chat templates cannot store underscore-prefixed attributes on a namespace, but got '",
                             s.attr, "'"));
          ns->dict->set(s.attr, std::move(v));
          return Flow::Normal;
        }
        assign(s.targets, v, *frame, s.line);
        return Flow::Normal;
      }
      case Stmt::Kind::BlockSet: {
        std::string text;
        exec(s.bodies[0], std::make_shared<Frame>(frame), text);
        Value v = Value::string(text);
        if (s.expr) v = eval_filter_chain(*s.expr, v, frame);
        frame->vars.set(s.targets[0], v);
        return Flow::Normal;
      }
      case Stmt::Kind::Macro:
        frame->vars.set(s.name, make_macro(s, frame));
        return Flow::Normal;
      case Stmt::Kind::CallBlock: {
        const Expr& call = *s.expr;
        Value callee = eval(*call.kids[0], frame);
        CallArgs args = eval_args(call, frame);
        args.keywords.emplace_back("caller", make_macro(s, frame, /*caller=*/true));
        out += to_str(located(call.line, [&] { return call_value(callee, args); }));
        return Flow::Normal;
      }
      case Stmt::Kind::FilterBlock: {
        std::string text;
        exec(s.bodies[0], std::make_shared<Frame>(frame), text);
        out += to_str(eval_filter_chain(*s.expr, Value::string(text), frame));
        return Flow::Normal;
      }
      case Stmt::Kind::With: {
        auto inner = std::make_shared<Frame>(frame);
        for (size_t i = 0; i < s.targets.size(); i++) inner->vars.set(s.targets[i], eval(*s.values[i], frame));
        return exec(s.bodies[0], inner, out);
      }
      case Stmt::Kind::Generation:
        exec(s.bodies[0], std::make_shared<Frame>(frame), out);
        return Flow::Normal;
      case Stmt::Kind::Break:
        return Flow::Break;
      case Stmt::Kind::Continue:
        return Flow::Continue;
    }
    return Flow::Normal;
  }

  void assign(const std::vector<std::string>& targets, const Value& v, Frame& frame, int line) {
    if (targets.size() == 1) {
      frame.vars.set(targets[0], v);
      return;
    }
    const List items = located(line, [&] { return iterate(v); });
    if (items.size() != targets.size())
      fail(line, cat(items.size() < targets.size() ? "not enough" : "too many", " values to unpack (expected ",
                     targets.size(), ", got ", items.size(), ")"));
    for (size_t i = 0; i < targets.size(); i++) frame.vars.set(targets[i], items[i]);
  }

  Flow exec_for(const Stmt& s, const FramePtr& frame, std::string& out) {
    const Value seq = eval(*s.expr, frame);
    List items = located(s.expr->line, [&] { return iterate(seq); });
    if (s.cond) {
      List kept;
      for (const Value& item : items) {
        auto probe = std::make_shared<Frame>(frame);
        assign(s.targets, item, *probe, s.line);
        if (truthy(eval(*s.cond, probe))) kept.push_back(item);
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      if (s.bodies.size() > 1) return exec(s.bodies[1], frame, out);
      return Flow::Normal;
    }
    const int64_t n = (int64_t)items.size();
    for (int64_t i = 0; i < n; i++) {
      auto iter = std::make_shared<Frame>(frame);
      assign(s.targets, items[i], *iter, s.line);
      Dict loop;
      loop.set("index", Value::integer(i + 1));
      loop.set("index0", Value::integer(i));
      loop.set("revindex", Value::integer(n - i));
      loop.set("revindex0", Value::integer(n - i - 1));
      loop.set("first", Value::boolean(i == 0));
      loop.set("last", Value::boolean(i == n - 1));
      loop.set("length", Value::integer(n));
      loop.set("depth", Value::integer(1));
      loop.set("depth0", Value::integer(0));
      loop.set("previtem", i > 0 ? items[i - 1] : Value::undefined("there is no previous item"));
      loop.set("nextitem", i + 1 < n ? items[i + 1] : Value::undefined("there is no next item"));
      loop.set("cycle", Value::function("cycle", [i](CallArgs& c) {
                 if (c.positional.empty()) throw Failure("no items for cycling given");
                 return c.positional[i % c.positional.size()];
               }));
      iter->vars.set("loop", Value::make_dict(std::move(loop)));
      const Flow f = exec(s.bodies[0], iter, out);
      if (f == Flow::Break) break;
    }
    return Flow::Normal;
  }

  Value make_macro(const Stmt& s, const FramePtr& defined_in, bool caller = false) {
    const Stmt* def = &s;
    // The macro is usually stored in the frame it was defined in: capturing that frame's
    // shared_ptr would make a cycle (frame → macro → frame) that is never freed. The renderer
    // owns the defining frames instead (values never outlive a render) and the macro keeps an index.
    const size_t scope = macro_scopes_.size();
    macro_scopes_.push_back(defined_in);
    return Value::function(caller ? "caller" : s.name, [this, def, scope](CallArgs& args) -> Value {
      if (++depth_ > 200) {
        depth_ = 0;
        fail(def->line, "macro recursion deeper than 200 calls");
      }
      auto frame = std::make_shared<Frame>(macro_scopes_[scope]);
      if (args.positional.size() > def->params.size())
        throw Failure(cat("macro takes ", def->params.size(), " positional arguments but ", args.positional.size(),
                          " were given (varargs are not supported)"));
      std::vector<bool> bound(def->params.size(), false);
      for (size_t i = 0; i < args.positional.size(); i++)
        frame->vars.set(def->params[i], args.positional[i]), bound[i] = true;
      for (auto& [k, v] : args.keywords) {
        auto it = std::find(def->params.begin(), def->params.end(), k);
        if (it == def->params.end()) {
          if (k == "caller") {
            frame->vars.set(k, v);
            continue;
          }
          throw Failure(cat("macro got an unexpected keyword argument '", k, "' (kwargs are not supported)"));
        }
        frame->vars.set(k, v);
        bound[it - def->params.begin()] = true;
      }
      for (size_t i = 0; i < def->params.size(); i++)
        if (!bound[i])
          frame->vars.set(def->params[i], def->defaults[i] ? eval(*def->defaults[i], frame)
                                                           : Value::undefined(cat("parameter '", def->params[i],
                                                                                  "' was not provided")));
      std::string text;
      exec(def->bodies[0], frame, text);
      depth_--;
      return Value::string(text);
    });
  }

  template <typename F>
  auto located(int line, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const Failure& x) {
      fail(line, x.what());
    }
  }

  CallArgs eval_args(const Expr& call, const FramePtr& frame) {
    CallArgs args;
    for (size_t i = 1; i < call.kids.size(); i++) args.positional.push_back(eval(*call.kids[i], frame));
    for (auto& [k, e] : call.keywords) args.keywords.emplace_back(k, eval(*e, frame));
    return args;
  }

  Value eval_filter_chain(const Expr& f, const Value& hole, const FramePtr& frame) {
    const Value base = f.kids[0] ? eval_filter_chain(*f.kids[0], hole, frame) : hole;
    CallArgs args = eval_args(f, frame);
    return located(f.line, [&] { return apply_filter(f.name, base, args); });
  }

  Value eval(const Expr& e, const FramePtr& frame) {
    switch (e.kind) {
      case Expr::Kind::Literal:
        return e.value;
      case Expr::Kind::Name: {
        if (const Value* v = frame->lookup(e.name)) return *v;
        return Value::undefined(cat("'", e.name, "' is undefined"));
      }
      case Expr::Kind::Attr: {
        const Value obj = eval(*e.kids[0], frame);
        return located(e.line, [&] { return get_attr(obj, e.name); });
      }
      case Expr::Kind::Item: {
        const Value obj = eval(*e.kids[0], frame), key = eval(*e.kids[1], frame);
        return located(e.line, [&] { return get_item(obj, key); });
      }
      case Expr::Kind::Slice: {
        const Value obj = eval(*e.kids[0], frame);
        Value parts[3];
        for (int k = 0; k < 3; k++)
          if (e.kids[k + 1]) parts[k] = eval(*e.kids[k + 1], frame);
        return located(e.line, [&] { return get_slice(obj, parts[0], parts[1], parts[2]); });
      }
      case Expr::Kind::Call: {
        const Value callee = eval(*e.kids[0], frame);
        CallArgs args = eval_args(e, frame);
        return located(e.line, [&] { return call_value(callee, args); });
      }
      case Expr::Kind::Filter: {
        if (!has_filter(e.name)) fail(e.line, cat("the filter '", e.name, "' is not supported"));
        const Value v = eval(*e.kids[0], frame);
        CallArgs args = eval_args(e, frame);
        return located(e.line, [&] { return apply_filter(e.name, v, args); });
      }
      case Expr::Kind::Test: {
        if (!has_test(e.name)) fail(e.line, cat("the test '", e.name, "' is not supported"));
        const Value v = eval(*e.kids[0], frame);
        CallArgs args = eval_args(e, frame);
        const bool r = located(e.line, [&] { return apply_test(e.name, v, args); });
        return Value::boolean(r != e.negated);
      }
      case Expr::Kind::Unary: {
        const Value v = eval(*e.kids[0], frame);
        if (e.name == "not") return Value::boolean(!truthy(v));
        if (e.name == "-") return located(e.line, [&] { return negate(v); });
        if (!v.is_number()) fail(e.line, cat("bad operand type for unary +: '", type_name(v), "'"));
        return v;
      }
      case Expr::Kind::Binary: {
        if (e.name == "and") {
          Value a = eval(*e.kids[0], frame);
          return truthy(a) ? eval(*e.kids[1], frame) : a;
        }
        if (e.name == "or") {
          Value a = eval(*e.kids[0], frame);
          return truthy(a) ? a : eval(*e.kids[1], frame);
        }
        const Value a = eval(*e.kids[0], frame), b = eval(*e.kids[1], frame);
        return located(e.line, [&] { return binary_op(e.name, a, b); });
      }
      case Expr::Kind::Compare: {
        Value left = eval(*e.kids[0], frame);
        for (size_t i = 0; i < e.ops.size(); i++) {
          Value right = eval(*e.kids[i + 1], frame);
          if (!located(e.line, [&] { return compare_op(e.ops[i], left, right); })) return Value::boolean(false);
          left = std::move(right);
        }
        return Value::boolean(true);
      }
      case Expr::Kind::Cond:
        if (truthy(eval(*e.kids[0], frame))) return eval(*e.kids[1], frame);
        return e.kids[2] ? eval(*e.kids[2], frame) : Value::undefined("the conditional expression had no else");
      case Expr::Kind::List:
      case Expr::Kind::Tuple: {
        List items;
        for (const ExprPtr& k : e.kids) items.push_back(eval(*k, frame));
        return e.kind == Expr::Kind::Tuple ? Value::make_tuple(std::move(items)) : Value::make_list(std::move(items));
      }
      case Expr::Kind::DictLit: {
        Dict d;
        for (size_t i = 0; i + 1 < e.kids.size(); i += 2) {
          const Value k = eval(*e.kids[i], frame);
          if (k.kind != Value::Kind::String)
            fail(e.line, cat("dict keys of type ", type_name(k), " are not supported"));
          d.set(k.s, eval(*e.kids[i + 1], frame));
        }
        return Value::make_dict(std::move(d));
      }
    }
    fail(e.line, "unknown expression");
  }
};

}  // namespace

Template::Template(const std::string& source, std::string where)
    : where_(std::move(where)), body_(parse_template(source, where_)) {}

std::string Template::render(const Dict& variables) const {
  auto globals = std::make_shared<Frame>(nullptr);
  globals->vars = global_functions();
  auto root = std::make_shared<Frame>(globals);
  root->vars = variables;
  Renderer r(where_);
  std::string out;
  r.exec(body_, root, out);
  return out;
}

Value strftime_function(const std::tm& when) {
  return Value::function("strftime_now", [when](CallArgs& c) {
    if (c.positional.size() != 1 || c.positional[0].kind != Value::Kind::String || !c.keywords.empty())
      throw Failure("strftime_now takes one format string");
    std::string buf(256, '\0');
    const std::string& fmt = c.positional[0].s;
    if (fmt.empty()) return Value::string("");
    while (true) {
      const size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &when);
      if (n > 0) return Value::string(buf.substr(0, n));
      if (buf.size() > 65536) throw Failure("strftime_now: the formatted date is too long");
      buf.resize(buf.size() * 4);
    }
  });
}

}  // namespace align::data::jinja
