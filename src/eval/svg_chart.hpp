// Plain SVG charts for `bench --plot` and `route-eval --plot`: grouped bars and points joined by
// lines, with axes, ticks, axis labels, a title and a legend. Each bar and point carries its
// values as data-* attributes and a <title> tooltip, so a script (or a test) can read a chart back.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace bantam::svg {

struct Range {
  double low = 0, high = 1;
};

// Bars of every series side by side within each group (e.g. groups = tests, series = threads).
struct BarChart {
  struct Series {
    std::string name;
    std::vector<std::optional<double>> values;  // one per group; nullopt: no bar
  };
  std::string title, x_label, y_label;
  std::vector<std::string> groups;
  std::vector<Series> series;
};

// Points, those of a series joined in the order given (joined = false: a scatter).
struct LineChart {
  struct Point {
    double x = 0, y = 0;
    std::string label;  // shown beside the point and in its tooltip
  };
  struct Series {
    std::string name;
    std::vector<Point> points;
    bool joined = true;
  };
  std::string title, x_label, y_label;
  std::vector<Series> series;
  std::optional<Range> x_range, y_range;  // default: 0 (or the lowest value) to a round number above the data
};

std::string render(const BarChart& chart);
std::string render(const LineChart& chart);

// Writes `svg` to `path`; throws Error naming the file when it cannot.
void write_svg_file(const std::string& path, const std::string& svg);

}  // namespace bantam::svg
