// The tree-walking renderer and the helpers its built-ins share (filters, tests, methods).
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "text/jinja/ast.hpp"
#include "text/jinja/budget.hpp"
#include "text/jinja/template.hpp"
#include "text/jinja/value.hpp"

namespace bantam::jinja {

// Variables of one frame: the template's top level, a loop, a macro call, a with block.
struct Scope {
  explicit Scope(std::shared_ptr<Scope> parent_scope = nullptr) : parent(std::move(parent_scope)) {}
  const Value* find(std::string_view name) const;
  void set(const std::string& name, Value value);

  std::shared_ptr<Scope> parent;
  std::vector<std::pair<std::string, Value>> vars;
};
using ScopePtr = std::shared_ptr<Scope>;

// A built-in function or bound method implemented in C++.
class NativeFunction : public Callable {
 public:
  using Fn = std::function<Value(CallArgs&, Renderer&)>;
  NativeFunction(std::string name, Fn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  Value call(CallArgs args, Renderer& renderer) const override { return fn_(args, renderer); }
  const std::string& name() const override { return name_; }

 private:
  std::string name_;
  Fn fn_;
};
Value native_function(std::string name, NativeFunction::Fn fn);

// Binds call arguments to parameter names as Python would; omitted ones are Undefined, and the
// first `required` must be given. Error naming `function` for extra or unknown arguments.
std::vector<Value> bind_args(std::string_view function, CallArgs& args,
                             std::initializer_list<std::string_view> params, size_t required = 0);

// Text a template body renders into, counted against the memory budget while it is built.
class Output {
 public:
  explicit Output(Budget& budget) : budget_(budget) {}
  ~Output() { budget_.release(text_.size()); }
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  void append(std::string_view text);
  // The text, no longer counted here (a string value made of it counts it again).
  std::string take();

 private:
  Budget& budget_;
  std::string text_;
};

class Renderer {
 public:
  Renderer(const Limits& limits, std::string name)
      : limits_(limits), budget_(limits), name_(std::move(name)) {}
  ~Renderer();
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;

  std::string render(const Body& body, const ScopePtr& globals);

  // Counts evaluation steps, and one step per 16 bytes or items copied; Error past the budget.
  void charge(uint64_t steps, uint64_t bytes_or_items = 0);
  const Budget& budget() const { return budget_; }

  Value call(const Value& callee, CallArgs args);
  Value get_attribute(const Value& object, const std::string& name);
  Value get_item(const Value& object, const Value& key);
  // A namespace that will hold `entries` attributes, counted against the memory budget until
  // the render ends.
  std::shared_ptr<Namespace> new_namespace(size_t entries);

  // Runs a macro or caller body in a fresh scope below `parent`, returning its text.
  Value call_macro(const std::string& name, const std::vector<MacroParam>& params, const Body& body,
                   const std::weak_ptr<Scope>& parent, CallArgs args);

 private:
  enum class Flow { Normal, Break, Continue };
  class DepthGuard;

  Flow exec(const Body& body, const ScopePtr& scope, Output& out);
  Flow exec_stmt(const Stmt& stmt, const ScopePtr& scope, Output& out);
  Flow exec_for(const ForStmt& stmt, const ScopePtr& scope, Output& out);
  void exec_call_block(const CallBlockStmt& stmt, const ScopePtr& scope, Output& out);
  void assign(const AssignTarget& target, Value value, const ScopePtr& scope);

  Value eval(const Expr& expr, const ScopePtr& scope);
  Value eval_node(const Expr& expr, const ScopePtr& scope);
  Value eval_binary(const BinaryExpr& expr, const ScopePtr& scope);
  Value eval_compare(const CompareExpr& expr, const ScopePtr& scope);
  Value eval_slice(const SliceExpr& expr, const ScopePtr& scope);
  Value eval_filter(const FilterExpr& expr, const ScopePtr& scope, const Value* block_text);
  CallArgs eval_args(const ArgExprs& args, const ScopePtr& scope);

  Limits limits_;
  Budget budget_;
  std::string name_;  // the template's, for error positions
  int depth_ = 0;
  // Every namespace made during the render: cleared at the end, since a namespace may hold
  // itself and shared pointers would then never free it.
  std::vector<std::shared_ptr<Namespace>> namespaces_;
};

// The items a for loop visits: a list's items, a dict's keys, a string's characters; none for
// Undefined. Error for values that are not iterable.
List iterate(const Value& value, std::string_view where);
// Python's len(); Error for values without one.
size_t length_of(const Value& value, std::string_view where);
// `needle in haystack`
bool contains(const Value& haystack, const Value& needle);
// Error when an Undefined is used as a value.
void require_defined(const Value& value);

// Filters (`x | name(args)`) and tests (`x is name(args)`); Error for unknown names.
Value apply_filter(const std::string& name, const Value& operand, CallArgs args,
                   Renderer& renderer);
bool apply_test(const std::string& name, const Value& operand, CallArgs args, Renderer& renderer);
bool is_known_filter(std::string_view name);
bool is_known_test(std::string_view name);

// Methods on strings, dicts and lists (`s.startswith(...)`, `d.items()`), as bound callables;
// Undefined when the type has no such method.
Value method(const Value& object, const std::string& name);
// range, dict, namespace.
void add_builtin_globals(Scope& scope);

// Python's binary operators on values (`+ - * / // % **`), Error as Python raises TypeError.
Value arithmetic(BinaryExpr::Op op, const Value& left, const Value& right, Renderer& renderer);

}  // namespace bantam::jinja
