// Expressions of the Jinja interpreter: literals, operators, printing, filters, tests and
// methods, each checked against what Python's jinja2 prints for the same template.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "bantam/error.hpp"
#include "text/jinja/template.hpp"

namespace bantam::jinja {
namespace {

std::string render(std::string_view source, const nlohmann::ordered_json& variables = {}) {
  Dict vars;
  for (const auto& [key, value] : variables.items()) {
    vars.set(Value::string(key), Value::from_json(value));
  }
  return Template(source).render(vars);
}

const nlohmann::ordered_json kMessages = {{"messages", nlohmann::ordered_json::parse(R"([
       {"role": "system", "content": "Be brief."},
       {"role": "user", "content": "Hi <there> & 'you'"},
       {"role": "assistant", "content": "Hello!",
        "tool_calls": [{"function": {"name": "f", "arguments": {"b": 1, "a": [1, 2.5, null, true]}}}]},
       {"role": "user", "content": "  Ünïcödé  ß straße "}
     ])")}};

TEST(JinjaExpressions, ArithmeticFollowsPython) {
  EXPECT_EQ(render("{{ 1 + 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }}"),
            "3 3 -4 2 3.5 1024");
  EXPECT_EQ(
      render(
          "{{ 10 - 2 - 3 }} {{ 2 + 3 * 4 }} {{ (2 + 3) * 4 }} {{ 7 % 3 * 2 }} {{ 1_000 + 0.5 }}"),
      "5 14 20 2 1000.5");
  EXPECT_EQ(render("{{ 'x' * 3 }} {{ [1] * 3 }} {{ [1, 2] + [3] }} {{ true + 1 }}"),
            "xxx [1, 1, 1] [1, 2, 3] 2");
  EXPECT_EQ(render("{{ (1 + 2) ~ 3 }} {{ 'a' ~ 1 ~ none ~ true }}"), "33 a1NoneTrue");
  EXPECT_THROW(render("{{ 1 + 2 ~ 3 }}"), Error);  // ~ binds tighter than +: 1 + '23'
  EXPECT_THROW(render("{{ 1 / 0 }}"), Error);
  EXPECT_THROW(render("{{ 'a' + 1 }}"), Error);
  EXPECT_THROW(render("{{ 9223372036854775807 + 1 }}"), Error);
}

TEST(JinjaExpressions, NumbersPrintLikePython) {
  EXPECT_EQ(render("{{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.5e-7 }} {{ 100.0 }} {{ 1 / 3 }} {{ -0.0 }}"),
            "0.30000000000000004 1e+20 1.5e-07 100.0 0.3333333333333333 -0.0");
  EXPECT_EQ(render("{{ 1e16 }} {{ 1234567890123456.0 }} {{ 0.0001 }} {{ 0.00001 }}"),
            "1e+16 1234567890123456.0 0.0001 1e-05");
}

TEST(JinjaExpressions, ContainersPrintAsPythonRepr) {
  EXPECT_EQ(render("{{ [1, 'a', None, True, 1.5, {'k': \"it's\"}] }}"),
            "[1, 'a', None, True, 1.5, {'k': \"it's\"}]");
  EXPECT_EQ(render("{{ ('x',) }} {{ () }} {{ (1, 2) }} {{ {'a': [1, (2, 3)]} }}"),
            "('x',) () (1, 2) {'a': [1, (2, 3)]}");
  EXPECT_EQ(render(R"({{ ['a\nb', 'back\\slash', "q'\""] }})"),
            R"(['a\nb', 'back\\slash', 'q\'"'])");
}

TEST(JinjaExpressions, StringLiteralEscapes) {
  EXPECT_EQ(render(R"({{ "tab\tnew\\line \x41 \u00e9 \101" }})"), "tab\tnew\\line A \xc3\xa9 A");
  EXPECT_EQ(render(R"({{ 'it\'s' }} {{ "say \"hi\"" }} {{ 'a' 'b' }} {{ '\d' }})"),
            "it's say \"hi\" ab \\d");
}

TEST(JinjaExpressions, ComparisonsAndLogic) {
  EXPECT_EQ(render("{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }}"),
            "True False True True");
  EXPECT_EQ(render("{{ 1 == 1.0 }} {{ true == 1 }} {{ [1] == (1,) }} {{ {'a': 1, 'b': 2} == {'b': "
                   "2, 'a': 1} }}"),
            "True True False True");
  EXPECT_EQ(render("{{ 0 or 'b' }} {{ 'a' and 'b' }} [{{ '' and 'b' }}] {{ not 0 }} {{ not 'a' }}"),
            "b b [] True False");
  EXPECT_EQ(render("{{ 'a' in 'abc' }} {{ 'z' not in 'abc' }} {{ 1 in [1, 2] }} {{ 'k' in {'k': 1} "
                   "}} {{ x in [1] }}"),
            "True True True True False");
  EXPECT_EQ(render("{{ 'x' if true else 'y' }} {{ 'x' if false else 'y' }} [{{ 'x' if false }}]"),
            "x y []");
  EXPECT_EQ(render("{{ -(2) ** 2 }} {{ - 3 }} {{ + 3 }}"), "4 -3 3");
  EXPECT_THROW(render("{{ 1 < 'a' }}"), Error);
}

TEST(JinjaExpressions, AttributeAndItemAccess) {
  EXPECT_EQ(render("{{ messages | length }} {{ messages[0].role }} {{ messages[-1]['content'] }}",
                   kMessages),
            "4 system   Ünïcödé  ß straße ");
  EXPECT_EQ(
      render("{{ messages.0.role }} {{ {'a': {'b': {'c': 5}}}.a.b.c }} {{ [[1, 2], [3]][0][1] }}",
             kMessages),
      "system 5 2");
  // Missing attributes and items are undefined, printing as nothing.
  EXPECT_EQ(render("[{{ messages[0]['nope'] }}|{{ messages[99] }}|{{ none.x }}]", kMessages),
            "[||]");
  // ... but looking inside an undefined value is an error, as in jinja2.
  EXPECT_THROW(render("{{ messages[0].nope.deeper }}", kMessages), Error);
  EXPECT_THROW(render("{{ missing.x }}"), Error);
  EXPECT_THROW(render("{{ missing + 1 }}"), Error);
}

TEST(JinjaExpressions, Slicing) {
  EXPECT_EQ(render("{{ 'hello world'[::2] }} {{ 'hello'[-3:] }} {{ [1, 2, 3, 4, 5][::-2] }}"),
            "hlowrd llo [5, 3, 1]");
  EXPECT_EQ(
      render("[{{ 'abc'[5:] }}] {{ [1, 2, 3][-10:2] }} {{ (1, 2, 3)[0:2] }} {{ [1, 2, 3][:-1] }}"),
      "[] [1, 2] (1, 2) [1, 2]");
  EXPECT_EQ(render("{{ '東京🌧️'[1:] }} {{ '東京'[1] }} {{ '東京' | length }}"),
            "京🌧️ 京 2");
  EXPECT_THROW(render("{{ [1][::0] }}"), Error);
  EXPECT_EQ(render("[{{ 5[1:] }}]"), "[]");  // jinja2 makes slicing other objects Undefined
  EXPECT_THROW(render("{{ missing[1:] }}"), Error);
}

TEST(JinjaExpressions, StringFilters) {
  EXPECT_EQ(render("{{ 'abc' | upper }} {{ 'ABC' | lower }} {{ 'hello world' | title }} "
                   "{{ 'hELLO' | capitalize }} [{{ '  x  ' | trim }}] {{ 'xxaxx' | trim('x') }}"),
            "ABC abc Hello World Hello [x] a");
  EXPECT_EQ(render("{{ 'Straße' | upper }} {{ 'ÀÉÎ' | lower }} {{ 'a-b (c' | title }}"),
            "STRASSE àéî A-B (C");
  EXPECT_EQ(render("{{ 'a,b' | replace(',', ';') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'ab' | "
                   "replace('', '-') }}"),
            "a;b bba -a-b-");
  EXPECT_EQ(render("{{ 'one two  three' | wordcount }} {{ '<x>&\"' | e }} {{ 42 | string }} {{ 'x' "
                   "| safe }}"),
            "3 &lt;x&gt;&amp;&#34; 42 x");
  EXPECT_EQ(render("{{ 'a\nb\n\nc' | indent }}|{{ 'a\nb' | indent(2, true) }}|"
                   "{{ 'a\n\nb' | indent(2, blank=true) }}|{{ 'a\nb' | indent('> ') }}"),
            "a\n    b\n\n    c|  a\n  b|a\n  \n  b|a\n> b");
}

TEST(JinjaExpressions, SequenceFilters) {
  EXPECT_EQ(
      render(
          "{{ [3, 1, 2] | sort }} {{ ['b', 'A', 'c'] | sort }} "
          "{{ ['b', 'A', 'c'] | sort(case_sensitive=true) }} {{ [3, 1, 2] | sort(reverse=true) }}"),
      "[1, 2, 3] ['A', 'b', 'c'] ['A', 'b', 'c'] [3, 2, 1]");
  EXPECT_EQ(render("{{ [1, 2, 2, 3, 1] | unique | list }} {{ ['a', 'A', 'b'] | unique | list }} "
                   "{{ [1, 2, 3] | reverse | list }} {{ 'abc' | reverse }}"),
            "[1, 2, 3] ['a', 'b'] [3, 2, 1] cba");
  EXPECT_EQ(
      render(
          "{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ 'abc' | first }} [{{ [] | first }}]"),
      "1 3 a []");
  EXPECT_EQ(render("{{ [1, 2, 3] | join(', ') }} {{ [1, 2, 3] | sum }} {{ [1, 5, 3] | max }} "
                   "{{ [4, 2, 8] | min }} {{ 'abc' | list }} {{ {'a': 1} | list }}"),
            "1, 2, 3 6 5 2 ['a', 'b', 'c'] ['a']");
  EXPECT_EQ(
      render("{{ [1, 2, 3, 4, 5] | batch(2) | list }} {{ [1, 2, 3] | batch(2, 'x') | list }}"),
      "[[1, 2], [3, 4], [5]] [[1, 2], [3, 'x']]");
  EXPECT_EQ(render("{{ [{'n': 2}, {'n': 1}] | sort(attribute='n') }} "
                   "{{ [{'n': 2}, {'n': 1}] | map(attribute='n') | sum }}"),
            "[{'n': 1}, {'n': 2}] 3");
  EXPECT_EQ(render("{{ messages | map(attribute='role') | map('upper') | join(' ') }}", kMessages),
            "SYSTEM USER ASSISTANT USER");
}

TEST(JinjaExpressions, SelectionFilters) {
  EXPECT_EQ(render("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') "
                   "| list | length }} "
                   "{{ messages | rejectattr('role', 'equalto', 'user') | list | length }} "
                   "{{ messages | selectattr('tool_calls', 'defined') | list | length }}",
                   kMessages),
            "2 2 1");
  EXPECT_EQ(
      render("{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('even') | list }} "
             "{{ [0, 1, '', 'a', none] | select | list }} {{ ['a', 'b'] | reject('equalto', 'a') | "
             "list }}"),
      "[1, 3] [1, 3] [1, 'a'] ['b']");
}

TEST(JinjaExpressions, MappingFilters) {
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2} | dictsort }} {{ {'b': 1, 'a': 2} | items | list }} "
                   "{{ missing | items | list }}"),
            "[('a', 2), ('b', 1)] [('b', 1), ('a', 2)] []");
  EXPECT_EQ(render("{{ missing | default('dflt') }} {{ '' | default('empty', true) }} "
                   "{{ none | default('n') }} [{{ missing | d }}]"),
            "dflt empty None []");
}

TEST(JinjaExpressions, NumberFilters) {
  EXPECT_EQ(
      render(
          "{{ 3.7 | int }} {{ '42' | int }} {{ '4.9' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} "
          "{{ 'ff' | int(base=16) }} {{ '3.5' | float }} {{ 2 | float }} {{ 'no' | float }}"),
      "3 42 4 0 7 255 3.5 2.0 0.0");
  EXPECT_EQ(render("{{ 2.5 | round }} {{ 3.5 | round }} {{ 2.675 | round(2) }} {{ 2.1 | "
                   "round(method='ceil') }} "
                   "{{ 2.9 | round(method='floor') }} {{ 5 | round }} {{ -2.5 | round }}"),
            "2.0 4.0 2.67 3.0 2.0 5 -2.0");
  EXPECT_EQ(render("{{ -5 | abs }} {{ -2.5 | abs }} {{ [1, 2] | length }} {{ {'a': 1} | count }}"),
            "5 2.5 2 1");
}

TEST(JinjaExpressions, ToJsonIsHuggingFacesJsonDumps) {
  // Key order is kept; no HTML escaping; non-ASCII stays as is, as transformers' tojson does.
  EXPECT_EQ(render("{{ messages[2].tool_calls[0].function | tojson }}", kMessages),
            R"({"name": "f", "arguments": {"b": 1, "a": [1, 2.5, null, true]}})");
  EXPECT_EQ(render("{{ {'a': '<b>&\\'\"', 'u': 'é😀', 'f': 1.0, 'n': none} | tojson }}"),
            R"({"a": "<b>&'\"", "u": "é😀", "f": 1.0, "n": null})");
  EXPECT_EQ(render("{{ {'k': [1, {'x': []}]} | tojson(indent=2) }}"),
            "{\n  \"k\": [\n    1,\n    {\n      \"x\": []\n    }\n  ]\n}");
  EXPECT_EQ(render("{{ 'é😀\n' | tojson(ensure_ascii=true) }} {{ {'b': 1, 'a': 2} | "
                   "tojson(sort_keys=true) }} "
                   "{{ [1, 2] | tojson(separators=(',', ':')) }}"),
            R"("\u00e9\ud83d\ude00\n" {"a": 2, "b": 1} [1,2])");
  EXPECT_THROW(render("{{ missing | tojson }}"), Error);
}

TEST(JinjaExpressions, Tests) {
  EXPECT_EQ(
      render("{{ x is defined }} {{ none is none }} {{ 1 is number }} {{ 1.0 is float }} "
             "{{ 1 is integer }} {{ true is integer }} {{ true is boolean }} {{ 'a' is string }}"),
      "False True True True True False True True");
  EXPECT_EQ(
      render("{{ {} is mapping }} {{ [] is iterable }} {{ x is iterable }} {{ 1 is iterable }} "
             "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }}"),
      "True True True False True True True False");
  EXPECT_EQ(render("{{ 1 is eq 1 }} {{ 1 is equalto 2 }} {{ 2 is gt 1 }} {{ 2 is lt(1) }} {{ 'a' "
                   "is in 'abc' }} "
                   "{{ true is true }} {{ 1 is true }} {{ 'abc' is lower }} {{ 'ABC' is upper }}"),
            "True False True False True True False True True");
  EXPECT_EQ(
      render(
          "{{ none is sameas none }} {{ x is undefined }} {{ range is callable }} "
          "{{ 'upper' is filter }} {{ 'odd' is test }} {{ x is not defined }} {{ 1 is not none }}"),
      "True True True True True True True");
}

TEST(JinjaExpressions, StringMethods) {
  EXPECT_EQ(
      render("{{ 'Hello'.startswith('He') }} {{ 'Hello'.endswith(('x', 'lo')) }} {{ 'a b  "
             "c'.split() }} "
             "{{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }}"),
      "True True ['a', 'b', 'c'] ['a', 'b', '', 'c'] ['a', 'b,c'] ['a,b', 'c']");
  EXPECT_EQ(render("[{{ '  pad  '.strip() }}|{{ '  pad  '.lstrip() }}|{{ '  pad  '.rstrip() }}|"
                   "{{ 'xxpadxx'.strip('x') }}] {{ 'hello world'.title() }} {{ 'Hi'.upper() }}{{ "
                   "'Hi'.lower() }}"),
            "[pad|pad  |  pad|pad] Hello World HIhi");
  EXPECT_EQ(render("{{ 'hello'.find('l') }} {{ 'hello'.count('l') }} {{ ', '.join(['a', 'b']) }} "
                   "{{ '123'.isdigit() }} {{ 'a\nb'.splitlines() }} {{ 'a-b'.replace('-', '+') }}"),
            "2 2 a, b True ['a', 'b'] a+b");
}

TEST(JinjaExpressions, ListMethods) {
  EXPECT_EQ(render("{{ [1, 2, 1].count(1) }} {{ ['a', 'b'].index('b') }} {{ (1, 2).count(3) }}"),
            "2 1 0");
  EXPECT_THROW(render("{{ [1].index(5) }}"), Error);
}

TEST(JinjaExpressions, DictMethods) {
  EXPECT_EQ(render("{{ {'a': 1}.get('a') }} {{ {'a': 1}.get('b') }} {{ {'a': 1}.get('b', 2) }} "
                   "{{ {'a': 1, 'b': 2}.keys() | list }} {{ {'a': 1, 'b': 2}.values() | list }} "
                   "{{ {'a': 1}.items() | list }}"),
            "1 None 2 ['a', 'b'] [1, 2] [('a', 1)]");
}

}  // namespace
}  // namespace bantam::jinja
