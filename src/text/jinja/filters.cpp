// jinja2's built-in filters, with Hugging Face's tojson (json.dumps, key order kept).
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "bantam/error.hpp"
#include "text/jinja/budget.hpp"
#include "text/jinja/renderer.hpp"
#include "text/jinja/strings.hpp"
#include "text/jinja/unicode.hpp"

namespace bantam::jinja {
namespace {

using FilterFn = Value (*)(const Value& operand, CallArgs& args, Renderer& renderer);

bool flag(const Value& value) { return value.truthy(); }

// An attribute path as filters take it: "a.b.0" looks up a, then b, then item 0.
Value get_path(const Value& object, const std::string& path, Renderer& renderer) {
  Value current = object;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    int64_t index = 0;
    const auto parsed = std::from_chars(part.data(), part.data() + part.size(), index);
    const bool numeric =
        !part.empty() && parsed.ec == std::errc() && parsed.ptr == part.data() + part.size();
    current = renderer.get_item(current, numeric ? Value::integer(index) : Value::string(part));
    if (dot == std::string::npos) return current;
    start = dot + 1;
  }
}

// Filters compare strings case-insensitively unless told otherwise.
Value sort_key(const Value& value, bool case_sensitive) {
  if (!case_sensitive && value.is_string()) return Value::string(unicode::lower(value.as_string()));
  return value;
}

std::vector<std::string> attribute_paths(const Value& attribute) {
  std::vector<std::string> paths;
  if (attribute.is_undefined() || attribute.is_none()) return paths;
  if (attribute.is_integer()) return {std::to_string(attribute.as_int())};
  const std::string text = to_str(attribute);
  // One path per comma: a string of commas would otherwise make millions of them.
  const auto paths_given = static_cast<size_t>(std::count(text.begin(), text.end(), ',')) + 1;
  require_memory(list_cost(paths_given) + text.size(), "attribute paths");
  size_t start = 0;
  while (true) {  // "a,b" sorts by a then b
    const size_t comma = text.find(',', start);
    paths.push_back(
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return paths;
    start = comma + 1;
  }
}

Value item_key(const Value& item, const std::vector<std::string>& paths, bool case_sensitive,
               Renderer& renderer) {
  if (paths.empty()) return sort_key(item, case_sensitive);
  if (paths.size() == 1) return sort_key(get_path(item, paths[0], renderer), case_sensitive);
  List keys;
  for (const auto& path : paths)
    keys.push_back(sort_key(get_path(item, path, renderer), case_sensitive));
  return Value::list(std::move(keys));
}

Value filter_abs(const Value& v, CallArgs& args, Renderer&) {
  bind_args("abs", args, {});
  if (v.type() == Value::Type::Float) return Value::number(std::fabs(v.as_double()));
  if (!v.is_integer()) throw Error(fmt::format("abs: bad operand type '{}'", v.type_name()));
  if (v.as_int() == INT64_MIN) throw Error("abs: integer overflow");
  return Value::integer(std::abs(v.as_int()));
}

Value filter_attr(const Value& v, CallArgs& args, Renderer& renderer) {
  const auto a = bind_args("attr", args, {"name"}, 1);
  return renderer.get_attribute(v, to_str(a[0]));
}

Value filter_batch(const Value& v, CallArgs& args, Renderer&) {
  const auto a = bind_args("batch", args, {"linecount", "fill_with"}, 1);
  if (!a[0].is_integer() || a[0].as_int() < 1)
    throw Error("batch: linecount must be a positive integer");
  const auto size = static_cast<size_t>(a[0].as_int());
  List batches;
  List current;
  for (auto& item : iterate(v, "batch")) {
    if (current.size() == size) batches.push_back(Value::list(std::exchange(current, {})));
    current.push_back(std::move(item));
  }
  if (!current.empty()) {
    if (!a[1].is_undefined() && !a[1].is_none()) {
      // The last batch is padded to the full linecount, which the template chooses freely.
      require_memory(list_cost(size), "batch");
      charge_copy(size);
      current.resize(size, a[1]);
    }
    batches.push_back(Value::list(std::move(current)));
  }
  return Value::list(std::move(batches));
}

Value filter_capitalize(const Value& v, CallArgs& args, Renderer&) {
  bind_args("capitalize", args, {});
  return Value::string(unicode::capitalize(to_str(v)));
}

Value filter_length(const Value& v, CallArgs& args, Renderer&) {
  bind_args("length", args, {});
  return Value::integer(static_cast<int64_t>(length_of(v, "length")));
}

Value filter_default(const Value& v, CallArgs& args, Renderer&) {
  const auto a = bind_args("default", args, {"default_value", "boolean"});
  if (v.is_undefined() || (flag(a[1]) && !v.truthy())) {
    return a[0].is_undefined() ? Value::string("") : a[0];
  }
  return v;
}

Value filter_dictsort(const Value& v, CallArgs& args, Renderer&) {
  const auto a = bind_args("dictsort", args, {"case_sensitive", "by", "reverse"});
  if (!v.is_dict()) throw Error("dictsort: can only sort a dict");
  const std::string by = a[1].is_undefined() ? "key" : to_str(a[1]);
  if (by != "key" && by != "value") throw Error("dictsort: 'by' must be 'key' or 'value'");
  std::vector<Dict::Entry> entries = v.as_dict().entries();
  const bool case_sensitive = flag(a[0]);
  std::stable_sort(entries.begin(), entries.end(), [&](const auto& x, const auto& y) {
    const Value& l = by == "key" ? x.first : x.second;
    const Value& r = by == "key" ? y.first : y.second;
    const int c = compare(sort_key(l, case_sensitive), sort_key(r, case_sensitive), "dictsort");
    return flag(a[2]) ? c > 0 : c < 0;
  });
  List out;
  for (auto& [key, value] : entries) out.push_back(Value::list({key, value}, true));
  return Value::list(std::move(out));
}

Value filter_escape(const Value& v, CallArgs& args, Renderer&) {
  bind_args("escape", args, {});
  const std::string text = to_str(v);
  // Entities make the text at most six times longer.
  require_memory(string_cost(text.size() * 6), "escape");
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return Value::string(std::move(out));
}

Value filter_first(const Value& v, CallArgs& args, Renderer&) {
  bind_args("first", args, {});
  const List items = iterate(v, "first");
  if (items.empty()) return Value::undefined("first: the sequence is empty");
  return items.front();
}

Value filter_last(const Value& v, CallArgs& args, Renderer&) {
  bind_args("last", args, {});
  const List items = iterate(v, "last");
  if (items.empty()) return Value::undefined("last: the sequence is empty");
  return items.back();
}

// Python's float(str): decimal or exponent notation, inf, nan; surrounding whitespace allowed.
std::optional<double> parse_python_float(const std::string& text) {
  std::string s = unicode::strip(text, true, true);
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  if (s.empty()) return std::nullopt;
  std::string lower = unicode::lower(s);
  const bool negative = lower[0] == '-';
  const std::string body = lower[0] == '-' || lower[0] == '+' ? lower.substr(1) : lower;
  if (body == "inf" || body == "infinity") return negative ? -INFINITY : INFINITY;
  if (body == "nan") return NAN;
  if (body.find_first_not_of("0123456789.e+-") != std::string::npos) return std::nullopt;
  const char* begin = s.data() + (s[0] == '+' ? 1 : 0);
  double value = 0;
  const auto r = std::from_chars(begin, s.data() + s.size(), value);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

// Python's int(str, base) for bases 2..36 (0: from the prefix).
std::optional<int64_t> parse_python_int(const std::string& text, int base) {
  std::string s = unicode::strip(text, true, true);
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.erase(0, 1);
  }
  if (s.size() > 2 && s[0] == '0') {
    const char p = static_cast<char>(s[1] | 0x20);
    const int prefix_base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (prefix_base && (base == 0 || base == prefix_base)) {
      s.erase(0, 2);
      base = prefix_base;
    }
  }
  if (base == 0) base = 10;
  if (s.empty() || s.front() == '_' || s.back() == '_' || s.find("__") != std::string::npos) {
    return std::nullopt;
  }
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  uint64_t magnitude = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), magnitude, base);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  if (magnitude > static_cast<uint64_t>(INT64_MAX) + (negative ? 1 : 0)) {
    throw Error("int: the number does not fit 64 bits");
  }
  return negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
}

int64_t float_to_int(double value) {
  if (!std::isfinite(value) || std::fabs(value) >= 9.2e18)
    throw Error("int: cannot convert the float");
  return static_cast<int64_t>(value);
}

Value filter_int(const Value& v, CallArgs& args, Renderer&) {
  const auto a = bind_args("int", args, {"default", "base"});
  const Value fallback = a[0].is_undefined() ? Value::integer(0) : a[0];
  if (v.is_integer()) return Value::integer(v.as_int());
  if (v.type() == Value::Type::Float) return Value::integer(float_to_int(v.as_double()));
  if (!v.is_string()) return fallback;
  const int base = a[1].is_integer() ? static_cast<int>(a[1].as_int()) : 10;
  if (base != 0 && (base < 2 || base > 36)) throw Error("int: base must be 0 or 2..36");
  if (auto parsed = parse_python_int(v.as_string(), base)) return Value::integer(*parsed);
  if (auto parsed = parse_python_float(v.as_string())) return Value::integer(float_to_int(*parsed));
  return fallback;
}

Value filter_float(const Value& v, CallArgs& args, Renderer&) {
  const auto a = bind_args("float", args, {"default"});
  const Value fallback = a[0].is_undefined() ? Value::number(0.0) : a[0];
  if (v.is_number()) return Value::number(v.as_double());
  if (!v.is_string()) return fallback;
  if (auto parsed = parse_python_float(v.as_string())) return Value::number(*parsed);
  return fallback;
}

Value filter_items(const Value& v, CallArgs& args, Renderer&) {
  bind_args("items", args, {});
  if (v.is_undefined()) return Value::list({});
  if (!v.is_dict()) throw Error("items: can only get item pairs from a mapping");
  List out;
  for (const auto& [key, value] : v.as_dict().entries())
    out.push_back(Value::list({key, value}, true));
  return Value::list(std::move(out));
}

Value filter_indent(const Value& v, CallArgs& args, Renderer& renderer) {
  const auto a = bind_args("indent", args, {"width", "first", "blank"});
  std::string indentation;
  if (a[0].is_string()) {
    indentation = a[0].as_string();
  } else {
    const auto width = static_cast<size_t>(
        std::max<int64_t>(a[0].is_undefined() ? 4 : (a[0].is_integer() ? a[0].as_int() : 0), 0));
    require_memory(string_cost(width), "indent");
    indentation.assign(width, ' ');
  }
  // jinja2 appends a newline before splitting, so a trailing newline yields no extra line.
  const auto lines = python_splitlines(to_str(v) + "\n");
  std::string out;
  const bool indent_first = flag(a[1]);
  for (size_t i = 0; i < lines.size(); ++i) {
    const bool indented = i > 0 ? flag(a[2]) || !lines[i].empty() : indent_first;
    const size_t piece = 1 + (indented ? indentation.size() : 0) + lines[i].size();
    require_memory(string_cost(out.size() + piece), "indent");
    if (i > 0) out += '\n';
    if (indented) out += indentation;
    out += lines[i];
  }
  renderer.charge(0, out.size());
  return Value::string(std::move(out));
}

Value filter_join(const Value& v, CallArgs& args, Renderer& renderer) {
  const auto a = bind_args("join", args, {"d", "attribute"});
  const std::string separator = a[0].is_undefined() ? "" : to_str(a[0]);
  const auto paths = attribute_paths(a[1]);
  std::string out;
  bool first = true;
  for (const auto& item : iterate(v, "join")) {
    const std::string text = to_str(paths.empty() ? item : get_path(item, paths[0], renderer));
    require_memory(string_cost(out.size() + (first ? 0 : separator.size()) + text.size()), "join");
    if (!first) out += separator;
    first = false;
    out += text;
  }
  renderer.charge(0, out.size());
  return Value::string(std::move(out));
}

Value filter_list(const Value& v, CallArgs& args, Renderer&) {
  bind_args("list", args, {});
  return Value::list(iterate(v, "list"));
}

Value filter_lower(const Value& v, CallArgs& args, Renderer&) {
  bind_args("lower", args, {});
  return Value::string(unicode::lower(to_str(v)));
}

Value filter_upper(const Value& v, CallArgs& args, Renderer&) {
  bind_args("upper", args, {});
  return Value::string(unicode::upper(to_str(v)));
}

// jinja2's title: each word (split at whitespace, '-', and opening brackets) capitalized.
Value filter_title(const Value& v, CallArgs& args, Renderer&) {
  bind_args("title", args, {});
  const std::string text = to_str(v);
  std::string out;
  bool word_start = true;
  unicode::for_each_char(text, [&](char32_t c, size_t pos, size_t length) {
    const bool boundary =
        unicode::is_space(c) || c == U'-' || c == U'(' || c == U'{' || c == U'[' || c == U'<';
    const std::string piece = text.substr(pos, length);
    if (boundary)
      out += piece;
    else
      out += word_start ? unicode::upper(piece) : unicode::lower(piece);
    word_start = boundary;
  });
  return Value::string(std::move(out));
}

Value filter_trim(const Value& v, CallArgs& args, Renderer&) {
  const auto a = bind_args("trim", args, {"chars"});
  const std::string* chars = a[0].is_string() ? &a[0].as_string() : nullptr;
  return Value::string(unicode::strip(to_str(v), true, true, chars));
}

Value filter_map(const Value& v, CallArgs& args, Renderer& renderer) {
  const List items = iterate(v, "map");
  require_memory(list_cost(items.size()), "map");
  List out;
  const bool by_attribute = std::any_of(args.keyword.begin(), args.keyword.end(),
                                        [](const auto& k) { return k.first == "attribute"; });
  if (by_attribute) {
    const auto a = bind_args("map", args, {"attribute", "default"});
    const auto paths = attribute_paths(a[0]);
    for (const auto& item : items) {
      Value mapped = paths.empty() ? item : get_path(item, paths[0], renderer);
      if (mapped.is_undefined() && !a[1].is_undefined()) mapped = a[1];
      out.push_back(std::move(mapped));
    }
    return Value::list(std::move(out));
  }
  if (args.positional.empty() || !args.positional[0].is_string()) {
    throw Error("map: give a filter name or attribute=");
  }
  const std::string filter = args.positional[0].as_string();
  for (const auto& item : items) {
    CallArgs rest{List(args.positional.begin() + 1, args.positional.end()), args.keyword};
    out.push_back(apply_filter(filter, item, std::move(rest), renderer));
  }
  return Value::list(std::move(out));
}

Value min_or_max(const Value& v, CallArgs& args, Renderer& renderer, bool want_max) {
  const auto a = bind_args(want_max ? "max" : "min", args, {"case_sensitive", "attribute"});
  const auto paths = attribute_paths(a[1]);
  const List items = iterate(v, want_max ? "max" : "min");
  if (items.empty()) return Value::undefined("no aggregated item, the sequence was empty");
  size_t best = 0;
  Value best_key = item_key(items[0], paths, flag(a[0]), renderer);
  for (size_t i = 1; i < items.size(); ++i) {
    Value key = item_key(items[i], paths, flag(a[0]), renderer);
    const int c = compare(key, best_key, want_max ? "max" : "min");
    if (want_max ? c > 0 : c < 0) {
      best = i;
      best_key = std::move(key);
    }
  }
  return items[best];
}

Value filter_max(const Value& v, CallArgs& args, Renderer& r) {
  return min_or_max(v, args, r, true);
}
Value filter_min(const Value& v, CallArgs& args, Renderer& r) {
  return min_or_max(v, args, r, false);
}

// select / reject / selectattr / rejectattr
Value select_items(const Value& v, CallArgs& args, Renderer& renderer, bool keep_matching,
                   bool by_attribute) {
  const std::string name =
      std::string(keep_matching ? "select" : "reject") + (by_attribute ? "attr" : "");
  size_t next = 0;
  std::string path;
  if (by_attribute) {
    if (args.positional.empty()) throw Error(name + ": missing the attribute argument");
    path = to_str(args.positional[next++]);
  }
  std::string test;
  if (next < args.positional.size()) test = to_str(args.positional[next++]);
  const List test_args(args.positional.begin() + static_cast<std::ptrdiff_t>(next),
                       args.positional.end());
  const List items = iterate(v, name);
  require_memory(list_cost(items.size()), name);
  List out;
  for (const auto& item : items) {
    const Value subject = by_attribute ? get_path(item, path, renderer) : item;
    const bool matches =
        test.empty() ? subject.truthy()
                     : apply_test(test, subject, CallArgs{test_args, args.keyword}, renderer);
    if (matches == keep_matching) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value filter_select(const Value& v, CallArgs& a, Renderer& r) {
  return select_items(v, a, r, true, false);
}
Value filter_reject(const Value& v, CallArgs& a, Renderer& r) {
  return select_items(v, a, r, false, false);
}
Value filter_selectattr(const Value& v, CallArgs& a, Renderer& r) {
  return select_items(v, a, r, true, true);
}
Value filter_rejectattr(const Value& v, CallArgs& a, Renderer& r) {
  return select_items(v, a, r, false, true);
}

Value filter_replace(const Value& v, CallArgs& args, Renderer& renderer) {
  const auto a = bind_args("replace", args, {"old", "new", "count"}, 2);
  const int64_t count = a[2].is_integer() ? a[2].as_int() : -1;
  return Value::string(python_replace(to_str(v), to_str(a[0]), to_str(a[1]), count, renderer));
}

Value filter_reverse(const Value& v, CallArgs& args, Renderer&) {
  bind_args("reverse", args, {});
  List items = iterate(v, "reverse");
  std::reverse(items.begin(), items.end());
  if (!v.is_string()) return Value::list(std::move(items));
  std::string out;
  for (const auto& c : items) out += c.as_string();
  return Value::string(std::move(out));
}

// round(): Python's round() (ties to even, on the exact binary value) or math.ceil/floor.
Value filter_round(const Value& v, CallArgs& args, Renderer&) {
  const auto a = bind_args("round", args, {"precision", "method"});
  const int64_t precision = a[0].is_integer() ? a[0].as_int() : 0;
  const std::string method = a[1].is_undefined() ? "common" : to_str(a[1]);
  if (method != "common" && method != "ceil" && method != "floor") {
    throw Error("round: method must be 'common', 'ceil' or 'floor'");
  }
  if (!v.is_number()) throw Error(fmt::format("round: '{}' is not a number", v.type_name()));
  const double x = v.as_double();
  const double scale =
      std::pow(10.0, static_cast<double>(std::clamp<int64_t>(precision, -330, 330)));
  if (method == "ceil") return Value::number(std::ceil(x * scale) / scale);
  if (method == "floor") return Value::number(std::floor(x * scale) / scale);
  if (v.is_integer() && precision >= 0) return Value::integer(v.as_int());
  if (precision <= 0 || precision > 17) {
    const double rounded = precision > 17 ? x : std::nearbyint(x * scale) / scale;
    return v.is_integer() ? Value::integer(float_to_int(rounded)) : Value::number(rounded);
  }
  char buffer[400];
  std::snprintf(buffer, sizeof buffer, "%.*f", static_cast<int>(precision), x);
  return Value::number(std::strtod(buffer, nullptr));
}

Value filter_string(const Value& v, CallArgs& args, Renderer&) {
  bind_args("string", args, {});
  return Value::string(to_str(v));
}

Value filter_sum(const Value& v, CallArgs& args, Renderer& renderer) {
  const auto a = bind_args("sum", args, {"attribute", "start"});
  const auto paths = attribute_paths(a[0]);
  Value total = a[1].is_undefined() ? Value::integer(0) : a[1];
  for (const auto& item : iterate(v, "sum")) {
    total = arithmetic(BinaryExpr::Op::Add, total,
                       paths.empty() ? item : get_path(item, paths[0], renderer), renderer);
  }
  return total;
}

// Hugging Face's tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
Value filter_tojson(const Value& v, CallArgs& args, Renderer&) {
  const auto a = bind_args("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonStyle style;
  style.ensure_ascii = flag(a[0]);
  if (a[1].is_string())
    style.indent = a[1].as_string();
  else if (a[1].is_integer())
    style.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(a[1].as_int(), 0, 64)), ' ');
  else if (!a[1].is_undefined() && !a[1].is_none())
    throw Error("tojson: indent must be an integer or a string");
  if (a[2].is_list()) {
    const auto& pair = a[2].as_list();
    if (pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
      throw Error("tojson: separators must be two strings");
    }
    style.item_separator = pair[0].as_string();
    style.key_separator = pair[1].as_string();
  }
  style.sort_keys = flag(a[3]);
  return Value::string(to_json(v, style));
}

Value sorted_items(const Value& v, CallArgs& args, Renderer& renderer, bool unique) {
  const char* name = unique ? "unique" : "sort";
  std::vector<Value> a = unique ? bind_args(name, args, {"case_sensitive", "attribute"})
                                : bind_args(name, args, {"reverse", "case_sensitive", "attribute"});
  const bool case_sensitive = flag(unique ? a[0] : a[1]);
  const auto paths = attribute_paths(unique ? a[1] : a[2]);
  const List items = iterate(v, name);
  // The keys, the order and the sorted list, each as long as the items.
  require_memory(list_cost(3 * items.size()), name);
  charge_copy(items.size() * 4);
  std::vector<Value> keys;
  for (const auto& item : items) keys.push_back(item_key(item, paths, case_sensitive, renderer));
  std::vector<size_t> order;
  if (unique) {
    for (size_t i = 0; i < items.size(); ++i) {
      renderer.charge(order.size());
      const bool seen = std::any_of(order.begin(), order.end(),
                                    [&](size_t j) { return equals(keys[i], keys[j]); });
      if (!seen) order.push_back(i);
    }
  } else {
    for (size_t i = 0; i < items.size(); ++i) order.push_back(i);
    const bool reverse = flag(a[0]);
    std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
      const int c = compare(keys[x], keys[y], name);
      return reverse ? c > 0 : c < 0;
    });
  }
  List out;
  for (size_t i : order) out.push_back(items[i]);
  return Value::list(std::move(out));
}

Value filter_sort(const Value& v, CallArgs& a, Renderer& r) { return sorted_items(v, a, r, false); }
Value filter_unique(const Value& v, CallArgs& a, Renderer& r) {
  return sorted_items(v, a, r, true);
}

Value filter_wordcount(const Value& v, CallArgs& args, Renderer&) {
  bind_args("wordcount", args, {});
  int64_t words = 0;
  bool in_word = false;
  unicode::for_each_char(to_str(v), [&](char32_t c, size_t, size_t) {
    const bool word_char = unicode::is_alpha(c) || unicode::is_digit(c) || c == U'_';
    if (word_char && !in_word) ++words;
    in_word = word_char;
  });
  return Value::integer(words);
}

const std::unordered_map<std::string_view, FilterFn>& filter_table() {
  static const std::unordered_map<std::string_view, FilterFn> table = {
      {"abs", filter_abs},
      {"attr", filter_attr},
      {"batch", filter_batch},
      {"capitalize", filter_capitalize},
      {"count", filter_length},
      {"d", filter_default},
      {"default", filter_default},
      {"dictsort", filter_dictsort},
      {"e", filter_escape},
      {"escape", filter_escape},
      {"first", filter_first},
      {"float", filter_float},
      {"indent", filter_indent},
      {"int", filter_int},
      {"items", filter_items},
      {"join", filter_join},
      {"last", filter_last},
      {"length", filter_length},
      {"list", filter_list},
      {"lower", filter_lower},
      {"map", filter_map},
      {"max", filter_max},
      {"min", filter_min},
      {"reject", filter_reject},
      {"rejectattr", filter_rejectattr},
      {"replace", filter_replace},
      {"reverse", filter_reverse},
      {"round", filter_round},
      {"safe", filter_string},
      {"select", filter_select},
      {"selectattr", filter_selectattr},
      {"sort", filter_sort},
      {"string", filter_string},
      {"sum", filter_sum},
      {"title", filter_title},
      {"tojson", filter_tojson},
      {"trim", filter_trim},
      {"unique", filter_unique},
      {"upper", filter_upper},
      {"wordcount", filter_wordcount},
  };
  return table;
}

}  // namespace

bool is_known_filter(std::string_view name) { return filter_table().count(name) != 0; }

Value apply_filter(const std::string& name, const Value& operand, CallArgs args,
                   Renderer& renderer) {
  const auto it = filter_table().find(name);
  if (it == filter_table().end()) throw Error(fmt::format("no filter named '{}'", name));
  return it->second(operand, args, renderer);
}

}  // namespace bantam::jinja
