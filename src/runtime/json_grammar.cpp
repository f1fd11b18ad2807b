// The recognizer keeps a set of stacks (one per parse anyOf or an ambiguous literal leaves open);
// each stack holds frames for the containers, strings, numbers and literals being written.
// A frame that completes without a closing byte (a number, a literal that is a prefix of
// another) hands the next byte on to its parent.
#include "runtime/json_grammar.hpp"

#include <map>
#include <set>

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam {

enum class NodeKind { Any, Object, FreeObject, Array, String, Number, Integer, Literal, AnyOf };

struct JsonNode {
  NodeKind kind = NodeKind::Any;
  std::vector<std::string> keys;  // Object: property names as compact JSON strings, in order
  std::vector<const JsonNode*> values;  // Object: per key; FreeObject: [value schema]
  std::vector<bool> required;
  const JsonNode* items = nullptr;
  int64_t min_items = 0, max_items = -1;
  int64_t min_length = 0, max_length = -1;
  std::vector<std::string> literals;  // compact JSON texts
  std::vector<const JsonNode*> options;
};

namespace {

constexpr int kMaxDepth = 64;
// An ambiguous schema (anyOf options that start alike, nested) multiplies the parses at every byte:
// a few dozen definitions would reach billions. At most this many parses are followed, and one
// byte expands at most this many frames; past either the first ones are kept, so the output still
// matches the schema, only some of its continuations go unoffered.
constexpr size_t kMaxParses = 64;
constexpr size_t kMaxStepsPerByte = 4096;
constexpr int kMaxIntegerDigits = 15;
constexpr int kMaxFractionDigits = 15;
constexpr int kMaxExponentDigits = 3;

const std::set<std::string, std::less<>> kAnnotations = {"title", "description", "default", "examples",
                                                         "$schema", "$id", "$comment", "$defs", "definitions"};

}  // namespace

class JsonSchemaCompiler {
 public:
  explicit JsonSchemaCompiler(JsonGrammar& grammar, const nlohmann::ordered_json& root_schema)
      : g_(grammar), root_schema_(root_schema) {
    any_ = add(NodeKind::Any);
    keywords_ = add(NodeKind::Literal);
    keywords_->literals = {"true", "false", "null"};
  }

  JsonNode* add(NodeKind kind) {
    g_.nodes_.push_back(std::make_unique<JsonNode>());
    g_.nodes_.back()->kind = kind;
    return g_.nodes_.back().get();
  }

  const JsonNode* any() const { return any_; }

  // The recognizer expands a choice (anyOf, a type list, a $ref) into its options before reading a
  // byte, so a choice that reaches itself again through choices alone would expand forever.
  // Recursion through an object or array is fine: each level reads a byte and the stack is bounded.
  void check_choice_cycles() const {
    enum class Mark { New, Open, Done };
    std::map<const JsonNode*, Mark> marks;
    // In creation order, so a loop is named from where the schema first enters it.
    for (const auto& owned : g_.nodes_) {
      const JsonNode* start = owned.get();
      if (start->kind != NodeKind::AnyOf || marks[start] != Mark::New) continue;
      // Depth-first with an explicit stack: (choice, next option to visit).
      std::vector<std::pair<const JsonNode*, size_t>> stack{{start, 0}};
      marks[start] = Mark::Open;
      while (!stack.empty()) {
        auto& [node, next] = stack.back();
        if (next == node->options.size()) {
          marks[node] = Mark::Done;
          stack.pop_back();
          continue;
        }
        const JsonNode* option = node->options[next++];
        if (option->kind != NodeKind::AnyOf) continue;
        if (marks[option] == Mark::Open) throw Error(cycle_message(stack, option));
        if (marks[option] == Mark::New) {
          marks[option] = Mark::Open;
          stack.emplace_back(option, 0);
        }
      }
    }
  }

  const JsonNode* compile(const nlohmann::ordered_json& schema, const std::string& path, int depth) {
    if (depth > kMaxDepth) throw Error(fmt::format("JSON schema nested deeper than {} at {}", kMaxDepth, path));
    if (schema.is_boolean()) {
      if (schema.get<bool>()) return any_;
      throw Error(fmt::format("unsupported JSON Schema 'false' at {}", path_name(path)));
    }
    if (!schema.is_object()) throw Error(fmt::format("JSON schema at {} is not an object", path_name(path)));
    if (schema.contains("$ref")) return reference(schema, path, depth);
    for (const auto& [key, value] : schema.items()) {
      if (!is_supported(key)) {
        throw Error(fmt::format("unsupported JSON Schema keyword '{}' at {}", key, path_name(path)));
      }
    }
    if (schema.contains("const")) return literal({schema["const"]});
    if (schema.contains("enum")) {
      const auto& values = schema["enum"];
      if (!values.is_array() || values.empty()) {
        throw Error(fmt::format("JSON schema 'enum' at {} must be a non-empty array", path_name(path)));
      }
      return literal(std::vector<nlohmann::ordered_json>(values.begin(), values.end()));
    }
    if (schema.contains("anyOf")) {
      const auto& list = schema["anyOf"];
      if (!list.is_array() || list.empty()) {
        throw Error(fmt::format("JSON schema 'anyOf' at {} must be a non-empty array", path_name(path)));
      }
      JsonNode* node = add_choice("#" + path + "/anyOf");
      for (size_t i = 0; i < list.size(); ++i) {
        node->options.push_back(compile(list[i], fmt::format("{}/anyOf/{}", path, i), depth + 1));
      }
      return node;
    }
    if (schema.contains("type") && schema["type"].is_array()) {
      JsonNode* node = add_choice("#" + path + "/type");
      for (const auto& type : schema["type"]) {
        if (!type.is_string()) throw Error(fmt::format("JSON schema 'type' at {} lists a non-string", path_name(path)));
        node->options.push_back(typed(schema, type.get<std::string>(), path, depth));
      }
      if (node->options.empty()) throw Error(fmt::format("JSON schema 'type' at {} is an empty list", path_name(path)));
      return node;
    }
    std::string type;
    if (schema.contains("type")) {
      if (!schema["type"].is_string()) throw Error(fmt::format("JSON schema 'type' at {} is not a string", path_name(path)));
      type = schema["type"].get<std::string>();
    } else if (schema.contains("properties") || schema.contains("required") || schema.contains("additionalProperties")) {
      type = "object";
    } else if (schema.contains("items") || schema.contains("minItems") || schema.contains("maxItems")) {
      type = "array";
    } else if (schema.contains("minLength") || schema.contains("maxLength")) {
      type = "string";
    } else {
      return any_;
    }
    return typed(schema, type, path, depth);
  }

 private:
  static std::string path_name(const std::string& path) { return path.empty() ? "the schema root" : path; }

  JsonNode* add_choice(std::string name) {
    JsonNode* node = add(NodeKind::AnyOf);
    choice_names_.emplace(node, std::move(name));
    return node;
  }

  std::string cycle_message(const std::vector<std::pair<const JsonNode*, size_t>>& stack,
                            const JsonNode* again) const {
    std::string loop;
    bool in_loop = false;
    for (const auto& [node, next] : stack) {
      in_loop = in_loop || node == again;
      if (in_loop) loop += choice_names_.at(node) + " → ";
    }
    loop += choice_names_.at(again);
    return fmt::format("JSON schema refers to itself without an object or array in between: {} (this grammar "
                       "cannot be compiled from a schema that recurses in place)",
                       loop);
  }

  static bool is_supported(std::string_view key) {
    static const std::set<std::string, std::less<>> keywords = {
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum",
        "const", "anyOf", "minLength", "maxLength"};
    return keywords.contains(key) || kAnnotations.contains(key);
  }

  static int64_t count(const nlohmann::ordered_json& schema, const char* key, const std::string& path, int64_t fallback) {
    if (!schema.contains(key)) return fallback;
    const auto& v = schema[key];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 1'000'000) {
      throw Error(fmt::format("JSON schema '{}' at {} must be an integer from 0 to 1000000", key, path_name(path)));
    }
    return v.get<int64_t>();
  }

  const JsonNode* literal(const std::vector<nlohmann::ordered_json>& values) {
    JsonNode* node = add(NodeKind::Literal);
    for (const auto& v : values) node->literals.push_back(v.dump());
    return node;
  }

  const JsonNode* typed(const nlohmann::ordered_json& schema, const std::string& type, const std::string& path, int depth) {
    if (type == "string") {
      JsonNode* node = add(NodeKind::String);
      node->min_length = count(schema, "minLength", path, 0);
      node->max_length = count(schema, "maxLength", path, -1);
      if (node->max_length >= 0 && node->min_length > node->max_length) {
        throw Error(fmt::format("JSON schema at {}: minLength exceeds maxLength", path_name(path)));
      }
      return node;
    }
    if (type == "number") return add(NodeKind::Number);
    if (type == "integer") return add(NodeKind::Integer);
    if (type == "boolean") return literal({true, false});
    if (type == "null") return literal({nullptr});
    if (type == "array") {
      JsonNode* node = add(NodeKind::Array);
      node->items = schema.contains("items") ? compile(schema["items"], path + "/items", depth + 1) : any_;
      node->min_items = count(schema, "minItems", path, 0);
      node->max_items = count(schema, "maxItems", path, -1);
      if (node->max_items >= 0 && node->min_items > node->max_items) {
        throw Error(fmt::format("JSON schema at {}: minItems exceeds maxItems", path_name(path)));
      }
      return node;
    }
    if (type == "object") return object(schema, path, depth);
    throw Error(fmt::format("unsupported JSON Schema type '{}' at {}", type, path_name(path)));
  }

  const JsonNode* object(const nlohmann::ordered_json& schema, const std::string& path, int depth) {
    const nlohmann::ordered_json properties = schema.value("properties", nlohmann::ordered_json::object());
    if (!properties.is_object()) throw Error(fmt::format("JSON schema 'properties' at {} is not an object", path_name(path)));
    std::set<std::string> required;
    if (schema.contains("required")) {
      if (!schema["required"].is_array()) throw Error(fmt::format("JSON schema 'required' at {} is not an array", path_name(path)));
      for (const auto& name : schema["required"]) {
        if (!name.is_string()) throw Error(fmt::format("JSON schema 'required' at {} lists a non-string", path_name(path)));
        if (!properties.contains(name.get<std::string>())) {
          throw Error(fmt::format("unsupported JSON Schema at {}: required property '{}' has no schema in 'properties'",
                                  path_name(path), name.get<std::string>()));
        }
        required.insert(name.get<std::string>());
      }
    }
    const nlohmann::ordered_json extra = schema.value("additionalProperties", nlohmann::ordered_json(true));
    if (!extra.is_boolean() && !extra.is_object()) {
      throw Error(fmt::format("JSON schema 'additionalProperties' at {} is neither a boolean nor a schema", path_name(path)));
    }
    if (properties.empty() && !(extra.is_boolean() && !extra.get<bool>())) {
      // Free keys: any names, values under additionalProperties.
      JsonNode* node = add(NodeKind::FreeObject);
      node->values.push_back(extra.is_object() ? compile(extra, path + "/additionalProperties", depth + 1) : any_);
      return node;
    }
    JsonNode* node = add(NodeKind::Object);
    for (const auto& [name, sub] : properties.items()) {
      node->keys.push_back(nlohmann::ordered_json(name).dump());
      node->values.push_back(compile(sub, fmt::format("{}/properties/{}", path, name), depth + 1));
      node->required.push_back(required.contains(name));
    }
    return node;
  }

  const JsonNode* reference(const nlohmann::ordered_json& schema, const std::string& path, int depth) {
    for (const auto& [key, value] : schema.items()) {
      if (key != "$ref" && !kAnnotations.contains(key)) {
        throw Error(fmt::format("unsupported JSON Schema keyword '{}' beside $ref at {}", key, path_name(path)));
      }
    }
    if (!schema["$ref"].is_string()) throw Error(fmt::format("JSON schema '$ref' at {} is not a string", path_name(path)));
    const std::string ref = schema["$ref"].get<std::string>();
    if (ref == "#") return compile_definition(ref, root_schema_, depth);
    for (const char* prefix : {"#/$defs/", "#/definitions/"}) {
      const std::string_view p(prefix);
      if (ref.starts_with(p)) {
        const std::string name = ref.substr(p.size());
        const std::string container = std::string(p.substr(2, p.size() - 3));
        if (root_schema_.is_object() && root_schema_.contains(container) && root_schema_[container].contains(name)) {
          return compile_definition(ref, root_schema_[container][name], depth);
        }
        throw Error(fmt::format("JSON schema '$ref' '{}' at {} names no definition", ref, path_name(path)));
      }
    }
    throw Error(fmt::format("unsupported JSON Schema '$ref' '{}' at {} (only local #/$defs/ references)", ref, path_name(path)));
  }

  // A definition becomes an AnyOf of one option, created before its body so recursion can refer
  // to it.
  const JsonNode* compile_definition(const std::string& ref, const nlohmann::ordered_json& body, int depth) {
    if (const auto it = definitions_.find(ref); it != definitions_.end()) return it->second;
    JsonNode* node = add_choice(ref);
    definitions_[ref] = node;
    node->options.push_back(compile(body, ref.substr(1), depth + 1));
    return node;
  }

  JsonGrammar& g_;
  const nlohmann::ordered_json& root_schema_;
  JsonNode* any_ = nullptr;
  JsonNode* keywords_ = nullptr;
  std::map<std::string, const JsonNode*> definitions_;
  std::map<const JsonNode*, std::string> choice_names_;  // where each choice is in the schema

 public:
  const JsonNode* keywords() const { return keywords_; }
};

JsonGrammar::JsonGrammar() = default;
JsonGrammar::~JsonGrammar() = default;

std::shared_ptr<const JsonGrammar> JsonGrammar::from_schema(const nlohmann::ordered_json& schema) {
  std::shared_ptr<JsonGrammar> grammar(new JsonGrammar());
  JsonSchemaCompiler compiler(*grammar, schema);
  grammar->root_ = compiler.compile(schema, "", 0);
  compiler.check_choice_cycles();
  return grammar;
}

std::shared_ptr<const JsonGrammar> JsonGrammar::any_object() {
  return from_schema(nlohmann::ordered_json{{"type", "object"}});
}

// ---- recognizer ----

namespace {

enum class FrameKind { Value, Object, FreeObject, Array, String, Number, Literal };

// Phases of containers.
enum Phase : int {
  kOpen, kKey, kColon, kAfterValue, kComma,  // objects and arrays
  kEscape = 10, kHex1, kHex2, kHex3, kHex4,  // strings (kOpen is "in text")
};

enum NumberState : int { kStart, kMinus, kZero, kInt, kDot, kFrac, kE, kESign, kExp };

struct Frame {
  FrameKind kind = FrameKind::Value;
  const JsonNode* node = nullptr;
  int phase = kOpen;
  int64_t count = 0;  // array items, object: next property index, string: characters
  int pos = 0;        // literal or key byte position; number digits in the current part
  int extra = 0;      // string: UTF-8 continuation bytes due; object: matched key; number: NumberState
  std::vector<int> candidates;  // literal or key indices still possible
};

using Stack = std::vector<Frame>;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool number_accepting(const Frame& f) {
  return f.extra == kZero || f.extra == kInt || f.extra == kFrac || f.extra == kExp;
}

bool literal_done(const Frame& f) {
  for (int i : f.candidates) {
    if (f.node->literals[static_cast<size_t>(i)].size() == static_cast<size_t>(f.pos)) return true;
  }
  return false;
}

struct Feeder {
  const JsonNode* any;
  const JsonNode* keywords;
  std::vector<Stack>& out;
  size_t steps_left = kMaxStepsPerByte;

  void push_value(Stack& st, const JsonNode* node) {
    Frame f;
    f.kind = FrameKind::Value;
    f.node = node;
    st.push_back(std::move(f));
  }

  // Feeds c to the stack, adding every resulting stack to out.
  void step(Stack st, unsigned char c) {
    if (st.empty() || st.size() > static_cast<size_t>(kMaxDepth) || out.size() >= kMaxParses || steps_left == 0) {
      return;
    }
    --steps_left;
    Frame& f = st.back();
    switch (f.kind) {
      case FrameKind::Value: return start_value(std::move(st), c);
      case FrameKind::Object: return object(std::move(st), c);
      case FrameKind::FreeObject: return free_object(std::move(st), c);
      case FrameKind::Array: return array(std::move(st), c);
      case FrameKind::String: return string(std::move(st), c);
      case FrameKind::Number: return number(std::move(st), c);
      case FrameKind::Literal: return literal(std::move(st), c);
    }
  }

  void start_value(Stack st, unsigned char c) {
    const JsonNode* node = st.back().node;
    st.pop_back();
    Frame f;
    f.node = node;
    switch (node->kind) {
      case NodeKind::AnyOf:
        for (const JsonNode* option : node->options) {
          Stack copy = st;
          push_value(copy, option);
          step(std::move(copy), c);
        }
        return;
      case NodeKind::Any:
        if (c == '{') {
          f.kind = FrameKind::FreeObject;
          f.node = nullptr;
        } else if (c == '[') {
          f.kind = FrameKind::Array;
          f.node = nullptr;
        } else if (c == '"') {
          f.kind = FrameKind::String;
          f.node = nullptr;
        } else if (c == '-' || is_digit(static_cast<char>(c))) {
          f.kind = FrameKind::Number;
          f.node = nullptr;
          st.push_back(std::move(f));
          return step(std::move(st), c);
        } else {
          f.kind = FrameKind::Literal;
          f.node = keywords;
          f.candidates = {0, 1, 2};
          st.push_back(std::move(f));
          return step(std::move(st), c);
        }
        st.push_back(std::move(f));
        out.push_back(std::move(st));
        return;
      case NodeKind::Object:
      case NodeKind::FreeObject:
        if (c != '{') return;
        f.kind = node->kind == NodeKind::Object ? FrameKind::Object : FrameKind::FreeObject;
        st.push_back(std::move(f));
        out.push_back(std::move(st));
        return;
      case NodeKind::Array:
        if (c != '[') return;
        f.kind = FrameKind::Array;
        st.push_back(std::move(f));
        out.push_back(std::move(st));
        return;
      case NodeKind::String:
        if (c != '"') return;
        f.kind = FrameKind::String;
        st.push_back(std::move(f));
        out.push_back(std::move(st));
        return;
      case NodeKind::Number:
      case NodeKind::Integer:
        f.kind = FrameKind::Number;
        st.push_back(std::move(f));
        return step(std::move(st), c);
      case NodeKind::Literal:
        f.kind = FrameKind::Literal;
        for (size_t i = 0; i < node->literals.size(); ++i) f.candidates.push_back(static_cast<int>(i));
        st.push_back(std::move(f));
        return step(std::move(st), c);
    }
  }

  // Properties from `count` up to and including the first required one may come next.
  static std::vector<int> next_keys(const Frame& f) {
    std::vector<int> keys;
    for (size_t i = static_cast<size_t>(f.count); i < f.node->keys.size(); ++i) {
      keys.push_back(static_cast<int>(i));
      if (f.node->required[i]) break;
    }
    return keys;
  }
  static bool object_may_end(const Frame& f) {
    for (size_t i = static_cast<size_t>(f.count); i < f.node->required.size(); ++i) {
      if (f.node->required[i]) return false;
    }
    return true;
  }

  void object(Stack st, unsigned char c) {
    Frame& f = st.back();
    switch (f.phase) {
      case kOpen:
      case kComma:
        if (c == '"') {
          f.candidates = next_keys(f);
          if (f.candidates.empty()) return;
          f.phase = kKey;
          f.pos = 1;
          out.push_back(std::move(st));
        } else if (c == '}' && f.phase == kOpen && object_may_end(f)) {
          st.pop_back();
          out.push_back(std::move(st));
        }
        return;
      case kKey: {
        std::vector<int> next;
        for (int i : f.candidates) {
          const std::string& key = f.node->keys[static_cast<size_t>(i)];
          if (static_cast<size_t>(f.pos) < key.size() && static_cast<unsigned char>(key[f.pos]) == c) next.push_back(i);
        }
        if (next.empty()) return;
        ++f.pos;
        f.candidates = std::move(next);
        for (int i : f.candidates) {
          if (f.node->keys[static_cast<size_t>(i)].size() == static_cast<size_t>(f.pos)) {
            f.extra = i;
            f.count = i + 1;
            f.phase = kColon;
            f.candidates.clear();
            break;
          }
        }
        out.push_back(std::move(st));
        return;
      }
      case kColon: {
        if (c != ':') return;
        f.phase = kAfterValue;
        const JsonNode* value = f.node->values[static_cast<size_t>(f.extra)];
        push_value(st, value);
        out.push_back(std::move(st));
        return;
      }
      case kAfterValue:
        if (c == ',' && !next_keys(f).empty()) {
          f.phase = kComma;
          out.push_back(std::move(st));
        } else if (c == '}' && object_may_end(f)) {
          st.pop_back();
          out.push_back(std::move(st));
        }
        return;
      default: return;
    }
  }

  void free_object(Stack st, unsigned char c) {
    Frame& f = st.back();
    const JsonNode* value = f.node ? f.node->values.front() : any;
    switch (f.phase) {
      case kOpen:
      case kComma:
        if (c == '"') {
          f.phase = kColon;
          Frame key;
          key.kind = FrameKind::String;
          st.push_back(std::move(key));
          out.push_back(std::move(st));
        } else if (c == '}' && f.phase == kOpen) {
          st.pop_back();
          out.push_back(std::move(st));
        }
        return;
      case kColon:
        if (c != ':') return;
        f.phase = kAfterValue;
        push_value(st, value);
        out.push_back(std::move(st));
        return;
      case kAfterValue:
        if (c == ',') {
          f.phase = kComma;
          out.push_back(std::move(st));
        } else if (c == '}') {
          st.pop_back();
          out.push_back(std::move(st));
        }
        return;
      default: return;
    }
  }

  void array(Stack st, unsigned char c) {
    Frame& f = st.back();
    const JsonNode* items = f.node ? f.node->items : any;
    const int64_t min_items = f.node ? f.node->min_items : 0;
    const int64_t max_items = f.node ? f.node->max_items : -1;
    const bool may_end = f.count >= min_items;
    const bool may_add = max_items < 0 || f.count < max_items;
    if ((f.phase == kOpen && c == ']' && may_end) || (f.phase == kAfterValue && c == ']' && may_end)) {
      st.pop_back();
      out.push_back(std::move(st));
      return;
    }
    if (f.phase == kAfterValue) {
      if (c == ',' && may_add) {
        f.phase = kComma;
        out.push_back(std::move(st));
      }
      return;
    }
    if (!may_add) return;
    ++f.count;
    f.phase = kAfterValue;
    push_value(st, items);
    step(std::move(st), c);
  }

  void string(Stack st, unsigned char c) {
    Frame& f = st.back();
    const int64_t min_length = f.node ? f.node->min_length : 0;
    const int64_t max_length = f.node ? f.node->max_length : -1;
    const bool room = max_length < 0 || f.count < max_length;
    if (f.phase == kEscape) {
      if (c == 'u') {
        f.phase = kHex1;
      } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
        f.phase = kOpen;
      } else {
        return;
      }
      out.push_back(std::move(st));
      return;
    }
    if (f.phase >= kHex1 && f.phase <= kHex4) {
      if (!is_hex(static_cast<char>(c))) return;
      f.phase = f.phase == kHex4 ? kOpen : f.phase + 1;
      out.push_back(std::move(st));
      return;
    }
    if (f.extra > 0) {  // inside a multi-byte character
      if (c < 0x80 || c > 0xBF) return;
      --f.extra;
      out.push_back(std::move(st));
      return;
    }
    if (c == '"') {
      if (f.count < min_length) return;
      st.pop_back();
      out.push_back(std::move(st));
      return;
    }
    if (c < 0x20 || !room) return;
    if (c == '\\') {
      f.phase = kEscape;
    } else if (c >= 0x80) {
      if (c >= 0xC2 && c <= 0xDF) {
        f.extra = 1;
      } else if (c >= 0xE0 && c <= 0xEF) {
        f.extra = 2;
      } else if (c >= 0xF0 && c <= 0xF4) {
        f.extra = 3;
      } else {
        return;
      }
    }
    ++f.count;
    out.push_back(std::move(st));
  }

  void number(Stack st, unsigned char c) {
    Frame& f = st.back();
    const bool integer = f.node && f.node->kind == NodeKind::Integer;
    const bool digit = is_digit(static_cast<char>(c));
    int next = -1;
    switch (f.extra) {
      case kStart: next = c == '-' ? kMinus : c == '0' ? kZero : digit ? kInt : -1; break;
      case kMinus: next = c == '0' ? kZero : digit ? kInt : -1; break;
      case kZero:
      case kInt:
        if (digit && f.extra == kInt && f.pos < kMaxIntegerDigits) next = kInt;
        else if (!integer && c == '.') next = kDot;
        else if (!integer && (c == 'e' || c == 'E')) next = kE;
        break;
      case kDot: next = digit ? kFrac : -1; break;
      case kFrac:
        if (digit && f.pos < kMaxFractionDigits) next = kFrac;
        else if (c == 'e' || c == 'E') next = kE;
        break;
      case kE: next = (c == '+' || c == '-') ? kESign : digit ? kExp : -1; break;
      case kESign: next = digit ? kExp : -1; break;
      case kExp: next = digit && f.pos < kMaxExponentDigits ? kExp : -1; break;
      default: break;
    }
    if (next >= 0) {
      f.pos = next == f.extra ? f.pos + 1 : (digit ? 1 : 0);
      f.extra = next;
      out.push_back(std::move(st));
      return;
    }
    if (!number_accepting(f)) return;
    st.pop_back();
    step(std::move(st), c);
  }

  void literal(Stack st, unsigned char c) {
    Frame& f = st.back();
    if (literal_done(f)) {
      Stack ended = st;
      ended.pop_back();
      step(std::move(ended), c);
    }
    std::vector<int> next;
    for (int i : f.candidates) {
      const std::string& text = f.node->literals[static_cast<size_t>(i)];
      if (static_cast<size_t>(f.pos) < text.size() && static_cast<unsigned char>(text[f.pos]) == c) next.push_back(i);
    }
    if (next.empty()) return;
    f.candidates = std::move(next);
    ++f.pos;
    out.push_back(std::move(st));
  }
};

// A stack that could end here: nothing left, or only a number or literal that needs no more.
bool stack_complete(const Stack& st) {
  if (st.empty()) return true;
  if (st.size() != 1) return false;
  const Frame& f = st.back();
  if (f.kind == FrameKind::Number) return number_accepting(f);
  if (f.kind == FrameKind::Literal) return literal_done(f);
  return false;
}

}  // namespace

struct JsonMatcher::State {
  std::vector<Stack> stacks;
  const JsonNode* any = nullptr;
  const JsonNode* keywords = nullptr;
};

JsonMatcher::JsonMatcher(std::shared_ptr<const JsonGrammar> grammar)
    : grammar_(std::move(grammar)), state_(std::make_unique<State>()) {
  // nodes_[0] is Any and nodes_[1] the true/false/null literal (see JsonSchemaCompiler).
  Frame root;
  root.node = grammar_->root();
  state_->stacks.push_back({root});
  state_->any = grammar_->nodes_[0].get();
  state_->keywords = grammar_->nodes_[1].get();
}
JsonMatcher::~JsonMatcher() = default;
JsonMatcher::JsonMatcher(const JsonMatcher& other)
    : grammar_(other.grammar_), state_(std::make_unique<State>(*other.state_)) {}
JsonMatcher& JsonMatcher::operator=(const JsonMatcher& other) {
  if (this != &other) {
    grammar_ = other.grammar_;
    state_ = std::make_unique<State>(*other.state_);
  }
  return *this;
}
JsonMatcher::JsonMatcher(JsonMatcher&&) noexcept = default;
JsonMatcher& JsonMatcher::operator=(JsonMatcher&&) noexcept = default;

bool JsonMatcher::feed(std::string_view bytes) {
  for (char ch : bytes) {
    std::vector<Stack> next;
    Feeder feeder{state_->any, state_->keywords, next};
    for (Stack& st : state_->stacks) feeder.step(std::move(st), static_cast<unsigned char>(ch));
    if (next.size() > kMaxParses) next.resize(kMaxParses);
    state_->stacks = std::move(next);
    if (state_->stacks.empty()) return false;
  }
  return true;
}

std::unique_ptr<GrammarCursor> JsonMatcher::clone() const { return std::make_unique<JsonMatcher>(*this); }

std::unique_ptr<GrammarCursor> JsonGrammar::start() const {
  return std::make_unique<JsonMatcher>(std::static_pointer_cast<const JsonGrammar>(shared_from_this()));
}

bool JsonMatcher::accepts(std::string_view bytes) const {
  JsonMatcher copy(*this);
  return copy.feed(bytes);
}

bool JsonMatcher::complete() const {
  for (const Stack& st : state_->stacks) {
    if (stack_complete(st)) return true;
  }
  return false;
}

bool JsonMatcher::can_continue() const {
  for (const Stack& st : state_->stacks) {
    if (st.empty()) continue;
    if (st.size() == 1 && st.back().kind == FrameKind::Literal) {
      const Frame& f = st.back();
      for (int i : f.candidates) {
        if (f.node->literals[static_cast<size_t>(i)].size() > static_cast<size_t>(f.pos)) return true;
      }
      continue;
    }
    return true;
  }
  return false;
}

}  // namespace bantam
