// Recursive-descent parser for the Jinja subset chat templates use, following jinja2's grammar
// and operator precedence. Nesting is bounded so hostile templates cannot exhaust the stack.
#pragma once

#include <string_view>

#include "text/jinja/ast.hpp"
#include "text/jinja/lexer.hpp"

namespace bantam::jinja {

// Deepest nesting of expressions and blocks a template may use.
inline constexpr int kMaxParseDepth = 100;

// Error "NAME:LINE:COLUMN: ..." on syntax the subset does not know or that is broken.
Body parse_template(std::string_view source, const LexOptions& options);

}  // namespace bantam::jinja
