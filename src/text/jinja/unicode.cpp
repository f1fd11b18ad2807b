#include "text/jinja/unicode.hpp"

#include <utf8proc.h>

#include "text/jinja/budget.hpp"

namespace bantam::jinja::unicode {

std::vector<size_t> char_offsets(std::string_view text) {
  std::vector<size_t> offsets;
  offsets.reserve(text.size() + 1);
  for_each_char(text, [&](char32_t, size_t pos, size_t) { offsets.push_back(pos); });
  offsets.push_back(text.size());
  return offsets;
}

size_t char_count(std::string_view text) {
  size_t count = 0;
  for_each_char(text, [&](char32_t, size_t, size_t) { ++count; });
  return count;
}

bool is_space(char32_t c) {
  switch (c) {
    case U'\t':
    case U'\n':
    case 0x0B:
    case 0x0C:
    case U'\r':
    case 0x1C:
    case 0x1D:
    case 0x1E:
    case 0x1F:
    case U' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000: return true;
    default: return c >= 0x2000 && c <= 0x200A;
  }
}

bool is_alpha(char32_t c) {
  if (c == kInvalidChar) return false;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: return true;
    default: return false;
  }
}

bool is_digit(char32_t c) {
  return c != kInvalidChar &&
         utf8proc_category(static_cast<utf8proc_int32_t>(c)) == UTF8PROC_CATEGORY_ND;
}

std::string strip(std::string_view text, bool left, bool right, const std::string* chars) {
  std::vector<char32_t> strip_set;
  if (chars) for_each_char(*chars, [&](char32_t c, size_t, size_t) { strip_set.push_back(c); });
  const auto strippable = [&](char32_t c) {
    if (!chars) return is_space(c);
    for (char32_t s : strip_set) {
      if (s == c) return true;
    }
    return false;
  };
  size_t begin = 0;
  size_t end = 0;
  bool seen_kept = false;
  for_each_char(text, [&](char32_t c, size_t pos, size_t length) {
    if (strippable(c)) {
      if (!seen_kept && left) begin = pos + length;
      return;
    }
    seen_kept = true;
    end = pos + length;
  });
  if (!seen_kept) return {};
  if (!right) end = text.size();
  return std::string(text.substr(begin, end - begin));
}

namespace {

using CaseMap = utf8proc_int32_t (*)(utf8proc_int32_t);

// Unicode SpecialCasing mappings that turn one character into several, which Python applies
// and utf8proc's one-to-one mappings do not.
const char* special_case(char32_t c, CaseMap map) {
  if (map == utf8proc_tolower) return c == 0x130 ? "i\u0307" : nullptr;
  const bool title = map == utf8proc_totitle;
  switch (c) {
    case 0xDF: return title ? "Ss" : "SS";
    case 0x149: return "\u02BCN";
    case 0xFB00: return title ? "Ff" : "FF";
    case 0xFB01: return title ? "Fi" : "FI";
    case 0xFB02: return title ? "Fl" : "FL";
    case 0xFB03: return title ? "Ffi" : "FFI";
    case 0xFB04: return title ? "Ffl" : "FFL";
    case 0xFB05:
    case 0xFB06: return title ? "St" : "ST";
    default: return nullptr;
  }
}

void append_mapped(std::string& out, std::string_view text, size_t pos, size_t length, char32_t c,
                   CaseMap map) {
  if (c == kInvalidChar) {
    out.append(text.substr(pos, length));
  } else if (const char* special = special_case(c, map)) {
    out += special;
  } else {
    append_utf8(out, static_cast<char32_t>(map(static_cast<utf8proc_int32_t>(c))));
  }
}

// Case mapping looks each character up in utf8proc's tables: a step per byte of the budget.
std::string map_all(std::string_view text, CaseMap map) {
  charge_steps(text.size());
  std::string out;
  out.reserve(text.size());
  for_each_char(text, [&](char32_t c, size_t pos, size_t length) {
    append_mapped(out, text, pos, length, c, map);
  });
  return out;
}

}  // namespace

std::string upper(std::string_view text) { return map_all(text, utf8proc_toupper); }
std::string lower(std::string_view text) { return map_all(text, utf8proc_tolower); }

std::string capitalize(std::string_view text) {
  charge_steps(text.size());
  std::string out;
  out.reserve(text.size());
  bool first = true;
  for_each_char(text, [&](char32_t c, size_t pos, size_t length) {
    append_mapped(out, text, pos, length, c, first ? utf8proc_totitle : utf8proc_tolower);
    first = false;
  });
  return out;
}

std::string title(std::string_view text) {
  charge_steps(text.size());
  std::string out;
  out.reserve(text.size());
  bool previous_cased = false;
  for_each_char(text, [&](char32_t c, size_t pos, size_t length) {
    const bool letter = is_alpha(c);
    append_mapped(out, text, pos, length, c,
                  letter && !previous_cased ? utf8proc_totitle : utf8proc_tolower);
    previous_cased = letter;
  });
  return out;
}

}  // namespace bantam::jinja::unicode
