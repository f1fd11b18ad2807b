// Global functions (range, dict, namespace), string and dict methods, and Python-style argument
// binding for every built-in.
#include <fmt/format.h>

#include <algorithm>

#include "bantam/error.hpp"
#include "text/jinja/renderer.hpp"
#include "text/jinja/strings.hpp"
#include "text/jinja/unicode.hpp"

namespace bantam::jinja {

std::vector<Value> bind_args(std::string_view function, CallArgs& args,
                             std::initializer_list<std::string_view> params, size_t required) {
  const std::vector<std::string_view> names(params);
  std::vector<Value> bound(names.size());
  std::vector<bool> given(names.size(), false);
  if (args.positional.size() > names.size()) {
    throw Error(fmt::format("{}() takes at most {} argument(s), {} given", function, names.size(),
                            args.positional.size()));
  }
  for (size_t i = 0; i < args.positional.size(); ++i) {
    bound[i] = std::move(args.positional[i]);
    given[i] = true;
  }
  for (auto& [key, value] : args.keyword) {
    const auto it = std::find(names.begin(), names.end(), key);
    if (it == names.end()) {
      throw Error(fmt::format("{}() got an unexpected keyword argument '{}'", function, key));
    }
    const auto i = static_cast<size_t>(it - names.begin());
    if (given[i]) throw Error(fmt::format("{}() got '{}' twice", function, key));
    bound[i] = std::move(value);
    given[i] = true;
  }
  for (size_t i = 0; i < required; ++i) {
    if (!given[i]) {
      throw Error(fmt::format("{}() is missing its '{}' argument", function, names[i]));
    }
  }
  return bound;
}

namespace {

const std::string& string_arg(const Value& value, std::string_view function,
                              std::string_view param) {
  if (!value.is_string()) {
    throw Error(
        fmt::format("{}(): '{}' must be a string, not '{}'", function, param, value.type_name()));
  }
  return value.as_string();
}

int64_t int_arg(const Value& value, int64_t fallback, std::string_view function,
                std::string_view param) {
  if (value.is_undefined() || value.is_none()) return fallback;
  if (!value.is_integer()) {
    throw Error(
        fmt::format("{}(): '{}' must be an integer, not '{}'", function, param, value.type_name()));
  }
  return value.as_int();
}

// `prefix` may be one string or a tuple of them, as str.startswith allows.
bool affix_matches(const Value& affix, const std::string& text, bool at_start,
                   std::string_view function) {
  const auto one = [&](const std::string& a) {
    if (a.size() > text.size()) return false;
    return at_start ? text.compare(0, a.size(), a) == 0
                    : text.compare(text.size() - a.size(), a.size(), a) == 0;
  };
  if (affix.is_list()) {
    return std::any_of(affix.as_list().begin(), affix.as_list().end(),
                       [&](const Value& a) { return one(string_arg(a, function, "prefix")); });
  }
  return one(string_arg(affix, function, "prefix"));
}

template <typename Predicate>
Value all_chars(const std::string& text, Predicate predicate) {
  bool all = !text.empty();
  unicode::for_each_char(text, [&](char32_t c, size_t, size_t) { all = all && predicate(c); });
  return Value::boolean(all);
}

// Python's str.islower / isupper: some cased character, none of the other case.
Value has_case(const std::string& text, bool lower) {
  const std::string same = lower ? unicode::lower(text) : unicode::upper(text);
  const std::string other = lower ? unicode::upper(text) : unicode::lower(text);
  return Value::boolean(same == text && other != text);
}

Value string_method(const Value& self, const std::string& name) {
  const auto bound = [&](auto fn) {
    return native_function("str." + name, [self, name, fn](CallArgs& args, Renderer& renderer) {
      return fn(self.as_string(), args, renderer, "str." + name);
    });
  };
  using Args = CallArgs&;
  using R = Renderer&;
  using W = const std::string&;
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    return bound([](const std::string& s, Args args, R, W where) {
      bind_args(where, args, {});
      require_memory(string_cost(s.size()), where);
      if (where == "str.upper") return Value::string(unicode::upper(s));
      if (where == "str.lower") return Value::string(unicode::lower(s));
      if (where == "str.title") return Value::string(unicode::title(s));
      return Value::string(unicode::capitalize(s));
    });
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    return bound([](const std::string& s, Args args, R, W where) {
      const auto a = bind_args(where, args, {"chars"});
      const std::string* chars = a[0].is_string() ? &a[0].as_string() : nullptr;
      return Value::string(unicode::strip(s, where != "str.rstrip", where != "str.lstrip", chars));
    });
  }
  if (name == "startswith" || name == "endswith") {
    return bound([](const std::string& s, Args args, R, W where) {
      const auto a = bind_args(where, args, {"prefix"}, 1);
      return Value::boolean(affix_matches(a[0], s, where == "str.startswith", where));
    });
  }
  if (name == "split" || name == "rsplit") {
    return bound([](const std::string& s, Args args, R renderer, W where) {
      const auto a = bind_args(where, args, {"sep", "maxsplit"});
      const std::string* sep =
          a[0].is_none() || a[0].is_undefined() ? nullptr : &string_arg(a[0], where, "sep");
      List parts;
      for (auto& part :
           python_split(s, sep, int_arg(a[1], -1, where, "maxsplit"), where == "str.rsplit")) {
        parts.push_back(Value::string(std::move(part)));
      }
      renderer.charge(0, parts.size());
      return Value::list(std::move(parts));
    });
  }
  if (name == "splitlines") {
    return bound([](const std::string& s, Args args, R, W where) {
      bind_args(where, args, {});
      List lines;
      for (auto& line : python_splitlines(s)) lines.push_back(Value::string(std::move(line)));
      return Value::list(std::move(lines));
    });
  }
  if (name == "replace") {
    return bound([](const std::string& s, Args args, R renderer, W where) {
      const auto a = bind_args(where, args, {"old", "new", "count"}, 2);
      return Value::string(python_replace(s, string_arg(a[0], where, "old"),
                                          string_arg(a[1], where, "new"),
                                          int_arg(a[2], -1, where, "count"), renderer));
    });
  }
  if (name == "find" || name == "count") {
    return bound([](const std::string& s, Args args, R, W where) {
      const auto a = bind_args(where, args, {"sub"}, 1);
      const std::string& sub = string_arg(a[0], where, "sub");
      if (where == "str.find") {
        const size_t at = s.find(sub);
        if (at == std::string::npos) return Value::integer(-1);
        return Value::integer(static_cast<int64_t>(unicode::char_count(s.substr(0, at))));
      }
      if (sub.empty()) return Value::integer(static_cast<int64_t>(unicode::char_count(s)) + 1);
      int64_t count = 0;
      for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) {
        ++count;
      }
      return Value::integer(count);
    });
  }
  if (name == "join") {
    return bound([](const std::string& s, Args args, R renderer, W where) {
      const auto a = bind_args(where, args, {"iterable"}, 1);
      std::string out;
      bool first = true;
      for (const auto& item : iterate(a[0], where)) {
        const std::string& text = string_arg(item, where, "iterable item");
        require_memory(string_cost(out.size() + (first ? 0 : s.size()) + text.size()), where);
        if (!first) out += s;
        first = false;
        out += text;
      }
      renderer.charge(0, out.size());
      return Value::string(std::move(out));
    });
  }
  if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" ||
      name == "islower" || name == "isupper") {
    return bound([](const std::string& s, Args args, R, W where) {
      bind_args(where, args, {});
      if (where == "str.isdigit") return all_chars(s, unicode::is_digit);
      if (where == "str.isalpha") return all_chars(s, unicode::is_alpha);
      if (where == "str.isspace") return all_chars(s, unicode::is_space);
      if (where == "str.isalnum") {
        return all_chars(s,
                         [](char32_t c) { return unicode::is_alpha(c) || unicode::is_digit(c); });
      }
      return has_case(s, where == "str.islower");
    });
  }
  return Value::undefined(fmt::format("'str object' has no attribute '{}'", name));
}

Value dict_method(const Value& self, const std::string& name) {
  if (name == "items" || name == "keys" || name == "values") {
    return native_function("dict." + name, [self, name](CallArgs& args, Renderer&) {
      bind_args("dict." + name, args, {});
      List out;
      for (const auto& [key, value] : self.as_dict().entries()) {
        if (name == "items")
          out.push_back(Value::list({key, value}, true));
        else
          out.push_back(name == "keys" ? key : value);
      }
      return Value::list(std::move(out));
    });
  }
  if (name == "get") {
    return native_function("dict.get", [self](CallArgs& args, Renderer&) {
      auto a = bind_args("dict.get", args, {"key", "default"}, 1);
      const Value* found = self.as_dict().find(a[0]);
      if (found) return *found;
      return a[1].is_undefined() ? Value::none() : a[1];
    });
  }
  return Value::undefined(fmt::format("'dict object' has no attribute '{}'", name));
}

// The non-mutating list methods (the sandbox forbids the others).
Value list_method(const Value& self, const std::string& name) {
  if (name == "count" || name == "index") {
    return native_function("list." + name, [self, name](CallArgs& args, Renderer&) {
      const auto a = bind_args("list." + name, args, {"value"}, 1);
      const auto& items = self.as_list();
      int64_t count = 0;
      for (size_t i = 0; i < items.size(); ++i) {
        if (!equals(items[i], a[0])) continue;
        if (name == "index") return Value::integer(static_cast<int64_t>(i));
        ++count;
      }
      if (name == "index")
        throw Error(fmt::format("list.index: {} is not in the list", repr(a[0])));
      return Value::integer(count);
    });
  }
  return Value::undefined(fmt::format("'{} object' has no attribute '{}'", self.type_name(), name));
}

Value range_function(CallArgs& args, Renderer& renderer) {
  auto a = bind_args("range", args, {"start", "stop", "step"}, 1);
  int64_t start = 0;
  int64_t stop = 0;
  if (a[1].is_undefined()) {
    stop = int_arg(a[0], 0, "range", "stop");
  } else {
    start = int_arg(a[0], 0, "range", "start");
    stop = int_arg(a[1], 0, "range", "stop");
  }
  const int64_t step = int_arg(a[2], 1, "range", "step");
  if (step == 0) throw Error("range() step must not be zero");
  // Python's len(range(...)), in unsigned arithmetic so no difference of int64 overflows.
  const auto distance = [](int64_t from, int64_t to) {
    return to > from ? static_cast<uint64_t>(to) - static_cast<uint64_t>(from) : 0;
  };
  const uint64_t span = step > 0 ? distance(start, stop) : distance(stop, start);
  const uint64_t stride = step > 0 ? static_cast<uint64_t>(step) : 0 - static_cast<uint64_t>(step);
  const uint64_t count = span == 0 ? 0 : (span - 1) / stride + 1;
  require_memory(list_cost(count), "range()");
  renderer.charge(0, count);
  List items;
  items.reserve(count);
  for (uint64_t k = 0; k < count; ++k) {
    // Exact in modular arithmetic, since every item lies between start and stop.
    items.push_back(Value::integer(static_cast<int64_t>(static_cast<uint64_t>(start) +
                                                        k * static_cast<uint64_t>(step))));
  }
  return Value::list(std::move(items));
}

Value dict_function(CallArgs& args, Renderer&) {
  if (args.positional.size() > 1) throw Error("dict() takes at most 1 positional argument");
  Dict dict;
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (!source.is_dict()) throw Error("dict(): the positional argument must be a dict");
    dict = source.as_dict();
  }
  for (auto& [key, value] : args.keyword) dict.set(Value::string(key), std::move(value));
  return Value::dict(std::move(dict));
}

Value namespace_function(CallArgs& args, Renderer& renderer) {
  if (args.positional.size() > 1) throw Error("namespace() takes at most 1 positional argument");
  const size_t copied = args.positional.empty() || !args.positional[0].is_dict()
                            ? 0
                            : args.positional[0].as_dict().size();
  auto object = renderer.new_namespace(copied + args.keyword.size());
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (!source.is_dict()) throw Error("namespace(): the positional argument must be a dict");
    object->attributes = source.as_dict();
  }
  for (auto& [key, value] : args.keyword)
    object->attributes.set(Value::string(key), std::move(value));
  return Value::namespace_object(std::move(object));
}

}  // namespace

Value method(const Value& object, const std::string& name) {
  if (object.is_string()) return string_method(object, name);
  if (object.is_dict()) return dict_method(object, name);
  if (object.is_list()) return list_method(object, name);
  return Value::undefined(
      fmt::format("'{} object' has no attribute '{}'", object.type_name(), name));
}

void add_builtin_globals(Scope& scope) {
  scope.set("range", native_function("range", range_function));
  scope.set("dict", native_function("dict", dict_function));
  scope.set("namespace", native_function("namespace", namespace_function));
}

}  // namespace bantam::jinja
