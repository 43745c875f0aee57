// Parser of the IR's text form: a hand-written lexer and a recursive-descent
// parser (recursion only for regions, bounded by kMaxRegionDepth).
#include "ir/parser.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <set>
#include <unordered_set>

#include "ir/printer.h"

namespace kiln {

ParseError::ParseError(std::string file, int line, int column, const std::string& message)
    : Error(file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message), file_(std::move(file)),
      line_(line), column_(column), message_(message) {}

}  // namespace kiln

namespace kiln::ir {
namespace {

enum class Tok {
  Eof,
  Ident,
  Value,
  Func,
  Label,
  Int,
  Float,
  String,
  LParen,
  RParen,
  LBracket,
  RBracket,
  LBrace,
  RBrace,
  Comma,
  Colon,
  Equal,
  Star,
  Arrow,
};

struct Token {
  Tok kind = Tok::Eof;
  std::string text;  // decoded name/string, or the spelling of an identifier or number
  int line = 1, col = 1;
};

struct Loc {
  int line, col;
};

// Describes a token for "found ..." in messages, cut to a readable length.
std::string describe(const Token& t) {
  std::string s;
  switch (t.kind) {
    case Tok::Eof: return "end of input";
    case Tok::Value: s = "%" + format_name(t.text); break;
    case Tok::Func: s = "@" + format_name(t.text); break;
    case Tok::Label: s = "^" + format_name(t.text); break;
    case Tok::String: s = quote_string(t.text); break;
    case Tok::Ident:
    case Tok::Int:
    case Tok::Float:
    case Tok::LParen:
    case Tok::RParen:
    case Tok::LBracket:
    case Tok::RBracket:
    case Tok::LBrace:
    case Tok::RBrace:
    case Tok::Comma:
    case Tok::Colon:
    case Tok::Equal:
    case Tok::Star:
    case Tok::Arrow: s = "'" + t.text + "'"; break;
  }
  if (s.size() > 48) s = s.substr(0, 45) + "...";
  return s;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_ident_char(char c) { return is_ident_start(c) || is_digit(c); }
bool is_name_char(char c) { return is_ident_char(c) || c == '.' || c == '-'; }

class Lexer {
 public:
  Lexer(std::string_view text, const std::string& file) : s_(text), file_(file) {}

  [[noreturn]] void fail(Loc at, const std::string& what) const { throw ParseError(file_, at.line, at.col, what); }

  Token next() {
    skip_space();
    Token t;
    t.line = line_;
    t.col = col_;
    if (pos_ >= s_.size()) return t;
    char c = s_[pos_];
    auto punct = [&](Tok k, size_t n) {
      t.kind = k;
      t.text = std::string(s_.substr(pos_, n));
      advance(n);
      return t;
    };
    switch (c) {
      case '(': return punct(Tok::LParen, 1);
      case ')': return punct(Tok::RParen, 1);
      case '[': return punct(Tok::LBracket, 1);
      case ']': return punct(Tok::RBracket, 1);
      case '{': return punct(Tok::LBrace, 1);
      case '}': return punct(Tok::RBrace, 1);
      case ',': return punct(Tok::Comma, 1);
      case ':': return punct(Tok::Colon, 1);
      case '=': return punct(Tok::Equal, 1);
      case '*': return punct(Tok::Star, 1);
      case '%': return sigil(t, Tok::Value);
      case '@': return sigil(t, Tok::Func);
      case '^': return sigil(t, Tok::Label);
      case '"':
        t.kind = Tok::String;
        t.text = string_literal();
        return t;
      default: break;
    }
    if (c == '-' && peek(1) == '>') return punct(Tok::Arrow, 2);
    if (c == '-' && s_.substr(pos_, 4) == "-inf" && !is_ident_char(peek(4))) return punct(Tok::Float, 4);
    if (is_digit(c) || (c == '-' && is_digit(peek(1)))) return number(t);
    if (is_ident_start(c)) {
      size_t n = 1;
      while (is_ident_char(peek(n))) ++n;
      return punct(Tok::Ident, n);
    }
    std::string shown = c >= 0x20 && c < 0x7f ? std::string(1, c) : quote_string(std::string(1, c));
    fail({line_, col_}, "unexpected character '" + shown + "'");
  }

 private:
  std::string_view s_;
  const std::string& file_;
  size_t pos_ = 0;
  int line_ = 1, col_ = 1;

  char peek(size_t k) const { return pos_ + k < s_.size() ? s_[pos_ + k] : '\0'; }

  void advance(size_t n) {
    for (size_t i = 0; i < n && pos_ < s_.size(); ++i, ++pos_) {
      if (s_[pos_] == '\n') {
        ++line_;
        col_ = 1;
      } else {
        ++col_;
      }
    }
  }

  void skip_space() {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        advance(1);
      } else if (c == '/' && peek(1) == '/') {
        while (pos_ < s_.size() && s_[pos_] != '\n') advance(1);
      } else {
        break;
      }
    }
  }

  Token sigil(Token& t, Tok kind) {
    t.kind = kind;
    advance(1);
    if (peek(0) == '"') {
      t.text = string_literal();
      return t;
    }
    size_t n = 0;
    while (is_name_char(peek(n))) ++n;
    if (n == 0) fail({t.line, t.col}, "expected a name or a quoted name after '" + std::string(1, s_[pos_ - 1]) + "'");
    t.text = std::string(s_.substr(pos_, n));
    advance(n);
    return t;
  }

  static int hex_value(char c) {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // A C string literal at pos_, decoded.
  std::string string_literal() {
    Loc start{line_, col_};
    advance(1);
    std::string out;
    for (;;) {
      if (pos_ >= s_.size() || s_[pos_] == '\n') fail(start, "unterminated string");
      char c = s_[pos_];
      if (c == '"') {
        advance(1);
        return out;
      }
      if (c != '\\') {
        out += c;
        advance(1);
        continue;
      }
      Loc esc{line_, col_};
      char e = peek(1);
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'x': {
          int hi = hex_value(peek(2)), lo = hex_value(peek(3));
          if (hi < 0 || lo < 0) fail(esc, "bad escape, expected \\x and two hex digits");
          out += static_cast<char>(hi * 16 + lo);
          advance(2);
          break;
        }
        default: fail(esc, "bad escape, expected one of \\\" \\\\ \\n \\r \\t \\xHH");
      }
      advance(2);
    }
  }

  // -?[0-9]+(.[0-9]+)?([eE][+-]?[0-9]+)?  (Float if it has a fraction or an exponent)
  Token number(Token& t) {
    size_t n = peek(0) == '-' ? 1 : 0;
    while (is_digit(peek(n))) ++n;
    bool is_float = false;
    if (peek(n) == '.' && is_digit(peek(n + 1))) {
      is_float = true;
      ++n;
      while (is_digit(peek(n))) ++n;
    }
    if (peek(n) == 'e' || peek(n) == 'E') {
      size_t m = n + 1;
      if (peek(m) == '+' || peek(m) == '-') ++m;
      if (is_digit(peek(m))) {
        is_float = true;
        while (is_digit(peek(m))) ++m;
        n = m;
      }
    }
    t.kind = is_float ? Tok::Float : Tok::Int;
    t.text = std::string(s_.substr(pos_, n));
    advance(n);
    return t;
  }
};

class Parser {
 public:
  Parser(std::string_view text, std::string_view file) : file_(file), lex_(text, file_) { tok_ = lex_.next(); }

  Module module() {
    Module m;
    std::set<std::string> names;
    while (tok_.kind != Tok::Eof) {
      Token at = tok_;
      auto g = func();
      if (!names.insert(g->name).second) fail(at, "redefinition of func @" + format_name(g->name));
      m.funcs.push_back(std::move(g));
    }
    return m;
  }

  std::unique_ptr<Graph> single_func() {
    auto g = func();
    if (tok_.kind != Tok::Eof) fail(tok_, "trailing text after the func", "end of input");
    return g;
  }

 private:
  std::string file_;
  Lexer lex_;
  Token tok_;
  int depth_ = 0;

  [[noreturn]] void fail(const Token& at, const std::string& what, const std::string& expected = "") const {
    std::string msg = what;
    if (!expected.empty()) msg += ", expected " + expected + ", found " + describe(at);
    throw ParseError(file_, at.line, at.col, msg);
  }

  Token take() {
    Token t = std::move(tok_);
    tok_ = lex_.next();
    return t;
  }

  bool is_ident(std::string_view word) const { return tok_.kind == Tok::Ident && tok_.text == word; }

  Token expect(Tok kind, const std::string& expected, const std::string& what = "syntax error") {
    if (tok_.kind != kind) fail(tok_, what, expected);
    return take();
  }

  void expect_word(std::string_view word) {
    if (!is_ident(word)) fail(tok_, "syntax error", "'" + std::string(word) + "'");
    take();
  }

  // --- numbers ---

  int64_t integer(const Token& t) {
    int64_t v = 0;
    auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
    if (r.ec != std::errc() || r.ptr != t.text.data() + t.text.size())
      fail(t, "integer out of range", "a value that fits in int64");
    return v;
  }

  int64_t bounded(const Token& t, int64_t lo, int64_t hi, const std::string& what) {
    int64_t v = integer(t);
    if (v < lo || v > hi) fail(t, what + " out of range", std::to_string(lo) + " .. " + std::to_string(hi));
    return v;
  }

  double floating(const Token& t) {
    if (t.text == "inf") return std::numeric_limits<double>::infinity();
    if (t.text == "-inf") return -std::numeric_limits<double>::infinity();
    if (t.text == "nan") return std::numeric_limits<double>::quiet_NaN();
    double v = 0;
    auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
    if (r.ec != std::errc() || r.ptr != t.text.data() + t.text.size())
      fail(t, "float out of range", "a finite double, inf, -inf or nan");
    return v;
  }

  // --- types ---

  // "[" dims "]": at most one batch dim; each dim, and the product of the
  // non-zero ones (N counting as its factor), at most kMaxDim.
  Dims dims() {
    Token open = expect(Tok::LBracket, "'['");
    Dims d;
    int64_t product = 1;
    bool batch = false;
    if (tok_.kind != Tok::RBracket) {
      for (;;) {
        Token t = tok_;
        int64_t v = 0, size = 0;
        if (is_ident("N")) {
          take();
          int64_t factor = 1;
          if (tok_.kind == Tok::Star) {
            take();
            factor = bounded(expect(Tok::Int, "a batch factor"), 1, kMaxDim, "batch factor");
          }
          if (batch) fail(t, "a shape holds the batch dimension N at most once");
          batch = true;
          v = batch_dim(factor);
          size = factor;
        } else if (tok_.kind == Tok::Int) {
          v = size = bounded(take(), 0, kMaxDim, "dimension");
        } else {
          fail(tok_, "bad dimension", "an integer, N or N*k");
        }
        if (size > 0) {
          if (product > kMaxDim / size) fail(t, "shape has too many elements (more than 2^40)");
          product *= size;
        }
        d.push_back(v);
        if (tok_.kind != Tok::Comma) break;
        take();
      }
    }
    expect(Tok::RBracket, "',' or ']'",
           "the shape opened at " + std::to_string(open.line) + ":" + std::to_string(open.col) + " is not closed");
    return d;
  }

  TensorType type() {
    if (tok_.kind != Tok::Ident) fail(tok_, "bad type", "a type like f32[N,10]");
    auto dt = parse_dtype(tok_.text);
    if (!dt) fail(tok_, "unknown dtype", "f32, i32 or i1");
    take();
    return {*dt, dims()};
  }

  // --- attributes ---

  AttrValue attr_value(AttrKind kind, const std::string& name) {
    const Token& t = tok_;
    auto bad = [&](const std::string& expected) {
      fail(t, "bad value for attribute '" + name + "' of kind " + std::string(attr_kind_name(kind)), expected);
    };
    switch (kind) {
      case AttrKind::Int:
        if (t.kind != Tok::Int) bad("an integer");
        return integer(take());
      case AttrKind::Float:
        if (t.kind != Tok::Int && t.kind != Tok::Float && !is_ident("inf") && !is_ident("nan")) bad("a float");
        return floating(take());
      case AttrKind::Bool:
        if (!is_ident("true") && !is_ident("false")) bad("true or false");
        return take().text == "true";
      case AttrKind::String:
        if (t.kind != Tok::String) bad("a string");
        return take().text;
      case AttrKind::Ints: {
        if (t.kind != Tok::LBracket) bad("a list like [1,2]");
        take();
        std::vector<int64_t> xs;
        while (tok_.kind != Tok::RBracket) {
          if (!xs.empty()) expect(Tok::Comma, "',' or ']'");
          if (tok_.kind != Tok::Int) bad("an integer");
          xs.push_back(bounded(take(), -kMaxDim, kMaxDim, "list entry"));
        }
        take();
        return xs;
      }
      case AttrKind::Shape:
        if (t.kind != Tok::LBracket) bad("a shape like [N,10]");
        return dims();
      case AttrKind::DType: {
        std::optional<DType> dt = t.kind == Tok::Ident ? parse_dtype(t.text) : std::nullopt;
        if (!dt) bad("f32, i32 or i1");
        take();
        return *dt;
      }
    }
    KILN_UNREACHABLE("unknown attribute kind");
  }

  AttrMap attrs(const OpInfo& info) {
    AttrMap m;
    take();  // '{'
    while (tok_.kind != Tok::RBrace) {
      if (m.size()) expect(Tok::Comma, "',' or '}'");
      Token name = expect(Tok::Ident, "an attribute name");
      const AttrSpec* spec = info.attr(name.text);
      if (!spec) fail(name, "unknown attribute '" + name.text + "' for op '" + std::string(info.name) + "'");
      if (m.has(name.text)) fail(name, "attribute '" + name.text + "' given twice");
      expect(Tok::Equal, "'='");
      m.set(name.text, attr_value(spec->kind, name.text));
    }
    take();
    return m;
  }

  // --- graphs ---

  Value* use(Graph& g, const Token& t) {
    Value* v = g.find(t.text);
    if (!v) fail(t, "use of undefined value %" + format_name(t.text));
    return v;
  }

  void check_new_name(const Graph& g, const Token& t) {
    if (t.text.empty()) fail(t, "empty value name");
    if (g.find(t.text)) fail(t, "redefinition of %" + format_name(t.text));
  }

  void params(Graph& g) {
    expect(Tok::LParen, "'('");
    while (tok_.kind != Tok::RParen) {
      if (!g.params().empty()) expect(Tok::Comma, "',' or ')'");
      Token name = expect(Tok::Value, "a parameter like %x");
      check_new_name(g, name);
      expect(Tok::Colon, "':'");
      g.add_param(name.text, type());
    }
    take();
  }

  std::vector<Value*> values(Graph& g) {
    std::vector<Value*> vs;
    if (tok_.kind != Tok::Value) return vs;
    for (;;) {
      vs.push_back(use(g, take()));
      if (tok_.kind != Tok::Comma) return vs;
      take();
      if (tok_.kind != Tok::Value) fail(tok_, "syntax error", "a value");
    }
  }

  // Statements up to and including "return ...".
  void block(Graph& g) {
    for (;;) {
      if (is_ident("return")) break;
      if (tok_.kind != Tok::Value && tok_.kind != Tok::Ident)
        fail(tok_, "missing 'return' or statement", "a statement or 'return'");
      statement(g);
    }
    take();
    g.set_results(values(g));
  }

  std::unique_ptr<Graph> func() {
    expect_word("func");
    Token name = expect(Tok::Func, "a function name like @f");
    auto g = std::make_unique<Graph>(name.text);
    params(*g);
    expect(Tok::Arrow, "'->'");
    expect(Tok::LParen, "'('");
    std::vector<std::pair<TensorType, Token>> declared;
    while (tok_.kind != Tok::RParen) {
      if (!declared.empty()) expect(Tok::Comma, "',' or ')'");
      Token at = tok_;
      declared.emplace_back(type(), at);
    }
    take();
    expect(Tok::LBrace, "'{'");
    block(*g);
    Token close = tok_;
    expect(Tok::RBrace, "'}' after return");
    const auto& rs = g->results();
    if (rs.size() != declared.size())
      fail(close, "func @" + format_name(g->name) + " returns " + std::to_string(rs.size()) + " value(s)",
           std::to_string(declared.size()) + " as declared");
    for (size_t i = 0; i < rs.size(); ++i)
      if (rs[i]->type != declared[i].first)
        fail(declared[i].second, "result " + std::to_string(i) + " of func @" + format_name(g->name) +
                                     " differs from the returned %" + format_name(rs[i]->name) + ", expected " +
                                     rs[i]->type.to_string() + ", found " + declared[i].first.to_string());
    return g;
  }

  std::unique_ptr<Graph> region() {
    Token open = expect(Tok::LBrace, "'{'");
    if (depth_ >= kMaxRegionDepth)
      fail(open, "regions nested too deeply (limit " + std::to_string(kMaxRegionDepth) + ")");
    ++depth_;
    Token label = expect(Tok::Label, "a region label like ^body");
    auto body = std::make_unique<Graph>(label.text);
    params(*body);
    expect(Tok::Colon, "':'");
    block(*body);
    expect(Tok::RBrace, "'}' after return");
    --depth_;
    return body;
  }

  void statement(Graph& g) {
    Token start = tok_;
    std::vector<Token> names;
    std::unordered_set<std::string> fresh;  // names of this statement
    if (tok_.kind == Tok::Value) {
      for (;;) {
        Token n = take();
        check_new_name(g, n);
        if (!fresh.insert(n.text).second) fail(n, "redefinition of %" + format_name(n.text));
        names.push_back(std::move(n));
        if (tok_.kind != Tok::Comma) break;
        take();
        if (tok_.kind != Tok::Value) fail(tok_, "syntax error", "a result name");
      }
      expect(Tok::Equal, "'=' or ','");
    }
    Token op_tok = expect(Tok::Ident, "an op name");
    std::optional<OpKind> op = parse_op_name(op_tok.text);
    if (!op) fail(op_tok, "unknown op", "an op name");
    const OpInfo& info = op_info(*op);
    std::vector<Value*> operands = values(g);
    AttrMap attrs = tok_.kind == Tok::LBrace ? this->attrs(info) : AttrMap{};
    expect(Tok::Colon, "':' before the result types");
    std::vector<std::pair<TensorType, Token>> types;
    if (tok_.kind == Tok::LParen) {
      take();
      while (tok_.kind != Tok::RParen) {
        if (!types.empty()) expect(Tok::Comma, "',' or ')'");
        Token at = tok_;
        types.emplace_back(type(), at);
      }
      take();
    } else {
      Token at = tok_;
      types.emplace_back(type(), at);
    }
    if (types.size() != names.size())
      fail(start, "statement names " + std::to_string(names.size()) + " result(s) but gives " +
                      std::to_string(types.size()) + " type(s)");
    std::unique_ptr<Graph> body;
    if (info.has(kHasBody)) body = region();
    else if (tok_.kind == Tok::LBrace) fail(tok_, "op '" + std::string(info.name) + "' takes no region");

    std::vector<std::string> result_names;
    for (const Token& n : names) result_names.push_back(n.text);
    Node* node = nullptr;
    try {
      node = g.add_node(*op, std::move(operands), std::move(attrs), std::move(body), result_names);
    } catch (const ParseError&) {
      throw;
    } catch (const Error& e) {
      fail(start, e.what());
    }
    if (node->results.size() != names.size())
      fail(op_tok, "wrong result count for '" + std::string(info.name) + "', expected " +
                       std::to_string(node->results.size()) + ", found " + std::to_string(names.size()));
    for (size_t i = 0; i < types.size(); ++i)
      if (node->results[i]->type != types[i].first)
        fail(types[i].second, "result type differs from the inferred one, expected " +
                                  node->results[i]->type.to_string() + ", found " + types[i].first.to_string());
  }
};

}  // namespace

Module parse_module(std::string_view text, std::string_view filename) { return Parser(text, filename).module(); }

std::unique_ptr<Graph> parse_graph(std::string_view text, std::string_view filename) {
  return Parser(text, filename).single_func();
}

}  // namespace kiln::ir
