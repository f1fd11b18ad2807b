// GBNF grammars: the parser (llama.cpp's syntax; errors naming the rule and line:column; left
// recursion and undefined rules refused), the matcher (code points, UTF-8 split over bytes,
// bounded stacks) and constrained generation (every output a document of the grammar, end of
// generation only where the grammar may end).
#include <gmock/gmock.h>

#include <random>

#include "bantam/bantam.hpp"
#include "runtime/gbnf_grammar.hpp"
#include "runtime/generation.hpp"
#include "runtime/scheduler.hpp"
#include "runtime/token_filter.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

using ::testing::HasSubstr;

std::string parse_error(const std::string& text) {
  try {
    GbnfGrammar::parse(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "(parsed)";
}

bool matches(const std::shared_ptr<const GbnfGrammar>& grammar, std::string_view text) {
  GbnfMatcher m(grammar);
  return m.feed(text) && m.complete();
}

bool is_prefix(const std::shared_ptr<const GbnfGrammar>& grammar, std::string_view text) {
  GbnfMatcher m(grammar);
  return m.feed(text);
}

constexpr const char* kArithmetic = R"gbnf(
# integers with + - * / and parentheses
root   ::= expr
expr   ::= term (("+" | "-") term)*
term   ::= factor (("*" | "/") factor)*
factor ::= [0-9]+ | "(" expr ")"
)gbnf";

constexpr const char* kJsonList = R"gbnf(root ::= "[" ws ( item ( "," ws item )* )? "]"
item ::= "\"" [a-z]{1,8} "\"" | [0-9]+
ws   ::= " "?
)gbnf";

TEST(GbnfParser, LiteralsClassesGroupsAndRepetitions) {
  const auto yes_no = GbnfGrammar::parse(R"gbnf(root ::= "yes" | "no")gbnf");
  EXPECT_TRUE(matches(yes_no, "yes"));
  EXPECT_TRUE(matches(yes_no, "no"));
  EXPECT_FALSE(matches(yes_no, "ye"));
  EXPECT_TRUE(is_prefix(yes_no, "ye"));
  EXPECT_FALSE(is_prefix(yes_no, "yesno"));

  const auto arithmetic = GbnfGrammar::parse(kArithmetic);
  EXPECT_TRUE(matches(arithmetic, "1+2*(30-4)/5"));
  EXPECT_TRUE(matches(arithmetic, "((7))"));
  EXPECT_FALSE(matches(arithmetic, "1+"));
  EXPECT_FALSE(is_prefix(arithmetic, "1+*"));
  EXPECT_FALSE(matches(arithmetic, "(1"));

  const auto bounded = GbnfGrammar::parse(R"gbnf(root ::= "a"{2} "b"{1,3} "c"{2,} [x-z]{,2} ("de"){0,1})gbnf");
  EXPECT_TRUE(matches(bounded, "aabcc"));
  EXPECT_TRUE(matches(bounded, "aabbbccccxyde"));
  EXPECT_FALSE(matches(bounded, "abcc"));
  EXPECT_FALSE(matches(bounded, "aabbbbcc"));
  EXPECT_FALSE(matches(bounded, "aabc"));
  EXPECT_FALSE(matches(bounded, "aabccxyz"));

  const auto classes = GbnfGrammar::parse(R"gbnf(root ::= [^\n"]+ "\n" . [\x41-\x43] "\u00e9" [ぁ-ゟ] "\"")gbnf");
  EXPECT_TRUE(matches(classes, "hello world\n?Bé\xe3\x81\x82\""));
  EXPECT_FALSE(matches(classes, "hel\"lo\n?Bé\xe3\x81\x82\""));
  EXPECT_FALSE(matches(classes, "hello\n?Dé\xe3\x81\x82\""));
}

TEST(GbnfParser, RulesSpanLinesAndCommentsAreSkipped) {
  const auto list = GbnfGrammar::parse(kJsonList);
  EXPECT_TRUE(matches(list, "[]"));
  EXPECT_TRUE(matches(list, "[ \"ab\", 12,\"c\"]"));
  EXPECT_FALSE(matches(list, "[\"abcdefghi\"]"));  // nine letters, eight at most
  // llama.cpp's json.gbnf layout: a rule body on the lines after `::=`, alternatives after `|`.
  const auto object = GbnfGrammar::parse(R"gbnf(root ::=
  "{" ws (
            string ":" ws value  # the first member
    ("," ws string ":" ws value)*
  )? "}"
value  ::= string |
  [0-9]+
string ::= "\"" [a-z]* "\""
ws ::= [ \t\n]*
)gbnf");
  EXPECT_TRUE(matches(object, "{\"a\": 1, \"b\":\"x\"}"));
  EXPECT_FALSE(matches(object, "{\"a\" 1}"));
}

TEST(GbnfParser, ErrorsNameTheRuleAndLineColumn) {
  EXPECT_THAT(parse_error("root ::= \"a\"\nexpr ::= (\"b\" | \"c\"\n"),
              HasSubstr("GBNF grammar at 3:1 (rule 'expr'): expected ')' to close the group opened at 2:10"));
  EXPECT_THAT(parse_error("root ::= [a-"), HasSubstr("at 1:10 (rule 'root'): unterminated character class"));
  EXPECT_THAT(parse_error("root ::= \"abc"), HasSubstr("at 1:10 (rule 'root'): unterminated string literal"));
  EXPECT_THAT(parse_error("root ::= \"a\" @"), HasSubstr("at 1:14 (rule 'root'): unexpected '@'"));
  EXPECT_THAT(parse_error("root = \"a\""), HasSubstr("at 1:6 (rule 'root'): expected '::=' after the rule name"));
  EXPECT_THAT(parse_error("root ::= \"\\q\""), HasSubstr("at 1:11 (rule 'root'): unknown escape '\\q'"));
  EXPECT_THAT(parse_error("root ::= \"a\"{3,1}"), HasSubstr("upper bound below its lower"));
  EXPECT_THAT(parse_error("root ::= \"a\"{20000}"), HasSubstr("a repetition count above 10000"));
  EXPECT_THAT(parse_error("root ::= <think>"), HasSubstr("token references"));
  EXPECT_THAT(parse_error("item ::= \"a\""), HasSubstr("the grammar has no 'root' rule"));
  EXPECT_THAT(parse_error("root ::= \"a\"\nroot ::= \"b\""), HasSubstr("at 2:1 (rule 'root'): rule 'root' is defined twice"));
  EXPECT_THAT(parse_error("root ::= \"a\" )"), HasSubstr("')' without a matching '('"));
  EXPECT_THAT(parse_error(""), HasSubstr("no 'root' rule"));
}

TEST(GbnfParser, UndefinedRulesAndLeftRecursionAreRefused) {
  EXPECT_THAT(parse_error("root ::= item \"x\"\n  # items\n"), HasSubstr("at 1:10: rule 'item' is used but never defined"));
  EXPECT_THAT(parse_error("root ::= expr\nexpr ::= expr \"+\" [0-9] | [0-9]"),
              HasSubstr("at 2:1 (rule 'expr'): left recursion: expr refers back to itself before matching a character "
                        "(expr → expr)"));
  EXPECT_THAT(parse_error("root ::= a\na ::= b \"x\"\nb ::= \"y\"? a"), HasSubstr("(a → b → a)"));
  EXPECT_THAT(parse_error("root ::= (\"a\"?)*"), HasSubstr("a repetition of something that can match nothing"));
  // Right recursion is fine, and so is recursion after a character.
  EXPECT_TRUE(matches(GbnfGrammar::parse("root ::= \"a\" root | \"b\""), "aaab"));
}

TEST(GbnfMatcher, SplitsCharactersOverBytesAndEndsOnlyWhereTheGrammarMay) {
  const auto grammar = GbnfGrammar::parse(R"gbnf(root ::= "é"+ "!")gbnf");
  GbnfMatcher m(grammar);
  EXPECT_TRUE(m.accepts_byte('\xc3'));
  EXPECT_FALSE(m.accepts_byte('\xc4'));  // U+0100..U+013F: none of them is é
  // Overlong encodings of 'e' (C1 A5, E0 81 A5) are not 'e'.
  const GbnfMatcher e(GbnfGrammar::parse(R"gbnf(root ::= "e")gbnf"));
  EXPECT_FALSE(e.accepts_byte('\xc1'));
  EXPECT_FALSE(e.accepts_byte('\xe0'));
  EXPECT_FALSE(m.accepts_byte('!'));
  ASSERT_TRUE(m.feed("\xc3"));
  EXPECT_FALSE(m.complete());
  EXPECT_TRUE(m.can_continue());
  ASSERT_TRUE(m.feed("\xa9"));
  EXPECT_FALSE(m.complete());
  ASSERT_TRUE(m.feed("!"));
  EXPECT_TRUE(m.complete());
  EXPECT_FALSE(m.can_continue());
  EXPECT_FALSE(m.accepts_byte('!'));
}

TEST(GbnfMatcher, HostileGrammarsHitTheBoundsWithAClearError) {
  // Each character doubles the parses that stay alive: (a|a)(a|a)... as nested choices.
  std::string doubling = "root ::= x0\n";
  for (int i = 0; i < 40; ++i) {
    const std::string x = "x" + std::to_string(i), y = "y" + std::to_string(i), next = "x" + std::to_string(i + 1);
    doubling += x + " ::= \"a\" " + next + " | \"a\" " + y + "\n" + y + " ::= " + next + "\n";
  }
  doubling += "x40 ::= \"a\"\n";
  const auto grammar = GbnfGrammar::parse(doubling);
  GbnfMatcher m(grammar);
  try {
    for (int i = 0; i < 40; ++i) m.feed("a");
    SUCCEED() << "duplicates collapse: still within the bounds";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("too ambiguous"));
  }
  // Genuinely ambiguous: after n a's, each of the 2^n strings of closing b's and c's may follow.
  GbnfMatcher wide(GbnfGrammar::parse(R"gbnf(root ::= x
x ::= "a" x "b" | "a" x "c" | "")gbnf"));
  try {
    for (int i = 0; i < 20; ++i) wide.feed("a");
    ADD_FAILURE() << "2^20 parses were followed";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("too ambiguous to follow"));
  }
  // Deep nesting is bounded too.
  GbnfMatcher deep(GbnfGrammar::parse(R"gbnf(root ::= "(" root ")" | "x")gbnf"));
  EXPECT_THROW(deep.feed(std::string(5000, '(')), Error);
}

// ---- constrained generation: random logits through the one generation loop ----

std::shared_ptr<const Model> stories() {
  static const auto model = Model::load(test::shared("models/weights/stories260K.gguf").string());
  return model;
}

// Samples with random logits until the generation ends; returns the text and the stop reason.
std::pair<std::string, StopReason> generate_random(const std::shared_ptr<const OutputGrammar>& grammar, uint64_t seed,
                                                   int max_tokens) {
  static const TokenFilter filter(*stories());
  GenerationSpec spec;
  spec.grammar = grammar;
  spec.max_tokens = max_tokens;
  spec.sampling.temperature = 1.0f;
  spec.sampling.seed = seed + 1;
  const std::vector<TokenId> prompt{1};
  Generation generation(*stories(), &filter, spec, prompt, 4096);
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(static_cast<size_t>(stories()->info().n_vocab));
  std::string text;
  while (!generation.finished()) {
    for (float& l : logits) l = normal(rng);
    // End of generation is likely whenever the grammar allows it.
    for (TokenId id : {2}) logits[static_cast<size_t>(id)] += 4.0f;
    const auto token = generation.step(logits);
    if (token) text += token->text;
  }
  text += generation.flush();
  return {text, generation.reason()};
}

TEST(GbnfGeneration, OutputAlwaysMatchesTheGrammar) {
  const std::vector<std::pair<std::string, std::shared_ptr<const GbnfGrammar>>> grammars{
      {"yes|no", GbnfGrammar::parse(R"gbnf(root ::= "yes" | "no")gbnf")},
      {"arithmetic", GbnfGrammar::parse(kArithmetic)},
      {"list", GbnfGrammar::parse(kJsonList)},
  };
  for (const auto& [name, grammar] : grammars) {
    int ended = 0;
    for (uint64_t seed = 0; seed < 20; ++seed) {
      const auto [text, reason] = generate_random(grammar, seed, 60);
      SCOPED_TRACE(name + ": '" + text + "'");
      ASSERT_NE(reason, StopReason::Error);
      if (reason == StopReason::MaxTokens) {
        EXPECT_TRUE(is_prefix(grammar, text));
      } else {
        EXPECT_TRUE(matches(grammar, text));
        ++ended;
      }
    }
    EXPECT_GT(ended, 0) << name;  // the end of generation was allowed once the grammar could end
  }
  // yes|no always ends by the grammar: nothing can follow a whole answer.
  const auto [answer, reason] = generate_random(grammars[0].second, 7, 60);
  EXPECT_TRUE(answer == "yes" || answer == "no") << answer;
  EXPECT_TRUE(reason == StopReason::GrammarComplete || reason == StopReason::EndOfGeneration);
}

TEST(GbnfGeneration, TheSchedulerRunsAGrammarOnTheRealModel) {
  struct IgnoreReports : SchedulerObserver {
    void prompt_tokens_evaluated(int64_t) override {}
    void token_sampled(bool, double) override {}
    void embedding_tokens_evaluated(int64_t) override {}
  } reports;
  Scheduler scheduler(stories(), {.slots = 1, .context = 256, .threads = 1}, reports);
  JobRequest request;
  request.prompt = stories()->tokenize("Once upon a time");
  request.generation.grammar = GbnfGrammar::parse(R"gbnf(root ::= "The answer is " ("yes" | "no") ".")gbnf");
  request.generation.max_tokens = 40;
  request.generation.sampling.temperature = 0;
  const auto job = scheduler.submit(std::move(request));
  std::vector<GeneratedToken> events;
  while (!job->wait(events, std::chrono::milliseconds(100))) {
  }
  std::string text;
  for (const GeneratedToken& e : events) text += e.text;
  EXPECT_TRUE(text == "The answer is yes." || text == "The answer is no.") << text;
  EXPECT_EQ(job->finish_reason(), StopReason::GrammarComplete);
}

}  // namespace
}  // namespace bantam
