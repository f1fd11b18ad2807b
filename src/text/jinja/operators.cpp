// Python semantics of the operators and protocols templates use: arithmetic, iteration, len(),
// `in`. Errors read like the TypeErrors Python would raise.
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "bantam/error.hpp"
#include "text/jinja/budget.hpp"
#include "text/jinja/renderer.hpp"
#include "text/jinja/unicode.hpp"

namespace bantam::jinja {

void require_defined(const Value& value) {
  if (value.is_undefined()) throw Error(value.undefined_reason());
}

List iterate(const Value& value, std::string_view where) {
  // The copy made here is checked and counted as a list would be: iterating a big string makes
  // a value per character.
  const size_t items = value.is_string()   ? value.as_string().size()
                       : value.is_list()   ? value.as_list().size()
                       : value.is_dict()   ? value.as_dict().size()
                                           : 0;
  require_memory(list_cost(items), where);
  charge_copy(items);
  switch (value.type()) {
    case Value::Type::Undefined: return {};
    case Value::Type::List: return value.as_list();
    case Value::Type::Dict: {
      List keys;
      keys.reserve(value.as_dict().size());
      for (const auto& [key, item] : value.as_dict().entries()) keys.push_back(key);
      return keys;
    }
    case Value::Type::String: {
      List chars;
      const std::string& text = value.as_string();
      unicode::for_each_char(text, [&](char32_t, size_t pos, size_t length) {
        chars.push_back(Value::string(text.substr(pos, length)));
      });
      return chars;
    }
    default: throw Error(fmt::format("{}: '{}' object is not iterable", where, value.type_name()));
  }
}

size_t length_of(const Value& value, std::string_view where) {
  switch (value.type()) {
    case Value::Type::Undefined: return 0;
    case Value::Type::String: return unicode::char_count(value.as_string());
    case Value::Type::List: return value.as_list().size();
    case Value::Type::Dict: return value.as_dict().size();
    default:
      throw Error(fmt::format("{}: object of type '{}' has no len()", where, value.type_name()));
  }
}

bool contains(const Value& haystack, const Value& needle) {
  switch (haystack.type()) {
    case Value::Type::Undefined: return false;
    case Value::Type::String:
      if (!needle.is_string()) {
        throw Error(fmt::format("'in <string>' requires a string on the left, not '{}'",
                                needle.type_name()));
      }
      charge_copy(haystack.as_string().size());
      return haystack.as_string().find(needle.as_string()) != std::string::npos;
    case Value::Type::List:
      charge_copy(haystack.as_list().size());
      for (const auto& item : haystack.as_list()) {
        if (equals(item, needle)) return true;
      }
      return false;
    case Value::Type::Dict: return haystack.as_dict().find(needle) != nullptr;
    default:
      throw Error(fmt::format("argument of type '{}' is not iterable", haystack.type_name()));
  }
}

namespace {

std::string_view symbol(BinaryExpr::Op op) {
  switch (op) {
    case BinaryExpr::Op::Add: return "+";
    case BinaryExpr::Op::Subtract: return "-";
    case BinaryExpr::Op::Multiply: return "*";
    case BinaryExpr::Op::Divide: return "/";
    case BinaryExpr::Op::FloorDivide: return "//";
    case BinaryExpr::Op::Modulo: return "%";
    case BinaryExpr::Op::Power: return "**";
    default: return "?";
  }
}

[[noreturn]] void unsupported(BinaryExpr::Op op, const Value& a, const Value& b) {
  throw Error(fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", symbol(op),
                          a.type_name(), b.type_name()));
}

[[noreturn]] void overflow(BinaryExpr::Op op) {
  throw Error(fmt::format("integer overflow in '{}'", symbol(op)));
}

Value integer_power(int64_t base, int64_t exponent) {
  int64_t result = 1;
  while (exponent > 0) {
    if (exponent & 1) {
      if (__builtin_mul_overflow(result, base, &result)) overflow(BinaryExpr::Op::Power);
    }
    exponent >>= 1;
    if (exponent > 0 && __builtin_mul_overflow(base, base, &base)) overflow(BinaryExpr::Op::Power);
  }
  return Value::integer(result);
}

Value integer_arithmetic(BinaryExpr::Op op, int64_t a, int64_t b) {
  int64_t r = 0;
  switch (op) {
    case BinaryExpr::Op::Add:
      if (__builtin_add_overflow(a, b, &r)) overflow(op);
      return Value::integer(r);
    case BinaryExpr::Op::Subtract:
      if (__builtin_sub_overflow(a, b, &r)) overflow(op);
      return Value::integer(r);
    case BinaryExpr::Op::Multiply:
      if (__builtin_mul_overflow(a, b, &r)) overflow(op);
      return Value::integer(r);
    case BinaryExpr::Op::Divide:
      if (b == 0) throw Error("division by zero");
      return Value::number(static_cast<double>(a) / static_cast<double>(b));
    case BinaryExpr::Op::FloorDivide:
    case BinaryExpr::Op::Modulo: {
      if (b == 0) throw Error("integer division or modulo by zero");
      if (a == std::numeric_limits<int64_t>::min() && b == -1) overflow(op);
      int64_t q = a / b;
      int64_t m = a % b;
      if (m != 0 && ((m < 0) != (b < 0))) {  // Python rounds the quotient toward -infinity
        --q;
        m += b;
      }
      return Value::integer(op == BinaryExpr::Op::FloorDivide ? q : m);
    }
    case BinaryExpr::Op::Power:
      if (b >= 0) return integer_power(a, b);
      if (a == 0) throw Error("0 cannot be raised to a negative power");
      return Value::number(std::pow(static_cast<double>(a), static_cast<double>(b)));
    default: overflow(op);
  }
}

Value float_arithmetic(BinaryExpr::Op op, double a, double b) {
  switch (op) {
    case BinaryExpr::Op::Add: return Value::number(a + b);
    case BinaryExpr::Op::Subtract: return Value::number(a - b);
    case BinaryExpr::Op::Multiply: return Value::number(a * b);
    case BinaryExpr::Op::Divide:
      if (b == 0) throw Error("float division by zero");
      return Value::number(a / b);
    case BinaryExpr::Op::FloorDivide:
      if (b == 0) throw Error("float floor division by zero");
      return Value::number(std::floor(a / b));
    case BinaryExpr::Op::Modulo: {
      if (b == 0) throw Error("float modulo by zero");
      double m = std::fmod(a, b);
      if (m != 0 && ((m < 0) != (b < 0))) m += b;
      return Value::number(m);
    }
    case BinaryExpr::Op::Power:
      if (a == 0 && b < 0) throw Error("0.0 cannot be raised to a negative power");
      return Value::number(std::pow(a, b));
    default: overflow(op);
  }
}

size_t saturating_product(size_t a, size_t b) {
  size_t product = 0;
  return __builtin_mul_overflow(a, b, &product) ? SIZE_MAX : product;
}

// `sequence * count` for strings and lists.
Value repeat(const Value& sequence, int64_t count, Renderer& renderer) {
  // An empty sequence repeats to nothing however large the count, so skip the loop.
  const bool empty =
      sequence.is_string() ? sequence.as_string().empty() : sequence.as_list().empty();
  const size_t n = count > 0 && !empty ? static_cast<size_t>(count) : 0;
  if (sequence.is_string()) {
    const std::string& text = sequence.as_string();
    const size_t size = saturating_product(n, text.size());
    require_memory(string_cost(size), "'*' repetition");
    std::string out;
    out.reserve(size);
    for (size_t i = 0; i < n; ++i) out += text;
    renderer.charge(0, out.size());
    return Value::string(std::move(out));
  }
  const List& items = sequence.as_list();
  require_memory(list_cost(saturating_product(n, items.size())), "'*' repetition");
  List out;
  for (size_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  renderer.charge(0, out.size());
  return Value::list(std::move(out), sequence.is_tuple());
}

}  // namespace

Value arithmetic(BinaryExpr::Op op, const Value& left, const Value& right, Renderer& renderer) {
  require_defined(left);
  require_defined(right);
  if (left.is_number() && right.is_number()) {
    if (left.is_integer() && right.is_integer()) {
      return integer_arithmetic(op, left.as_int(), right.as_int());
    }
    return float_arithmetic(op, left.as_double(), right.as_double());
  }
  if (op == BinaryExpr::Op::Add) {
    if (left.is_string() && right.is_string()) {
      const size_t size = left.as_string().size() + right.as_string().size();
      require_memory(string_cost(size), "'+' concatenation");
      renderer.charge(0, size);
      return Value::string(left.as_string() + right.as_string());
    }
    if (left.is_list() && right.is_list() && left.is_tuple() == right.is_tuple()) {
      const size_t size = left.as_list().size() + right.as_list().size();
      require_memory(list_cost(size), "'+' concatenation");
      renderer.charge(0, size);
      List items = left.as_list();
      items.insert(items.end(), right.as_list().begin(), right.as_list().end());
      return Value::list(std::move(items), left.is_tuple());
    }
  }
  if (op == BinaryExpr::Op::Multiply) {
    if ((left.is_string() || left.is_list()) && right.is_integer()) {
      return repeat(left, right.as_int(), renderer);
    }
    if (left.is_integer() && (right.is_string() || right.is_list())) {
      return repeat(right, left.as_int(), renderer);
    }
  }
  if (op == BinaryExpr::Op::Modulo && left.is_string()) {
    throw Error("printf-style string formatting ('...' % value) is not supported");
  }
  unsupported(op, left, right);
}

}  // namespace bantam::jinja
