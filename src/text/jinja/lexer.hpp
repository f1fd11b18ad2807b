// Splits a Jinja template into text and tag tokens, applying jinja2's whitespace rules
// (`{%-`/`-%}` stripping, trim_blocks, lstrip_blocks, `+` opt-outs, one trailing newline dropped)
// so the parser only sees what will be printed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bantam::jinja {

struct SourcePos {
  int line = 1;
  int column = 1;
};

enum class TokenKind {
  Text,        // literal template text, already whitespace-controlled
  VarBegin,    // {{
  VarEnd,      // }}
  BlockBegin,  // {%
  BlockEnd,    // %}
  Name,        // identifiers and keywords
  String,      // text holds the decoded value
  Integer,
  Float,
  Operator,  // text holds the operator: + - ** // == ( [ ...
  EndOfInput,
};

struct Token {
  TokenKind kind = TokenKind::EndOfInput;
  std::string text;
  SourcePos pos;
  int64_t int_value = 0;
  double float_value = 0.0;
};

struct LexOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
  std::string name = "template";  // how errors name the source: "NAME:LINE:COLUMN: ..."
};

// Error "NAME:LINE:COLUMN: ..." for an unterminated tag, comment or string, or a character
// that cannot start a token.
std::vector<Token> tokenize(std::string_view source, const LexOptions& options);

}  // namespace bantam::jinja
