// Statements, whitespace control, syntax errors and limits of the Jinja interpreter; expected
// texts are what Python's jinja2 renders with trim_blocks and lstrip_blocks.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bantam/error.hpp"
#include "text/jinja/template.hpp"

namespace bantam::jinja {
namespace {

std::string render(std::string_view source, const nlohmann::ordered_json& variables = {},
                   const Limits& limits = {}) {
  Dict vars;
  for (const auto& [key, value] : variables.items()) {
    vars.set(Value::string(key), Value::from_json(value));
  }
  return Template(source).render(vars, limits);
}

std::string error_of(std::string_view source, const Limits& limits = {}) {
  try {
    render(source, {}, limits);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

const nlohmann::ordered_json kRoles = {
    {"messages", nlohmann::ordered_json::parse(R"([{"role": "system", "content": "S"},
      {"role": "user", "content": "U1"}, {"role": "assistant", "content": "A"},
      {"role": "user", "content": "U2"}])")}};

TEST(JinjaStatements, LoopVariables) {
  EXPECT_EQ(
      render("{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
             "{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }} {% endfor %}",
             kRoles),
      "1043TrueFalse4 2132FalseFalse4 3221FalseFalse4 4310FalseTrue4 ");
  EXPECT_EQ(
      render("{% for m in messages %}{{ loop.previtem.role if loop.previtem is defined else '-' }}/"
             "{{ loop.nextitem.role if loop.nextitem else '-' }} {% endfor %}",
             kRoles),
      "-/user system/assistant user/user assistant/- ");
  EXPECT_EQ(
      render("{% for m in messages %}{{ loop.cycle('a', 'b', 'c') }}{% endfor %} "
             "{% for x in [1, 1, 2, 2, 1] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %}",
             kRoles),
      "abca 121");
}

TEST(JinjaStatements, LoopFilterElseAndUnpacking) {
  EXPECT_EQ(render("{% for m in messages if m.role != 'system' %}{{ loop.index }}:{{ m.role }}"
                   "{{ ',' if not loop.last }}{% endfor %}",
                   kRoles),
            "1:user,2:assistant,3:user");
  EXPECT_EQ(render("{% for x in [] %}no{% else %}empty{% endfor %} "
                   "{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %} "
                   "{% for a, b in [[1, 2], (3, 4)] %}{{ a + b }}{% endfor %} "
                   "{% for c in 'ab' %}{{ c }}.{% endfor %}"),
            "empty a=1;b=2; 37 a.b.");
  EXPECT_THROW(render("{% for a, b in [[1, 2, 3]] %}{% endfor %}"), Error);
  EXPECT_THROW(render("{% for x in 5 %}{% endfor %}"), Error);
}

TEST(JinjaStatements, BreakContinueAndRange) {
  EXPECT_EQ(
      render("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}"
             "{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %} "
             "{{ range(3) | list }} {{ range(1, 10, 3) | list }} {{ range(5, 0, -2) | list }}"),
      "0134 [0, 1, 2] [1, 4, 7] [5, 3, 1]");
  EXPECT_NE(error_of("{% break %}").find("outside a for loop"), std::string::npos);
}

TEST(JinjaStatements, SetScopingFollowsJinja2) {
  // A set inside a loop body lasts for that iteration only; the outer variable is untouched.
  EXPECT_EQ(
      render("{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}"),
      "231");
  // if blocks do not open a scope.
  EXPECT_EQ(render("{% if true %}{% set y = 5 %}{% endif %}{{ y }}"), "5");
  EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ a }}{{ b }} {% set t = (1, 2) %}{{ t }} "
                   "{% set s %}block {{ 1 + 1 }}{% endset %}{{ s }} {% set u | upper %}shout{% "
                   "endset %}{{ u }}"),
            "12 (1, 2) block 2 SHOUT");
  EXPECT_EQ(render("{% with a = 5, b = 6 %}{{ a * b }}{% endwith %}[{{ a }}]"), "30[]");
}

TEST(JinjaStatements, NamespaceCarriesValuesOutOfLoops) {
  EXPECT_EQ(
      render("{% set ns = namespace(count=0, items=[]) %}{% for m in messages %}"
             "{% set ns.count = ns.count + 1 %}{% set ns.items = ns.items + [m.role] %}{% endfor %}"
             "{{ ns.count }} {{ ns.items }}",
             kRoles),
      "4 ['system', 'user', 'assistant', 'user']");
  EXPECT_EQ(
      render("{% set ns = namespace() %}{% set ns.index = 0 %}{% set ns.index = ns.index + 2 %}"
             "{{ ns.index }} {{ ns.missing is defined }}"),
      "2 False");
  EXPECT_THROW(render("{% set x = 1 %}{% set x.attr = 2 %}"), Error);
  // A namespace holding itself must not leak or recurse forever.
  EXPECT_NO_THROW(
      render("{% set ns = namespace() %}{% set ns.self = ns %}{{ ns.self is defined }}"));
}

TEST(JinjaStatements, MacrosAndCallBlocks) {
  EXPECT_EQ(
      render(
          "{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}"
          "{{ greet('Bob') }} {{ greet('Al', punct='?') }} {{ greet(name='Cy') }} [{{ greet() }}]"),
      "Hello Bob! Hello Al? Hello Cy! [Hello !]");
  EXPECT_EQ(render("{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}"
                   "{% call wrap('b') %}bold {{ 1 }}{% endcall %}"),
            "<b>bold 1</b>");
  EXPECT_EQ(render("{% macro row(x) %}[{{ caller(x * 2) }}]{% endmacro %}{% call(v) row(21) %}v={{ "
                   "v }}{% endcall %}"),
            "[v=42]");
  EXPECT_THROW(render("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}"), Error);
  EXPECT_THROW(render("{% macro m(a) %}{% endmacro %}{{ m(b=1) }}"), Error);
}

TEST(JinjaStatements, FilterBlocksAndGeneration) {
  EXPECT_EQ(render("{% filter upper %}hello {{ 'world' }}{% endfilter %}"), "HELLO WORLD");
  EXPECT_EQ(render("{% filter trim | upper %}  x  {% endfilter %}"), "X");
  EXPECT_EQ(render("a{% generation %}b{% endgeneration %}c"), "abc");
}

TEST(JinjaWhitespace, TrimAndLstripBlocks) {
  EXPECT_EQ(render("  {% if true %}\n    indented\n  {% endif %}\nafter"), "    indented\nafter");
  EXPECT_EQ(render("{% for m in messages %}\n  {{ m.role }}\n{% endfor %}", kRoles),
            "  system\n  user\n  assistant\n  user\n");
  // lstrip_blocks leaves variable tags alone; `+` opts a block out of it (trim_blocks still
  // eats the newline after the closing tag).
  EXPECT_EQ(render("<<{{ 'x' }}\n  {{ 'y' }}  \n\t{% if 1 %}\ttab{% endif %}\n>>"),
            "<<x\n  y  \n\ttab>>");
  EXPECT_EQ(render("{%+ if true %}kept{% endif %}\n  {%+ if true %}kept2{% endif %}"),
            "kept  kept2");
}

TEST(JinjaWhitespace, MinusStripsAllWhitespace) {
  EXPECT_EQ(render("{% if true -%}\n   stripped\n{%- endif %}\nx"), "strippedx");
  EXPECT_EQ(render("line1\n{{- ' joined ' -}}\nline2\n{%- for x in [1, 2] %}\n  item {{ x }}\n{%- "
                   "endfor %}"),
            "line1 joined line2  item 1  item 2");
  EXPECT_EQ(render("{%- set x = 5 -%}\n   {{ x }}   \n   {%- set y = 6 %}   \n{{ y }}"), "5   \n6");
  EXPECT_EQ(render("  {%- if true %}A{% endif %}  \n  {% if true -%}  B  {%- endif %}  "),
            "A  \nB  ");
}

TEST(JinjaWhitespace, CommentsRawAndTrailingNewline) {
  EXPECT_EQ(render("a {#- comment -#} b {# another #}\nc\n  {# indented comment #}\nd"), "ab c\nd");
  EXPECT_EQ(render("{% raw %}{{ not rendered }} {% if %}{% endraw %}\nafter raw"),
            "{{ not rendered }} {% if %}after raw");
  EXPECT_EQ(render("{{ '{{ not a tag }}' }} {{ '%}' }} {{ {'a': {'b': 1}} }}"),
            "{{ not a tag }} %} {'a': {'b': 1}}");
  // jinja2 drops one trailing newline of the template and reads \r\n as \n.
  EXPECT_EQ(render("text\n\n"), "text\n");
  EXPECT_EQ(render("a\r\nb\r\n"), "a\nb");
}

TEST(JinjaErrors, SyntaxErrorsNameLineAndColumn) {
  EXPECT_EQ(error_of("hello {% iff x %}"), "template:1:10: unknown tag 'iff'");
  EXPECT_EQ(error_of("line1\n  {{ 1 +* 2 }}"), "template:2:9: unexpected '*' in expression");
  EXPECT_EQ(error_of("{% for x in y %}"),
            "template:1:4: this block is never closed with '{% endfor %}'");
  EXPECT_EQ(error_of("x\n{{ 'abc' "), "template:2:1: '{{' opened here is never closed with '}}'");
  EXPECT_EQ(error_of("{{ x | nosuch }}"), "template:1:8: no filter named 'nosuch'");
  EXPECT_EQ(error_of("{{ x is nosuch }}"), "template:1:9: no test named 'nosuch'");
  EXPECT_EQ(error_of("{% endfor %}"),
            "template:1:4: unexpected 'endfor' with no block open for it");
  EXPECT_EQ(error_of("{# never closed"),
            "template:1:1: comment opened here is never closed with '#}'");
  EXPECT_EQ(error_of("{% include 'x' %}"),
            "template:1:4: the 'include' tag is not supported in chat templates");
  EXPECT_EQ(error_of("{{ 'é' @ }}"), "template:1:8: unexpected character '@' in tag");
  EXPECT_EQ(error_of("{{ x is defined is none }}"),
            "template:1:17: tests cannot be chained: 'x is a is b'");
}

TEST(JinjaErrors, RenderErrorsNamePosition) {
  EXPECT_EQ(error_of("\n  {{ missing.attr }}"), "template:2:6: 'missing' is undefined");
  EXPECT_EQ(error_of("{{ none + 1 }}"),
            "template:1:9: unsupported operand type(s) for +: 'NoneType' and 'int'");
}

TEST(JinjaLimits, HostileTemplatesStopWithAnError) {
  Limits small;
  small.max_memory_bytes = 20000;
  small.max_steps = 100000;
  EXPECT_NE(error_of("{% for i in range(100) %}{% for j in range(100) %}{% for k in range(100) %}"
                     "{% endfor %}{% endfor %}{% endfor %}",
                     small)
                .find("step budget exceeded: more than 100000 steps"),
            std::string::npos);
  EXPECT_NE(error_of("{% for i in range(30) %}" + std::string(1000, 'x') + "{% endfor %}", small)
                .find("memory budget exceeded: template output needs"),
            std::string::npos);
  EXPECT_NE(error_of("{{ 'a' * 50000 }}", small).find("'*' repetition needs"), std::string::npos);
  EXPECT_NE(error_of("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}").find("nests deeper"),
            std::string::npos);
  EXPECT_NE(error_of("{{ " + std::string(500, '(') + "1" + std::string(500, ')') + " }}")
                .find("nests deeper"),
            std::string::npos);
  EXPECT_NE(error_of("{{ 1" + std::string(3000, '+') + "}}").find("template:"), std::string::npos);
  EXPECT_NE(
      error_of("{% set ns = namespace(x=[]) %}{% for i in range(300) %}{% set ns.x = [ns.x] %}"
               "{% endfor %}")
          .find("nested more than"),
      std::string::npos);
}

}  // namespace
}  // namespace bantam::jinja
