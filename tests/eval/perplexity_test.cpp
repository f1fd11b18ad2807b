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
  const auto saved = (test::temp_dir() / "base.kld").string();
  const json b = perplexity({"-m", base, "--chunks", "8", "--kl-divergence-base", saved});
  // The base keeps log-probabilities to 16 bits (steps of at most 16/65535 nats, so each is off
  // by at most 1.3e-4): a model against itself is zero up to that rounding, whose mean over the
  // scored tokens falls either side of zero by up to ~1.3e-6 (seen over context sizes 96..256
  // and both attention summation orders). Its base PPL is a little lower than the real one,
  // since true tokens more than 16 nats below the top are stored at that floor.
  const auto with_base = [&](const std::string& model) {
    const auto r = test::run_cli({"perplexity", "-m", model, "--kl-divergence-base", saved, "--kl-divergence",
                                  "-o", "json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out);
  };
  const json self = with_base(base);
  EXPECT_EQ(self["chunks"], 8);
  EXPECT_NEAR(self["kl_mean"].get<double>(), 0.0, 3e-6);
  EXPECT_NEAR(self["kl_max"].get<double>(), 0.0, 2e-4);
  EXPECT_DOUBLE_EQ(self["top1_agreement"].get<double>(), 1.0);
  EXPECT_NEAR(self["ppl"].get<double>(), b["ppl"].get<double>(), 1e-9 * b["ppl"].get<double>());
  EXPECT_GE(self["delta_ppl"].get<double>(), 0.0);
  EXPECT_LT(self["delta_ppl"].get<double>(), 0.01 * b["ppl"].get<double>());
  const json q = with_base(test::shared("models/weights/stories260K-Q4_0.gguf").string());
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
  const auto bogus = test::temp_dir() / "bogus.kld";
  const auto kl_against = [&](const std::string& model) {
    return test::run_cli({"perplexity", "-m", model, "--kl-divergence-base", bogus.string(), "--kl-divergence"});
  };
  const std::string stories = test::shared("models/weights/stories260K.gguf").string();
  test::write_file(bogus, "not logits");
  r = kl_against(stories);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a KL-divergence base file"), std::string::npos) << r.err;
  // A header promising more than the file holds is refused before anything is allocated.
  std::string header = "_logits_";
  const uint32_t n_ctx = 128;
  const int32_t n_vocab = 512, n_chunk = 1 << 20;
  header.append(reinterpret_cast<const char*>(&n_ctx), 4);
  header.append(reinterpret_cast<const char*>(&n_vocab), 4);
  header.append(reinterpret_cast<const char*>(&n_chunk), 4);
  test::write_file(bogus, header);
  r = kl_against(stories);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bytes, but 1048576 chunks of 128 tokens"), std::string::npos) << r.err;
  // A base over another vocabulary names both sizes.
  r = test::run_cli({"perplexity", "-m", test::shared("models/weights/llama-2-tiny-random.gguf").string(),
                     "--kl-divergence-base", test::shared("ref/kld-base/stories260K.kld").string(),
                     "--kl-divergence"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("-token vocabulary"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bantam
