// `bantam quantize` against llama-quantize's files of the same model and type.
#include <gtest/gtest.h>

#include <cstring>

#include "format/gguf.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

// stories260K-{Q8_0,Q5_0,Q4_0}.gguf were made by llama-quantize with ffn_down kept in F16
// (172-wide rows); bantam falls back to F16 there by itself, and every tensor must come out
// byte-identical: same mix, same block layout, same rounding.
TEST(QuantizeFile, MatchesLlamaQuantizeByteForByte) {
  for (const std::string type : {"Q8_0", "Q5_0", "Q4_0"}) {
    SCOPED_TRACE(type);
    const auto out = test::temp_dir() / ("stories260K-" + type + ".gguf");
    const auto r = test::run_cli({"quantize", test::shared("models/weights/stories260K.gguf").string(),
                                  out.string(), type, "--threads", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("blk.0.ffn_down.weight: rows of 172"), std::string::npos) << r.err;
    // Progress in input bytes, whole lines in a log, the last one the summary.
    EXPECT_NE(r.err.find("quantize " + type + ": 100% 1.1/1.1 MiB\n"), std::string::npos) << r.err;
    const size_t last_line = r.err.rfind('\n', r.err.size() - 2) + 1;
    EXPECT_EQ(r.err.substr(last_line).rfind("quantize " + type + ": done in ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(" 48 tensors, 1.12 MiB -> "), std::string::npos) << r.err;
    EXPECT_TRUE(r.err.ends_with(" MiB\n")) << r.err;
    const auto ours = gguf::File::open(out);
    const auto ref = gguf::File::open(test::shared("models/weights/stories260K-" + type + ".gguf"));
    EXPECT_EQ(ours.get_uint("general.file_type"), ref.get_uint("general.file_type"));
    ASSERT_EQ(ours.tensors().size(), ref.tensors().size());
    for (const auto& t : ref.tensors()) {
      const auto* mine = ours.find_tensor(t.name);
      ASSERT_NE(mine, nullptr) << t.name;
      EXPECT_EQ(mine->type, t.type) << t.name;
      const auto a = ours.tensor_data(*mine), b = ref.tensor_data(t);
      ASSERT_EQ(a.size(), b.size()) << t.name;
      EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size())) << t.name;
    }
  }
}

TEST(QuantizeFile, RefusesQuantizedInputAndUnknownTypes) {
  const auto out = test::temp_dir() / "x.gguf";
  auto r = test::run_cli({"quantize", test::shared("models/weights/stories260K-Q8_0.gguf").string(),
                          out.string(), "Q4_0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is already Q8_0"), std::string::npos) << r.err;
  r = test::run_cli({"quantize", test::shared("models/weights/stories260K.gguf").string(),
                     out.string(), "Q7_X"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown type 'Q7_X'"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace bantam
