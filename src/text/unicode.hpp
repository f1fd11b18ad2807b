// The one UTF-8 module (over utf8proc): encoding, decoding, validation with U+FFFD replacement,
// NFC, and the GPT-2 byte-level alphabet (every byte mapped to a printable code point). The
// tokenizers, the streaming detokenizer, the Jinja renderer and the pre-tokenizer use it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bantam::unicode {

inline constexpr uint32_t kReplacement = 0xFFFD;
inline constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

inline constexpr uint32_t kInvalidCodePoint = 0xFFFFFFFF;

// Appends the UTF-8 encoding of `cp` (which must be <= 0x10FFFF).
void append_utf8(std::string& out, uint32_t cp);

// A byte that continues a multi-byte sequence (10xxxxxx), never the start of a character.
inline bool is_continuation_byte(char byte) { return (static_cast<uint8_t>(byte) & 0xC0) == 0x80; }

// Decodes one character at `pos`; sets `length` to the bytes it took. An invalid or truncated
// sequence gives kInvalidCodePoint with length 1, so any byte string can be walked.
uint32_t decode_at(std::string_view text, size_t pos, size_t& length);

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

// Decodes one code point of valid UTF-8 at s[i], advancing i (an invalid byte: U+FFFD, one byte).
uint32_t decode_utf8(std::string_view s, size_t& i);

}  // namespace bantam::unicode
