// The SVG charts of `bench --plot` and `route-eval --plot`: well-formed XML with one bar or point
// per result carrying its labels and values, and bench's spread warning.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "eval/bench.hpp"
#include "eval/svg_chart.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using nlohmann::ordered_json;

// Every element of `svg` with class="CLASS", as its attributes name="value".
std::vector<std::map<std::string, std::string>> elements(const std::string& svg, const std::string& cls) {
  std::vector<std::map<std::string, std::string>> out;
  const std::regex element("<[a-z]+ class=\"" + cls + "\"([^>]*)>");
  const std::regex attribute("([a-z-]+)=\"([^\"]*)\"");
  for (std::sregex_iterator it(svg.begin(), svg.end(), element), end; it != end; ++it) {
    std::map<std::string, std::string> attributes;
    const std::string inside = (*it)[1];
    for (std::sregex_iterator a(inside.begin(), inside.end(), attribute); a != end; ++a) {
      attributes[(*a)[1]] = (*a)[2];
    }
    out.push_back(attributes);
  }
  return out;
}

std::string checked(const std::string& svg) {
  const auto path = test::temp_dir() / "chart.svg";
  svg::write_svg_file(path.string(), svg);
  EXPECT_EQ(test::xml_error(path), "");
  return svg;
}

ordered_json bench_row(int n_prompt, int n_gen, int threads, double avg, double stddev) {
  return {{"model_filename", "/models/tiny.gguf"}, {"model_type", "llama 293K F32"}, {"n_threads", threads},
          {"n_prompt", n_prompt}, {"n_gen", n_gen}, {"avg_ts", avg}, {"stddev_ts", stddev}};
}

TEST(SvgChart, BenchChartHasABarPerTestAndThreadCount) {
  const ordered_json results = ordered_json::array({bench_row(512, 0, 1, 100.5, 1), bench_row(0, 128, 1, 20.25, 1),
                                bench_row(512, 0, 2, 190, 1), bench_row(0, 128, 2, 35, 1)});
  const std::string svg = checked(svg::render(bench_chart(results)));
  const auto bars = elements(svg, "bar");
  ASSERT_EQ(bars.size(), 4u);
  std::vector<std::string> seen;
  for (const auto& bar : bars) seen.push_back(bar.at("data-group") + "/" + bar.at("data-series") + "=" + bar.at("data-value"));
  EXPECT_THAT(seen, ElementsAre("pp512/1 thread=100.5", "pp512/2 threads=190", "tg128/1 thread=20.25",
                                "tg128/2 threads=35"));
  EXPECT_THAT(svg, HasSubstr(">bantam bench: tiny.gguf (llama 293K F32)</text>"));
  EXPECT_THAT(svg, HasSubstr(">tokens per second</text>"));
  EXPECT_THAT(svg, HasSubstr(">pp512</text>"));
  // A taller bar for a faster result.
  EXPECT_GT(std::stod(bars[1].at("height")), std::stod(bars[0].at("height")));
}

TEST(SvgChart, SeveralModelsAreSeparateSeries) {
  ordered_json other = bench_row(512, 0, 1, 50, 1);
  other["model_filename"] = "b.gguf";
  const auto chart = bench_chart(ordered_json::array({bench_row(512, 0, 1, 100, 1), other}));
  ASSERT_EQ(chart.series.size(), 2u);
  EXPECT_EQ(chart.series[1].name, "b.gguf (llama 293K F32), 1 thread");
  EXPECT_THAT(chart.title, HasSubstr("tiny.gguf (llama 293K F32); b.gguf"));
}

TEST(SvgChart, LineChartHasAPointPerValueAndEscapesText) {
  svg::LineChart chart;
  chart.title = "quality <&> \"share\"";
  chart.series = {{"local-only", {{0, 0.4, "local-only"}}, false},
                  {"auto", {{0.1, 0.5, "t 0.1"}, {0.5, 0.7, "t 0.5"}}, true}};
  chart.x_range = chart.y_range = svg::Range{0, 1};
  const std::string svg = checked(svg::render(chart));
  const auto points = elements(svg, "point");
  ASSERT_EQ(points.size(), 3u);
  EXPECT_EQ(points[2].at("data-series"), "auto");
  EXPECT_EQ(points[2].at("data-label"), "t 0.5");
  EXPECT_EQ(points[2].at("data-x"), "0.5");
  EXPECT_EQ(points[2].at("data-y"), "0.7");
  EXPECT_THAT(svg, HasSubstr("quality &lt;&amp;&gt; &quot;share&quot;"));
  EXPECT_EQ(elements(svg, "legend").size(), 2u);
}

TEST(BenchSpread, WarnsAboveTwentyPercentOfTheMean) {
  const auto warnings = bench_spread_warnings(ordered_json::array(
      {bench_row(512, 0, 1, 100, 20), bench_row(0, 128, 1, 100, 20.5), bench_row(0, 128, 2, 100, 5)}));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("tg128 with 1 threads on tiny.gguf"));
  EXPECT_THAT(warnings[0], HasSubstr("20.50 t/s) is 20.5% of its mean (100.00 t/s), over 20%"));
  EXPECT_TRUE(bench_spread_warnings(ordered_json::array({bench_row(512, 0, 1, 100, 30)}), 0.5).empty());
}

}  // namespace
}  // namespace bantam
