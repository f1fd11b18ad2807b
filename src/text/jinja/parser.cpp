#include "text/jinja/parser.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <initializer_list>

#include "bantam/error.hpp"
#include "text/jinja/renderer.hpp"

namespace bantam::jinja {
namespace {

std::string describe(const Token& token) {
  switch (token.kind) {
    case TokenKind::Text: return "template text";
    case TokenKind::VarBegin: return "'{{'";
    case TokenKind::VarEnd: return "'}}'";
    case TokenKind::BlockBegin: return "'{%'";
    case TokenKind::BlockEnd: return "'%}'";
    case TokenKind::Name:
    case TokenKind::Operator:
    case TokenKind::Integer:
    case TokenKind::Float: return "'" + token.text + "'";
    case TokenKind::String: return "a string";
    case TokenKind::EndOfInput: return "the end of the template";
  }
  return "a token";
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, std::string name)
      : tokens_(std::move(tokens)), name_(std::move(name)) {}

  Body parse_root() {
    std::string end_tag;
    Body body = parse_body({}, end_tag, SourcePos{});
    return body;
  }

 private:
  // Counts nesting (recursion and left-leaning operator chains alike) while in scope.
  class Nest {
   public:
    explicit Nest(Parser& parser, int levels = 1) : parser_(parser), levels_(0) { add(levels); }
    ~Nest() { parser_.depth_ -= levels_; }
    Nest(const Nest&) = delete;
    Nest& operator=(const Nest&) = delete;
    void add(int levels = 1) {
      parser_.depth_ += levels;
      levels_ += levels;
      if (parser_.depth_ > kMaxParseDepth) {
        parser_.fail(parser_.current(),
                     fmt::format("template nests deeper than {} levels", kMaxParseDepth));
      }
    }

   private:
    Parser& parser_;
    int levels_;
  };

  const Token& current() const { return tokens_[index_]; }
  const Token& peek(size_t ahead = 1) const {
    return tokens_[std::min(index_ + ahead, tokens_.size() - 1)];
  }
  const Token& advance() {
    const Token& token = tokens_[index_];
    if (index_ + 1 < tokens_.size()) ++index_;
    return token;
  }

  [[noreturn]] void fail(const Token& at, const std::string& message) const {
    fail(at.pos, message);
  }
  [[noreturn]] void fail(SourcePos pos, const std::string& message) const {
    throw Error(fmt::format("{}:{}:{}: {}", name_, pos.line, pos.column, message));
  }

  bool is_op(std::string_view op, size_t ahead = 0) const {
    const Token& t = ahead ? peek(ahead) : current();
    return t.kind == TokenKind::Operator && t.text == op;
  }
  bool is_name(std::string_view name, size_t ahead = 0) const {
    const Token& t = ahead ? peek(ahead) : current();
    return t.kind == TokenKind::Name && t.text == name;
  }
  bool skip_op(std::string_view op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(std::string_view name) {
    if (!is_name(name)) return false;
    advance();
    return true;
  }
  void expect_op(std::string_view op) {
    if (!skip_op(op))
      fail(current(), fmt::format("expected '{}', found {}", op, describe(current())));
  }
  std::string expect_name(std::string_view what) {
    if (current().kind != TokenKind::Name) {
      fail(current(), fmt::format("expected {}, found {}", what, describe(current())));
    }
    return advance().text;
  }
  void expect_block_end(std::string_view tag) {
    if (current().kind != TokenKind::BlockEnd) {
      fail(current(),
           fmt::format("expected '%}}' to end the '{}' tag, found {}", tag, describe(current())));
    }
    advance();
  }

  // ---- statements ----

  // Parses until `{% name` with name in `end_tags`; leaves the rest of that tag to the caller.
  Body parse_body(std::initializer_list<std::string_view> end_tags, std::string& found,
                  SourcePos opened_at) {
    Body body;
    while (true) {
      const Token& token = current();
      switch (token.kind) {
        case TokenKind::EndOfInput:
          if (end_tags.size() != 0) {
            fail(opened_at, fmt::format("this block is never closed with '{{% {} %}}'",
                                        *(end_tags.end() - 1)));
          }
          return body;
        case TokenKind::Text:
          body.push_back(std::make_unique<TextStmt>(token.pos, token.text));
          advance();
          break;
        case TokenKind::VarBegin: {
          advance();
          auto expr = parse_tuple(true);
          if (current().kind != TokenKind::VarEnd) {
            fail(current(), fmt::format("expected '}}}}', found {}", describe(current())));
          }
          advance();
          body.push_back(std::make_unique<OutputStmt>(token.pos, std::move(expr)));
          break;
        }
        case TokenKind::BlockBegin: {
          const Token& name = peek();
          if (name.kind != TokenKind::Name) fail(name, "expected a tag name after '{%'");
          if (std::find(end_tags.begin(), end_tags.end(), name.text) != end_tags.end()) {
            advance();
            found = advance().text;
            return body;
          }
          advance();
          body.push_back(parse_statement());
          break;
        }
        default: fail(token, fmt::format("unexpected {}", describe(token)));
      }
    }
  }

  StmtPtr parse_statement() {
    Nest nest(*this);
    const Token& tag = advance();
    const std::string& name = tag.text;
    if (name == "if") return parse_if(tag.pos);
    if (name == "for") return parse_for(tag.pos);
    if (name == "set") return parse_set(tag.pos);
    if (name == "macro") return parse_macro(tag.pos);
    if (name == "call") return parse_call_block(tag.pos);
    if (name == "filter") return parse_filter_block(tag.pos);
    if (name == "with") return parse_with(tag.pos);
    if (name == "generation") return parse_scope(tag.pos, "endgeneration");
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) fail(tag, fmt::format("'{}' outside a for loop", name));
      expect_block_end(name);
      return std::make_unique<LoopControlStmt>(tag.pos, name == "break");
    }
    static constexpr std::string_view unsupported[] = {"include", "import",     "from", "extends",
                                                       "block",   "autoescape", "do",   "trans"};
    if (std::find(std::begin(unsupported), std::end(unsupported), name) != std::end(unsupported)) {
      fail(tag, fmt::format("the '{}' tag is not supported in chat templates", name));
    }
    static constexpr std::string_view closers[] = {
        "elif",    "else",      "endif",   "endfor",        "endset", "endmacro",
        "endcall", "endfilter", "endwith", "endgeneration", "endraw"};
    if (std::find(std::begin(closers), std::end(closers), name) != std::end(closers)) {
      fail(tag, fmt::format("unexpected '{}' with no block open for it", name));
    }
    fail(tag, fmt::format("unknown tag '{}'", name));
  }

  StmtPtr parse_if(SourcePos pos) {
    auto stmt = std::make_unique<IfStmt>(pos);
    auto condition = parse_tuple(true);
    while (true) {
      expect_block_end("if");
      std::string end;
      Body body = parse_body({"elif", "else", "endif"}, end, pos);
      stmt->branches.emplace_back(std::move(condition), std::move(body));
      if (end == "elif") {
        condition = parse_tuple(true);
        continue;
      }
      if (end == "else") {
        expect_block_end("else");
        stmt->otherwise = parse_body({"endif"}, end, pos);
      }
      expect_block_end("endif");
      return stmt;
    }
  }

  AssignTarget parse_assign_target(bool allow_namespace) {
    AssignTarget target;
    if (allow_namespace && current().kind == TokenKind::Name && is_op(".", 1)) {
      target.names.push_back(advance().text);
      advance();
      target.namespace_attribute = expect_name("an attribute name");
      return target;
    }
    const bool parenthesized = skip_op("(");
    target.names.push_back(expect_name("a variable name"));
    while (skip_op(",")) {
      target.unpack = true;
      if (current().kind != TokenKind::Name) break;  // trailing comma
      target.names.push_back(advance().text);
    }
    if (parenthesized) expect_op(")");
    for (const auto& n : target.names) {
      if (n == "true" || n == "false" || n == "none" || n == "True" || n == "False" ||
          n == "None") {
        fail(current(), fmt::format("cannot assign to '{}'", n));
      }
    }
    return target;
  }

  StmtPtr parse_for(SourcePos pos) {
    auto stmt = std::make_unique<ForStmt>(pos);
    stmt->target = parse_assign_target(false);
    if (!skip_name("in"))
      fail(current(), fmt::format("expected 'in', found {}", describe(current())));
    // No `x if c else y` here: a trailing `if` filters the loop items instead.
    stmt->iterable = parse_tuple(false);
    if (skip_name("if")) stmt->condition = parse_expression(true);
    if (is_name("recursive")) fail(current(), "recursive for loops are not supported");
    expect_block_end("for");
    std::string end;
    ++loop_depth_;
    stmt->body = parse_body({"else", "endfor"}, end, pos);
    --loop_depth_;
    if (end == "else") {
      expect_block_end("else");
      stmt->otherwise = parse_body({"endfor"}, end, pos);
    }
    expect_block_end("endfor");
    return stmt;
  }

  StmtPtr parse_set(SourcePos pos) {
    AssignTarget target = parse_assign_target(true);
    if (skip_op("=")) {
      auto stmt = std::make_unique<SetStmt>(pos);
      stmt->target = std::move(target);
      stmt->value = parse_tuple(true);
      expect_block_end("set");
      return stmt;
    }
    if (target.unpack) fail(current(), "a '{% set %}' block assigns one name");
    auto stmt = std::make_unique<SetBlockStmt>(pos);
    stmt->target = std::move(target);
    if (is_op("|")) stmt->filter = parse_filter_chain(nullptr);
    expect_block_end("set");
    std::string end;
    stmt->body = parse_body({"endset"}, end, pos);
    expect_block_end("endset");
    return stmt;
  }

  std::vector<MacroParam> parse_params() {
    std::vector<MacroParam> params;
    expect_op("(");
    while (!skip_op(")")) {
      if (!params.empty()) expect_op(",");
      if (skip_op(")")) break;
      MacroParam param;
      param.name = expect_name("a parameter name");
      if (skip_op("="))
        param.default_value = parse_expression(true);
      else if (!params.empty() && params.back().default_value) {
        fail(current(), fmt::format("parameter '{}' without a default follows one with a default",
                                    param.name));
      }
      params.push_back(std::move(param));
    }
    return params;
  }

  StmtPtr parse_macro(SourcePos pos) {
    auto stmt = std::make_unique<MacroStmt>(pos);
    stmt->name = expect_name("a macro name");
    stmt->params = parse_params();
    expect_block_end("macro");
    std::string end;
    const int saved_loops = loop_depth_;
    loop_depth_ = 0;  // break/continue cannot cross into the caller's loop
    stmt->body = parse_body({"endmacro"}, end, pos);
    loop_depth_ = saved_loops;
    if (current().kind == TokenKind::Name) advance();  // `{% endmacro name %}`
    expect_block_end("endmacro");
    return stmt;
  }

  StmtPtr parse_call_block(SourcePos pos) {
    auto stmt = std::make_unique<CallBlockStmt>(pos);
    if (is_op("(")) stmt->caller_params = parse_params();
    stmt->call = parse_expression(true);
    if (stmt->call->kind != Expr::Kind::Call) fail(pos, "'{% call %}' needs a macro call");
    expect_block_end("call");
    std::string end;
    const int saved_loops = loop_depth_;
    loop_depth_ = 0;
    stmt->body = parse_body({"endcall"}, end, pos);
    loop_depth_ = saved_loops;
    expect_block_end("endcall");
    return stmt;
  }

  StmtPtr parse_filter_block(SourcePos pos) {
    auto stmt = std::make_unique<FilterBlockStmt>(pos);
    if (current().kind != TokenKind::Name) fail(current(), "expected a filter name");
    stmt->filter = parse_filter_chain(nullptr, /*leading_bar=*/false);
    expect_block_end("filter");
    std::string end;
    stmt->body = parse_body({"endfilter"}, end, pos);
    expect_block_end("endfilter");
    return stmt;
  }

  StmtPtr parse_with(SourcePos pos) {
    auto stmt = std::make_unique<WithStmt>(pos);
    while (current().kind != TokenKind::BlockEnd) {
      if (!stmt->assignments.empty()) expect_op(",");
      AssignTarget target = parse_assign_target(false);
      expect_op("=");
      stmt->assignments.emplace_back(std::move(target), parse_expression(true));
    }
    expect_block_end("with");
    std::string end;
    stmt->body = parse_body({"endwith"}, end, pos);
    expect_block_end("endwith");
    return stmt;
  }

  StmtPtr parse_scope(SourcePos pos, std::string_view end_tag) {
    auto stmt = std::make_unique<ScopeStmt>(pos);
    expect_block_end("generation");
    std::string end;
    stmt->body = parse_body({end_tag}, end, pos);
    expect_block_end(end_tag);
    return stmt;
  }

  // ---- expressions ----

  static bool ends_tuple(const Token& t) {
    return t.kind == TokenKind::VarEnd || t.kind == TokenKind::BlockEnd ||
           (t.kind == TokenKind::Operator && (t.text == ")" || t.text == "]")) ||
           (t.kind == TokenKind::Name && (t.text == "if" || t.text == "in"));
  }

  // `a, b` is a tuple wherever jinja2 allows one (output, set, if, for).
  ExprPtr parse_tuple(bool with_condexpr) {
    const SourcePos pos = current().pos;
    ExprPtr first = parse_expression(with_condexpr);
    if (!is_op(",")) return first;
    auto tuple = std::make_unique<ListLiteralExpr>(pos, true);
    tuple->items.push_back(std::move(first));
    while (skip_op(",")) {
      if (ends_tuple(current())) break;
      tuple->items.push_back(parse_expression(with_condexpr));
    }
    return tuple;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    Nest nest(*this);
    if (!with_condexpr) return parse_or();
    ExprPtr expr = parse_or();
    while (is_name("if")) {
      nest.add();
      const SourcePos pos = advance().pos;
      ExprPtr condition = parse_or();
      ExprPtr otherwise = skip_name("else") ? parse_expression(true) : nullptr;
      expr = std::make_unique<ConditionalExpr>(pos, std::move(condition), std::move(expr),
                                               std::move(otherwise));
    }
    return expr;
  }

  ExprPtr binary(BinaryExpr::Op op, SourcePos pos, ExprPtr left, ExprPtr right) {
    return std::make_unique<BinaryExpr>(pos, op, std::move(left), std::move(right));
  }

  ExprPtr parse_or() {
    Nest nest(*this, 0);
    ExprPtr left = parse_and();
    while (is_name("or")) {
      nest.add();
      const SourcePos pos = advance().pos;
      left = binary(BinaryExpr::Op::Or, pos, std::move(left), parse_and());
    }
    return left;
  }

  ExprPtr parse_and() {
    Nest nest(*this, 0);
    ExprPtr left = parse_not();
    while (is_name("and")) {
      nest.add();
      const SourcePos pos = advance().pos;
      left = binary(BinaryExpr::Op::And, pos, std::move(left), parse_not());
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      Nest nest(*this);
      const SourcePos pos = advance().pos;
      return std::make_unique<UnaryExpr>(pos, UnaryExpr::Op::Not, parse_not());
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const SourcePos pos = current().pos;
    ExprPtr first = parse_math1();
    std::unique_ptr<CompareExpr> compare;
    Nest nest(*this, 0);
    while (true) {
      CompareExpr::Op op;
      const Token& t = current();
      if (t.kind == TokenKind::Operator && t.text == "==")
        op = CompareExpr::Op::Equal;
      else if (t.kind == TokenKind::Operator && t.text == "!=")
        op = CompareExpr::Op::NotEqual;
      else if (t.kind == TokenKind::Operator && t.text == "<")
        op = CompareExpr::Op::Less;
      else if (t.kind == TokenKind::Operator && t.text == "<=")
        op = CompareExpr::Op::LessEqual;
      else if (t.kind == TokenKind::Operator && t.text == ">")
        op = CompareExpr::Op::Greater;
      else if (t.kind == TokenKind::Operator && t.text == ">=")
        op = CompareExpr::Op::GreaterEqual;
      else if (is_name("in"))
        op = CompareExpr::Op::In;
      else if (is_name("not") && is_name("in", 1)) {
        advance();
        op = CompareExpr::Op::NotIn;
      } else {
        break;
      }
      advance();
      nest.add();
      if (!compare) compare = std::make_unique<CompareExpr>(pos, std::move(first));
      compare->rest.emplace_back(op, parse_math1());
    }
    if (compare) return compare;
    return first;
  }

  ExprPtr parse_math1() {
    Nest nest(*this, 0);
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      nest.add();
      const Token& op = advance();
      const auto kind = op.text == "+" ? BinaryExpr::Op::Add : BinaryExpr::Op::Subtract;
      left = binary(kind, op.pos, std::move(left), parse_concat());
    }
    return left;
  }

  ExprPtr parse_concat() {
    Nest nest(*this, 0);
    ExprPtr left = parse_math2();
    while (is_op("~")) {
      nest.add();
      const SourcePos pos = advance().pos;
      left = binary(BinaryExpr::Op::Concat, pos, std::move(left), parse_math2());
    }
    return left;
  }

  ExprPtr parse_math2() {
    Nest nest(*this, 0);
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      nest.add();
      const Token& op = advance();
      const auto kind = op.text == "*"    ? BinaryExpr::Op::Multiply
                        : op.text == "/"  ? BinaryExpr::Op::Divide
                        : op.text == "//" ? BinaryExpr::Op::FloorDivide
                                          : BinaryExpr::Op::Modulo;
      left = binary(kind, op.pos, std::move(left), parse_pow());
    }
    return left;
  }

  ExprPtr parse_pow() {
    Nest nest(*this, 0);
    ExprPtr left = parse_unary(true);
    while (is_op("**")) {
      nest.add();
      const SourcePos pos = advance().pos;
      left = binary(BinaryExpr::Op::Power, pos, std::move(left), parse_unary(true));
    }
    return left;
  }

  ExprPtr parse_unary(bool with_filter) {
    Nest nest(*this);
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      const Token& op = advance();
      const auto kind = op.text == "-" ? UnaryExpr::Op::Negate : UnaryExpr::Op::Plus;
      node = std::make_unique<UnaryExpr>(op.pos, kind, parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    const Token& token = current();
    switch (token.kind) {
      case TokenKind::Name: {
        advance();
        const std::string& n = token.text;
        if (n == "true" || n == "True") return literal(token.pos, Value::boolean(true));
        if (n == "false" || n == "False") return literal(token.pos, Value::boolean(false));
        if (n == "none" || n == "None") return literal(token.pos, Value::none());
        return std::make_unique<NameExpr>(token.pos, n);
      }
      case TokenKind::String: {
        std::string text;
        while (current().kind == TokenKind::String) text += advance().text;  // 'a' 'b' == 'ab'
        return literal(token.pos, Value::string(std::move(text)));
      }
      case TokenKind::Integer:
        advance();
        return literal(token.pos, Value::integer(token.int_value));
      case TokenKind::Float: advance(); return literal(token.pos, Value::number(token.float_value));
      case TokenKind::Operator:
        if (token.text == "(") return parse_parenthesized();
        if (token.text == "[") return parse_list();
        if (token.text == "{") return parse_dict();
        break;
      default: break;
    }
    fail(token, fmt::format("unexpected {} in expression", describe(token)));
  }

  static ExprPtr literal(SourcePos pos, Value value) {
    return std::make_unique<LiteralExpr>(pos, std::move(value));
  }

  ExprPtr parse_parenthesized() {
    const SourcePos pos = advance().pos;
    if (skip_op(")")) return std::make_unique<ListLiteralExpr>(pos, true);
    ExprPtr first = parse_expression(true);
    if (skip_op(")")) return first;
    auto tuple = std::make_unique<ListLiteralExpr>(pos, true);
    tuple->items.push_back(std::move(first));
    while (!skip_op(")")) {
      expect_op(",");
      if (skip_op(")")) break;
      tuple->items.push_back(parse_expression(true));
    }
    return tuple;
  }

  ExprPtr parse_list() {
    auto list = std::make_unique<ListLiteralExpr>(advance().pos, false);
    while (!skip_op("]")) {
      if (!list->items.empty()) {
        expect_op(",");
        if (skip_op("]")) break;
      }
      list->items.push_back(parse_expression(true));
    }
    return list;
  }

  ExprPtr parse_dict() {
    auto dict = std::make_unique<DictLiteralExpr>(advance().pos);
    while (!skip_op("}")) {
      if (!dict->items.empty()) {
        expect_op(",");
        if (skip_op("}")) break;
      }
      ExprPtr key = parse_expression(true);
      expect_op(":");
      dict->items.emplace_back(std::move(key), parse_expression(true));
    }
    return dict;
  }

  ExprPtr parse_postfix(ExprPtr node) {
    Nest nest(*this, 0);
    // Positions name where the whole chain starts: `raise_exception(...)`, `a.b.c`.
    const SourcePos start = node->pos;
    while (true) {
      if (is_op(".")) {
        nest.add();
        advance();
        const Token& attr = current();
        if (attr.kind != TokenKind::Name && attr.kind != TokenKind::Integer) {
          fail(attr, fmt::format("expected an attribute name after '.', found {}", describe(attr)));
        }
        advance();
        if (attr.kind == TokenKind::Integer) {  // `items.0` is items[0], as in jinja2
          node = std::make_unique<GetItemExpr>(start, std::move(node),
                                               literal(attr.pos, Value::integer(attr.int_value)));
        } else {
          node = std::make_unique<GetAttrExpr>(start, std::move(node), attr.text);
        }
      } else if (is_op("[")) {
        nest.add();
        advance();
        node = parse_subscript(start, std::move(node));
      } else if (is_op("(")) {
        nest.add();
        auto call = std::make_unique<CallExpr>(start, std::move(node));
        call->args = parse_call_args();
        node = std::move(call);
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(SourcePos pos, ExprPtr object) {
    ExprPtr start;
    if (!is_op(":")) {
      start = parse_expression(true);
      if (skip_op("]")) {
        return std::make_unique<GetItemExpr>(pos, std::move(object), std::move(start));
      }
      if (is_op(",")) fail(current(), "tuple subscripts are not supported");
    }
    auto slice = std::make_unique<SliceExpr>(pos, std::move(object));
    slice->start = std::move(start);
    expect_op(":");
    if (!is_op(":") && !is_op("]")) slice->stop = parse_expression(true);
    if (skip_op(":") && !is_op("]")) slice->step = parse_expression(true);
    expect_op("]");
    return slice;
  }

  ArgExprs parse_call_args() {
    ArgExprs args;
    expect_op("(");
    bool first = true;
    while (!skip_op(")")) {
      if (!first) {
        expect_op(",");
        if (skip_op(")")) break;
      }
      first = false;
      if (is_op("*") || is_op("**")) fail(current(), "*args and **kwargs are not supported");
      if (current().kind == TokenKind::Name && is_op("=", 1)) {
        std::string name = advance().text;
        advance();
        args.keyword.emplace_back(std::move(name), parse_expression(true));
      } else {
        if (!args.keyword.empty()) fail(current(), "positional argument after keyword argument");
        args.positional.push_back(parse_expression(true));
      }
    }
    return args;
  }

  std::string parse_dotted_name(std::string_view what) {
    std::string name = expect_name(what);
    while (is_op(".") && peek().kind == TokenKind::Name) {
      advance();
      name += "." + advance().text;
    }
    return name;
  }

  // `| f(args) | g`, applied to `operand` (null inside filter blocks).
  ExprPtr parse_filter_chain(ExprPtr operand, bool leading_bar = true) {
    Nest nest(*this, 0);
    bool first = true;
    while (first ? (!leading_bar || is_op("|")) : is_op("|")) {
      nest.add();
      if (leading_bar || !first) advance();
      first = false;
      const Token& name_token = current();
      std::string name = parse_dotted_name("a filter name");
      if (!is_known_filter(name)) fail(name_token, fmt::format("no filter named '{}'", name));
      auto filter =
          std::make_unique<FilterExpr>(name_token.pos, std::move(operand), std::move(name));
      if (is_op("(")) filter->args = parse_call_args();
      operand = std::move(filter);
    }
    return operand;
  }

  ExprPtr parse_filter_expr(ExprPtr node) {
    Nest nest(*this, 0);
    while (true) {
      if (is_op("|")) {
        nest.add();
        node = parse_filter_chain(std::move(node));
      } else if (is_name("is")) {
        nest.add();
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        nest.add();
        const SourcePos pos = node->pos;
        auto call = std::make_unique<CallExpr>(pos, std::move(node));
        call->args = parse_call_args();
        node = std::move(call);
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_test(ExprPtr operand) {
    const SourcePos pos = advance().pos;
    const bool negated = skip_name("not");
    const Token& name_token = current();
    std::string name = parse_dotted_name("a test name");
    if (!is_known_test(name)) fail(name_token, fmt::format("no test named '{}'", name));
    auto test = std::make_unique<TestExpr>(pos, std::move(operand), std::move(name), negated);
    const Token& t = current();
    static constexpr std::string_view not_arguments[] = {"else", "or", "and", "in",
                                                         "is",   "if", "not"};
    const bool bare_argument =
        t.kind == TokenKind::String || t.kind == TokenKind::Integer || t.kind == TokenKind::Float ||
        is_op("[") || is_op("{") ||
        (t.kind == TokenKind::Name && std::find(std::begin(not_arguments), std::end(not_arguments),
                                                t.text) == std::end(not_arguments));
    if (is_name("is")) fail(current(), "tests cannot be chained: 'x is a is b'");
    if (is_op("(")) {
      test->args = parse_call_args();
    } else if (bare_argument) {
      test->args.positional.push_back(parse_postfix(parse_primary()));  // `x is divisibleby 3`
    }
    return test;
  }

  std::vector<Token> tokens_;
  std::string name_;
  size_t index_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

Body parse_template(std::string_view source, const LexOptions& options) {
  return Parser(tokenize(source, options), options.name).parse_root();
}

}  // namespace bantam::jinja
