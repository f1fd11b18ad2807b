#include "text/jinja/value.hpp"

#include <fmt/format.h>
#include <utf8proc.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "bantam/error.hpp"
#include "text/jinja/budget.hpp"
#include "text/jinja/unicode.hpp"

namespace bantam::jinja {
namespace {

// Shares `object`, counted against the memory budget of the render running on this thread (if
// any) for as long as the object lives, and as one step: allocating is most of what building
// many small values costs.
template <typename T>
std::shared_ptr<const T> counted(T object, size_t cost, std::string_view what) {
  Budget* budget = current_budget();
  if (!budget) return std::make_shared<const T>(std::move(object));
  budget->step(1);
  budget->allocate(cost, what);
  return std::shared_ptr<const T>(new T(std::move(object)),
                                  [account = budget->account(), cost](const T* p) {
                                    account->release(cost);
                                    delete p;
                                  });
}

}  // namespace

Value Value::undefined(std::string reason) {
  Value v;
  v.storage_ = std::make_shared<const std::string>(std::move(reason));
  return v;
}

const std::string& Value::undefined_reason() const {
  static const std::string unknown = "a value is undefined";
  if (const auto* reason = std::get_if<StringPtr>(&storage_)) return **reason;
  return unknown;
}

Value Value::none() {
  Value v;
  v.type_ = Type::None;
  return v;
}

Value Value::boolean(bool value) {
  Value v;
  v.type_ = Type::Bool;
  v.storage_ = value;
  return v;
}

Value Value::integer(int64_t value) {
  Value v;
  v.type_ = Type::Int;
  v.storage_ = value;
  return v;
}

Value Value::number(double value) {
  Value v;
  v.type_ = Type::Float;
  v.storage_ = value;
  return v;
}

Value Value::string(std::string value) {
  Value v;
  v.type_ = Type::String;
  const size_t cost = string_cost(value.size());
  v.storage_ = counted(std::move(value), cost, "a string");
  return v;
}

namespace {

uint32_t nesting_of(const Value& child) {
  const uint32_t depth = child.nesting() + 1;
  if (depth > kMaxNesting) {
    throw Error(
        fmt::format("template value: lists and dicts nested more than {} deep", kMaxNesting));
  }
  return depth;
}

}  // namespace

Value Value::list(List items, bool tuple) {
  Value v;
  for (const auto& item : items) v.nesting_ = std::max(v.nesting_, nesting_of(item));
  v.type_ = Type::List;
  v.tuple_ = tuple;
  const size_t cost = list_cost(items.size());
  v.storage_ = counted(std::move(items), cost, "a list");
  return v;
}

Value Value::dict(Dict items) {
  Value v;
  for (const auto& [key, item] : items.entries()) {
    v.nesting_ = std::max({v.nesting_, nesting_of(key), nesting_of(item)});
  }
  v.type_ = Type::Dict;
  const size_t cost = dict_cost(items.size());
  v.storage_ = counted(std::move(items), cost, "a dict");
  return v;
}

Value Value::callable(std::shared_ptr<const Callable> function) {
  Value v;
  v.type_ = Type::Callable;
  v.storage_ = std::move(function);
  return v;
}

Value Value::namespace_object(std::shared_ptr<Namespace> object) {
  Value v;
  v.type_ = Type::Namespace;
  v.storage_ = std::move(object);
  return v;
}

namespace {

Value from_json_at(const nlohmann::ordered_json& json, uint32_t depth);

}  // namespace

Value Value::from_json(const nlohmann::ordered_json& json) { return from_json_at(json, 0); }

namespace {

Value from_json_at(const nlohmann::ordered_json& json, uint32_t depth) {
  if (depth > kMaxNesting) {
    throw Error(fmt::format("chat template: JSON nested more than {} deep", kMaxNesting));
  }
  using V = Value;
  switch (json.type()) {
    case nlohmann::ordered_json::value_t::null:
    case nlohmann::ordered_json::value_t::discarded: return V::none();
    case nlohmann::ordered_json::value_t::boolean: return V::boolean(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return V::integer(json.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const auto u = json.get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return V::integer(static_cast<int64_t>(u));
      return V::number(static_cast<double>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return V::number(json.get<double>());
    case nlohmann::ordered_json::value_t::string: return V::string(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      List items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(from_json_at(item, depth + 1));
      return V::list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Dict items;
      for (const auto& [key, item] : json.items()) {
        items.append_unique(V::string(key), from_json_at(item, depth + 1));
      }
      return V::dict(std::move(items));
    }
    case nlohmann::ordered_json::value_t::binary: break;
  }
  throw Error("chat template: binary JSON values cannot be template variables");
}

}  // namespace

int64_t Value::as_int() const {
  if (type_ == Type::Bool) return as_bool() ? 1 : 0;
  return std::get<int64_t>(storage_);
}

double Value::as_double() const {
  if (type_ == Type::Float) return std::get<double>(storage_);
  return static_cast<double>(as_int());
}

bool Value::truthy() const {
  switch (type_) {
    case Type::Undefined:
    case Type::None: return false;
    case Type::Bool: return as_bool();
    case Type::Int: return as_int() != 0;
    case Type::Float: return as_double() != 0.0;
    case Type::String: return !as_string().empty();
    case Type::List: return !as_list().empty();
    case Type::Dict: return !as_dict().empty();
    case Type::Callable:
    case Type::Namespace: return true;
  }
  return false;
}

std::string_view Value::type_name() const {
  switch (type_) {
    case Type::Undefined: return "Undefined";
    case Type::None: return "NoneType";
    case Type::Bool: return "bool";
    case Type::Int: return "int";
    case Type::Float: return "float";
    case Type::String: return "str";
    case Type::List: return tuple_ ? "tuple" : "list";
    case Type::Dict: return "dict";
    case Type::Callable: return "function";
    case Type::Namespace: return "Namespace";
  }
  return "object";
}

const Value* Dict::find(const Value& key) const {
  for (const auto& [k, v] : entries_) {
    if (equals(k, key)) return &v;
  }
  return nullptr;
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : entries_) {
    if (k.is_string() && k.as_string() == key) return &v;
  }
  return nullptr;
}

void Dict::set(Value key, Value value) {
  for (auto& [k, v] : entries_) {
    if (equals(k, key)) {
      v = std::move(value);
      return;
    }
  }
  entries_.emplace_back(std::move(key), std::move(value));
}

void Dict::append_unique(Value key, Value value) {
  entries_.emplace_back(std::move(key), std::move(value));
}

bool equals(const Value& a, const Value& b) {
  using T = Value::Type;
  if (a.is_number() && b.is_number()) {
    if (a.is_integer() && b.is_integer()) return a.as_int() == b.as_int();
    return a.as_double() == b.as_double();
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case T::Undefined:
    case T::None: return true;
    case T::String:
      charge_copy(a.as_string().size());
      return a.as_string() == b.as_string();
    case T::List: {
      if (a.is_tuple() != b.is_tuple()) return false;
      const auto& x = a.as_list();
      const auto& y = b.as_list();
      if (x.size() != y.size()) return false;
      // Lists holding one list many times, nested, compare in exponential time: count the work.
      charge_steps(x.size());
      for (size_t i = 0; i < x.size(); ++i) {
        if (!equals(x[i], y[i])) return false;
      }
      return true;
    }
    case T::Dict: {
      const auto& x = a.as_dict();
      const auto& y = b.as_dict();
      if (x.size() != y.size()) return false;
      charge_steps(x.size() * x.size());  // each key is looked up in a list of entries
      for (const auto& [key, value] : x.entries()) {
        const Value* other = y.find(key);
        if (!other || !equals(value, *other)) return false;
      }
      return true;
    }
    case T::Callable: return &a.as_callable() == &b.as_callable();
    case T::Namespace: return a.namespace_ptr() == b.namespace_ptr();
    case T::Bool:
    case T::Int:
    case T::Float: break;  // handled as numbers above
  }
  return false;
}

int compare(const Value& a, const Value& b, std::string_view where) {
  if (a.is_number() && b.is_number()) {
    if (a.is_integer() && b.is_integer()) {
      return a.as_int() < b.as_int() ? -1 : (a.as_int() > b.as_int() ? 1 : 0);
    }
    const double x = a.as_double();
    const double y = b.as_double();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    // UTF-8 byte order is code point order, which is how Python orders str.
    const int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    const auto& x = a.as_list();
    const auto& y = b.as_list();
    charge_steps(std::min(x.size(), y.size()));
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!equals(x[i], y[i])) return compare(x[i], y[i], where);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  throw Error(
      fmt::format("{}: cannot order '{}' and '{}' values", where, a.type_name(), b.type_name()));
}

std::string format_float(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  // Shortest round-trip digits, then Python's layout: positional for exponents -4..15.
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  const std::string scientific(buffer, result.ptr);
  const size_t e_pos = scientific.find('e');
  std::string mantissa = scientific.substr(0, e_pos);
  const int exponent = std::stoi(scientific.substr(e_pos + 1));
  const bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out += "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    } else {
      const auto int_digits = static_cast<size_t>(exponent + 1);
      if (digits.size() <= int_digits) {
        out += digits + std::string(int_digits - digits.size(), '0') + ".0";
      } else {
        out += digits.substr(0, int_digits) + "." + digits.substr(int_digits);
      }
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  out += fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out;
}

namespace {

bool is_printable(char32_t c) {
  if (c == U' ') return true;
  if (c == unicode::kInvalidChar) return false;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS: return false;
    default: return true;
  }
}

std::string repr_string(const std::string& text) {
  const bool has_single = text.find('\'') != std::string::npos;
  const bool has_double = text.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  unicode::for_each_char(text, [&](char32_t c, size_t pos, size_t length) {
    if (c == U'\\' || c == static_cast<char32_t>(quote)) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == U'\n') {
      out += "\\n";
    } else if (c == U'\r') {
      out += "\\r";
    } else if (c == U'\t') {
      out += "\\t";
    } else if (c == unicode::kInvalidChar) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(text[pos]));
    } else if (!is_printable(c)) {
      const auto code = static_cast<uint32_t>(c);
      out += code < 0x100 ? fmt::format("\\x{:02x}", code)
                          : (code < 0x10000 ? fmt::format("\\u{:04x}", code)
                                            : fmt::format("\\U{:08x}", code));
    } else {
      out.append(text, pos, length);
    }
  });
  out += quote;
  return out;
}

// Printing writes into one buffer, checked against the memory budget as it grows: a list that
// holds the same big list many times, nested, prints far larger than it is.
class Printer {
 public:
  std::string out;

  // str() of `value`, or repr() when `quoted`; the items of containers always print as repr().
  void print(const Value& value, int depth, bool quoted) {
    // Namespaces may contain themselves, so depth stops printing as Python's reprlib would.
    if (depth > static_cast<int>(kMaxNesting)) {
      throw Error(fmt::format("printing a template value nested more than {} deep", kMaxNesting));
    }
    switch (value.type()) {
      case Value::Type::Undefined:
        if (quoted) append("Undefined");
        return;
      case Value::Type::None: append("None"); return;
      case Value::Type::Bool: append(value.as_bool() ? "True" : "False"); return;
      case Value::Type::Int: append(std::to_string(value.as_int())); return;
      case Value::Type::Float: append(format_float(value.as_double())); return;
      case Value::Type::String:
        if (!quoted) {
          append(value.as_string());
        } else {
          require_memory(out.size() + value.as_string().size(), "printing a value");
          append(repr_string(value.as_string()));
        }
        return;
      case Value::Type::List: print_sequence(value, depth); return;
      case Value::Type::Dict: print_dict(value.as_dict(), depth); return;
      case Value::Type::Callable:
        append(fmt::format("<function {}>", value.as_callable().name()));
        return;
      case Value::Type::Namespace:
        append("<Namespace ");
        print_dict(value.as_namespace().attributes, depth);
        append(">");
        return;
    }
  }

 private:
  void append(std::string_view piece) {
    require_memory(out.size() + piece.size(), "printing a value");
    out.append(piece);
  }

  void print_sequence(const Value& value, int depth) {
    const auto& items = value.as_list();
    append(value.is_tuple() ? "(" : "[");
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) append(", ");
      print(items[i], depth + 1, true);
    }
    if (value.is_tuple() && items.size() == 1) append(",");
    append(value.is_tuple() ? ")" : "]");
  }

  void print_dict(const Dict& dict, int depth) {
    append("{");
    bool first = true;
    for (const auto& [key, item] : dict.entries()) {
      if (!first) append(", ");
      first = false;
      print(key, depth + 1, true);
      append(": ");
      print(item, depth + 1, true);
    }
    append("}");
  }
};

std::string print(const Value& value, bool quoted) {
  Printer printer;
  printer.print(value, 0, quoted);
  charge_copy(printer.out.size());
  return std::move(printer.out);
}

}  // namespace

std::string repr(const Value& value) { return print(value, true); }
std::string to_str(const Value& value) { return print(value, false); }

namespace {

void json_escape_non_ascii(std::string& out, char32_t c) {
  if (c == unicode::kInvalidChar) c = 0xFFFD;
  if (c >= 0x10000) {
    const uint32_t v = static_cast<uint32_t>(c) - 0x10000;
    out += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
  } else {
    out += fmt::format("\\u{:04x}", static_cast<uint32_t>(c));
  }
}

void json_string(std::string& out, const std::string& text, bool ensure_ascii) {
  out += '"';
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80 && ensure_ascii) {
      size_t length = 1;
      json_escape_non_ascii(out, unicode::decode_at(text, i, length));
      i += length - 1;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

std::string json_key(const Value& key) {
  switch (key.type()) {
    case Value::Type::String: return key.as_string();
    case Value::Type::None: return "null";
    case Value::Type::Bool: return key.as_bool() ? "true" : "false";
    case Value::Type::Int: return std::to_string(key.as_int());
    case Value::Type::Float: return format_float(key.as_double());
    default:
      throw Error(fmt::format("tojson: keys must be str, int, float, bool or None, not '{}'",
                              key.type_name()));
  }
}

class JsonWriter {
 public:
  explicit JsonWriter(const JsonStyle& style)
      : style_(style),
        item_separator_(style.item_separator.value_or(style.indent ? "," : ", ")),
        key_separator_(style.key_separator.value_or(": ")) {}

  void write(const Value& value, int depth) {
    switch (value.type()) {
      case Value::Type::None: append("null"); return;
      case Value::Type::Bool: append(value.as_bool() ? "true" : "false"); return;
      case Value::Type::Int: append(std::to_string(value.as_int())); return;
      case Value::Type::Float: write_float(value.as_double()); return;
      case Value::Type::String: write_string(value.as_string()); return;
      case Value::Type::List: write_list(value.as_list(), depth); return;
      case Value::Type::Dict: write_dict(value.as_dict(), depth); return;
      default:
        throw Error(
            fmt::format("tojson: object of type '{}' is not JSON serializable", value.type_name()));
    }
  }

  std::string out;

 private:
  void write_float(double v) {
    if (std::isnan(v))
      append("NaN");
    else if (std::isinf(v))
      append(v < 0 ? "-Infinity" : "Infinity");
    else
      append(format_float(v));
  }

  // Every piece is checked against the memory budget before it is added: an indent or a
  // separator may be megabytes long, and it repeats on every line.
  void append(std::string_view piece) {
    require_memory(out.size() + piece.size(), "tojson");
    out.append(piece);
  }

  void write_string(const std::string& text) {
    // Escapes make the text at most six times longer; check what is known before, the rest after.
    require_memory(out.size() + text.size() + 2, "tojson");
    json_string(out, text, style_.ensure_ascii);
    require_memory(out.size(), "tojson");
  }

  void newline(int depth) {
    if (!style_.indent) return;
    require_memory(out.size() + 1 + static_cast<size_t>(depth) * style_.indent->size(), "tojson");
    out += '\n';
    for (int i = 0; i < depth; ++i) out += *style_.indent;
  }

  void write_list(const List& items, int depth) {
    if (items.empty()) {
      append("[]");
      return;
    }
    append("[");
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) append(item_separator_);
      newline(depth + 1);
      write(items[i], depth + 1);
    }
    newline(depth);
    append("]");
  }

  void write_dict(const Dict& dict, int depth) {
    if (dict.empty()) {
      append("{}");
      return;
    }
    std::vector<std::pair<std::string, const Value*>> entries;
    std::vector<Value> keys;
    for (const auto& [key, item] : dict.entries()) {
      entries.emplace_back(json_key(key), &item);
      keys.push_back(key);
    }
    if (style_.sort_keys) {
      std::vector<size_t> order(entries.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return compare(keys[a], keys[b], "tojson(sort_keys=true)") < 0;
      });
      std::vector<std::pair<std::string, const Value*>> sorted;
      for (size_t i : order) sorted.push_back(entries[i]);
      entries = std::move(sorted);
    }
    append("{");
    for (size_t i = 0; i < entries.size(); ++i) {
      if (i) append(item_separator_);
      newline(depth + 1);
      write_string(entries[i].first);
      append(key_separator_);
      write(*entries[i].second, depth + 1);
    }
    newline(depth);
    append("}");
  }

  const JsonStyle& style_;
  std::string item_separator_;
  std::string key_separator_;
};

}  // namespace

std::string to_json(const Value& value, const JsonStyle& style) {
  JsonWriter writer(style);
  writer.write(value, 0);
  charge_copy(writer.out.size());
  return std::move(writer.out);
}

}  // namespace bantam::jinja
