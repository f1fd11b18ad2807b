// GBNF text to GbnfGrammar: a recursive-descent parser over the rules, groups and repetitions
// turned into generated rules (`name_N`), then the checks that keep matching finite: every rule
// defined, a root, no left recursion.
#include <algorithm>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "runtime/gbnf_grammar.hpp"

namespace bantam {

namespace {

constexpr int64_t kMaxRepetition = 10000;
constexpr size_t kMaxElements = 1000000;
constexpr int kMaxNesting = 256;  // parentheses inside parentheses

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

class GbnfParser {
 public:
  explicit GbnfParser(std::string_view text) : text_(text) {}

  std::shared_ptr<const GbnfGrammar> parse() {
    skip_space(true);
    while (pos_ < text_.size()) {
      parse_rule();
      skip_space(true);
    }
    return compile();
  }

 private:
  using Element = GbnfGrammar::Element;
  using Kind = Element::Kind;
  using Sequence = std::vector<Element>;
  struct PendingRule {
    std::string name;
    std::vector<Sequence> alternatives;
    bool defined = false;
    size_t at = 0;  // where it is defined (or first used, while undefined)
    std::string owner;  // the rule written in the text that a generated rule is part of
  };

  [[noreturn]] void fail(size_t at, const std::string& what) const {
    const std::string rule = current_.empty() ? "" : fmt::format(" (rule '{}')", current_);
    throw Error(fmt::format("GBNF grammar at {}{}: {}", where(at), rule, what));
  }

  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool at_end() const { return pos_ >= text_.size(); }

  // Spaces, tabs and comments; newlines too when `newlines`.
  void skip_space(bool newlines) {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == ' ' || c == '\t' || (newlines && (c == '\n' || c == '\r'))) {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  // `name ::=` starts here: the next rule's definition.
  bool at_rule_start() const {
    size_t p = pos_;
    while (p < text_.size() && is_name_char(text_[p])) ++p;
    if (p == pos_) return false;
    while (p < text_.size() && (text_[p] == ' ' || text_[p] == '\t')) ++p;
    return text_.substr(p).starts_with("::=");
  }

  std::string parse_name() {
    const size_t start = pos_;
    while (pos_ < text_.size() && is_name_char(text_[pos_])) ++pos_;
    if (pos_ == start) fail(start, fmt::format("expected a rule name, found {}", describe(start)));
    return std::string(text_.substr(start, pos_ - start));
  }

  std::string describe(size_t at) const {
    if (at >= text_.size()) return "the end of the grammar";
    const char c = text_[at];
    if (c == '\n') return "the end of the line";
    return fmt::format("'{}'", c);
  }

  uint32_t rule_named(const std::string& name, size_t at) {
    const auto [it, added] = by_name_.try_emplace(name, static_cast<uint32_t>(rules_.size()));
    if (added) rules_.push_back(PendingRule{name, {}, false, at, name});
    return it->second;
  }

  uint32_t generated_rule(std::vector<Sequence> alternatives, size_t at) {
    rules_.push_back(PendingRule{fmt::format("{}_{}", current_, ++generated_), std::move(alternatives), true, at,
                                 current_});
    return static_cast<uint32_t>(rules_.size() - 1);
  }

  void count_elements(size_t n, size_t at) {
    elements_ += n;
    if (elements_ > kMaxElements) {
      fail(at, fmt::format("the grammar holds more than {} elements once its repetitions are written out", kMaxElements));
    }
  }

  void parse_rule() {
    const size_t start = pos_;
    current_.clear();
    const std::string name = parse_name();
    current_ = name;
    generated_ = 0;
    skip_space(false);
    if (!text_.substr(pos_).starts_with("::=")) fail(pos_, fmt::format("expected '::=' after the rule name, found {}", describe(pos_)));
    pos_ += 3;
    const uint32_t index = rule_named(name, start);
    if (rules_[index].defined) fail(start, fmt::format("rule '{}' is defined twice", name));
    std::vector<Sequence> alternatives = parse_alternatives(0);
    if (peek() == ')') fail(pos_, "')' without a matching '('");
    rules_[index].alternatives = std::move(alternatives);
    rules_[index].defined = true;
    rules_[index].at = start;
  }

  std::vector<Sequence> parse_alternatives(int depth) {
    std::vector<Sequence> alternatives;
    alternatives.push_back(parse_sequence(depth));
    while (peek() == '|') {
      ++pos_;
      alternatives.push_back(parse_sequence(depth));
    }
    return alternatives;
  }

  Sequence parse_sequence(int depth) {
    Sequence sequence;
    for (;;) {
      skip_space(true);
      if (at_end() || peek() == '|' || peek() == ')' || at_rule_start()) return sequence;
      const size_t item_start = sequence.size();
      const size_t at = pos_;
      parse_item(sequence, depth);
      skip_space(false);
      parse_repetition(sequence, item_start, at);
    }
  }

  void parse_item(Sequence& sequence, int depth) {
    const size_t at = pos_;
    const char c = peek();
    if (c == '"') {
      ++pos_;
      while (peek() != '"') {
        if (at_end() || peek() == '\n') fail(at, "unterminated string literal (no closing '\"' on its line)");
        const uint32_t ch = parse_char();
        sequence.push_back(char_element({{{ch, ch}}, false}));
      }
      ++pos_;
      count_elements(sequence.size(), at);
    } else if (c == '[') {
      sequence.push_back(parse_class());
      count_elements(1, at);
    } else if (c == '.') {
      ++pos_;
      sequence.push_back(char_element({{}, true}));
      count_elements(1, at);
    } else if (c == '(') {
      if (depth >= kMaxNesting) fail(at, fmt::format("groups nest deeper than {}", kMaxNesting));
      ++pos_;
      std::vector<Sequence> alternatives = parse_alternatives(depth + 1);
      if (peek() != ')') fail(pos_, fmt::format("expected ')' to close the group opened at {}, found {}", where(at), describe(pos_)));
      ++pos_;
      if (alternatives.size() == 1) {
        sequence.insert(sequence.end(), alternatives[0].begin(), alternatives[0].end());
      } else {
        sequence.push_back({Kind::Rule, generated_rule(std::move(alternatives), at)});
        count_elements(1, at);
      }
    } else if (is_name_char(c)) {
      const std::string name = parse_name();
      sequence.push_back({Kind::Rule, rule_named(name, at)});
      count_elements(1, at);
    } else if (c == '<' || c == '!') {
      fail(at, "token references (<[id]>, <token>, !<...>) are not supported; write the text as a string literal");
    } else {
      fail(at, fmt::format("unexpected {}", describe(at)));
    }
  }

  // "LINE:COLUMN" of a byte offset, columns counted in characters.
  std::string where(size_t at) const {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < at && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) {
        ++column;
      }
    }
    return fmt::format("{}:{}", line, column);
  }

  Element char_element(GbnfGrammar::CharSet set) {
    sets_.push_back(std::move(set));
    return {Kind::Chars, static_cast<uint32_t>(sets_.size() - 1)};
  }

  Element parse_class() {
    const size_t at = pos_;
    ++pos_;  // '['
    GbnfGrammar::CharSet set;
    if (peek() == '^') {
      set.negated = true;
      ++pos_;
    }
    while (peek() != ']') {
      if (at_end() || peek() == '\n') fail(at, "unterminated character class (no closing ']' on its line)");
      const size_t range_at = pos_;
      const uint32_t lo = parse_char();
      uint32_t hi = lo;
      if (peek() == '-' && pos_ + 1 < text_.size() && text_[pos_ + 1] != ']') {
        ++pos_;
        hi = parse_char();
        if (hi < lo) fail(range_at, fmt::format("the range U+{:04X}-U+{:04X} ends before it starts", lo, hi));
      }
      set.ranges.emplace_back(lo, hi);
    }
    ++pos_;
    return char_element(std::move(set));
  }

  uint32_t hex_digits(int count) {
    const size_t at = pos_;
    uint32_t value = 0;
    for (int i = 0; i < count; ++i) {
      const char c = peek();
      int digit = -1;
      if (c >= '0' && c <= '9') digit = c - '0';
      if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
      if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
      if (digit < 0) fail(pos_, fmt::format("expected {} hexadecimal digits, found {}", count, describe(pos_)));
      value = value * 16 + static_cast<uint32_t>(digit);
      ++pos_;
    }
    if (value > 0x10FFFF) fail(at, fmt::format("U+{:X} is beyond Unicode's last code point", value));
    return value;
  }

  // One character of a literal or class: an escape or a UTF-8 encoded code point.
  uint32_t parse_char() {
    const size_t at = pos_;
    const auto lead = static_cast<unsigned char>(text_[pos_++]);
    if (lead == '\\') {
      if (at_end()) fail(at, "a '\\' ends the grammar");
      const char e = text_[pos_++];
      switch (e) {
        case 'n': return '\n';
        case 'r': return '\r';
        case 't': return '\t';
        case 'x': return hex_digits(2);
        case 'u': return hex_digits(4);
        case 'U': return hex_digits(8);
        case '\\': case '"': case '[': case ']': case '-': case '^': case '\'': case '/': return static_cast<uint32_t>(e);
        default: fail(at, fmt::format("unknown escape '\\{}'", e));
      }
    }
    if (lead < 0x80) return lead;
    const int more = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : -1;
    if (more < 0 || pos_ + static_cast<size_t>(more) > text_.size()) fail(at, "the grammar is not valid UTF-8 here");
    uint32_t value = lead & (more == 1 ? 0x1Fu : more == 2 ? 0x0Fu : 0x07u);
    for (int i = 0; i < more; ++i) {
      const auto byte = static_cast<unsigned char>(text_[pos_++]);
      if ((byte & 0xC0) != 0x80) fail(at, "the grammar is not valid UTF-8 here");
      value = (value << 6) | (byte & 0x3Fu);
    }
    return value;
  }

  int64_t parse_count() {
    const size_t at = pos_;
    int64_t value = 0;
    if (!(peek() >= '0' && peek() <= '9')) fail(pos_, fmt::format("expected a number, found {}", describe(pos_)));
    while (peek() >= '0' && peek() <= '9') {
      value = value * 10 + (text_[pos_++] - '0');
      if (value > kMaxRepetition) fail(at, fmt::format("a repetition count above {}", kMaxRepetition));
    }
    return value;
  }

  // `*`, `+`, `?` or `{m,n}` after the item that starts at sequence[item_start].
  void parse_repetition(Sequence& sequence, size_t item_start, size_t at) {
    int64_t min = 0, max = -1;  // max -1: unbounded
    const char c = peek();
    if (c == '*') {
      ++pos_;
    } else if (c == '+') {
      ++pos_;
      min = 1;
    } else if (c == '?') {
      ++pos_;
      max = 1;
    } else if (c == '{') {
      const size_t brace = pos_++;
      skip_space(false);
      if (peek() != ',') min = parse_count();
      skip_space(false);
      if (peek() == ',') {
        ++pos_;
        skip_space(false);
        if (peek() != '}') max = parse_count();
      } else {
        max = min;
      }
      skip_space(false);
      if (peek() != '}') fail(pos_, fmt::format("expected '}}' to close the repetition opened at {}, found {}", where(brace), describe(pos_)));
      ++pos_;
      if (max >= 0 && max < min) fail(brace, fmt::format("the repetition {{{},{}}} has its upper bound below its lower", min, max));
    } else {
      return;
    }
    if (sequence.size() == item_start) fail(at, "a repetition of nothing");
    Element item = sequence[item_start];
    if (sequence.size() - item_start > 1) {
      item = {Kind::Rule, generated_rule({Sequence(sequence.begin() + static_cast<std::ptrdiff_t>(item_start), sequence.end())}, at)};
    }
    sequence.resize(item_start);
    for (int64_t i = 0; i < min; ++i) sequence.push_back(item);
    count_elements(static_cast<size_t>(min), at);
    if (max < 0) {
      // rest ::= item rest | (nothing)
      const uint32_t rest = generated_rule({}, at);
      rules_[rest].alternatives = {{item, {Kind::Rule, rest}}, {}};
      sequence.push_back({Kind::Rule, rest});
      count_elements(3, at);
    } else if (max > min) {
      // Nested optionals, innermost first: opt_k ::= item opt_k+1 | (nothing).
      std::optional<uint32_t> inner;
      for (int64_t i = min; i < max; ++i) {
        Sequence once{item};
        if (inner) once.push_back({Kind::Rule, *inner});
        inner = generated_rule({std::move(once), {}}, at);
        count_elements(3, at);
      }
      sequence.push_back({Kind::Rule, *inner});
    }
  }

  std::shared_ptr<const GbnfGrammar> compile() {
    current_.clear();
    const auto root = by_name_.find("root");
    if (root == by_name_.end() || !rules_[root->second].defined) fail(text_.size(), "the grammar has no 'root' rule");
    for (const PendingRule& rule : rules_) {
      if (!rule.defined) {
        current_.clear();
        fail(rule.at, fmt::format("rule '{}' is used but never defined", rule.name));
      }
    }
    std::shared_ptr<GbnfGrammar> grammar(new GbnfGrammar());
    grammar->char_sets_ = std::move(sets_);
    for (const PendingRule& rule : rules_) {
      GbnfGrammar::Rule compiled{rule.name, {}};
      for (const Sequence& alternative : rule.alternatives) {
        compiled.alternatives.push_back(static_cast<uint32_t>(grammar->elements_.size()));
        grammar->elements_.insert(grammar->elements_.end(), alternative.begin(), alternative.end());
        grammar->elements_.push_back({Kind::End, 0});
      }
      grammar->rules_.push_back(std::move(compiled));
    }
    grammar->root_ = root->second;
    check_left_recursion();
    GbnfMatcher start(grammar);  // Error when the start alone passes the matcher's bounds
    return grammar;
  }

  // A rule reached again before a character is matched would expand forever: find such a loop
  // through the rules that can open each other at their left edge, and name it.
  void check_left_recursion() {
    const size_t n = rules_.size();
    std::vector<bool> nullable(n, false);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < n; ++r) {
        if (nullable[r]) continue;
        for (const Sequence& alternative : rules_[r].alternatives) {
          if (std::all_of(alternative.begin(), alternative.end(),
                          [&](const Element& e) { return e.kind == Kind::Rule && nullable[e.value]; })) {
            nullable[r] = changed = true;
            break;
          }
        }
      }
    }
    std::vector<std::vector<uint32_t>> left(n);
    for (size_t r = 0; r < n; ++r) {
      for (const Sequence& alternative : rules_[r].alternatives) {
        for (const Element& e : alternative) {
          if (e.kind != Kind::Rule) break;
          left[r].push_back(e.value);
          if (!nullable[e.value]) break;
        }
      }
    }
    // Depth-first search without recursion; state 1: on the path, 2: done.
    std::vector<uint8_t> state(n, 0);
    for (size_t first = 0; first < n; ++first) {
      if (state[first]) continue;
      std::vector<std::pair<uint32_t, size_t>> path{{static_cast<uint32_t>(first), 0}};
      state[first] = 1;
      while (!path.empty()) {
        auto& [rule, next] = path.back();
        if (next == left[rule].size()) {
          state[rule] = 2;
          path.pop_back();
          continue;
        }
        const uint32_t target = left[rule][next++];
        if (state[target] == 1) report_loop(path, target);
        if (state[target] == 0) {
          state[target] = 1;
          path.emplace_back(target, 0);
        }
      }
    }
  }

  [[noreturn]] void report_loop(const std::vector<std::pair<uint32_t, size_t>>& path, uint32_t target) {
    std::string loop;
    bool on = false;
    for (const auto& [rule, next] : path) {
      on = on || rule == target;
      if (on) loop += rules_[rule].name + " → ";
    }
    loop += rules_[target].name;
    current_ = rules_[target].owner;
    const bool generated = rules_[target].name != rules_[target].owner;
    fail(rules_[target].at,
         fmt::format("left recursion: {} refers back to itself before matching a character ({}){}", rules_[target].name,
                     loop,
                     generated ? " (a repetition of something that can match nothing loops the same way)" : ""));
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string current_;  // the rule being parsed, for errors
  int generated_ = 0;    // rules generated inside the current one
  std::vector<PendingRule> rules_;
  std::map<std::string, uint32_t> by_name_;
  std::vector<GbnfGrammar::CharSet> sets_;
  size_t elements_ = 0;
};

std::shared_ptr<const GbnfGrammar> GbnfGrammar::parse(std::string_view text) { return GbnfParser(text).parse(); }

}  // namespace bantam
