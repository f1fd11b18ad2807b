// What constrains a generation's text, whichever language wrote it (a JSON schema, a GBNF
// grammar): the token filter asks a cursor, byte by byte, whether the text so far can still
// become a document of the grammar, and the generation loop asks whether it already is one.
#pragma once

#include <memory>
#include <string_view>

namespace bantam {

// A position in one document: every parse still possible after the bytes fed so far.
class GrammarCursor {
 public:
  virtual ~GrammarCursor() = default;
  virtual std::unique_ptr<GrammarCursor> clone() const = 0;
  // Appends bytes; false (and the cursor unusable) when they leave the language. Error when a
  // hostile grammar would make following the parses cost more than its bounds allow.
  virtual bool feed(std::string_view bytes) = 0;
  // Whether one more byte keeps the text in the language; cursors override it when they can
  // answer without a copy (the token filter asks this for every byte of every token).
  virtual bool accepts_byte(char byte) const { return clone()->feed(std::string_view(&byte, 1)); }
  virtual bool complete() const = 0;      // the bytes so far are one whole document
  virtual bool can_continue() const = 0;  // some byte may still follow
};

// A compiled grammar, shared by the generations it constrains (made through shared_ptr, so a
// cursor may keep its grammar alive).
class OutputGrammar : public std::enable_shared_from_this<OutputGrammar> {
 public:
  virtual ~OutputGrammar() = default;
  virtual std::unique_ptr<GrammarCursor> start() const = 0;
};

}  // namespace bantam
