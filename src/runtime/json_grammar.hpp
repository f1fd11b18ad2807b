// A JSON-Schema subset compiled to a byte-level recognizer of compact JSON (no whitespace), for
// grammar-constrained sampling: at each step only tokens whose bytes keep the output a valid
// prefix of some schema-valid document may be drawn.
//
// Supported: type (one or a list), properties, required, additionalProperties, items, minItems,
// maxItems, enum, const, anyOf, minLength, maxLength, $defs/definitions with local $ref, and the
// annotations (title, description, default, examples, $schema, $id, $comment). Any other keyword
// is refused with an Error naming it: a schema is either enforced or rejected, never ignored.
// Objects are written with their properties in declared order, optional ones skippable.
// A schema may recurse through objects and arrays (the recognizer stops at 64 levels); a $ref or
// anyOf loop with nothing in between is refused naming the loop. The matcher follows a bounded
// number of parses at once, so an ambiguous schema costs bounded time and memory per byte.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/output_grammar.hpp"

namespace bantam {

struct JsonNode;

class JsonGrammar : public OutputGrammar {
 public:
  // Error("unsupported JSON Schema keyword 'pattern' at /properties/x"), a loop
  // ("... #/$defs/a → #/$defs/b → #/$defs/a ...") and the like.
  // `schema` is ordered_json so objects are written in the order the schema declares their
  // properties: a schema parsed as nlohmann::json has lost it (its keys sort alphabetically).
  static std::shared_ptr<const JsonGrammar> from_schema(const nlohmann::ordered_json& schema);
  // Any JSON object (response_format json_object).
  static std::shared_ptr<const JsonGrammar> any_object();
  ~JsonGrammar() override;
  std::unique_ptr<GrammarCursor> start() const override;

  const JsonNode* root() const { return root_; }

 private:
  JsonGrammar();
  friend class JsonSchemaCompiler;
  friend class JsonMatcher;
  std::vector<std::unique_ptr<JsonNode>> nodes_;
  const JsonNode* root_ = nullptr;
};

// The recognizer's position in one document: every parse still possible.
class JsonMatcher : public GrammarCursor {
 public:
  explicit JsonMatcher(std::shared_ptr<const JsonGrammar> grammar);
  ~JsonMatcher() override;
  JsonMatcher(const JsonMatcher&);
  JsonMatcher& operator=(const JsonMatcher&);
  JsonMatcher(JsonMatcher&&) noexcept;
  JsonMatcher& operator=(JsonMatcher&&) noexcept;

  // Appends bytes; false (and the matcher unusable) when they leave the language.
  std::unique_ptr<GrammarCursor> clone() const override;
  bool feed(std::string_view bytes) override;
  bool accepts(std::string_view bytes) const;  // feed on a copy
  bool complete() const override;        // the bytes so far are one whole valid document
  bool can_continue() const override;    // some byte may still follow

  struct State;

 private:
  std::shared_ptr<const JsonGrammar> grammar_;
  std::unique_ptr<State> state_;
};

}  // namespace bantam
