// The GBNF matcher: parse stacks advanced one code point at a time (UTF-8 decoded as bytes come).
// The parser is in gbnf_parser.cpp.
#include "runtime/gbnf_grammar.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam {

namespace {

using Kind = GbnfGrammar::Element::Kind;

// Bounds on what one cursor holds: every byte of every token copies a cursor in the token filter.
constexpr size_t kMaxPositions = 16384;  // all stacks together
constexpr size_t kMaxExpansions = 65536;  // rule alternatives opened for one character

int utf8_continuations(unsigned char lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return 1;
  if (lead >= 0xE0 && lead <= 0xEF) return 2;
  if (lead >= 0xF0 && lead <= 0xF4) return 3;
  return -1;  // a continuation byte, an overlong lead or beyond U+10FFFF
}

uint32_t lead_bits(unsigned char lead, int continuations) {
  return lead & (continuations == 1 ? 0x1Fu : continuations == 2 ? 0x0Fu : 0x07u);
}

}  // namespace

bool GbnfGrammar::CharSet::contains(uint32_t c) const {
  const bool in = std::any_of(ranges.begin(), ranges.end(), [c](const auto& r) { return r.first <= c && c <= r.second; });
  return in != negated;
}

bool GbnfGrammar::CharSet::intersects(uint32_t lo, uint32_t hi) const {
  if (!negated) {
    return std::any_of(ranges.begin(), ranges.end(), [&](const auto& r) { return r.first <= hi && r.second >= lo; });
  }
  // Some point of [lo, hi] outside every range: lo itself or just past the end of a range.
  if (contains(lo)) return true;
  for (const auto& r : ranges) {
    if (r.second >= lo && r.second < hi && contains(r.second + 1)) return true;
  }
  return false;
}

std::unique_ptr<GrammarCursor> GbnfGrammar::start() const {
  return std::make_unique<GbnfMatcher>(std::static_pointer_cast<const GbnfGrammar>(shared_from_this()));
}

GbnfMatcher::GbnfMatcher(std::shared_ptr<const GbnfGrammar> grammar) : grammar_(std::move(grammar)) {
  std::vector<Stack> start;
  for (uint32_t alt : grammar_->rules()[grammar_->root()].alternatives) {
    Stack s;
    if (grammar_->elements()[alt].kind != Kind::End) s.push_back(alt);
    expand(std::move(s), start);
  }
  set_stacks(std::move(start));
}

void GbnfMatcher::expand(Stack stack, std::vector<Stack>& out) const {
  const auto& elements = grammar_->elements();
  std::vector<Stack> work;
  work.push_back(std::move(stack));
  size_t expansions = 0;
  while (!work.empty()) {
    Stack s = std::move(work.back());
    work.pop_back();
    if (s.empty() || elements[s.back()].kind == Kind::Chars) {
      out.push_back(std::move(s));
      continue;
    }
    if (++expansions > kMaxExpansions || s.size() > GbnfGrammar::kMaxDepth) {
      throw Error(fmt::format(
          "GBNF grammar: the parses pass the matcher's bounds ({} stacks, depth {}): the grammar is too ambiguous "
          "or nested too deeply to follow",
          GbnfGrammar::kMaxStacks, GbnfGrammar::kMaxDepth));
    }
    // A rule reference on top: its continuation stays below, each alternative goes on top.
    const uint32_t pos = s.back();
    s.pop_back();
    if (elements[pos + 1].kind != Kind::End) s.push_back(pos + 1);
    for (uint32_t alt : grammar_->rules()[elements[pos].value].alternatives) {
      Stack next = s;
      if (elements[alt].kind != Kind::End) next.push_back(alt);
      work.push_back(std::move(next));
    }
  }
}

void GbnfMatcher::advance(uint32_t code_point) {
  const auto& elements = grammar_->elements();
  std::vector<Stack> next;
  for (const Stack& s : stacks_) {
    if (s.empty()) continue;
    const uint32_t pos = s.back();
    if (!grammar_->char_sets()[elements[pos].value].contains(code_point)) continue;
    Stack moved(s.begin(), s.end() - 1);
    if (elements[pos + 1].kind != Kind::End) moved.push_back(pos + 1);
    expand(std::move(moved), next);
  }
  set_stacks(std::move(next));
}

void GbnfMatcher::set_stacks(std::vector<Stack> next) {
  std::sort(next.begin(), next.end());
  next.erase(std::unique(next.begin(), next.end()), next.end());
  size_t positions = 0;
  for (const Stack& s : next) positions += s.size();
  if (next.size() > GbnfGrammar::kMaxStacks || positions > kMaxPositions) {
    throw Error(fmt::format(
        "GBNF grammar: {} parses ({} positions) are alive at once, over the matcher's bounds ({} stacks, {} "
        "positions): the grammar is too ambiguous to follow",
        next.size(), positions, GbnfGrammar::kMaxStacks, kMaxPositions));
  }
  stacks_ = std::move(next);
}

bool GbnfMatcher::any_top_intersects(uint32_t lo, uint32_t hi) const {
  return std::any_of(stacks_.begin(), stacks_.end(), [&](const Stack& s) {
    return !s.empty() && grammar_->char_sets()[grammar_->elements()[s.back()].value].intersects(lo, hi);
  });
}

bool GbnfMatcher::accepts_byte(char ch) const {
  const auto byte = static_cast<unsigned char>(ch);
  uint32_t bits = 0;
  int left = 0, length = 0;
  if (partial_left_ == 0) {
    if (byte < 0x80) return any_top_intersects(byte, byte);
    left = length = utf8_continuations(byte);
    if (left < 0) return false;
    bits = lead_bits(byte, left);
  } else {
    if ((byte & 0xC0) != 0x80) return false;
    bits = (partial_ << 6) | (byte & 0x3Fu);
    left = partial_left_ - 1;
    length = partial_length_;
  }
  // The characters this prefix may still become, overlong encodings excluded.
  static constexpr uint32_t kShortest[] = {0, 0x80, 0x800, 0x10000};
  const uint32_t lo = std::max(bits << (6 * left), kShortest[length]);
  const uint32_t hi = std::min((bits << (6 * left)) | ((1u << (6 * left)) - 1), 0x10FFFFu);
  return lo <= hi && any_top_intersects(lo, hi);
}

bool GbnfMatcher::feed_byte(unsigned char byte) {
  if (!accepts_byte(static_cast<char>(byte))) {
    stacks_.clear();
    partial_left_ = 0;
    return false;
  }
  if (partial_left_ == 0 && byte < 0x80) {
    advance(byte);
  } else if (partial_left_ == 0) {
    partial_left_ = partial_length_ = utf8_continuations(byte);
    partial_ = lead_bits(byte, partial_left_);
  } else {
    partial_ = (partial_ << 6) | (byte & 0x3Fu);
    if (--partial_left_ == 0) advance(partial_);
  }
  return true;
}

std::unique_ptr<GrammarCursor> GbnfMatcher::clone() const { return std::make_unique<GbnfMatcher>(*this); }

bool GbnfMatcher::feed(std::string_view bytes) {
  for (char ch : bytes) {
    if (!feed_byte(static_cast<unsigned char>(ch))) return false;
  }
  return true;
}

bool GbnfMatcher::complete() const {
  return partial_left_ == 0 && std::any_of(stacks_.begin(), stacks_.end(), [](const Stack& s) { return s.empty(); });
}

bool GbnfMatcher::can_continue() const {
  return partial_left_ > 0 || std::any_of(stacks_.begin(), stacks_.end(), [](const Stack& s) { return !s.empty(); });
}

}  // namespace bantam
