// A parsed Jinja template and its bounded renderer: the entry point of the interpreter.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "text/jinja/ast.hpp"
#include "text/jinja/lexer.hpp"
#include "text/jinja/value.hpp"

namespace bantam::jinja {

// Bounds that keep a hostile template from hanging or exhausting memory; going past one is
// an Error.
struct Limits {
  size_t max_output_bytes = size_t{16} << 20;  // also caps any one string or list built
  uint64_t max_work = 50'000'000;              // evaluation steps, plus bytes and items built / 16
  int max_depth = 250;                         // nested evaluation, macro calls included
};

class Template {
 public:
  // Error "NAME:LINE:COLUMN: ..." (NAME from the options) when the source does not parse.
  explicit Template(std::string_view source, const LexOptions& options = {});

  // Renders with `variables` as the template's globals (next to range, dict and namespace).
  // Errors name the template line and column where rendering failed.
  std::string render(const Dict& variables, const Limits& limits = {}) const;

 private:
  Body body_;
  std::string name_;
};

}  // namespace bantam::jinja
