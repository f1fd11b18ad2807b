// UTF-8 helpers giving Jinja strings Python's code-point semantics (length, slicing, case,
// whitespace). Invalid bytes count as one character each, so any byte string is usable.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "text/unicode.hpp"

namespace bantam::jinja::unicode {

// Byte offset where each character starts, plus the string size as the final entry.
std::vector<size_t> char_offsets(std::string_view text);
size_t char_count(std::string_view text);

// Python's str.isspace for one code point.
bool is_space(char32_t c);
// Strip Python whitespace (or, when `chars` is given, any of its characters) from either end.
std::string strip(std::string_view text, bool left, bool right, const std::string* chars = nullptr);

std::string upper(std::string_view text);
std::string lower(std::string_view text);
// First character upper-cased, the rest lower-cased (Python's str.capitalize).
std::string capitalize(std::string_view text);
// Python's str.title: upper-case letters that follow a non-letter, lower-case the others.
std::string title(std::string_view text);

// Calls fn(code_point, byte_offset, byte_length) for each character; invalid bytes give
// code point 0xFFFFFFFF.
template <typename Fn>
void for_each_char(std::string_view text, Fn&& fn);

bool is_alpha(char32_t c);
bool is_digit(char32_t c);
// Encoding and decoding come from the one UTF-8 module (text/unicode.hpp).
inline void append_utf8(std::string& out, char32_t c) { ::bantam::unicode::append_utf8(out, c); }

// Decodes one character at `pos`; sets `length` to the bytes it took (1 for invalid bytes).
inline char32_t decode_at(std::string_view text, size_t pos, size_t& length) {
  return ::bantam::unicode::decode_at(text, pos, length);
}

template <typename Fn>
void for_each_char(std::string_view text, Fn&& fn) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t length = 1;
    const char32_t c = decode_at(text, pos, length);
    fn(c, pos, length);
    pos += length;
  }
}

inline constexpr char32_t kInvalidChar = ::bantam::unicode::kInvalidCodePoint;

}  // namespace bantam::jinja::unicode
