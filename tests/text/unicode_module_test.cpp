// The one UTF-8 module: encode and decode through utf8proc, invalid bytes walked one at a time,
// continuation bytes recognized, GGUF-style validation (shortest form, no surrogates).
#include <gtest/gtest.h>

#include "text/unicode.hpp"

namespace bantam::unicode {
namespace {

TEST(UnicodeModule, EncodesAndDecodesEveryLength) {
  for (const uint32_t cp : {0x41u, 0xE9u, 0x20ACu, 0x1F600u}) {
    std::string text;
    append_utf8(text, cp);
    size_t length = 0;
    EXPECT_EQ(decode_at(text, 0, length), cp);
    EXPECT_EQ(length, text.size());
    size_t i = 0;
    EXPECT_EQ(decode_utf8(text, i), cp);
    EXPECT_EQ(i, text.size());
    for (size_t k = 1; k < text.size(); ++k) EXPECT_TRUE(is_continuation_byte(text[k]));
    EXPECT_FALSE(is_continuation_byte(text[0]));
  }
}

TEST(UnicodeModule, InvalidBytesAreOneCharacterEach) {
  size_t length = 0;
  EXPECT_EQ(decode_at("\xC0\x80", 0, length), kInvalidCodePoint);  // overlong
  EXPECT_EQ(length, 1u);
  EXPECT_EQ(decode_at("\xE2\x82", 0, length), kInvalidCodePoint);  // truncated
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));                     // a surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));                 // above U+10FFFF
  EXPECT_TRUE(is_valid_utf8("h\xC3\xA9llo \xF0\x9F\x98\x80"));
}

}  // namespace
}  // namespace bantam::unicode
