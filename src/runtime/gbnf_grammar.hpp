// llama.cpp's GBNF grammars (grammars/README.md there), parsed here and followed code point by
// code point for grammar-constrained sampling.
//
// Syntax: rules `name ::= alternatives` (names of letters, digits, '-' and '_'), alternatives
// separated by `|`, sequences, groups `( )`, repetitions `*` `+` `?` `{m}` `{m,}` `{m,n}` `{,n}`,
// string literals "..." and character classes [a-z] / [^...] with escapes (\n \r \t \\ \" \[ \]
// \- \^ \xHH \uHHHH \UHHHHHHHH), `.` for any character, `#` comments; a rule may go on over
// several lines (a line starting `name ::=` starts the next rule). `root` is the start. Token
// references (`<[id]>`, `<think>`) are not supported and refused.
//
// Refused with an Error naming the rule and the line:column: a syntax error, an undefined rule, no
// `root`, left recursion (`expr ::= expr "+" term`), a repetition of something that can match
// nothing (`("a"?)*`, the same loop), a repetition bound over 10,000 or a grammar over a million
// elements once repetitions are expanded.
//
// The matcher follows every parse still possible as a stack of grammar positions (the approach of
// llama.cpp's sampler); at most 1,024 stacks of depth 4,096 are kept, and a grammar ambiguous
// or nested enough to pass them raises an Error saying so rather than spending unbounded memory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/output_grammar.hpp"

namespace bantam {

class GbnfGrammar : public OutputGrammar {
 public:
  static constexpr size_t kMaxStacks = 1024;
  static constexpr size_t kMaxDepth = 4096;

  // Error("GBNF grammar, rule 'expr' at 3:12: expected ')' ...") and the like.
  static std::shared_ptr<const GbnfGrammar> parse(std::string_view text);
  std::unique_ptr<GrammarCursor> start() const override;

  // A compiled rule body is a run of elements per alternative, each run ending with End.
  struct Element {
    enum class Kind : uint8_t { End, Chars, Rule } kind = Kind::End;
    uint32_t value = 0;  // Chars: index of the character set; Rule: index of the rule
  };
  struct CharSet {
    std::vector<std::pair<uint32_t, uint32_t>> ranges;  // inclusive code point ranges
    bool negated = false;
    bool contains(uint32_t c) const;
    bool intersects(uint32_t lo, uint32_t hi) const;  // some code point of [lo, hi] is in the set
  };
  struct Rule {
    std::string name;
    std::vector<uint32_t> alternatives;  // positions in elements()
  };

  const std::vector<Element>& elements() const { return elements_; }
  const std::vector<CharSet>& char_sets() const { return char_sets_; }
  const std::vector<Rule>& rules() const { return rules_; }
  uint32_t root() const { return root_; }

 private:
  friend class GbnfParser;
  std::vector<Element> elements_;
  std::vector<CharSet> char_sets_;
  std::vector<Rule> rules_;
  uint32_t root_ = 0;
};

// A position in a document of a GBNF grammar: every parse stack still possible, and the bytes of
// a character not yet complete.
class GbnfMatcher : public GrammarCursor {
 public:
  // Error when the grammar's start already passes the stack bounds.
  explicit GbnfMatcher(std::shared_ptr<const GbnfGrammar> grammar);

  std::unique_ptr<GrammarCursor> clone() const override;
  bool feed(std::string_view bytes) override;
  bool accepts_byte(char byte) const override;
  bool complete() const override;
  bool can_continue() const override;

 private:
  using Stack = std::vector<uint32_t>;  // element positions, the next one to match on top
  bool feed_byte(unsigned char byte);
  void advance(uint32_t code_point);
  void set_stacks(std::vector<Stack> next);  // sorted, duplicates dropped; Error past the bounds
  // Adds `stack` with rule references on top replaced by their alternatives, to `out`.
  void expand(Stack stack, std::vector<Stack>& out) const;
  // Some stack's next character may lie in [lo, hi].
  bool any_top_intersects(uint32_t lo, uint32_t hi) const;

  std::shared_ptr<const GbnfGrammar> grammar_;
  std::vector<Stack> stacks_;  // sorted and unique; an empty stack: the document may end here
  uint32_t partial_ = 0;       // an unfinished UTF-8 character's bits so far
  int partial_left_ = 0;       // its continuation bytes still to come
  int partial_length_ = 0;     // and in all
};

}  // namespace bantam
