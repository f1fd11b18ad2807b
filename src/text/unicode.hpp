// UTF-8 helpers for the tokenizers: validation with U+FFFD replacement, NFC (utf8proc), and the
// GPT-2 byte-level alphabet (every byte mapped to a printable code point).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bantam::unicode {

inline constexpr uint32_t kReplacement = 0xFFFD;
inline constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

// Appends the UTF-8 encoding of `cp` (which must be <= 0x10FFFF).
void append_utf8(std::string& out, uint32_t cp);

// Looks at the sequence starting at s[i]. Returns its length when it is a complete, valid UTF-8
// sequence (shortest form, no surrogates, <= U+10FFFF). Returns 0 when it is invalid, and sets
// `bad` to the length of its maximal valid prefix (at least 1) to replace by one U+FFFD. Returns
// -1 when s ends inside a sequence that could still become valid (a truncated tail).
int utf8_sequence(std::string_view s, size_t i, size_t& bad);

bool is_valid_utf8(std::string_view s);

// Replaces every invalid sequence by U+FFFD (one per maximal invalid subpart, as Python and the
// WHATWG decoder do). A truncated tail is replaced as well.
std::string sanitize_utf8(std::string_view s);

// The longest prefix of `s` that ends on a sequence boundary, treating invalid bytes as complete
// (they are replaced on output) and a truncated tail as incomplete.
size_t complete_prefix(std::string_view s);

// Canonical composition (NFC) of valid UTF-8.
std::string nfc(std::string_view s);

// GPT-2 byte-level alphabet: byte -> UTF-8 of its printable stand-in, and back.
const std::array<std::string, 256>& byte_to_unicode();
// The byte a stand-in code point represents, or -1 when `cp` is not in the alphabet.
int unicode_to_byte(uint32_t cp);

// `s` with every `from` replaced by `to` (`from` not empty).
std::string replace_all(std::string_view s, std::string_view from, std::string_view to);

// Decodes one code point of valid UTF-8 at s[i], advancing i.
uint32_t decode_utf8(std::string_view s, size_t& i);

}  // namespace bantam::unicode
