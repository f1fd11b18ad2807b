// The KV cache type flags: --kv-type for keys and values, llama.cpp's --cache-type-k and
// --cache-type-v for each half, on every engine command; unknown types refused naming the
// choices; heads narrower than a block keep F16 with one note.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_support.hpp"

namespace bantam {
namespace {

using ::testing::HasSubstr;

std::string synth_model() { return test::shared("models/synthetic/synth-llama3-f16.gguf").string(); }

TEST(KvTypeFlags, EveryEngineCommandTakesThem) {
  for (const char* command : {"run", "chat", "serve", "perplexity", "bench"}) {
    const auto help = test::run_cli({command, "--help"}).out;
    for (const char* flag : {"--kv-type", "--cache-type-k", "--cache-type-v"}) {
      EXPECT_THAT(help, HasSubstr(flag)) << command;
    }
  }
}

TEST(KvTypeFlags, UnknownTypesAreRefusedNamingTheChoices) {
  const auto r = test::run_cli({"run", "-m", synth_model(), "-p", "Once", "-n", "1", "--cache-type-k", "q5_0"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("q5_0"));
  EXPECT_THAT(r.err, HasSubstr("q4_0"));
}

// bench reports the types it ran with in llama-bench's type_k/type_v fields; the half-specific
// flags win over --kv-type whatever their order on the command line.
TEST(KvTypeFlags, KeysAndValuesAreSetApart) {
  const auto r = test::run_cli({"bench", "-m", synth_model(), "-p", "8", "-n", "2", "-r", "1", "-t", "1", "-o", "json",
                                "--cache-type-v", "f16", "--kv-type", "q4_0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = nlohmann::json::parse(r.out);
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows[0]["type_k"], "q4_0");
  EXPECT_EQ(rows[0]["type_v"], "f16");
  // 32-wide heads: a Q4_0 key row of 18 bytes beside an F16 value row of 64, against 128 for F16.
  const auto f16 = test::run_cli({"bench", "-m", synth_model(), "-p", "8", "-n", "2", "-r", "1", "-t", "1", "-o", "json"});
  ASSERT_EQ(f16.exit_code, 0) << f16.err;
  EXPECT_EQ(rows[0]["kv_cache_bytes"].get<size_t>() * 128,
            nlohmann::json::parse(f16.out)[0]["kv_cache_bytes"].get<size_t>() * (18 + 64));
}

TEST(KvTypeFlags, NarrowHeadsKeepF16WithOneNote) {
  const auto r = test::run_cli({"run", "-m", test::shared("models/weights/stories260K.gguf").string(), "-p", "Once",
                                "-n", "3", "-t", "1", "--kv-type", "q8_0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string note = "cache stays f16";
  const size_t first = r.err.find(note);
  ASSERT_NE(first, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(note, first + 1), std::string::npos) << "said more than once:\n" << r.err;
}

}  // namespace
}  // namespace bantam
