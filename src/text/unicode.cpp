#include "text/unicode.hpp"

#include <cstdlib>
#include <memory>

#include <utf8proc.h>

#include "bantam/error.hpp"

namespace bantam::unicode {

void append_utf8(std::string& out, uint32_t cp) {
  utf8proc_uint8_t buffer[4];
  const auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buffer);
  out.append(reinterpret_cast<const char*>(buffer), static_cast<size_t>(n));
}

uint32_t decode_at(std::string_view text, size_t pos, size_t& length) {
  utf8proc_int32_t code_point = -1;
  const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + pos),
                                  static_cast<utf8proc_ssize_t>(text.size() - pos), &code_point);
  if (n <= 0 || code_point < 0) {
    length = 1;
    return kInvalidCodePoint;
  }
  length = static_cast<size_t>(n);
  return static_cast<uint32_t>(code_point);
}

// The maximal-subpart rule (how many bytes one U+FFFD replaces) is the one piece utf8proc does
// not offer: it reports an invalid sequence without saying where the valid prefix ends.
int utf8_sequence(std::string_view s, size_t i, size_t& bad) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) return 1;
  int len = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the first continuation byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    bad = 1;
    return 0;
  }
  for (int k = 1; k < len; ++k) {
    if (i + k >= s.size()) return -1;
    const auto b = static_cast<uint8_t>(s[i + k]);
    const uint8_t l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) {
      bad = static_cast<size_t>(k);
      return 0;
    }
  }
  return len;
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    // Fast path for ASCII runs.
    while (i < s.size() && static_cast<uint8_t>(s[i]) < 0x80) ++i;
    if (i == s.size()) break;
    size_t bad = 0;
    const int n = utf8_sequence(s, i, bad);
    if (n <= 0) return false;
    i += static_cast<size_t>(n);
  }
  return true;
}

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (i < s.size()) {
    size_t bad = 0;
    const int n = utf8_sequence(s, i, bad);
    if (n > 0) {
      out.append(s.substr(i, static_cast<size_t>(n)));
      i += static_cast<size_t>(n);
    } else if (n == 0) {
      out.append(kReplacementUtf8);
      i += bad;
    } else {  // truncated tail
      out.append(kReplacementUtf8);
      break;
    }
  }
  return out;
}

size_t complete_prefix(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t bad = 0;
    const int n = utf8_sequence(s, i, bad);
    if (n > 0) {
      i += static_cast<size_t>(n);
    } else if (n == 0) {
      i += bad;
    } else {
      break;
    }
  }
  return i;
}

namespace {

std::string nfc_region(std::string_view s) {
  utf8proc_uint8_t* dst = nullptr;
  const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                              static_cast<utf8proc_ssize_t>(s.size()), &dst,
                              static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) {
    throw Error(std::string("NFC normalization failed: ") + utf8proc_errmsg(n));
  }
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(dst, &std::free);
  return std::string(reinterpret_cast<const char*>(dst), static_cast<size_t>(n));
}

}  // namespace

std::string nfc(std::string_view s) {
  // An ASCII character never combines with what precedes it and is its own normal form, so text
  // splits before each one; only non-ASCII runs, with the character before them (a possible
  // base of combining marks), go through utf8proc.
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && static_cast<uint8_t>(s[j]) < 0x80) ++j;
    if (j == s.size()) break;
    const size_t start = j > i ? j - 1 : j;
    size_t end = j;
    while (end < s.size() && static_cast<uint8_t>(s[end]) >= 0x80) ++end;
    out.append(s.substr(i, start - i));
    out.append(nfc_region(s.substr(start, end - start)));
    i = end;
  }
  out.append(s.substr(i));
  return out;
}

namespace {

struct ByteTables {
  std::array<std::string, 256> to_unicode;
  std::array<int16_t, 324> to_byte;  // stand-ins are all below U+0144
};

const ByteTables& byte_tables() {
  static const ByteTables tables = [] {
    ByteTables t;
    t.to_byte.fill(-1);
    auto printable = [](int b) {
      return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const int cp = printable(b) ? b : next++;
      append_utf8(t.to_unicode[static_cast<size_t>(b)], static_cast<uint32_t>(cp));
      t.to_byte[static_cast<size_t>(cp)] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return tables;
}

}  // namespace

const std::array<std::string, 256>& byte_to_unicode() { return byte_tables().to_unicode; }

int unicode_to_byte(uint32_t cp) {
  const auto& t = byte_tables().to_byte;
  return cp < t.size() ? t[cp] : -1;
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t start = 0;
  for (size_t pos = s.find(from); pos != std::string_view::npos; pos = s.find(from, start)) {
    out.append(s.substr(start, pos - start));
    out.append(to);
    start = pos + from.size();
  }
  out.append(s.substr(start));
  return out;
}

uint32_t decode_utf8(std::string_view s, size_t& i) {
  size_t length = 0;
  const uint32_t cp = decode_at(s, i, length);
  i += length;
  return cp == kInvalidCodePoint ? kReplacement : cp;
}

}  // namespace bantam::unicode
