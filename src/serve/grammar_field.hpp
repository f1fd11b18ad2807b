// The `grammar` field (a GBNF grammar, llama.cpp's) that every generation request may carry:
// /completion and /infill, /v1/completions and /v1/chat/completions.
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "runtime/output_grammar.hpp"

namespace bantam::serve {

// The compiled grammar of body["grammar"]; null when absent, null or "". ApiError 400 (param
// "grammar", code "invalid_grammar") naming the rule and line:column when it does not parse.
std::shared_ptr<const OutputGrammar> grammar_field(const nlohmann::json& body);

}  // namespace bantam::serve
