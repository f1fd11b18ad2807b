// bantam perplexity against llama.cpp's perplexity tool (ref/perplexity.json), and KL divergence.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "test_support.hpp"

namespace bantam {
namespace {

using nlohmann::json;

double reference_ppl(const std::string& model) {
  const auto rows = json::parse(test::read_file(test::shared("ref/perplexity.json")));
  for (const auto& r : rows) {
    if (r["model"] == model) return r["ppl"].get<double>();
  }
  ADD_FAILURE() << "no reference row for " << model;
  return 0;
}

json perplexity(const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"perplexity", "-f", test::shared("corpus/small-llms-essay.txt").string(),
                                   "-c", "128", "-o", "json"};
  args.insert(args.end(), extra.begin(), extra.end());
  const auto r = test::run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out);
}

// The whole file, as the reference was made (217 chunks of 128 tokens): within 0.1%.
TEST(Perplexity, MatchesLlamaCppOnStories260K) {
  const json r = perplexity({"-m", test::shared("models/weights/stories260K.gguf").string()});
  EXPECT_EQ(r["chunks"], 217);
  EXPECT_EQ(r["ctx"], 128);
  const double ref = reference_ppl("stories260K.gguf");
  EXPECT_NEAR(r["ppl"].get<double>(), ref, ref * 0.001);
  EXPECT_GT(r["ppl_stderr"].get<double>(), 0);
}

TEST(Perplexity, KlOfAModelAgainstItselfIsZeroAndAgainstItsQuantIsNot) {
  const auto base = test::shared("models/weights/stories260K.gguf").string();
  const auto saved = (test::temp_dir() / "base.logits").string();
  const json b = perplexity({"-m", base, "--chunks", "8", "--save-logits", saved});
  const json self = perplexity({"-m", base, "--chunks", "8", "--kl-base", saved});
  EXPECT_NEAR(self["kl_mean"].get<double>(), 0.0, 1e-9);
  EXPECT_NEAR(self["kl_max"].get<double>(), 0.0, 1e-9);
  EXPECT_DOUBLE_EQ(self["top1_agreement"].get<double>(), 1.0);
  EXPECT_NEAR(self["delta_ppl"].get<double>(), 0.0, 1e-6 * b["ppl"].get<double>());
  const json q = perplexity({"-m", test::shared("models/weights/stories260K-Q4_0.gguf").string(), "--chunks",
                             "8", "--kl-base", saved});
  EXPECT_GT(q["kl_mean"].get<double>(), 1e-4);
  EXPECT_LT(q["kl_mean"].get<double>(), 0.5);
  EXPECT_GT(q["top1_agreement"].get<double>(), 0.5);
  EXPECT_LE(q["kl_median"].get<double>(), q["kl_p90"].get<double>());
}

TEST(Perplexity, ClearErrors) {
  auto r = test::run_cli({"perplexity", "-m", test::shared("models/weights/stories260K.gguf").string(), "-f",
                          test::shared("README.md").string(), "-c", "4096"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("need at least 2 x context"), std::string::npos) << r.err;
  const auto bogus = test::temp_dir() / "bogus.logits";
  test::write_file(bogus, "not logits");
  r = test::run_cli({"perplexity", "-m", test::shared("models/weights/stories260K.gguf").string(), "-f",
                     test::shared("corpus/small-llms-essay.txt").string(), "-c", "128", "--chunks", "1",
                     "--kl-base", bogus.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a bantam --save-logits file"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bantam
