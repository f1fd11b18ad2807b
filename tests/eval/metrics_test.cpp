// Metric values checked against published worked examples (sources next to each case).
#include <gtest/gtest.h>

#include "bantam/error.hpp"
#include "eval/metrics.hpp"

namespace bantam::metrics {
namespace {

// sacreBLEU README (github.com/mjpost/sacrebleu, "Using SacreBLEU from Python"):
// BLEU = 48.53, chrF2 = 59.73 for these systems and two reference sets.
const std::vector<std::string> kSys = {"The dog bit the man.", "It wasn't surprising.",
                                       "The man had just bitten him."};
const std::vector<std::vector<std::string>> kRefs = {
    {"The dog bit the man.", "It was not unexpected.", "The man bit him first."},
    {"The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."}};

TEST(Metrics, SacreBleuReadmeExample) {
  EXPECT_NEAR(corpus_bleu(kSys, kRefs), 48.53, 0.005);
}

TEST(Metrics, ChrfReadmeExample) { EXPECT_NEAR(corpus_chrf(kSys, kRefs), 59.73, 0.005); }

TEST(Metrics, BleuEdgeCases) {
  EXPECT_NEAR(corpus_bleu({"a b c d"}, {{"a b c d"}}), 100.0, 1e-9);
  EXPECT_EQ(corpus_bleu({""}, {{"a b c d"}}), 0.0);
  EXPECT_THROW(corpus_bleu({"a", "b"}, {{"a"}}), Error);
}

// mteval-v13a keeps apostrophes inside words and decimal points inside numbers.
TEST(Metrics, Tokenize13aSplitsPunctuationButNotNumbers) {
  EXPECT_EQ(tokenize_13a("It wasn't 3.5-fold, (really)!"),
            (std::vector<std::string>{"It", "wasn't", "3.5", "-", "fold", ",", "(", "really", ")",
                                      "!"}));
}

// Lin (2004), "ROUGE: A Package for Automatic Evaluation of Summaries", section 3.1:
// reference "police killed the gunman"; S2 "police kill the gunman" has ROUGE-L 3/4,
// S3 "the gunman kill police" has ROUGE-L 2/4.
TEST(Metrics, RougeLPaperExample) {
  EXPECT_DOUBLE_EQ(rouge_l_f1("police kill the gunman", "police killed the gunman"), 0.75);
  EXPECT_DOUBLE_EQ(rouge_l_f1("the gunman kill police", "police killed the gunman"), 0.5);
  EXPECT_DOUBLE_EQ(rouge_l_f1("", "x"), 0.0);
}

// SQuAD v1.1 evaluation script normalization.
TEST(Metrics, ExactMatchNormalizes) {
  EXPECT_TRUE(exact_match("The Eiffel Tower!", "eiffel  tower"));
  EXPECT_FALSE(exact_match("Eiffel Towers", "Eiffel Tower"));
  EXPECT_EQ(normalize_answer("An apple, a day."), "apple day");
}

}  // namespace
}  // namespace bantam::metrics
