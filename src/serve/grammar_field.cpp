#include "serve/grammar_field.hpp"

#include "bantam/error.hpp"
#include "runtime/gbnf_grammar.hpp"
#include "serve/api_error.hpp"

namespace bantam::serve {

std::shared_ptr<const OutputGrammar> grammar_field(const nlohmann::json& body) {
  if (!body.contains("grammar") || body["grammar"].is_null()) return nullptr;
  const nlohmann::json& field = body["grammar"];
  if (!field.is_string()) throw ApiError(400, "'grammar' must be a string (a GBNF grammar)", "grammar", "invalid_type");
  if (field.get_ref<const std::string&>().empty()) return nullptr;
  try {
    return GbnfGrammar::parse(field.get_ref<const std::string&>());
  } catch (const Error& e) {
    throw ApiError(400, e.what(), "grammar", "invalid_grammar");
  }
}

}  // namespace bantam::serve
