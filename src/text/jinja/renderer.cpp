#include "text/jinja/renderer.hpp"

#include <fmt/format.h>

#include <optional>
#include <utility>

#include "bantam/error.hpp"
#include "text/jinja/parser.hpp"
#include "text/jinja/unicode.hpp"

namespace bantam::jinja {
namespace {

// An Error that already names its template position, so outer nodes pass it on unchanged.
class LocatedError : public Error {
 public:
  using Error::Error;
};

[[noreturn]] void rethrow_located(const Error& error, const std::string& name, SourcePos pos) {
  throw LocatedError(fmt::format("{}:{}:{}: {}", name, pos.line, pos.column, error.what()));
}

// `{% macro %}`: a callable that renders its body; it sees the scope it was defined in.
class MacroFunction : public Callable {
 public:
  MacroFunction(const MacroStmt& stmt, std::weak_ptr<Scope> scope)
      : stmt_(stmt), scope_(std::move(scope)) {}
  Value call(CallArgs args, Renderer& renderer) const override {
    return renderer.call_macro(stmt_.name, stmt_.params, stmt_.body, scope_, std::move(args));
  }
  const std::string& name() const override { return stmt_.name; }

 private:
  const MacroStmt& stmt_;
  std::weak_ptr<Scope> scope_;  // weak: the scope holds this macro, a cycle otherwise
};

// `caller()` inside a macro invoked by `{% call %}`: renders the call block's body.
class CallerFunction : public Callable {
 public:
  CallerFunction(const CallBlockStmt& stmt, std::weak_ptr<Scope> scope)
      : stmt_(stmt), scope_(std::move(scope)) {}
  Value call(CallArgs args, Renderer& renderer) const override {
    return renderer.call_macro(name(), stmt_.caller_params, stmt_.body, scope_, std::move(args));
  }
  const std::string& name() const override {
    static const std::string caller = "caller";
    return caller;
  }

 private:
  const CallBlockStmt& stmt_;
  std::weak_ptr<Scope> scope_;
};

// A string's character offsets, 8 bytes per byte of text: checked against the memory budget.
std::vector<size_t> char_offsets(const std::string& text, std::string_view what) {
  require_memory((text.size() + 1) * sizeof(size_t), what);
  charge_copy(text.size());
  return unicode::char_offsets(text);
}

std::string python_type_object(const Value& value) {
  return fmt::format("'{} object'", value.type_name());
}

}  // namespace

const Value* Scope::find(std::string_view name) const {
  for (const Scope* scope = this; scope; scope = scope->parent.get()) {
    for (const auto& [key, value] : scope->vars) {
      if (key == name) return &value;
    }
  }
  return nullptr;
}

void Scope::set(const std::string& name, Value value) {
  for (auto& [key, existing] : vars) {
    if (key == name) {
      existing = std::move(value);
      return;
    }
  }
  vars.emplace_back(name, std::move(value));
}

Value native_function(std::string name, NativeFunction::Fn fn) {
  return Value::callable(std::make_shared<NativeFunction>(std::move(name), std::move(fn)));
}

Template::Template(std::string_view source, const LexOptions& options)
    : body_(parse_template(source, options)), name_(options.name) {}

std::string Template::render(const Dict& variables, const Limits& limits,
                             RenderStats* stats) const {
  auto globals = std::make_shared<Scope>();
  add_builtin_globals(*globals);
  for (const auto& [key, value] : variables.entries()) {
    if (!key.is_string()) throw Error("template variables must have string names");
    globals->set(key.as_string(), value);
  }
  Renderer renderer(limits, name_);
  const auto report = [&] {
    if (stats) *stats = {renderer.budget().peak_bytes(), renderer.budget().steps()};
  };
  try {
    std::string out = renderer.render(body_, globals);
    report();
    return out;
  } catch (...) {
    report();
    throw;
  }
}

class Renderer::DepthGuard {
 public:
  explicit DepthGuard(Renderer& renderer) : renderer_(renderer) {
    if (++renderer_.depth_ > renderer_.limits_.max_depth) {
      --renderer_.depth_;
      throw Error(
          fmt::format("template nests deeper than {} levels while rendering "
                      "(a macro calling itself?)",
                      renderer_.limits_.max_depth));
    }
  }
  ~DepthGuard() { --renderer_.depth_; }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;

 private:
  Renderer& renderer_;
};

Renderer::~Renderer() {
  for (const auto& ns : namespaces_) ns->attributes = Dict();
}

void Output::append(std::string_view text) {
  budget_.allocate(text.size(), "template output");
  budget_.step(text.size() / 16);
  text_.append(text);
}

std::string Output::take() {
  std::string text = std::exchange(text_, {});
  budget_.release(text.size());
  return text;
}

std::string Renderer::render(const Body& body, const ScopePtr& globals) {
  const BudgetScope current(budget_);
  Output out(budget_);
  exec(body, std::make_shared<Scope>(globals), out);
  return out.take();
}

void Renderer::charge(uint64_t steps, uint64_t bytes_or_items) {
  budget_.step(steps + bytes_or_items / 16);
}

std::shared_ptr<Namespace> Renderer::new_namespace(size_t entries) {
  charge(1);
  // Namespaces live until the render ends (see namespaces_), so their memory is never released.
  budget_.allocate(dict_cost(entries), "namespace()");
  namespaces_.push_back(std::make_shared<Namespace>());
  return namespaces_.back();
}

Renderer::Flow Renderer::exec(const Body& body, const ScopePtr& scope, Output& out) {
  DepthGuard guard(*this);
  for (const auto& stmt : body) {
    Flow flow;
    try {
      charge(1);
      flow = exec_stmt(*stmt, scope, out);
    } catch (const LocatedError&) {
      throw;
    } catch (const Error& e) {
      rethrow_located(e, name_, stmt->pos);
    }
    if (flow != Flow::Normal) return flow;
  }
  return Flow::Normal;
}

Renderer::Flow Renderer::exec_stmt(const Stmt& stmt, const ScopePtr& scope, Output& out) {
  switch (stmt.kind) {
    case Stmt::Kind::Text:
      out.append(static_cast<const TextStmt&>(stmt).text);
      return Flow::Normal;
    case Stmt::Kind::Output:
      out.append(to_str(eval(*static_cast<const OutputStmt&>(stmt).expr, scope)));
      return Flow::Normal;
    case Stmt::Kind::If: {
      const auto& s = static_cast<const IfStmt&>(stmt);
      for (const auto& [condition, body] : s.branches) {
        if (eval(*condition, scope).truthy()) return exec(body, scope, out);
      }
      return exec(s.otherwise, scope, out);
    }
    case Stmt::Kind::For: return exec_for(static_cast<const ForStmt&>(stmt), scope, out);
    case Stmt::Kind::Set: {
      const auto& s = static_cast<const SetStmt&>(stmt);
      assign(s.target, eval(*s.value, scope), scope);
      return Flow::Normal;
    }
    case Stmt::Kind::SetBlock: {
      const auto& s = static_cast<const SetBlockStmt&>(stmt);
      Output text(budget_);
      const Flow flow = exec(s.body, std::make_shared<Scope>(scope), text);
      Value value = Value::string(text.take());
      if (s.filter) value = eval_filter(static_cast<const FilterExpr&>(*s.filter), scope, &value);
      assign(s.target, std::move(value), scope);
      return flow;
    }
    case Stmt::Kind::Macro: {
      const auto& s = static_cast<const MacroStmt&>(stmt);
      scope->set(s.name, Value::callable(std::make_shared<MacroFunction>(s, scope)));
      return Flow::Normal;
    }
    case Stmt::Kind::CallBlock:
      exec_call_block(static_cast<const CallBlockStmt&>(stmt), scope, out);
      return Flow::Normal;
    case Stmt::Kind::FilterBlock: {
      const auto& s = static_cast<const FilterBlockStmt&>(stmt);
      Output text(budget_);
      const Flow flow = exec(s.body, scope, text);
      const Value body_text = Value::string(text.take());
      out.append(to_str(eval_filter(static_cast<const FilterExpr&>(*s.filter), scope, &body_text)));
      return flow;
    }
    case Stmt::Kind::With: {
      const auto& s = static_cast<const WithStmt&>(stmt);
      auto inner = std::make_shared<Scope>(scope);
      for (const auto& [target, value] : s.assignments) assign(target, eval(*value, scope), inner);
      return exec(s.body, inner, out);
    }
    case Stmt::Kind::Scope: return exec(static_cast<const ScopeStmt&>(stmt).body, scope, out);
    case Stmt::Kind::Break: return Flow::Break;
    case Stmt::Kind::Continue: return Flow::Continue;
  }
  return Flow::Normal;
}

namespace {

// What one iteration costs of the step budget: building its `loop` object takes about as long as
// evaluating eight expressions.
constexpr uint64_t kLoopIterationSteps = 8;

// jinja2's `loop` object for iteration `index` of `items`.
Value make_loop(size_t index, const List& items,
                const std::shared_ptr<std::optional<List>>& changed_state) {
  const auto n = static_cast<int64_t>(items.size());
  const auto i = static_cast<int64_t>(index);
  Dict loop;
  loop.append_unique(Value::string("index0"), Value::integer(i));
  loop.append_unique(Value::string("index"), Value::integer(i + 1));
  loop.append_unique(Value::string("revindex0"), Value::integer(n - i - 1));
  loop.append_unique(Value::string("revindex"), Value::integer(n - i));
  loop.append_unique(Value::string("first"), Value::boolean(i == 0));
  loop.append_unique(Value::string("last"), Value::boolean(i == n - 1));
  loop.append_unique(Value::string("length"), Value::integer(n));
  loop.append_unique(Value::string("depth"), Value::integer(1));
  loop.append_unique(Value::string("depth0"), Value::integer(0));
  loop.append_unique(Value::string("previtem"),
                     i > 0 ? items[index - 1] : Value::undefined("there is no previous item"));
  loop.append_unique(Value::string("nextitem"),
                     i + 1 < n ? items[index + 1] : Value::undefined("there is no next item"));
  loop.append_unique(Value::string("cycle"),
                     native_function("loop.cycle", [index](CallArgs& args, Renderer&) {
                       if (args.positional.empty()) throw Error("loop.cycle: no items to cycle");
                       return args.positional[index % args.positional.size()];
                     }));
  loop.append_unique(Value::string("changed"),
                     native_function("loop.changed", [changed_state](CallArgs& args, Renderer&) {
                       const Value now = Value::list(args.positional);
                       const bool changed = !changed_state->has_value() ||
                                            !equals(Value::list(**changed_state), now);
                       *changed_state = std::move(args.positional);
                       return Value::boolean(changed);
                     }));
  return Value::dict(std::move(loop));
}

}  // namespace

Renderer::Flow Renderer::exec_for(const ForStmt& stmt, const ScopePtr& scope, Output& out) {
  List items = iterate(eval(*stmt.iterable, scope), "for loop");
  if (stmt.condition) {
    List kept;
    for (auto& item : items) {
      charge(1);
      auto filter_scope = std::make_shared<Scope>(scope);
      assign(stmt.target, item, filter_scope);
      if (eval(*stmt.condition, filter_scope).truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  // `break` in the else branch belongs to an enclosing loop.
  if (items.empty()) return exec(stmt.otherwise, std::make_shared<Scope>(scope), out);
  auto changed_state = std::make_shared<std::optional<List>>();
  for (size_t i = 0; i < items.size(); ++i) {
    charge(kLoopIterationSteps);
    // Each iteration starts from the enclosing variables: jinja2 does not carry a `set` in the
    // body over to the next iteration.
    auto iteration_scope = std::make_shared<Scope>(scope);
    assign(stmt.target, items[i], iteration_scope);
    iteration_scope->set("loop", make_loop(i, items, changed_state));
    if (exec(stmt.body, iteration_scope, out) == Flow::Break) break;
  }
  return Flow::Normal;
}

void Renderer::exec_call_block(const CallBlockStmt& stmt, const ScopePtr& scope, Output& out) {
  const auto& call = static_cast<const CallExpr&>(*stmt.call);
  const Value callee = eval(*call.callee, scope);
  CallArgs args = eval_args(call.args, scope);
  args.keyword.emplace_back("caller",
                            Value::callable(std::make_shared<CallerFunction>(stmt, scope)));
  out.append(to_str(this->call(callee, std::move(args))));
}

void Renderer::assign(const AssignTarget& target, Value value, const ScopePtr& scope) {
  if (!target.namespace_attribute.empty()) {
    const Value* object = scope->find(target.names[0]);
    if (!object || object->type() != Value::Type::Namespace) {
      throw Error(fmt::format("cannot set '{}.{}': '{}' is not a namespace()", target.names[0],
                              target.namespace_attribute, target.names[0]));
    }
    object->as_namespace().attributes.set(Value::string(target.namespace_attribute),
                                          std::move(value));
    return;
  }
  if (!target.unpack) {
    scope->set(target.names[0], std::move(value));
    return;
  }
  const List items = iterate(value, "unpacking");
  if (items.size() != target.names.size()) {
    throw Error(
        fmt::format("cannot unpack {} values into {} names", items.size(), target.names.size()));
  }
  for (size_t i = 0; i < items.size(); ++i) scope->set(target.names[i], items[i]);
}

Value Renderer::call_macro(const std::string& name, const std::vector<MacroParam>& params,
                           const Body& body, const std::weak_ptr<Scope>& parent, CallArgs args) {
  const ScopePtr defining_scope = parent.lock();
  if (!defining_scope) {
    throw Error(fmt::format("macro '{}' called after the block that defined it ended", name));
  }
  DepthGuard guard(*this);
  auto scope = std::make_shared<Scope>(defining_scope);
  if (args.positional.size() > params.size()) {
    throw Error(fmt::format("macro '{}' takes at most {} arguments, {} given", name, params.size(),
                            args.positional.size()));
  }
  std::vector<bool> given(params.size(), false);
  for (size_t i = 0; i < args.positional.size(); ++i) {
    scope->set(params[i].name, std::move(args.positional[i]));
    given[i] = true;
  }
  for (auto& [key, value] : args.keyword) {
    size_t i = 0;
    while (i < params.size() && params[i].name != key) ++i;
    if (i < params.size()) {
      if (given[i]) throw Error(fmt::format("macro '{}' got '{}' twice", name, key));
      given[i] = true;
      scope->set(key, std::move(value));
    } else if (key == "caller") {
      scope->set(key, std::move(value));
    } else {
      throw Error(fmt::format("macro '{}' has no parameter '{}'", name, key));
    }
  }
  for (size_t i = 0; i < params.size(); ++i) {
    if (given[i]) continue;
    scope->set(params[i].name, params[i].default_value ? eval(*params[i].default_value, scope)
                                                       : Value::undefined(fmt::format(
                                                             "'{}' is undefined", params[i].name)));
  }
  Output out(budget_);
  exec(body, scope, out);
  return Value::string(out.take());
}

Value Renderer::call(const Value& callee, CallArgs args) {
  if (callee.type() == Value::Type::Callable)
    return callee.as_callable().call(std::move(args), *this);
  require_defined(callee);
  throw Error(fmt::format("{} is not callable", python_type_object(callee)));
}

Value Renderer::get_attribute(const Value& object, const std::string& name) {
  require_defined(object);
  switch (object.type()) {
    case Value::Type::Dict: {
      Value bound = method(object, name);
      if (!bound.is_undefined()) return bound;  // Python's getattr comes before the item
      if (const Value* item = object.as_dict().find(name)) return *item;
      break;
    }
    case Value::Type::Namespace:
      if (const Value* item = object.as_namespace().attributes.find(name)) return *item;
      break;
    default: {
      Value bound = method(object, name);
      if (!bound.is_undefined()) return bound;
    }
  }
  return Value::undefined(
      fmt::format("{} has no attribute '{}'", python_type_object(object), name));
}

Value Renderer::get_item(const Value& object, const Value& key) {
  require_defined(object);
  if ((object.is_list() || object.is_string()) && key.is_integer()) {
    int64_t index = key.as_int();
    if (object.is_list()) {
      const auto& items = object.as_list();
      const auto n = static_cast<int64_t>(items.size());
      if (index < 0) index += n;
      if (index >= 0 && index < n) return items[static_cast<size_t>(index)];
    } else {
      const auto offsets = char_offsets(object.as_string(), "indexing a string");
      const auto n = static_cast<int64_t>(offsets.size()) - 1;
      if (index < 0) index += n;
      if (index >= 0 && index < n) {
        const auto i = static_cast<size_t>(index);
        return Value::string(object.as_string().substr(offsets[i], offsets[i + 1] - offsets[i]));
      }
    }
  } else if (object.is_dict()) {
    if (const Value* item = object.as_dict().find(key)) return *item;
  }
  // jinja2 falls back to the attribute when the item is missing.
  if (key.is_string()) return get_attribute(object, key.as_string());
  return Value::undefined(
      fmt::format("{} has no element {}", python_type_object(object), repr(key)));
}

CallArgs Renderer::eval_args(const ArgExprs& args, const ScopePtr& scope) {
  CallArgs out;
  out.positional.reserve(args.positional.size());
  for (const auto& arg : args.positional) out.positional.push_back(eval(*arg, scope));
  for (const auto& [name, arg] : args.keyword) out.keyword.emplace_back(name, eval(*arg, scope));
  return out;
}

Value Renderer::eval(const Expr& expr, const ScopePtr& scope) {
  try {
    DepthGuard guard(*this);
    charge(1);
    return eval_node(expr, scope);
  } catch (const LocatedError&) {
    throw;
  } catch (const Error& e) {
    rethrow_located(e, name_, expr.pos);
  }
}

Value Renderer::eval_node(const Expr& expr, const ScopePtr& scope) {
  switch (expr.kind) {
    case Expr::Kind::Literal: return static_cast<const LiteralExpr&>(expr).value;
    case Expr::Kind::Name: {
      const auto& name = static_cast<const NameExpr&>(expr).name;
      if (const Value* value = scope->find(name)) return *value;
      return Value::undefined(fmt::format("'{}' is undefined", name));
    }
    case Expr::Kind::GetAttr: {
      const auto& e = static_cast<const GetAttrExpr&>(expr);
      return get_attribute(eval(*e.object, scope), e.attribute);
    }
    case Expr::Kind::GetItem: {
      const auto& e = static_cast<const GetItemExpr&>(expr);
      const Value object = eval(*e.object, scope);
      return get_item(object, eval(*e.index, scope));
    }
    case Expr::Kind::Slice: return eval_slice(static_cast<const SliceExpr&>(expr), scope);
    case Expr::Kind::Call: {
      const auto& e = static_cast<const CallExpr&>(expr);
      const Value callee = eval(*e.callee, scope);
      return call(callee, eval_args(e.args, scope));
    }
    case Expr::Kind::Filter:
      return eval_filter(static_cast<const FilterExpr&>(expr), scope, nullptr);
    case Expr::Kind::Test: {
      const auto& e = static_cast<const TestExpr&>(expr);
      const Value operand = eval(*e.operand, scope);
      const bool result = apply_test(e.name, operand, eval_args(e.args, scope), *this);
      return Value::boolean(result != e.negated);
    }
    case Expr::Kind::Unary: {
      const auto& e = static_cast<const UnaryExpr&>(expr);
      const Value operand = eval(*e.operand, scope);
      if (e.op == UnaryExpr::Op::Not) return Value::boolean(!operand.truthy());
      require_defined(operand);
      if (!operand.is_number()) {
        throw Error(fmt::format("bad operand type for unary {}: '{}'",
                                e.op == UnaryExpr::Op::Negate ? '-' : '+', operand.type_name()));
      }
      if (e.op == UnaryExpr::Op::Plus) {
        return operand.type() == Value::Type::Bool ? Value::integer(operand.as_int()) : operand;
      }
      if (operand.type() == Value::Type::Float) return Value::number(-operand.as_double());
      return arithmetic(BinaryExpr::Op::Subtract, Value::integer(0), operand, *this);
    }
    case Expr::Kind::Binary: return eval_binary(static_cast<const BinaryExpr&>(expr), scope);
    case Expr::Kind::Compare: return eval_compare(static_cast<const CompareExpr&>(expr), scope);
    case Expr::Kind::Conditional: {
      const auto& e = static_cast<const ConditionalExpr&>(expr);
      if (eval(*e.condition, scope).truthy()) return eval(*e.then, scope);
      if (e.otherwise) return eval(*e.otherwise, scope);
      return Value::undefined("the condition was false and there is no else branch");
    }
    case Expr::Kind::ListLiteral: {
      const auto& e = static_cast<const ListLiteralExpr&>(expr);
      List items;
      items.reserve(e.items.size());
      for (const auto& item : e.items) items.push_back(eval(*item, scope));
      return Value::list(std::move(items), e.tuple);
    }
    case Expr::Kind::DictLiteral: {
      const auto& e = static_cast<const DictLiteralExpr&>(expr);
      Dict dict;
      for (const auto& [key_expr, value_expr] : e.items) {
        Value key = eval(*key_expr, scope);
        if (key.is_list() && !key.is_tuple()) throw Error("unhashable type: 'list' as a dict key");
        if (key.is_dict()) throw Error("unhashable type: 'dict' as a dict key");
        dict.set(std::move(key), eval(*value_expr, scope));
      }
      return Value::dict(std::move(dict));
    }
  }
  throw Error("unknown expression");
}

Value Renderer::eval_binary(const BinaryExpr& expr, const ScopePtr& scope) {
  Value left = eval(*expr.left, scope);
  switch (expr.op) {
    case BinaryExpr::Op::And: return left.truthy() ? eval(*expr.right, scope) : left;
    case BinaryExpr::Op::Or: return left.truthy() ? left : eval(*expr.right, scope);
    case BinaryExpr::Op::Concat: {
      std::string text = to_str(left);
      const std::string right = to_str(eval(*expr.right, scope));
      require_memory(string_cost(text.size() + right.size()), "'~' concatenation");
      charge(0, text.size() + right.size());
      return Value::string(text + right);
    }
    default: return arithmetic(expr.op, left, eval(*expr.right, scope), *this);
  }
}

Value Renderer::eval_compare(const CompareExpr& expr, const ScopePtr& scope) {
  Value left = eval(*expr.first, scope);
  for (const auto& [op, right_expr] : expr.rest) {
    Value right = eval(*right_expr, scope);
    bool holds = false;
    switch (op) {
      case CompareExpr::Op::Equal: holds = equals(left, right); break;
      case CompareExpr::Op::NotEqual: holds = !equals(left, right); break;
      case CompareExpr::Op::In: holds = contains(right, left); break;
      case CompareExpr::Op::NotIn: holds = !contains(right, left); break;
      default: {
        require_defined(left);
        require_defined(right);
        const int c = compare(left, right, "comparison");
        holds = op == CompareExpr::Op::Less        ? c < 0
                : op == CompareExpr::Op::LessEqual ? c <= 0
                : op == CompareExpr::Op::Greater   ? c > 0
                                                   : c >= 0;
      }
    }
    if (!holds) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

namespace {

std::optional<int64_t> slice_bound(const Value& value) {
  if (value.is_none()) return std::nullopt;
  if (!value.is_integer()) {
    throw Error(fmt::format("slice indices must be integers or None, not '{}'", value.type_name()));
  }
  return value.as_int();
}

// Python's slice.indices(): the positions a[start:stop:step] visits, checked against the memory
// budget (the positions and the items they pick) before they are listed.
std::vector<size_t> slice_positions(std::optional<int64_t> start, std::optional<int64_t> stop,
                                    std::optional<int64_t> step_value, size_t size) {
  const int64_t step = step_value.value_or(1);
  if (step == 0) throw Error("slice step cannot be zero");
  const auto n = static_cast<int64_t>(size);
  const int64_t lower = step > 0 ? 0 : -1;
  const int64_t upper = step > 0 ? n : n - 1;
  const auto clamp = [&](std::optional<int64_t> bound, int64_t fallback) {
    if (!bound) return fallback;
    int64_t v = *bound;
    if (v < 0) v = v < -n ? lower : std::max(v + n, lower);
    return std::min(std::max(v, lower), upper);
  };
  const int64_t first = clamp(start, step > 0 ? lower : upper);
  const int64_t last = clamp(stop, step > 0 ? upper : lower);
  const int64_t span = step > 0 ? last - first : first - last;
  const uint64_t stride = step > 0 ? static_cast<uint64_t>(step) : 0 - static_cast<uint64_t>(step);
  const size_t count = span > 0 ? (static_cast<uint64_t>(span) - 1) / stride + 1 : 0;
  require_memory(count * (sizeof(size_t) + sizeof(Value)), "slicing");
  charge_copy(count);
  std::vector<size_t> positions;
  positions.reserve(count);
  for (int64_t i = first; step > 0 ? i < last : i > last;) {
    positions.push_back(static_cast<size_t>(i));
    if (__builtin_add_overflow(i, step, &i)) break;
  }
  return positions;
}

}  // namespace

Value Renderer::eval_slice(const SliceExpr& expr, const ScopePtr& scope) {
  const Value object = eval(*expr.object, scope);
  const auto bound = [&](const ExprPtr& e) {
    return e ? slice_bound(eval(*e, scope)) : std::nullopt;
  };
  const auto start = bound(expr.start);
  const auto stop = bound(expr.stop);
  const auto step = bound(expr.step);
  require_defined(object);
  if (object.is_list()) {
    const auto& items = object.as_list();
    List out;
    for (size_t i : slice_positions(start, stop, step, items.size())) out.push_back(items[i]);
    charge(0, out.size());
    return Value::list(std::move(out), object.is_tuple());
  }
  if (object.is_string()) {
    const std::string& text = object.as_string();
    const auto offsets = char_offsets(text, "slicing a string");
    std::string out;
    for (size_t i : slice_positions(start, stop, step, offsets.size() - 1)) {
      out.append(text, offsets[i], offsets[i + 1] - offsets[i]);
    }
    charge(0, out.size());
    return Value::string(std::move(out));
  }
  // jinja2 turns the TypeError of slicing other objects into Undefined.
  return Value::undefined(fmt::format("{} cannot be sliced", python_type_object(object)));
}

Value Renderer::eval_filter(const FilterExpr& expr, const ScopePtr& scope,
                            const Value* block_text) {
  Value operand;
  if (!expr.operand) {
    operand = *block_text;
  } else if (expr.operand->kind == Expr::Kind::Filter && block_text) {
    operand = eval_filter(static_cast<const FilterExpr&>(*expr.operand), scope, block_text);
  } else {
    operand = eval(*expr.operand, scope);
  }
  Value result = apply_filter(expr.name, operand, eval_args(expr.args, scope), *this);
  if (result.is_string()) charge(0, result.as_string().size());
  if (result.is_list()) charge(0, result.as_list().size());
  return result;
}

}  // namespace bantam::jinja
