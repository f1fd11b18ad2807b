// Hex and base64 through libsodium: RFC 4648's vectors, and clear errors for bad hex.
#include <gtest/gtest.h>

#include "bantam/error.hpp"
#include "hub/digest.hpp"

namespace bantam::hub {
namespace {

std::span<const uint8_t> bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

TEST(Digest, Base64FollowsRfc4648) {
  EXPECT_EQ(to_base64(bytes("")), "");
  EXPECT_EQ(to_base64(bytes("f")), "Zg==");
  EXPECT_EQ(to_base64(bytes("fo")), "Zm8=");
  EXPECT_EQ(to_base64(bytes("foobar")), "Zm9vYmFy");
  const uint8_t high[] = {0xfb, 0xff};
  EXPECT_EQ(to_base64(high), "+/8=");
}

TEST(Digest, HexRoundTripsAndRefusesWhatIsNotHex) {
  const uint8_t data[] = {0x00, 0x7f, 0xab, 0xff};
  EXPECT_EQ(to_hex(data), "007fabff");
  EXPECT_EQ(from_hex("007FABff", "key"), std::vector<uint8_t>(std::begin(data), std::end(data)));
  EXPECT_TRUE(from_hex("", "key").empty());
  EXPECT_THROW(from_hex("abc", "key"), Error);
  EXPECT_THROW(from_hex("zz", "key"), Error);
  EXPECT_THROW(from_hex("ab cd", "key"), Error);
}

}  // namespace
}  // namespace bantam::hub
