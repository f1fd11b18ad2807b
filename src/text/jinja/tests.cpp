// jinja2's built-in tests: `x is defined`, `x is string`, `x is divisibleby 3`, ...
#include <fmt/format.h>

#include <cmath>
#include <unordered_map>

#include "bantam/error.hpp"
#include "text/jinja/renderer.hpp"
#include "text/jinja/unicode.hpp"

namespace bantam::jinja {
namespace {

using TestFn = bool (*)(const Value& value, CallArgs& args, Renderer& renderer);

Value only_arg(const char* test, CallArgs& args) { return bind_args(test, args, {"other"}, 1)[0]; }

template <Value::Type T>
bool is_type(const Value& v, CallArgs& args, Renderer&) {
  bind_args("type test", args, {});
  return v.type() == T;
}

bool test_defined(const Value& v, CallArgs& args, Renderer&) {
  bind_args("defined", args, {});
  return !v.is_undefined();
}

bool test_undefined(const Value& v, CallArgs& args, Renderer&) {
  bind_args("undefined", args, {});
  return v.is_undefined();
}

bool test_true(const Value& v, CallArgs& args, Renderer&) {
  bind_args("true", args, {});
  return v.type() == Value::Type::Bool && v.as_bool();
}

bool test_false(const Value& v, CallArgs& args, Renderer&) {
  bind_args("false", args, {});
  return v.type() == Value::Type::Bool && !v.as_bool();
}

bool test_number(const Value& v, CallArgs& args, Renderer&) {
  bind_args("number", args, {});
  return v.is_number();
}

// Undefined counts: jinja2's Undefined is an empty iterable.
bool test_iterable(const Value& v, CallArgs& args, Renderer&) {
  bind_args("iterable", args, {});
  return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
}

bool test_sequence(const Value& v, CallArgs& args, Renderer& r) {
  return test_iterable(v, args, r);
}

bool test_callable(const Value& v, CallArgs& args, Renderer&) {
  bind_args("callable", args, {});
  return v.type() == Value::Type::Callable;
}

bool test_equal(const Value& v, CallArgs& args, Renderer&) {
  return equals(v, only_arg("eq", args));
}
bool test_not_equal(const Value& v, CallArgs& args, Renderer&) {
  return !equals(v, only_arg("ne", args));
}

int ordered(const Value& v, CallArgs& args, const char* test) {
  const Value other = only_arg(test, args);
  require_defined(v);
  require_defined(other);
  return compare(v, other, test);
}

bool test_less(const Value& v, CallArgs& args, Renderer&) { return ordered(v, args, "lt") < 0; }
bool test_less_equal(const Value& v, CallArgs& args, Renderer&) {
  return ordered(v, args, "le") <= 0;
}
bool test_greater(const Value& v, CallArgs& args, Renderer&) { return ordered(v, args, "gt") > 0; }
bool test_greater_equal(const Value& v, CallArgs& args, Renderer&) {
  return ordered(v, args, "ge") >= 0;
}

// Python's `is`: the same None or bool, the same shared object, or equal plain numbers/strings
// (which Python would often, though not always, intern).
bool test_sameas(const Value& v, CallArgs& args, Renderer&) {
  const Value other = only_arg("sameas", args);
  if (v.type() != other.type()) return false;
  switch (v.type()) {
    case Value::Type::List: return &v.as_list() == &other.as_list();
    case Value::Type::Dict: return &v.as_dict() == &other.as_dict();
    default: return equals(v, other);
  }
}

bool test_in(const Value& v, CallArgs& args, Renderer&) {
  return contains(only_arg("in", args), v);
}

int64_t remainder(const Value& v, const Value& divisor, const char* test) {
  require_defined(v);
  if (!v.is_number() || !divisor.is_number()) {
    throw Error(fmt::format("{}: needs numbers, not '{}' and '{}'", test, v.type_name(),
                            divisor.type_name()));
  }
  if (divisor.as_double() == 0) throw Error(fmt::format("{}: division by zero", test));
  if (v.is_integer() && divisor.is_integer()) {
    if (divisor.as_int() == -1) return 0;
    return v.as_int() % divisor.as_int();
  }
  return std::fmod(v.as_double(), divisor.as_double()) == 0 ? 0 : 1;
}

bool test_divisibleby(const Value& v, CallArgs& args, Renderer&) {
  return remainder(v, only_arg("divisibleby", args), "divisibleby") == 0;
}

bool test_even(const Value& v, CallArgs& args, Renderer&) {
  bind_args("even", args, {});
  return remainder(v, Value::integer(2), "even") == 0;
}

bool test_odd(const Value& v, CallArgs& args, Renderer&) {
  bind_args("odd", args, {});
  return remainder(v, Value::integer(2), "odd") != 0;
}

bool test_lower(const Value& v, CallArgs& args, Renderer&) {
  bind_args("lower", args, {});
  const std::string text = to_str(v);
  return unicode::lower(text) == text && unicode::upper(text) != text;
}

bool test_upper(const Value& v, CallArgs& args, Renderer&) {
  bind_args("upper", args, {});
  const std::string text = to_str(v);
  return unicode::upper(text) == text && unicode::lower(text) != text;
}

bool test_escaped(const Value&, CallArgs& args, Renderer&) {
  bind_args("escaped", args, {});
  return false;  // no autoescaping, so nothing is ever marked safe
}

bool test_filter(const Value& v, CallArgs& args, Renderer&) {
  bind_args("filter", args, {});
  return v.is_string() && is_known_filter(v.as_string());
}

bool test_test(const Value& v, CallArgs& args, Renderer&) {
  bind_args("test", args, {});
  return v.is_string() && is_known_test(v.as_string());
}

bool test_integer(const Value& v, CallArgs& args, Renderer&) {
  bind_args("integer", args, {});
  return v.type() == Value::Type::Int;
}

const std::unordered_map<std::string_view, TestFn>& test_table() {
  static const std::unordered_map<std::string_view, TestFn> table = {
      {"defined", test_defined},
      {"undefined", test_undefined},
      {"none", is_type<Value::Type::None>},
      {"boolean", is_type<Value::Type::Bool>},
      {"true", test_true},
      {"false", test_false},
      {"integer", test_integer},
      {"float", is_type<Value::Type::Float>},
      {"number", test_number},
      {"string", is_type<Value::Type::String>},
      {"mapping", is_type<Value::Type::Dict>},
      {"iterable", test_iterable},
      {"sequence", test_sequence},
      {"callable", test_callable},
      {"eq", test_equal},
      {"equalto", test_equal},
      {"==", test_equal},
      {"ne", test_not_equal},
      {"!=", test_not_equal},
      {"lt", test_less},
      {"lessthan", test_less},
      {"<", test_less},
      {"le", test_less_equal},
      {"<=", test_less_equal},
      {"gt", test_greater},
      {"greaterthan", test_greater},
      {">", test_greater},
      {"ge", test_greater_equal},
      {">=", test_greater_equal},
      {"sameas", test_sameas},
      {"in", test_in},
      {"divisibleby", test_divisibleby},
      {"even", test_even},
      {"odd", test_odd},
      {"lower", test_lower},
      {"upper", test_upper},
      {"escaped", test_escaped},
      {"filter", test_filter},
      {"test", test_test},
  };
  return table;
}

}  // namespace

bool is_known_test(std::string_view name) { return test_table().count(name) != 0; }

bool apply_test(const std::string& name, const Value& operand, CallArgs args, Renderer& renderer) {
  const auto it = test_table().find(name);
  if (it == test_table().end()) throw Error(fmt::format("no test named '{}'", name));
  return it->second(operand, args, renderer);
}

}  // namespace bantam::jinja
