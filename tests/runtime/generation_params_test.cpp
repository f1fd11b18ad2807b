// The shared table of generation parameters: bounds are inclusive (or exclusive where the table
// says), non-finite numbers and text that is not a whole number are refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

#include "bantam/error.hpp"
#include "runtime/generation_params.hpp"

namespace bantam {
namespace {

using ::testing::HasSubstr;

TEST(GenerationParams, RealRangesKeepTheirBoundsAndRefuseNonFiniteValues) {
  const GenerationParam& temp = generation_param("temperature");
  EXPECT_TRUE(in_range(temp, 0.0));
  EXPECT_TRUE(in_range(temp, 2.0));
  EXPECT_FALSE(in_range(temp, 2.0001));
  EXPECT_FALSE(in_range(temp, -0.0001));
  EXPECT_FALSE(in_range(temp, std::numeric_limits<double>::quiet_NaN()));
  EXPECT_FALSE(in_range(temp, std::numeric_limits<double>::infinity()));
  const GenerationParam& penalty = generation_param("repeat_penalty");
  EXPECT_FALSE(in_range(penalty, 0.0));
  EXPECT_TRUE(in_range(penalty, 1e-6));
  EXPECT_TRUE(in_range(penalty, 1e30));
  EXPECT_FALSE(in_range(penalty, 1e39));  // infinity once stored as a float
  EXPECT_EQ(range_text(penalty), "a number greater than 0");
}

TEST(GenerationParams, IntegerRanges) {
  const GenerationParam& max_tokens = generation_param("max_tokens");
  EXPECT_FALSE(in_range(max_tokens, int64_t{0}));
  EXPECT_TRUE(in_range(max_tokens, int64_t{1}));
  EXPECT_TRUE(in_range(max_tokens, int64_t{1} << 24));
  EXPECT_FALSE(in_range(max_tokens, (int64_t{1} << 24) + 1));
  EXPECT_EQ(range_text(max_tokens), "an integer from 1 to 16777216");
  EXPECT_TRUE(in_range(generation_param("seed"), std::numeric_limits<int64_t>::max()));
}

TEST(GenerationParams, CliTextMustBeOneWholeNumberInRange) {
  const GenerationParam& top_p = generation_param("top_p");
  EXPECT_EQ(check_cli_value(top_p, "0.9"), "");
  EXPECT_THAT(check_cli_value(top_p, "0.9x"), HasSubstr("0.9x is refused; it must be a number from 0 to 1"));
  EXPECT_NE(check_cli_value(top_p, ""), "");
  const GenerationParam& max_tokens = generation_param("max_tokens");
  EXPECT_EQ(check_cli_value(max_tokens, "-1"), "");  // the CLI's "until done"
  EXPECT_THAT(check_cli_value(max_tokens, "-2"), HasSubstr("(or -1: off)"));
  EXPECT_NE(check_cli_value(max_tokens, "1.5"), "");
  EXPECT_NE(check_cli_value(max_tokens, "99999999999999999999"), "");
  EXPECT_NE(check_cli_value(generation_param("seed"), "-1"), "");
}

// Integer defaults may be "off" values (max_tokens -1: until done); real ones are plain values.
TEST(GenerationParams, EveryRowHasAUniqueNameAFlagAndRealDefaultsInRange) {
  for (const GenerationParam& p : generation_params()) {
    EXPECT_EQ(&generation_param(p.name), &p);
    EXPECT_TRUE(p.flag.starts_with("--")) << p.name;
    if (!p.integer) {
      EXPECT_TRUE(in_range(p, p.default_value)) << p.name;
    }
  }
  EXPECT_THROW(generation_param("temprature"), Error);
}

}  // namespace
}  // namespace bantam
