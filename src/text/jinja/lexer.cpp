#include "text/jinja/lexer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "bantam/error.hpp"
#include "text/unicode.hpp"
#include "text/jinja/unicode.hpp"

namespace bantam::jinja {
namespace {

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

// jinja2 reads templates with \r\n and \r turned into \n, and drops one final newline.
std::string normalize_newlines(std::string_view source, bool keep_trailing_newline) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!keep_trailing_newline && !out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  Lexer(std::string_view source, const LexOptions& options)
      : src_(normalize_newlines(source, options.keep_trailing_newline)), options_(options) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      const size_t open = find_tag_open(pos_);
      if (open == std::string::npos) {
        emit_text(pos_, src_.substr(pos_));
        break;
      }
      const char kind = src_[open + 1];
      const char sign = open + 2 < src_.size() && (src_[open + 2] == '-' || src_[open + 2] == '+')
                            ? src_[open + 2]
                            : '\0';
      emit_text(pos_, control_text(pos_, open, kind != '{', sign));
      const size_t after = open + 2 + (sign ? 1 : 0);
      size_t raw_body = 0;
      if (kind == '#') {
        lex_comment(open, after);
      } else if (kind == '%' && match_raw_begin(after, raw_body)) {
        lex_raw(open, raw_body);
      } else {
        lex_tag(kind == '{', open, after);
      }
    }
    Token end;
    end.kind = TokenKind::EndOfInput;
    end.pos = position(src_.size());
    tokens_.push_back(std::move(end));
    return std::move(tokens_);
  }

 private:
  // Tokens come in source order, so positions advance from the previous one; only errors may
  // look back, and they start over from the top.
  SourcePos position(size_t offset) const {
    if (offset < cursor_offset_) {
      cursor_offset_ = 0;
      cursor_pos_ = SourcePos{};
    }
    for (; cursor_offset_ < offset && cursor_offset_ < src_.size(); ++cursor_offset_) {
      const auto byte = static_cast<unsigned char>(src_[cursor_offset_]);
      if (byte == '\n') {
        ++cursor_pos_.line;
        cursor_pos_.column = 1;
      } else if (!::bantam::unicode::is_continuation_byte(static_cast<char>(byte))) {
        ++cursor_pos_.column;
      }
    }
    return cursor_pos_;
  }

  [[noreturn]] void fail(size_t offset, const std::string& message) const {
    const SourcePos pos = position(offset);
    throw Error(fmt::format("{}:{}:{}: {}", options_.name, pos.line, pos.column, message));
  }

  size_t find_tag_open(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) {
        return i;
      }
    }
    return std::string::npos;
  }

  // The text between `begin` and a tag at `end`, with the tag's whitespace control applied:
  // `-` strips all whitespace before the tag; lstrip_blocks strips spaces and tabs between the
  // line start and a block or comment tag, unless the tag says `+`.
  std::string control_text(size_t begin, size_t end, bool is_block_or_comment, char sign) const {
    std::string text = src_.substr(begin, end - begin);
    if (sign == '-') return unicode::strip(text, false, true);
    if (sign == '+' || !options_.lstrip_blocks || !is_block_or_comment) return text;
    const size_t line_pos = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
    const bool line_starting = begin == 0 || src_[begin - 1] == '\n';
    if (line_pos == 0 && !line_starting) return text;
    const bool blank = std::all_of(text.begin() + static_cast<std::ptrdiff_t>(line_pos), text.end(),
                                   [](char c) { return c == ' ' || c == '\t'; });
    if (blank) text.resize(line_pos);
    return text;
  }

  void emit_text(size_t offset, std::string text) {
    if (text.empty()) return;
    Token token;
    token.kind = TokenKind::Text;
    token.text = std::move(text);
    token.pos = position(offset);
    tokens_.push_back(std::move(token));
  }

  void emit(TokenKind kind, size_t offset, std::string text = {}) {
    Token token;
    token.kind = kind;
    token.text = std::move(text);
    token.pos = position(offset);
    tokens_.push_back(std::move(token));
  }

  size_t skip_whitespace(size_t p) const {
    while (p < src_.size()) {
      size_t length = 1;
      const char32_t c = unicode::decode_at(src_, p, length);
      if (!unicode::is_space(c)) break;
      p += length;
    }
    return p;
  }

  // After a closing `%}`-style marker whose sign is `sign`: `-` eats all following whitespace,
  // otherwise trim_blocks eats one newline (block and comment tags only).
  size_t after_block_close(size_t p, char sign) const {
    if (sign == '-') return skip_whitespace(p);
    if (sign != '+' && options_.trim_blocks && p < src_.size() && src_[p] == '\n') return p + 1;
    return p;
  }

  void lex_comment(size_t open, size_t after) {
    const size_t close = src_.find("#}", after);
    if (close == std::string::npos) fail(open, "comment opened here is never closed with '#}'");
    const char sign = close > after && (src_[close - 1] == '-' || src_[close - 1] == '+')
                          ? src_[close - 1]
                          : '\0';
    pos_ = after_block_close(close + 2, sign);
  }

  bool starts_with(size_t p, std::string_view s) const { return src_.compare(p, s.size(), s) == 0; }

  size_t match_word(size_t p, std::string_view word) const {
    if (!starts_with(p, word)) return std::string::npos;
    return p + word.size();
  }

  // `{% raw %}` (the opener already consumed): sets `body` to where the raw text starts.
  bool match_raw_begin(size_t after, size_t& body) const {
    size_t p = match_word(skip_whitespace(after), "raw");
    if (p == std::string::npos) return false;
    p = skip_whitespace(p);
    if (starts_with(p, "-%}")) {
      body = skip_whitespace(p + 3);
      return true;
    }
    if (starts_with(p, "%}")) {
      body = p + 2;
      return true;
    }
    return false;
  }

  void lex_raw(size_t open, size_t body) {
    for (size_t q = src_.find("{%", body); q != std::string::npos; q = src_.find("{%", q + 1)) {
      size_t p = q + 2;
      const char open_sign = p < src_.size() && (src_[p] == '-' || src_[p] == '+') ? src_[p] : '\0';
      if (open_sign) ++p;
      p = match_word(skip_whitespace(p), "endraw");
      if (p == std::string::npos) continue;
      p = skip_whitespace(p);
      char close_sign = '\0';
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) close_sign = src_[p++];
      if (!starts_with(p, "%}")) continue;
      emit_text(body, control_text(body, q, true, open_sign));
      pos_ = after_block_close(p + 2, close_sign);
      return;
    }
    fail(open, "'{% raw %}' is never closed with '{% endraw %}'");
  }

  void lex_tag(bool is_variable, size_t open, size_t after) {
    emit(is_variable ? TokenKind::VarBegin : TokenKind::BlockBegin, open);
    std::vector<char> brackets;
    size_t p = after;
    while (true) {
      if (p >= src_.size()) {
        fail(open, fmt::format("'{}' opened here is never closed with '{}'",
                               is_variable ? "{{" : "{%", is_variable ? "}}" : "%}"));
      }
      // End markers count only outside brackets, so `{'a': {'b': 1}}` closes its dicts first.
      if (brackets.empty()) {
        if (is_variable) {
          if (starts_with(p, "-}}")) {
            emit(TokenKind::VarEnd, p);
            pos_ = skip_whitespace(p + 3);
            return;
          }
          if (starts_with(p, "}}")) {
            emit(TokenKind::VarEnd, p);
            pos_ = p + 2;
            return;
          }
        } else {
          const char sign = src_[p] == '-' || src_[p] == '+' ? src_[p] : '\0';
          if (starts_with(p + (sign ? 1 : 0), "%}")) {
            emit(TokenKind::BlockEnd, p);
            pos_ = after_block_close(p + (sign ? 3 : 2), sign);
            return;
          }
        }
      }
      const char c = src_[p];
      if (is_ascii_space(c)) {
        ++p;
      } else if (is_digit(c)) {
        p = lex_number(p);
      } else if (is_name_start(c)) {
        const size_t start = p;
        while (p < src_.size() && is_name_char(src_[p])) ++p;
        emit(TokenKind::Name, start, src_.substr(start, p - start));
      } else if (c == '\'' || c == '"') {
        p = lex_string(p);
      } else {
        p = lex_operator(p, brackets);
      }
    }
  }

  // Digits with single underscores between them, as jinja2 (and Python) allow.
  size_t scan_digits(size_t p) const {
    if (p >= src_.size() || !is_digit(src_[p])) return std::string::npos;
    while (p < src_.size()) {
      if (is_digit(src_[p])) {
        ++p;
      } else if (src_[p] == '_' && p + 1 < src_.size() && is_digit(src_[p + 1])) {
        ++p;
      } else {
        break;
      }
    }
    return p;
  }

  size_t lex_number(size_t start) {
    size_t p = scan_digits(start);
    bool is_float = false;
    // jinja2 reads `x.0.1` as item accesses, so no fraction right after a dot.
    if (start == 0 || src_[start - 1] != '.') {
      size_t q = p;
      if (q < src_.size() && src_[q] == '.') {
        const size_t fraction_end = scan_digits(q + 1);
        if (fraction_end != std::string::npos) {
          q = fraction_end;
          is_float = true;
        }
      }
      if (q < src_.size() && (src_[q] == 'e' || src_[q] == 'E')) {
        size_t e = q + 1;
        if (e < src_.size() && (src_[e] == '+' || src_[e] == '-')) ++e;
        const size_t exponent_end = scan_digits(e);
        if (exponent_end != std::string::npos) {
          q = exponent_end;
          is_float = true;
        }
      }
      if (is_float) p = q;
    }
    std::string digits;
    for (size_t i = start; i < p; ++i) {
      if (src_[i] != '_') digits += src_[i];
    }
    Token token;
    token.pos = position(start);
    token.text = digits;
    if (is_float) {
      token.kind = TokenKind::Float;
      const auto r =
          std::from_chars(digits.data(), digits.data() + digits.size(), token.float_value);
      if (r.ec != std::errc()) fail(start, fmt::format("number '{}' is out of range", digits));
    } else {
      token.kind = TokenKind::Integer;
      const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), token.int_value);
      if (r.ec != std::errc()) fail(start, fmt::format("integer '{}' is too large", digits));
    }
    tokens_.push_back(std::move(token));
    return p;
  }

  static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // Python string literal escapes, as jinja2 decodes them.
  size_t lex_string(size_t start) {
    const char quote = src_[start];
    std::string value;
    size_t p = start + 1;
    while (true) {
      if (p >= src_.size()) fail(start, "string literal is never closed");
      const char c = src_[p];
      if (c == quote) break;
      if (c != '\\') {
        value += c;
        ++p;
        continue;
      }
      if (p + 1 >= src_.size()) fail(start, "string literal is never closed");
      const char e = src_[p + 1];
      p += 2;
      switch (e) {
        case '\n': break;  // line continuation
        case '\\': value += '\\'; break;
        case '\'': value += '\''; break;
        case '"': value += '"'; break;
        case 'a': value += '\a'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'n': value += '\n'; break;
        case 'r': value += '\r'; break;
        case 't': value += '\t'; break;
        case 'v': value += '\v'; break;
        case 'x':
        case 'u':
        case 'U': {
          const int digits = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
          uint32_t code = 0;
          for (int i = 0; i < digits; ++i) {
            const int h = p < src_.size() ? hex_value(src_[p]) : -1;
            if (h < 0) fail(p - 2, fmt::format("truncated \\{} escape in string literal", e));
            code = code * 16 + static_cast<uint32_t>(h);
            ++p;
          }
          if (code > 0x10FFFF) fail(p - 2 - digits, "\\U escape beyond U+10FFFF");
          unicode::append_utf8(value, code);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t code = static_cast<uint32_t>(e - '0');
            for (int i = 0; i < 2 && p < src_.size() && src_[p] >= '0' && src_[p] <= '7'; ++i) {
              code = code * 8 + static_cast<uint32_t>(src_[p++] - '0');
            }
            unicode::append_utf8(value, code);
          } else {
            value += '\\';  // Python keeps unknown escapes as written
            value += e;
          }
      }
    }
    Token token;
    token.kind = TokenKind::String;
    token.pos = position(start);
    token.text = std::move(value);
    tokens_.push_back(std::move(token));
    return p + 1;
  }

  size_t lex_operator(size_t p, std::vector<char>& brackets) {
    static constexpr std::string_view two_char[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const auto op : two_char) {
      if (starts_with(p, op)) {
        emit(TokenKind::Operator, p, std::string(op));
        return p + 2;
      }
    }
    const char c = src_[p];
    if (std::string_view("+-*/%~[](){}<>=.:|,;").find(c) == std::string_view::npos) {
      size_t length = 1;
      unicode::decode_at(src_, p, length);
      fail(p, fmt::format("unexpected character '{}' in tag", src_.substr(p, length)));
    }
    if (c == '(' || c == '[' || c == '{') {
      brackets.push_back(c == '(' ? ')' : (c == '[' ? ']' : '}'));
    } else if (c == ')' || c == ']' || c == '}') {
      if (brackets.empty() || brackets.back() != c) fail(p, fmt::format("unexpected '{}'", c));
      brackets.pop_back();
    }
    emit(TokenKind::Operator, p, std::string(1, c));
    return p + 1;
  }

  std::string src_;
  LexOptions options_;
  mutable size_t cursor_offset_ = 0;
  mutable SourcePos cursor_pos_;
  size_t pos_ = 0;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const LexOptions& options) {
  return Lexer(source, options).run();
}

}  // namespace bantam::jinja
