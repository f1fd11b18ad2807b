// Values of the Jinja interpreter, modelled on the Python objects jinja2 templates see: None,
// bools, ints, floats, strings, lists/tuples, insertion-ordered dicts, callables, namespaces and
// jinja2's default Undefined. Containers are immutable and shared; namespaces are the one
// mutable, shared object (as `{% set ns.x = ... %}` needs).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace bantam::jinja {

class Value;
class Dict;
class Callable;
struct Namespace;
using List = std::vector<Value>;

// Lists and dicts nest at most this deep; deeper ones are an Error (they would only come from
// a hostile template, and every walk over a value recurses).
inline constexpr uint32_t kMaxNesting = 200;

class Value {
 public:
  enum class Type { Undefined, None, Bool, Int, Float, String, List, Dict, Callable, Namespace };

  Value() = default;  // Undefined
  // `reason` is the error a misuse reports, e.g. "'messages' is undefined".
  static Value undefined(std::string reason);
  static Value none();
  static Value boolean(bool value);
  static Value integer(int64_t value);
  static Value number(double value);
  static Value string(std::string value);
  static Value list(List items, bool tuple = false);
  static Value dict(Dict items);
  static Value callable(std::shared_ptr<const Callable> function);
  static Value namespace_object(std::shared_ptr<Namespace> object);
  static Value from_json(const nlohmann::ordered_json& json);

  Type type() const { return type_; }
  bool is_undefined() const { return type_ == Type::Undefined; }
  bool is_none() const { return type_ == Type::None; }
  bool is_string() const { return type_ == Type::String; }
  bool is_list() const { return type_ == Type::List; }
  bool is_dict() const { return type_ == Type::Dict; }
  bool is_tuple() const { return type_ == Type::List && tuple_; }
  // Python ints include bools.
  bool is_integer() const { return type_ == Type::Int || type_ == Type::Bool; }
  bool is_number() const { return is_integer() || type_ == Type::Float; }

  bool as_bool() const { return std::get<bool>(storage_); }
  int64_t as_int() const;    // Int or Bool
  double as_double() const;  // any number
  const std::string& as_string() const { return *std::get<StringPtr>(storage_); }
  const List& as_list() const { return *std::get<ListPtr>(storage_); }
  const Dict& as_dict() const { return *std::get<DictPtr>(storage_); }
  const Callable& as_callable() const { return *std::get<CallablePtr>(storage_); }
  Namespace& as_namespace() const { return *std::get<NamespacePtr>(storage_); }
  const std::shared_ptr<Namespace>& namespace_ptr() const {
    return std::get<NamespacePtr>(storage_);
  }
  // Why this value is Undefined, for the error a misuse raises.
  const std::string& undefined_reason() const;

  bool truthy() const;  // Python's bool()
  uint32_t nesting() const { return nesting_; }
  // Python's type name, for error messages: 'str', 'int', 'list', 'NoneType', ...
  std::string_view type_name() const;

 private:
  using StringPtr = std::shared_ptr<const std::string>;
  using ListPtr = std::shared_ptr<const List>;
  using DictPtr = std::shared_ptr<const Dict>;
  using CallablePtr = std::shared_ptr<const Callable>;
  using NamespacePtr = std::shared_ptr<Namespace>;
  using Storage = std::variant<std::monostate, bool, int64_t, double, StringPtr, ListPtr, DictPtr,
                               CallablePtr, NamespacePtr>;

  Type type_ = Type::Undefined;
  bool tuple_ = false;
  uint32_t nesting_ = 0;  // containers inside containers, bounded so recursion stays shallow
  Storage storage_;
};

// A Python dict: keys keep insertion order; looking a key up compares with Python equality.
class Dict {
 public:
  using Entry = std::pair<Value, Value>;

  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);            // replaces an equal key in place, else appends
  void append_unique(Value key, Value value);  // for keys known to be new (JSON objects)
  const std::vector<Entry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  std::vector<Entry> entries_;
};

// jinja2's namespace(): attributes that `{% set ns.name = value %}` may change from any scope.
struct Namespace {
  Dict attributes;
};

struct CallArgs {
  List positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

class Renderer;

class Callable {
 public:
  virtual ~Callable() = default;
  virtual Value call(CallArgs args, Renderer& renderer) const = 0;
  virtual const std::string& name() const = 0;
};

// Python equality: 1 == 1.0 == True, containers compare element-wise, dicts ignore order.
bool equals(const Value& a, const Value& b);
// Python ordering (<0, 0, >0); Error naming `where` when the types cannot be ordered.
int compare(const Value& a, const Value& b, std::string_view where);

// Python's str() and repr(), as `{{ value }}` prints and as lists print their items.
std::string to_str(const Value& value);
std::string repr(const Value& value);
std::string format_float(double value);  // Python's repr(float): 1.0, 1e+16, 1.5e-05, inf

// json.dumps(value, ensure_ascii=False, indent=..., separators=..., sort_keys=...), which is the
// tojson that Hugging Face installs for chat templates (key order kept, no HTML escaping).
struct JsonStyle {
  std::optional<std::string> indent;          // the text of one indent level; none: one line
  std::optional<std::string> item_separator;  // default ", " on one line, "," when indented
  std::optional<std::string> key_separator;   // default ": "
  bool sort_keys = false;
  bool ensure_ascii = false;  // \uXXXX for every non-ASCII character
};
std::string to_json(const Value& value, const JsonStyle& style = {});

}  // namespace bantam::jinja
