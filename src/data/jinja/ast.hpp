// ast.hpp: the syntax tree of a parsed Jinja template: expressions and
// statements, each with the template line it came from (errors name it).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/jinja/value.hpp"

namespace align::data::jinja {

struct Expr;
using ExprPtr = std::shared_ptr<Expr>;

struct Expr {
  enum class Kind {
    Literal,  // value
    Name,     // name
    Attr,     // kids[0].name
    Item,     // kids[0][kids[1]]
    Slice,    // kids[0][kids[1]:kids[2]:kids[3]] (null kids: omitted)
    Call,     // kids[0](kids[1..], keywords)
    Filter,   // kids[0] | name(kids[1..], keywords); kids[0] null in a filter block
    Test,     // kids[0] is [not] name(kids[1..])
    Unary,    // op kids[0]: "-", "+", "not"
    Binary,   // kids[0] op kids[1]: + - * / // % ** ~ and or
    Compare,  // kids[0] ops[0] kids[1] ops[1] kids[2] ... (== != < > <= >= in notin)
    Cond,     // kids[1] if kids[0] else kids[2] (kids[2] null: undefined)
    List,     // [kids...]
    Tuple,    // (kids...)
    DictLit,  // {kids[0]: kids[1], ...}
  };
  Kind kind;
  int line = 0;
  std::string name;  // Name, Attr, Call/Filter/Test name, Unary/Binary operator
  Value value;       // Literal
  std::vector<ExprPtr> kids;
  std::vector<std::string> ops;  // Compare
  std::vector<std::pair<std::string, ExprPtr>> keywords;
  bool negated = false;  // Test
};

struct Stmt;
using StmtPtr = std::shared_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  enum class Kind {
    Text,         // text
    Output,       // {{ expr }}
    If,           // conds[i] -> bodies[i]; bodies.back() is else when bodies.size() > conds.size()
    For,          // for targets in expr [if cond]: bodies[0], else bodies[1]
    Set,          // set targets = expr, or set targets[0].attr = expr (attr non-empty)
    BlockSet,     // set targets[0] %} bodies[0] {% endset (expr: an optional filter applied to the text)
    Macro,        // macro name(params = defaults): bodies[0]
    CallBlock,    // call(params) expr: bodies[0] is the caller
    FilterBlock,  // filter expr (a Filter with kids[0] null): bodies[0]
    With,         // with targets = values: bodies[0]
    Generation,   // generation: bodies[0] (transformers' assistant-mask tag; renders its body)
    Break,
    Continue,
  };
  Kind kind;
  int line = 0;
  std::string text;
  ExprPtr expr, cond;
  std::vector<ExprPtr> conds;
  std::vector<Body> bodies;
  std::vector<std::string> targets;
  std::string attr;
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // per param, null when none
  std::vector<ExprPtr> values;    // With
};

}  // namespace align::data::jinja
