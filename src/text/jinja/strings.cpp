#include "text/jinja/strings.hpp"

#include <algorithm>

#include "bantam/error.hpp"
#include "text/jinja/budget.hpp"
#include "text/jinja/renderer.hpp"
#include "text/jinja/unicode.hpp"

namespace bantam::jinja {
namespace {

struct CharSpan {
  size_t offset;
  size_t length;
  bool space;
};

std::vector<CharSpan> char_spans(const std::string& text) {
  std::vector<CharSpan> spans;
  unicode::for_each_char(text, [&](char32_t c, size_t pos, size_t length) {
    spans.push_back({pos, length, unicode::is_space(c)});
  });
  return spans;
}

// Adds one part of a split, first checking that the parts so far fit the memory budget as the
// list of strings they become: splitting a long string of separators makes millions of them.
void add_part(std::vector<std::string>& parts, size_t& cost, std::string part,
              std::string_view what = "split()") {
  cost += string_cost(part.size()) + sizeof(Value);
  require_memory(cost, what);
  parts.push_back(std::move(part));
}

bool reached(int64_t maxsplit, size_t splits) {
  return maxsplit >= 0 && splits >= static_cast<uint64_t>(maxsplit);
}

std::vector<std::string> split_on_separator(const std::string& text, const std::string& sep,
                                            int64_t maxsplit, bool from_right) {
  if (sep.empty()) throw Error("split(): empty separator");
  std::vector<std::string> parts;
  size_t cost = list_cost(0);
  if (!from_right) {
    size_t start = 0;
    for (size_t at = text.find(sep); at != std::string::npos && !reached(maxsplit, parts.size());
         at = text.find(sep, start)) {
      add_part(parts, cost, text.substr(start, at - start));
      start = at + sep.size();
    }
    add_part(parts, cost, text.substr(start));
    return parts;
  }
  size_t end = text.size();
  while (!reached(maxsplit, parts.size()) && end >= sep.size()) {
    const size_t at = text.rfind(sep, end - sep.size());
    if (at == std::string::npos) break;
    add_part(parts, cost, text.substr(at + sep.size(), end - at - sep.size()));
    end = at;
  }
  add_part(parts, cost, text.substr(0, end));
  std::reverse(parts.begin(), parts.end());
  return parts;
}

std::vector<std::string> split_on_whitespace(const std::string& text, int64_t maxsplit,
                                             bool from_right) {
  require_memory(text.size() * sizeof(CharSpan), "split()");
  const auto spans = char_spans(text);
  std::vector<std::string> parts;
  size_t cost = list_cost(0);
  if (!from_right) {
    size_t i = 0;
    while (true) {
      while (i < spans.size() && spans[i].space) ++i;
      if (i == spans.size()) break;
      if (reached(maxsplit, parts.size())) {
        add_part(parts, cost, text.substr(spans[i].offset));  // the rest, trailing space included
        break;
      }
      size_t j = i;
      while (j < spans.size() && !spans[j].space) ++j;
      const size_t end = j < spans.size() ? spans[j].offset : text.size();
      add_part(parts, cost, text.substr(spans[i].offset, end - spans[i].offset));
      i = j;
    }
    return parts;
  }
  size_t i = spans.size();  // one past the character under consideration
  while (true) {
    while (i > 0 && spans[i - 1].space) --i;
    if (i == 0) break;
    const size_t end = spans[i - 1].offset + spans[i - 1].length;
    if (reached(maxsplit, parts.size())) {
      add_part(parts, cost, text.substr(0, end));  // the rest, leading space included
      break;
    }
    size_t j = i;
    while (j > 0 && !spans[j - 1].space) --j;
    add_part(parts, cost, text.substr(spans[j].offset, end - spans[j].offset));
    i = j;
  }
  std::reverse(parts.begin(), parts.end());
  return parts;
}

bool is_line_break(char32_t c) {
  switch (c) {
    case U'\n':
    case U'\r':
    case 0x0B:
    case 0x0C:
    case 0x1C:
    case 0x1D:
    case 0x1E:
    case 0x85:
    case 0x2028:
    case 0x2029: return true;
    default: return false;
  }
}

}  // namespace

std::vector<std::string> python_split(const std::string& text, const std::string* sep,
                                      int64_t maxsplit, bool from_right) {
  charge_copy(text.size());
  if (sep) return split_on_separator(text, *sep, maxsplit, from_right);
  return split_on_whitespace(text, maxsplit, from_right);
}

std::vector<std::string> python_splitlines(const std::string& text) {
  charge_copy(text.size());
  std::vector<std::string> lines;
  size_t cost = list_cost(0);
  std::string line;
  bool after_cr = false;
  bool open = false;
  unicode::for_each_char(text, [&](char32_t c, size_t pos, size_t length) {
    if (c == U'\n' && after_cr) {  // \r\n is one break
      after_cr = false;
      return;
    }
    after_cr = c == U'\r';
    if (is_line_break(c)) {
      add_part(lines, cost, std::move(line), "splitlines()");
      line.clear();
      open = false;
      return;
    }
    line.append(text, pos, length);
    open = true;
  });
  if (open) add_part(lines, cost, std::move(line), "splitlines()");
  return lines;
}

std::string python_replace(const std::string& text, const std::string& old,
                           const std::string& replacement, int64_t count, Renderer& renderer) {
  std::string out;
  int64_t done = 0;
  const auto may_replace = [&] { return count < 0 || done < count; };
  const auto grow = [&](std::string_view piece) {
    require_memory(string_cost(out.size() + piece.size()), "replace()");
    out.append(piece);
  };
  if (old.empty()) {
    unicode::for_each_char(text, [&](char32_t, size_t pos, size_t length) {
      if (may_replace()) {
        grow(replacement);
        ++done;
      }
      grow(std::string_view(text).substr(pos, length));
    });
    if (may_replace()) grow(replacement);
  } else {
    size_t start = 0;
    for (size_t at = text.find(old); at != std::string::npos && may_replace();
         at = text.find(old, start)) {
      grow(std::string_view(text).substr(start, at - start));
      grow(replacement);
      start = at + old.size();
      ++done;
    }
    grow(std::string_view(text).substr(start));
  }
  renderer.charge(0, out.size());
  return out;
}

}  // namespace bantam::jinja
