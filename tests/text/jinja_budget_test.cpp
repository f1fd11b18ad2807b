// The Jinja interpreter's memory and step budgets: templates that once reached gigabytes or ran
// for a minute stop with an Error naming the budget and the template position, every allocating
// built-in checks before it builds, a process rendering them stays small, and real chat
// templates render long conversations within the default budgets.
#include <fmt/format.h>
#include <gmock/gmock.h>

#include <nlohmann/json.hpp>

#include "bantam/error.hpp"
#include "test_support.hpp"
#include "text/chat_template.hpp"
#include "text/jinja/template.hpp"

namespace bantam::jinja {
namespace {

using ::testing::HasSubstr;

struct Outcome {
  std::string error;  // empty when the template rendered
  RenderStats stats;
};

Outcome render_hostile(const std::string& source, const Limits& limits = {}) {
  Outcome outcome;
  try {
    Template(source).render(Dict(), limits, &outcome.stats);
  } catch (const Error& e) {
    outcome.error = e.what();
  }
  return outcome;
}

struct Hostile {
  std::string source;
  std::string error;  // a part of the error it must stop with
};

// Each builds, or would build, far more than the 16 MiB budget from a few bytes of template.
const std::vector<Hostile> kMemoryHostile = {
    {"{{ range(10)|batch(300000000, 'x')|list|length }}", "memory budget exceeded: batch needs"},
    {"{{ [1, [2]]|tojson(indent='x' * 16000000) }}", "memory budget exceeded: tojson needs"},
    {"{{ range(16000000)|list|sort }}", "memory budget exceeded: range() needs"},
    {"{{ (',' * 16000000).split(',')|length }}", "memory budget exceeded: split() needs"},
    {"{{ ('a\\n' * 4000000).splitlines()|length }}", "memory budget exceeded: splitlines() needs"},
    {"{{ 'x' * 100000000 }}", "memory budget exceeded: '*' repetition needs"},
    {"{{ [1, 2] * 100000000 }}", "memory budget exceeded: '*' repetition needs"},
    {"{{ (['x' * 1000000] * 20)|join }}", "memory budget exceeded: join needs"},
    {"{{ '-'.join(['x' * 1000000] * 20) }}", "memory budget exceeded: str.join needs"},
    {"{{ ('x' * 1000000).replace('x', 'y' * 20) }}", "memory budget exceeded: replace() needs"},
    {"{{ ('a\\n' * 1000)|indent(20000) }}", "memory budget exceeded: indent needs"},
    {"{{ [1, 2, 3]|tojson(separators=('x' * 9000000, ':')) }}",
     "memory budget exceeded: tojson needs"},
    {"{% set ns = namespace(s='x' * 1000000) %}{% for i in range(40) %}"
     "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
     "memory budget exceeded: '~' concatenation needs"},
    {"{% set ns = namespace(s='x' * 1000000) %}{% for i in range(40) %}"
     "{% set ns.s = ns.s + ns.s %}{% endfor %}",
     "memory budget exceeded: '+' concatenation needs"},
    {"{% set ns = namespace(l=range(1000)|list) %}{% for i in range(40) %}"
     "{% set ns.l = ns.l + ns.l %}{% endfor %}",
     "memory budget exceeded: '+' concatenation needs"},
    {"{{ ('x' * 10000000)[::-1] }}", "memory budget exceeded: slicing a string needs"},
    {"{{ ('x' * 10000000)[5] }}", "memory budget exceeded: indexing a string needs"},
    {"{% for c in 'x' * 10000000 %}{% endfor %}", "memory budget exceeded: for loop needs"},
    // A list holding the previous one twice, 60 times over: tiny, but its text is 2^60 long.
    {"{% set ns = namespace(x=[1]) %}{% for i in range(60) %}{% set ns.x = [ns.x, ns.x] %}"
     "{% endfor %}{{ ns.x }}",
     "memory budget exceeded: printing a value needs"},
    {"{% set ns = namespace(x=[1]) %}{% for i in range(60) %}{% set ns.x = [ns.x, ns.x] %}"
     "{% endfor %}{{ ns.x|tojson }}",
     "memory budget exceeded: tojson needs"},
    {"{% macro m(n) %}{{ 'x' * 1000000 }}{% if n > 0 %}{{ m(n - 1) }}{% endif %}{% endmacro %}"
     "{{ m(100) }}",
     "memory budget exceeded: "},
    {"{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "memory budget exceeded: "},
    {"{{ [1]|sort(attribute=',' * 8000000) }}", "memory budget exceeded: attribute paths needs"},
    // Namespaces live until the render ends.
    {"{% set d = dict(a=1, b=2, c=3, d=4, e=5, f=6, g=7, h=8) %}{% for i in range(200000) %}"
     "{% set n = namespace(d) %}{% endfor %}",
     "memory budget exceeded: namespace() needs"},
};

TEST(JinjaBudget, TemplatesThatWouldAllocateGigabytesStopOnTheMemoryBudget) {
  const Limits limits;
  for (const auto& hostile : kMemoryHostile) {
    SCOPED_TRACE(hostile.source);
    const Outcome outcome = render_hostile(hostile.source, limits);
    EXPECT_THAT(outcome.error, HasSubstr(hostile.error));
    EXPECT_THAT(outcome.error,
                HasSubstr(fmt::format("of the {} allowed", limits.max_memory_bytes)));
    EXPECT_THAT(outcome.error, HasSubstr("template:1:"));  // the template position
    EXPECT_LE(outcome.stats.peak_bytes, limits.max_memory_bytes);
    EXPECT_LE(outcome.stats.steps, limits.max_steps);
  }
}

// Each would run for minutes (or for ever) while allocating little.
const std::vector<std::string> kSlowHostile = {
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}",
    "{% set ns = namespace(x=0) %}{% for i in range(100000) %}{% for j in range(100000) %}"
    "{% set ns.x = ns.x + 1 %}{% endfor %}{% endfor %}",
    // Comparing the doubling list above with itself visits 2^60 items.
    "{% set ns = namespace(x=[1]) %}{% for i in range(60) %}{% set ns.x = [ns.x, ns.x] %}"
    "{% endfor %}{{ ns.x == ns.x }}",
    "{% set s = 'ab' * 100000 %}{% for i in range(100000) %}{{ s.split('a')|length }}"
    "{% endfor %}",
    "{% set s = 'ab' * 100000 %}{% for i in range(100000) %}{{ s|title|length }}{% endfor %}",
    "{% set s = 'ab' * 100000 %}{% for i in range(100000) %}{{ 'z' in s }}{% endfor %}",
    "{% set l = range(100000)|list %}{% for i in range(100000) %}{{ l|first }}{% endfor %}",
};

TEST(JinjaBudget, EndlessWorkStopsOnTheStepBudget) {
  const Limits limits;
  for (const auto& source : kSlowHostile) {
    SCOPED_TRACE(source);
    const Outcome outcome = render_hostile(source, limits);
    EXPECT_THAT(outcome.error,
                HasSubstr(fmt::format("template step budget exceeded: more than {} steps",
                                      limits.max_steps)));
    EXPECT_THAT(outcome.error, HasSubstr("template:1:"));
    EXPECT_LE(outcome.stats.peak_bytes, limits.max_memory_bytes);
  }
}

TEST(JinjaBudget, BudgetsAreSettableAndMemoryIsGivenBack) {
  // A value that no longer exists no longer counts: building 30 strings of 1 MB in turn is fine.
  const Outcome loop = render_hostile(
      "{% for i in range(30) %}{% set s = 'x' * 1000000 %}{{ s|length > 0 }}{% endfor %}");
  EXPECT_EQ(loop.error, "");
  EXPECT_GE(loop.stats.peak_bytes, 1000000u);
  EXPECT_LT(loop.stats.peak_bytes, 3000000u);

  Limits tight;
  tight.max_memory_bytes = 1 << 20;
  tight.max_steps = 1000;
  EXPECT_THAT(render_hostile("{{ 'x' * 2000000 }}", tight).error,
              HasSubstr("of the 1048576 allowed"));
  EXPECT_THAT(render_hostile("{% for i in range(1000) %}{% endfor %}", tight).error,
              HasSubstr("more than 1000 steps"));
  // An empty sequence repeated any number of times is empty, at once.
  EXPECT_EQ(render_hostile("{{ '' * 1000000000000000000 }}{{ [] * 1000000000000000000 }}").error,
            "");
}

// The `bantam template` process: refused before rendering the messages, and small throughout
// (these templates reached 2 to 5 GB before the budgets).
TEST(JinjaBudget, TemplateCommandRefusesHostileTemplatesAndStaysSmall) {
  const auto dir = test::temp_dir();
  const auto messages = dir / "messages.json";
  test::write_file(messages, R"([{"role": "user", "content": "Hi"}])");
  for (const auto& source : {kMemoryHostile[0].source, kMemoryHostile[1].source,
                             kMemoryHostile[2].source, kMemoryHostile[3].source, kSlowHostile[0]}) {
    SCOPED_TRACE(source);
    const auto file = dir / "hostile.jinja";
    test::write_file(file, source);
    const auto result = test::run_cli(
        {"template", "--template", file.string(), "--messages", messages.string()});
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_THAT(result.err, HasSubstr("the chat template fails on a sample conversation"));
    EXPECT_THAT(result.err, HasSubstr("budget exceeded"));
    EXPECT_THAT(result.err, HasSubstr(file.string() + ":1:"));
    EXPECT_EQ(result.out, "");
    EXPECT_LT(result.max_rss_kb, 256 * 1024);
  }
}

// Long conversations through the official templates fit the default budgets with room to spare.
TEST(JinjaBudget, RealTemplatesRenderLongConversationsWithinTheDefaultBudgets) {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  for (int i = 0; i < 200; ++i) {
    messages.push_back({{"role", i % 2 == 0 ? "user" : "assistant"},
                        {"content", fmt::format("turn {} {}", i, std::string(2000, 'w'))}});
  }
  messages.push_back({{"role", "user"}, {"content", "last"}});
  for (const char* name :
       {"Qwen-Qwen2.5-7B-Instruct.jinja", "google-gemma-2-2b-it.jinja",
        "meta-llama-Llama-3.1-8B-Instruct.jinja", "meta-llama-Llama-3.2-3B-Instruct.jinja",
        "microsoft-Phi-3.5-mini-instruct.jinja", "mistralai-Mistral-Nemo-Instruct-2407.jinja"}) {
    SCOPED_TRACE(name);
    const std::string source = test::read_file(test::shared(std::string("templates/") + name));
    const ChatTemplate chat(source, name);
    EXPECT_NO_THROW(check_chat_template(chat));
    ChatRenderOptions options;
    options.now = "2026-07-26";
    // A tenth of each budget, so a tenfold longer conversation would still render.
    options.limits.max_memory_bytes /= 10;
    options.limits.max_steps /= 10;
    std::string prompt;
    EXPECT_NO_THROW(prompt = chat.render(messages, options));
    EXPECT_GT(prompt.size(), 200u * 2000u);
  }
}

}  // namespace
}  // namespace bantam::jinja
