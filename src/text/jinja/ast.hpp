// The parsed template: expression and statement nodes. Plain data; renderer.cpp gives them
// meaning.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "text/jinja/lexer.hpp"
#include "text/jinja/value.hpp"

namespace bantam::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

// Arguments as written at a call, filter or test: positional then name=value.
struct ArgExprs {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
};

struct Expr {
  enum class Kind {
    Literal,
    Name,
    GetAttr,
    GetItem,
    Slice,
    Call,
    Filter,
    Test,
    Unary,
    Binary,
    Compare,
    Conditional,
    ListLiteral,
    DictLiteral,
  };
  Expr(Kind k, SourcePos p) : kind(k), pos(p) {}
  virtual ~Expr() = default;
  Kind kind;
  SourcePos pos;
};

struct LiteralExpr : Expr {
  explicit LiteralExpr(SourcePos p, Value v) : Expr(Kind::Literal, p), value(std::move(v)) {}
  Value value;
};

struct NameExpr : Expr {
  NameExpr(SourcePos p, std::string n) : Expr(Kind::Name, p), name(std::move(n)) {}
  std::string name;
};

// `object.attribute` (also `object.0`): attribute first, then item, as jinja2's getattr.
struct GetAttrExpr : Expr {
  GetAttrExpr(SourcePos p, ExprPtr o, std::string a)
      : Expr(Kind::GetAttr, p), object(std::move(o)), attribute(std::move(a)) {}
  ExprPtr object;
  std::string attribute;
};

// `object[index]`: item first, then attribute, as jinja2's getitem.
struct GetItemExpr : Expr {
  GetItemExpr(SourcePos p, ExprPtr o, ExprPtr i)
      : Expr(Kind::GetItem, p), object(std::move(o)), index(std::move(i)) {}
  ExprPtr object;
  ExprPtr index;
};

struct SliceExpr : Expr {
  SliceExpr(SourcePos p, ExprPtr o) : Expr(Kind::Slice, p), object(std::move(o)) {}
  ExprPtr object;
  ExprPtr start, stop, step;  // null where omitted
};

struct CallExpr : Expr {
  CallExpr(SourcePos p, ExprPtr c) : Expr(Kind::Call, p), callee(std::move(c)) {}
  ExprPtr callee;
  ArgExprs args;
};

// `operand | name(args)`; operand is null inside `{% filter %}` blocks, where the body's text
// is the operand.
struct FilterExpr : Expr {
  FilterExpr(SourcePos p, ExprPtr o, std::string n)
      : Expr(Kind::Filter, p), operand(std::move(o)), name(std::move(n)) {}
  ExprPtr operand;
  std::string name;
  ArgExprs args;
};

struct TestExpr : Expr {
  TestExpr(SourcePos p, ExprPtr o, std::string n, bool neg)
      : Expr(Kind::Test, p), operand(std::move(o)), name(std::move(n)), negated(neg) {}
  ExprPtr operand;
  std::string name;
  ArgExprs args;
  bool negated;
};

struct UnaryExpr : Expr {
  enum class Op { Not, Negate, Plus };
  UnaryExpr(SourcePos p, Op o, ExprPtr e) : Expr(Kind::Unary, p), op(o), operand(std::move(e)) {}
  Op op;
  ExprPtr operand;
};

struct BinaryExpr : Expr {
  // And/Or short-circuit and return an operand, as in Python.
  enum class Op { And, Or, Add, Subtract, Multiply, Divide, FloorDivide, Modulo, Power, Concat };
  BinaryExpr(SourcePos p, Op o, ExprPtr l, ExprPtr r)
      : Expr(Kind::Binary, p), op(o), left(std::move(l)), right(std::move(r)) {}
  Op op;
  ExprPtr left, right;
};

// `a < b <= c`: chained like Python, each operand evaluated once.
struct CompareExpr : Expr {
  enum class Op { Equal, NotEqual, Less, LessEqual, Greater, GreaterEqual, In, NotIn };
  CompareExpr(SourcePos p, ExprPtr f) : Expr(Kind::Compare, p), first(std::move(f)) {}
  ExprPtr first;
  std::vector<std::pair<Op, ExprPtr>> rest;
};

// `then if condition else otherwise`; a missing else gives Undefined.
struct ConditionalExpr : Expr {
  ConditionalExpr(SourcePos p, ExprPtr c, ExprPtr t, ExprPtr o)
      : Expr(Kind::Conditional, p),
        condition(std::move(c)),
        then(std::move(t)),
        otherwise(std::move(o)) {}
  ExprPtr condition, then, otherwise;
};

struct ListLiteralExpr : Expr {
  ListLiteralExpr(SourcePos p, bool t) : Expr(Kind::ListLiteral, p), tuple(t) {}
  std::vector<ExprPtr> items;
  bool tuple;
};

struct DictLiteralExpr : Expr {
  explicit DictLiteralExpr(SourcePos p) : Expr(Kind::DictLiteral, p) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  enum class Kind {
    Text,
    Output,
    If,
    For,
    Set,
    SetBlock,
    Macro,
    CallBlock,
    FilterBlock,
    With,
    Scope,
    Break,
    Continue,
  };
  Stmt(Kind k, SourcePos p) : kind(k), pos(p) {}
  virtual ~Stmt() = default;
  Kind kind;
  SourcePos pos;
};

struct TextStmt : Stmt {
  TextStmt(SourcePos p, std::string t) : Stmt(Kind::Text, p), text(std::move(t)) {}
  std::string text;
};

struct OutputStmt : Stmt {
  OutputStmt(SourcePos p, ExprPtr e) : Stmt(Kind::Output, p), expr(std::move(e)) {}
  ExprPtr expr;
};

struct IfStmt : Stmt {
  explicit IfStmt(SourcePos p) : Stmt(Kind::If, p) {}
  std::vector<std::pair<ExprPtr, Body>> branches;  // if, then each elif
  Body otherwise;
};

// Where `set`, `for` and `with` store values: one name, several names unpacked from a
// sequence, or a namespace attribute (`ns.name`).
struct AssignTarget {
  std::vector<std::string> names;
  std::string namespace_attribute;  // set when the target is names[0].namespace_attribute
  bool unpack = false;              // `a, b = ...`, also `(a,) = ...`
};

struct ForStmt : Stmt {
  explicit ForStmt(SourcePos p) : Stmt(Kind::For, p) {}
  AssignTarget target;
  ExprPtr iterable;
  ExprPtr condition;  // `for x in xs if cond`, or null
  Body body;
  Body otherwise;
};

struct SetStmt : Stmt {
  explicit SetStmt(SourcePos p) : Stmt(Kind::Set, p) {}
  AssignTarget target;
  ExprPtr value;
};

// `{% set name | filters %}body{% endset %}`
struct SetBlockStmt : Stmt {
  explicit SetBlockStmt(SourcePos p) : Stmt(Kind::SetBlock, p) {}
  AssignTarget target;
  ExprPtr filter;  // chain of FilterExpr with a null innermost operand, or null
  Body body;
};

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // null: required (Undefined when omitted, as in jinja2)
};

struct MacroStmt : Stmt {
  explicit MacroStmt(SourcePos p) : Stmt(Kind::Macro, p) {}
  std::string name;
  std::vector<MacroParam> params;
  Body body;
};

// `{% call(params) macro(args) %}body{% endcall %}`: the macro sees the body as caller().
struct CallBlockStmt : Stmt {
  explicit CallBlockStmt(SourcePos p) : Stmt(Kind::CallBlock, p) {}
  std::vector<MacroParam> caller_params;
  ExprPtr call;  // a CallExpr
  Body body;
};

struct FilterBlockStmt : Stmt {
  explicit FilterBlockStmt(SourcePos p) : Stmt(Kind::FilterBlock, p) {}
  ExprPtr filter;  // chain of FilterExpr with a null innermost operand
  Body body;
};

struct WithStmt : Stmt {
  explicit WithStmt(SourcePos p) : Stmt(Kind::With, p) {}
  std::vector<std::pair<AssignTarget, ExprPtr>> assignments;
  Body body;
};

// A body rendered in place, such as Hugging Face's `{% generation %}` marker block.
struct ScopeStmt : Stmt {
  explicit ScopeStmt(SourcePos p) : Stmt(Kind::Scope, p) {}
  Body body;
};

struct LoopControlStmt : Stmt {
  LoopControlStmt(SourcePos p, bool is_break) : Stmt(is_break ? Kind::Break : Kind::Continue, p) {}
};

}  // namespace bantam::jinja
