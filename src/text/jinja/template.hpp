// A parsed Jinja template and its bounded renderer: the entry point of the interpreter.
#pragma once

#include <string>
#include <string_view>

#include "text/jinja/ast.hpp"
#include "text/jinja/budget.hpp"
#include "text/jinja/lexer.hpp"
#include "text/jinja/value.hpp"

namespace bantam::jinja {

// What a render used of its budgets, for callers that report or test them.
struct RenderStats {
  size_t peak_bytes = 0;  // the most memory the render's values and text held at once
  uint64_t steps = 0;
};

class Template {
 public:
  // Error "NAME:LINE:COLUMN: ..." (NAME from the options) when the source does not parse.
  explicit Template(std::string_view source, const LexOptions& options = {});

  // Renders with `variables` as the template's globals (next to range, dict and namespace).
  // Errors name the template line and column where rendering failed. `stats`, when given, is
  // filled in whether the render succeeds or fails.
  std::string render(const Dict& variables, const Limits& limits = {},
                     RenderStats* stats = nullptr) const;

 private:
  Body body_;
  std::string name_;
};

}  // namespace bantam::jinja
