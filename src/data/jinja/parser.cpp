// parser.cpp: lexer and recursive-descent parser for Jinja (parser.hpp).
// Operator precedence follows jinja2's parser: conditional expression < or <
// and < not < comparisons (in, not in) < + - < ~ < * / // % < ** < unary - +,
// with filters (|), tests (is), calls, attributes and subscripts binding
// tightest.
#include "data/jinja/parser.hpp"

#include <cstdlib>
#include <set>

#include "common/error.hpp"
#include "data/jinja/pystr.hpp"

namespace align::data::jinja {

namespace {

struct Token {
  enum class Kind { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, End };
  Kind kind;
  std::string text;
  int line;
  Value value;  // String, Int, Float
};

bool is_space_cp(const std::string& s, size_t i, size_t* len) {
  const unsigned char c = s[i];
  if (c < 0x80) {
    *len = 1;
    return pystr::is_space(c);
  }
  size_t n = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  if (i + n > s.size()) n = 1;
  *len = n;
  const std::u32string cp = pystr::decode(s.substr(i, n));
  return cp.size() == 1 && pystr::is_space(cp[0]);
}

std::string rstrip_ws(const std::string& s) {  // Python str.rstrip()
  return pystr::strip(s, std::nullopt, false, true);
}

class Lexer {
 public:
  Lexer(std::string src, std::string where) : src_(std::move(src)), where_(std::move(where)) {}

  std::vector<Token> run() {
    normalize();
    bool line_starting = true;
    while (pos_ < src_.size()) {
      size_t open = find_tag(pos_);
      std::string text = src_.substr(pos_, open - pos_);
      if (open == src_.size()) {
        add_text(text);
        pos_ = open;
        break;
      }
      const char type = src_[open + 1];  // '{', '%', '#'
      const char sign = open + 2 < src_.size() ? src_[open + 2] : 0;
      if (sign == '-') {
        text = rstrip_ws(text);
      } else if (sign != '+' && type != '{') {  // lstrip_blocks
        const size_t nl = text.rfind('\n');
        const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
        if ((l_pos > 0 || line_starting) && text.find_first_not_of(" \t", l_pos) == std::string::npos)
          text.resize(l_pos);
      }
      add_text(text);
      pos_ = open + 2 + ((sign == '-' || sign == '+') ? 1 : 0);
      if (type == '#') {
        const size_t close = src_.find("#}", pos_);
        if (close == std::string::npos) fail(line_at(open), "a comment opened with {# is never closed");
        const bool strip_after = close > 0 && src_[close - 1] == '-' && close - 1 >= pos_;
        const bool keep = close > 0 && src_[close - 1] == '+' && close - 1 >= pos_;
        pos_ = close + 2;
        line_starting = finish_tag(strip_after, keep);
        continue;
      }
      tokens_.push_back({type == '{' ? Token::Kind::VarBegin : Token::Kind::BlockBegin, "", line_at(open), {}});
      const bool ended = lex_expression(type == '{' ? '}' : '%');
      if (!ended)
        fail(line_at(open), type == '{' ? "'{{' is never closed with '}}'" : "'{%' is never closed with '%}'");
      const char end_sign = src_[pos_ - 3];  // the character before the closing pair
      tokens_.push_back({type == '{' ? Token::Kind::VarEnd : Token::Kind::BlockEnd, "", line_at(pos_ - 1), {}});
      if (type == '{') {
        line_starting = end_sign == '-' ? finish_tag(true, true) : false;
      } else {
        line_starting = finish_tag(end_sign == '-', end_sign == '+');
      }
      if (type == '%' && is_raw_start()) fail(tokens_.back().line, "the 'raw' block is not supported");
    }
    tokens_.push_back({Token::Kind::End, "", line_at(src_.size()), {}});
    return std::move(tokens_);
  }

 private:
  std::string src_, where_;
  size_t pos_ = 0;
  std::vector<Token> tokens_;
  std::vector<size_t> line_starts_;

  [[noreturn]] void fail(int line, const std::string& what) {
    throw InputError(cat(where_, " line ", line, ": ", what));
  }

  void normalize() {
    std::string out;
    for (size_t i = 0; i < src_.size(); i++) {
      if (src_[i] == '\r') {
        out += '\n';
        if (i + 1 < src_.size() && src_[i + 1] == '\n') i++;
      } else {
        out += src_[i];
      }
    }
    if (!out.empty() && out.back() == '\n') out.pop_back();
    src_ = std::move(out);
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); i++)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  int line_at(size_t p) const {
    return (int)(std::upper_bound(line_starts_.begin(), line_starts_.end(), p) - line_starts_.begin());
  }

  size_t find_tag(size_t from) const {
    for (size_t i = from; i + 1 < src_.size(); i++)
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    return src_.size();
  }

  void add_text(const std::string& t) {
    if (!t.empty()) tokens_.push_back({Token::Kind::Text, t, line_at(pos_), {}});
  }

  // After a tag's closing pair: '-' strips all following whitespace, else trim_blocks drops one newline
  // (for blocks and comments; `keep` (+) opts out). Returns whether what was consumed ends a line.
  bool finish_tag(bool strip_after, bool keep) {
    if (strip_after) {
      size_t len = 1;
      bool newline = false;
      while (pos_ < src_.size() && is_space_cp(src_, pos_, &len)) {
        newline = src_[pos_] == '\n';
        pos_ += len;
      }
      return newline;
    }
    if (!keep && pos_ < src_.size() && src_[pos_] == '\n') {
      pos_++;
      return true;
    }
    return false;
  }

  bool is_raw_start() const {
    // tokens: BlockBegin Name(raw) BlockEnd
    const size_t n = tokens_.size();
    return n >= 3 && tokens_[n - 3].kind == Token::Kind::BlockBegin && tokens_[n - 2].kind == Token::Kind::Name &&
           tokens_[n - 2].text == "raw";
  }

  // Lexes expression tokens until the closing "}}"/"%}" (with an optional -/+ before it).
  bool lex_expression(char closer) {
    int depth = 0;  // brackets: a '}' inside {...} is not the end
    while (pos_ < src_.size()) {
      const char c = src_[pos_];
      const int line = line_at(pos_);
      if (c == ' ' || c == '\t' || c == '\n') {
        pos_++;
        continue;
      }
      if (depth == 0) {
        for (const char* sign : {"-", "+", ""}) {
          const std::string close = std::string(sign) + closer + "}";
          if (src_.compare(pos_, close.size(), close) == 0) {
            // "-" and "+" directly before the closer are whitespace control, not operators; the
            // caller reads the sign back at pos_ - 3 (a plain closer has a non-sign byte there,
            // since a sign before it would have matched the signed closer first)
            pos_ += close.size();
            return true;
          }
        }
      }
      if (std::isalpha((unsigned char)c) || c == '_') {
        size_t e = pos_;
        while (e < src_.size() && (std::isalnum((unsigned char)src_[e]) || src_[e] == '_')) e++;
        tokens_.push_back({Token::Kind::Name, src_.substr(pos_, e - pos_), line, {}});
        pos_ = e;
        continue;
      }
      if (std::isdigit((unsigned char)c)) {
        lex_number(line);
        continue;
      }
      if (c == '\'' || c == '"') {
        lex_string(line);
        continue;
      }
      static const char* ops[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "*", "/", "%", "~", "<",
                                  ">",  "=",  ".",  ",",  ":",  "|",  "(", ")", "[", "]", "{", "}"};
      bool matched = false;
      for (const char* op : ops) {
        const size_t n = std::char_traits<char>::length(op);
        if (src_.compare(pos_, n, op) == 0) {
          if (op[0] == '(' || op[0] == '[' || op[0] == '{') depth++;
          if (op[0] == ')' || op[0] == ']' || op[0] == '}') depth--;
          tokens_.push_back({Token::Kind::Op, op, line, {}});
          pos_ += n;
          matched = true;
          break;
        }
      }
      if (!matched) fail(line, cat("unexpected character '", std::string(1, c), "' in an expression"));
    }
    return false;
  }

  void lex_number(int line) {
    size_t e = pos_;
    bool is_float = false;
    while (e < src_.size() && (std::isdigit((unsigned char)src_[e]) || src_[e] == '_')) e++;
    if (e + 1 < src_.size() && src_[e] == '.' && std::isdigit((unsigned char)src_[e + 1])) {
      is_float = true;
      e++;
      while (e < src_.size() && (std::isdigit((unsigned char)src_[e]) || src_[e] == '_')) e++;
    }
    if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t k = e + 1;
      if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) k++;
      if (k < src_.size() && std::isdigit((unsigned char)src_[k])) {
        is_float = true;
        e = k;
        while (e < src_.size() && std::isdigit((unsigned char)src_[e])) e++;
      }
    }
    std::string digits;
    for (size_t k = pos_; k < e; k++)
      if (src_[k] != '_') digits += src_[k];
    Token t{is_float ? Token::Kind::Float : Token::Kind::Int, digits, line, {}};
    t.value = is_float ? Value::number(std::strtod(digits.c_str(), nullptr))
                       : Value::integer(std::strtoll(digits.c_str(), nullptr, 10));
    tokens_.push_back(t);
    pos_ = e;
  }

  // Python's unicode-escape decoding of the literal's body (what jinja2 applies).
  void lex_string(int line) {
    const char q = src_[pos_];
    size_t i = pos_ + 1;
    std::string out;
    while (true) {
      if (i >= src_.size()) fail(line, "a string literal is never closed");
      const char c = src_[i];
      if (c == q) break;
      if (c != '\\') {
        out += c;
        i++;
        continue;
      }
      if (i + 1 >= src_.size()) fail(line, "a string literal is never closed");
      const char e = src_[i + 1];
      i += 2;
      auto hex = [&](int n) {
        if (i + n > src_.size()) fail(line, "truncated escape in a string literal");
        const std::string h = src_.substr(i, n);
        for (char x : h)
          if (!std::isxdigit((unsigned char)x)) fail(line, cat("bad escape '\\", e, h, "' in a string literal"));
        i += n;
        return (char32_t)std::strtoul(h.c_str(), nullptr, 16);
      };
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case '\\':
          out += '\\';
          break;
        case '\'':
          out += '\'';
          break;
        case '"':
          out += '"';
          break;
        case 'a':
          out += '\a';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'v':
          out += '\v';
          break;
        case '\n':
          break;  // line continuation
        case 'x':
          out += pystr::encode(std::u32string(1, hex(2)));
          break;
        case 'u':
          out += pystr::encode(std::u32string(1, hex(4)));
          break;
        case 'U':
          out += pystr::encode(std::u32string(1, hex(8)));
          break;
        case 'N':
          fail(line, "the \\N{...} escape is not supported");
        default:
          if (e >= '0' && e <= '7') {  // octal, up to three digits
            int v = e - '0', n = 1;
            while (n < 3 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7') v = v * 8 + (src_[i++] - '0'), n++;
            out += pystr::encode(std::u32string(1, (char32_t)v));
          } else {
            out += '\\';
            out += e;
          }
      }
    }
    Token t{Token::Kind::String, out, line, Value::string(out)};
    tokens_.push_back(t);
    pos_ = i + 1;
  }
};

class Parser {
 public:
  Parser(std::vector<Token> tokens, std::string where) : t_(std::move(tokens)), where_(std::move(where)) {}

  Body parse_all() {
    Body body = parse_body({});
    if (peek().kind != Token::Kind::End) fail(peek().line, "unexpected end tag");
    return body;
  }

 private:
  std::vector<Token> t_;
  size_t p_ = 0;
  std::string where_;
  std::string ended_by_;  // the tag name that ended the last parse_body

  [[noreturn]] void fail(int line, const std::string& what) {
    throw InputError(cat(where_, " line ", line, ": ", what));
  }

  const Token& peek(size_t k = 0) const { return t_[std::min(p_ + k, t_.size() - 1)]; }
  const Token& next() { return t_[std::min(p_++, t_.size() - 1)]; }
  bool is_op(const char* op, size_t k = 0) const { return peek(k).kind == Token::Kind::Op && peek(k).text == op; }
  bool is_name(const char* n, size_t k = 0) const { return peek(k).kind == Token::Kind::Name && peek(k).text == n; }
  void expect_op(const char* op) {
    if (!is_op(op)) fail(peek().line, cat("expected '", op, "', found ", describe(peek())));
    p_++;
  }
  std::string expect_name() {
    if (peek().kind != Token::Kind::Name) fail(peek().line, cat("expected a name, found ", describe(peek())));
    return next().text;
  }
  void expect_block_end() {
    if (peek().kind != Token::Kind::BlockEnd) fail(peek().line, cat("expected '%}', found ", describe(peek())));
    p_++;
  }
  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Token::Kind::End:
        return "the end of the template";
      case Token::Kind::BlockEnd:
        return "'%}'";
      case Token::Kind::VarEnd:
        return "'}}'";
      case Token::Kind::Text:
        return "text";
      case Token::Kind::String:
        return "a string";
      default:
        return "'" + t.text + "'";
    }
  }

  // Statements until one of the end tags (consumed, name in ended_by_).
  Body parse_body(const std::set<std::string>& enders) {
    Body body;
    while (true) {
      const Token& tk = peek();
      if (tk.kind == Token::Kind::End) {
        if (!enders.empty()) {
          std::string list;
          for (const auto& e : enders) list += (list.empty() ? "" : " or ") + e;
          fail(tk.line, cat("the template ended while looking for ", list));
        }
        return body;
      }
      if (tk.kind == Token::Kind::Text) {
        auto s = std::make_shared<Stmt>();
        s->kind = Stmt::Kind::Text, s->line = tk.line, s->text = tk.text;
        body.push_back(s);
        p_++;
        continue;
      }
      if (tk.kind == Token::Kind::VarBegin) {
        p_++;
        auto s = std::make_shared<Stmt>();
        s->kind = Stmt::Kind::Output, s->line = tk.line, s->expr = parse_expression();
        if (peek().kind != Token::Kind::VarEnd) fail(peek().line, cat("expected '}}', found ", describe(peek())));
        p_++;
        body.push_back(s);
        continue;
      }
      if (tk.kind != Token::Kind::BlockBegin) fail(tk.line, cat("unexpected ", describe(tk)));
      p_++;
      const Token& name = peek();
      if (name.kind != Token::Kind::Name) fail(name.line, cat("expected a statement name, found ", describe(name)));
      if (enders.count(name.text)) {
        ended_by_ = name.text;
        p_++;
        return body;
      }
      body.push_back(parse_statement());
    }
  }

  StmtPtr parse_statement() {
    const Token tk = next();
    auto s = std::make_shared<Stmt>();
    s->line = tk.line;
    const std::string& w = tk.text;
    if (w == "if") {
      s->kind = Stmt::Kind::If;
      s->conds.push_back(parse_expression());
      expect_block_end();
      while (true) {
        s->bodies.push_back(parse_body({"elif", "else", "endif"}));
        if (ended_by_ == "elif") {
          s->conds.push_back(parse_expression());
          expect_block_end();
          continue;
        }
        if (ended_by_ == "else") {
          expect_block_end();
          s->bodies.push_back(parse_body({"endif"}));
        }
        expect_block_end();
        return s;
      }
    }
    if (w == "for") {
      s->kind = Stmt::Kind::For;
      s->targets = parse_targets();
      if (!is_name("in")) fail(peek().line, cat("expected 'in' in a for loop, found ", describe(peek())));
      p_++;
      s->expr = parse_tuple_or_expression(/*no_condexpr=*/true);
      if (is_name("if")) {
        p_++;
        s->cond = parse_expression();
      }
      if (is_name("recursive")) fail(peek().line, "the recursive for loop is not supported");
      expect_block_end();
      s->bodies.push_back(parse_body({"else", "endfor"}));
      if (ended_by_ == "else") {
        expect_block_end();
        s->bodies.push_back(parse_body({"endfor"}));
      }
      expect_block_end();
      return s;
    }
    if (w == "set") {
      const std::string first = expect_name();
      if (is_op(".")) {  // set ns.attr = value
        p_++;
        s->kind = Stmt::Kind::Set;
        s->targets = {first};
        s->attr = expect_name();
        expect_op("=");
        s->expr = parse_tuple_or_expression(false);
        expect_block_end();
        return s;
      }
      s->targets = {first};
      while (is_op(",")) {
        p_++;
        s->targets.push_back(expect_name());
      }
      if (is_op("=")) {
        p_++;
        s->kind = Stmt::Kind::Set;
        s->expr = parse_tuple_or_expression(false);
        expect_block_end();
        return s;
      }
      if (s->targets.size() != 1) fail(tk.line, "a block set assigns one name");
      s->kind = Stmt::Kind::BlockSet;
      if (is_op("|")) s->expr = parse_filter_chain(nullptr);
      expect_block_end();
      s->bodies.push_back(parse_body({"endset"}));
      expect_block_end();
      return s;
    }
    if (w == "macro") {
      s->kind = Stmt::Kind::Macro;
      s->name = expect_name();
      parse_params(*s);
      expect_block_end();
      s->bodies.push_back(parse_body({"endmacro"}));
      if (peek().kind == Token::Kind::Name && peek().text == s->name) p_++;
      expect_block_end();
      return s;
    }
    if (w == "call") {
      s->kind = Stmt::Kind::CallBlock;
      if (is_op("(")) parse_params(*s);
      s->expr = parse_expression();
      if (s->expr->kind != Expr::Kind::Call) fail(tk.line, "a call block needs a call expression");
      expect_block_end();
      s->bodies.push_back(parse_body({"endcall"}));
      expect_block_end();
      return s;
    }
    if (w == "filter") {
      s->kind = Stmt::Kind::FilterBlock;
      s->expr = parse_filter_chain(nullptr, /*first_without_bar=*/true);
      expect_block_end();
      s->bodies.push_back(parse_body({"endfilter"}));
      expect_block_end();
      return s;
    }
    if (w == "with") {
      s->kind = Stmt::Kind::With;
      while (peek().kind != Token::Kind::BlockEnd) {
        if (!s->targets.empty()) expect_op(",");
        s->targets.push_back(expect_name());
        expect_op("=");
        s->values.push_back(parse_expression());
      }
      expect_block_end();
      s->bodies.push_back(parse_body({"endwith"}));
      expect_block_end();
      return s;
    }
    if (w == "generation") {
      s->kind = Stmt::Kind::Generation;
      expect_block_end();
      s->bodies.push_back(parse_body({"endgeneration"}));
      expect_block_end();
      return s;
    }
    if (w == "break" || w == "continue") {
      s->kind = w == "break" ? Stmt::Kind::Break : Stmt::Kind::Continue;
      expect_block_end();
      return s;
    }
    static const std::set<std::string> known_unsupported = {"include", "extends",    "import", "from",  "block",
                                                            "raw",     "autoescape", "do",     "trans", "pluralize"};
    if (known_unsupported.count(w)) fail(tk.line, cat("the '", w, "' statement is not supported"));
    fail(tk.line, cat("unknown statement '", w, "'"));
  }

  void parse_params(Stmt& s) {
    expect_op("(");
    while (!is_op(")")) {
      if (!s.params.empty()) expect_op(",");
      if (is_op(")")) break;
      s.params.push_back(expect_name());
      if (is_op("=")) {
        p_++;
        s.defaults.push_back(parse_expression());
      } else {
        s.defaults.push_back(nullptr);
      }
    }
    expect_op(")");
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> names;
    const bool paren = is_op("(");
    if (paren) p_++;
    names.push_back(expect_name());
    while (is_op(",")) {
      p_++;
      names.push_back(expect_name());
    }
    if (paren) expect_op(")");
    return names;
  }

  ExprPtr make(Expr::Kind k, int line) {
    auto e = std::make_shared<Expr>();
    e->kind = k, e->line = line;
    return e;
  }

  // `a, b` without brackets is a tuple (for loops' iterables and set values).
  ExprPtr parse_tuple_or_expression(bool no_condexpr) {
    const int line = peek().line;
    ExprPtr first = no_condexpr ? parse_or() : parse_expression();
    if (!is_op(",")) return first;
    auto t = make(Expr::Kind::Tuple, line);
    t->kids.push_back(first);
    while (is_op(",")) {
      p_++;
      if (peek().kind == Token::Kind::BlockEnd || is_name("if")) break;
      t->kids.push_back(no_condexpr ? parse_or() : parse_expression());
    }
    return t;
  }

 public:
  ExprPtr parse_expression() {
    ExprPtr e = parse_or();
    while (is_name("if")) {
      const int line = next().line;
      auto c = make(Expr::Kind::Cond, line);
      c->kids.push_back(parse_or());
      c->kids.push_back(e);
      if (is_name("else")) {
        p_++;
        c->kids.push_back(parse_expression());
      } else {
        c->kids.push_back(nullptr);
      }
      e = c;
    }
    return e;
  }

 private:
  ExprPtr binary(const char* op, ExprPtr a, ExprPtr b, int line) {
    auto e = make(Expr::Kind::Binary, line);
    e->name = op;
    e->kids = {a, b};
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      const int line = next().line;
      e = binary("or", e, parse_and(), line);
    }
    return e;
  }
  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      const int line = next().line;
      e = binary("and", e, parse_not(), line);
    }
    return e;
  }
  ExprPtr parse_not() {
    if (is_name("not")) {
      const int line = next().line;
      auto e = make(Expr::Kind::Unary, line);
      e->name = "not";
      e->kids.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    const int line = peek().line;
    ExprPtr first = parse_math1();
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (peek().kind == Token::Kind::Op && (peek().text == "==" || peek().text == "!=" || peek().text == "<" ||
                                             peek().text == ">" || peek().text == "<=" || peek().text == ">=")) {
        op = next().text;
      } else if (is_name("in")) {
        p_++;
        op = "in";
      } else if (is_name("not") && is_name("in", 1)) {
        p_ += 2;
        op = "notin";
      } else {
        break;
      }
      if (!cmp) {
        cmp = make(Expr::Kind::Compare, line);
        cmp->kids.push_back(first);
      }
      cmp->ops.push_back(op);
      cmp->kids.push_back(parse_math1());
    }
    return cmp ? cmp : first;
  }
  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& op = next();
      e = binary(op.text == "+" ? "+" : "-", e, parse_concat(), op.line);
    }
    return e;
  }
  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      const int line = next().line;
      e = binary("~", e, parse_math2(), line);
    }
    return e;
  }
  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& op = next();
      const std::string o = op.text;
      e = binary(o == "*" ? "*" : o == "/" ? "/" : o == "//" ? "//" : "%", e, parse_pow(), op.line);
    }
    return e;
  }
  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      const int line = next().line;
      e = binary("**", e, parse_unary(true), line);
    }
    return e;
  }
  ExprPtr parse_unary(bool with_filter) {
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      const Token& op = next();
      e = make(Expr::Kind::Unary, op.line);
      e->name = op.text;
      e->kids.push_back(parse_unary(false));
    } else {
      e = parse_postfix(parse_primary());
    }
    if (with_filter) e = parse_filters_and_tests(e);
    return e;
  }

  ExprPtr parse_primary() {
    const Token& tk = peek();
    if (tk.kind == Token::Kind::Name) {
      p_++;
      const std::string& n = tk.text;
      if (n == "true" || n == "True") return literal(Value::boolean(true), tk.line);
      if (n == "false" || n == "False") return literal(Value::boolean(false), tk.line);
      if (n == "none" || n == "None") return literal(Value::none(), tk.line);
      auto e = make(Expr::Kind::Name, tk.line);
      e->name = n;
      return e;
    }
    if (tk.kind == Token::Kind::String) {
      std::string s;
      while (peek().kind == Token::Kind::String) s += next().text;  // adjacent literals concatenate
      return literal(Value::string(s), tk.line);
    }
    if (tk.kind == Token::Kind::Int || tk.kind == Token::Kind::Float) {
      p_++;
      return literal(tk.value, tk.line);
    }
    if (is_op("(")) {
      p_++;
      if (is_op(")")) {
        p_++;
        return make(Expr::Kind::Tuple, tk.line);
      }
      ExprPtr e = parse_expression();
      if (is_op(",")) {
        auto t = make(Expr::Kind::Tuple, tk.line);
        t->kids.push_back(e);
        while (is_op(",")) {
          p_++;
          if (is_op(")")) break;
          t->kids.push_back(parse_expression());
        }
        e = t;
      }
      expect_op(")");
      return e;
    }
    if (is_op("[")) {
      p_++;
      auto e = make(Expr::Kind::List, tk.line);
      while (!is_op("]")) {
        if (!e->kids.empty()) expect_op(",");
        if (is_op("]")) break;
        e->kids.push_back(parse_expression());
      }
      expect_op("]");
      return e;
    }
    if (is_op("{")) {
      p_++;
      auto e = make(Expr::Kind::DictLit, tk.line);
      while (!is_op("}")) {
        if (!e->kids.empty()) expect_op(",");
        if (is_op("}")) break;
        e->kids.push_back(parse_expression());
        expect_op(":");
        e->kids.push_back(parse_expression());
      }
      expect_op("}");
      return e;
    }
    fail(tk.line, cat("unexpected ", describe(tk), " in an expression"));
  }

  ExprPtr literal(Value v, int line) {
    auto e = make(Expr::Kind::Literal, line);
    e->value = std::move(v);
    return e;
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      if (is_op(".")) {
        const int line = next().line;
        if (peek().kind == Token::Kind::Int) {  // x.0 is x[0]
          auto it = make(Expr::Kind::Item, line);
          it->kids = {e, literal(next().value, line)};
          e = it;
          continue;
        }
        auto a = make(Expr::Kind::Attr, line);
        a->name = expect_name();
        a->kids.push_back(e);
        e = a;
      } else if (is_op("[")) {
        const int line = next().line;
        e = parse_subscript(e, line);
      } else if (is_op("(")) {
        e = parse_call(e);
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr obj, int line) {
    ExprPtr parts[3] = {nullptr, nullptr, nullptr};
    int part = 0;
    bool is_slice = false;
    while (!is_op("]")) {
      if (is_op(":")) {
        p_++;
        is_slice = true;
        if (++part > 2) fail(line, "a slice has at most three parts");
        continue;
      }
      if (parts[part]) fail(peek().line, cat("unexpected ", describe(peek()), " in a subscript"));
      parts[part] = parse_expression();
      if (is_op(",")) fail(peek().line, "tuple subscripts are not supported");
    }
    expect_op("]");
    if (!is_slice) {
      if (!parts[0]) fail(line, "empty subscript");
      auto e = make(Expr::Kind::Item, line);
      e->kids = {obj, parts[0]};
      return e;
    }
    auto e = make(Expr::Kind::Slice, line);
    e->kids = {obj, parts[0], parts[1], parts[2]};
    return e;
  }

  void parse_args(Expr& call) {
    expect_op("(");
    while (!is_op(")")) {
      if (call.kids.size() > 1 || !call.keywords.empty()) expect_op(",");
      if (is_op(")")) break;
      if (is_op("*") || is_op("**")) fail(peek().line, "*args and **kwargs in calls are not supported");
      if (peek().kind == Token::Kind::Name && is_op("=", 1)) {
        const std::string k = next().text;
        p_++;
        call.keywords.emplace_back(k, parse_expression());
      } else {
        if (!call.keywords.empty()) fail(peek().line, "a positional argument follows a keyword argument");
        call.kids.push_back(parse_expression());
      }
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto c = make(Expr::Kind::Call, peek().line);
    c->kids.push_back(callee);
    parse_args(*c);
    return c;
  }

  // value | f(args) | g ..., and `is [not] test`; obj null: a filter block's chain.
  ExprPtr parse_filter_chain(ExprPtr obj, bool first_without_bar = false) {
    bool first = true;
    do {
      if (!(first && first_without_bar)) expect_op("|");
      first = false;
      auto f = make(Expr::Kind::Filter, peek().line);
      f->name = expect_name();
      while (is_op(".")) {  // dotted filter names are not a thing in chat templates
        fail(peek().line, "dotted filter names are not supported");
      }
      f->kids.push_back(obj);
      if (is_op("(")) parse_args(*f);
      obj = f;
    } while (is_op("|"));
    return obj;
  }

  ExprPtr parse_filters_and_tests(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        e = parse_filter_chain(e);
      } else if (is_name("is")) {
        const int line = next().line;
        auto t = make(Expr::Kind::Test, line);
        if (is_name("not")) {
          p_++;
          t->negated = true;
        }
        t->name = expect_name();
        t->kids.push_back(e);
        if (is_op("(")) {
          parse_args(*t);
        } else if (peek().kind == Token::Kind::String || peek().kind == Token::Kind::Int ||
                   peek().kind == Token::Kind::Float || is_op("[") || is_op("{") ||
                   (peek().kind == Token::Kind::Name && !is_name("else") && !is_name("or") && !is_name("and") &&
                    !is_name("if") && !is_name("in") && !is_name("is") && !is_name("not"))) {
          t->kids.push_back(parse_postfix(parse_primary()));  // `is divisibleby 3`, `is sameas none`
        }
        e = t;
      } else if (is_op("(")) {
        e = parse_call(e);
      } else {
        return e;
      }
    }
  }
};

}  // namespace

Body parse_template(const std::string& source, const std::string& where) {
  Lexer lexer(source, where);
  Parser parser(lexer.run(), where);
  return parser.parse_all();
}

}  // namespace align::data::jinja
