#include "eval/svg_chart.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam::svg {
namespace {

constexpr double kWidth = 820, kHeight = 480;
constexpr double kLeft = 80, kRight = 190, kTop = 50, kBottom = 70;  // margins around the plot area
constexpr double kPlotWidth = kWidth - kLeft - kRight, kPlotHeight = kHeight - kTop - kBottom;
constexpr int kTargetTicks = 5;
// Distinguishable for the common kinds of colour blindness (Okabe and Ito's palette).
constexpr const char* kColors[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"};

const char* color(size_t series) { return kColors[series % std::size(kColors)]; }

std::string escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 allows no control characters but tab and newlines.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n') out += c;
    }
  }
  return out;
}

std::string number(double value) { return fmt::format("{:.6g}", value); }

// 1, 2 or 5 times a power of ten, at least `rough`.
double nice_step(double rough) {
  if (!(rough > 0) || !std::isfinite(rough)) return 1;
  const double power = std::pow(10.0, std::floor(std::log10(rough)));
  for (const double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * power >= rough) return m * power;
  }
  return 10 * power;
}

// From 0 (or the lowest value, if negative) to the first tick at or above the highest value.
Range auto_range(const std::vector<double>& values) {
  double low = 0, high = 0;
  for (const double v : values) {
    if (!std::isfinite(v)) continue;
    low = std::min(low, v);
    high = std::max(high, v);
  }
  if (high <= low) high = low + 1;
  const double step = nice_step((high - low) / kTargetTicks);
  return {std::floor(low / step) * step, std::ceil(high / step) * step};
}

struct Axes {
  Range x, y;
  double px(double value) const { return kLeft + (value - x.low) / (x.high - x.low) * kPlotWidth; }
  double py(double value) const { return kTop + kPlotHeight - (value - y.low) / (y.high - y.low) * kPlotHeight; }
};

std::string header(const std::string& title) {
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text class=\"title\" x=\"{2}\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">{3}</text>\n",
      kWidth, kHeight, kLeft + kPlotWidth / 2, escape(title));
}

std::string axis_labels(const std::string& x_label, const std::string& y_label) {
  return fmt::format(
      "<text class=\"x-label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n"
      "<text class=\"y-label\" x=\"20\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 20 {})\">{}</text>\n",
      kLeft + kPlotWidth / 2, kHeight - 18, escape(x_label), kTop + kPlotHeight / 2, kTop + kPlotHeight / 2,
      escape(y_label));
}

// Horizontal grid lines with their values on the left, and the two axis lines.
std::string y_axis(const Axes& axes) {
  std::string out;
  const double step = nice_step((axes.y.high - axes.y.low) / kTargetTicks);
  for (double v = axes.y.low; v <= axes.y.high + step / 2; v += step) {
    const double y = axes.py(v);
    out += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>\n", kLeft, y,
                       kLeft + kPlotWidth, y);
    out += fmt::format("<text class=\"y-tick\" x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", kLeft - 6, y + 4,
                       number(std::abs(v) < step * 1e-9 ? 0 : v));
  }
  out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"black\"/>\n", kLeft, kTop,
                     kTop + kPlotHeight);
  out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"black\"/>\n", kLeft,
                     kTop + kPlotHeight, kLeft + kPlotWidth);
  return out;
}

std::string legend(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    const double y = kTop + 10 + 20 * static_cast<double>(i);
    out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/>\n", kWidth - kRight + 16, y - 10,
                       color(i));
    out += fmt::format("<text class=\"legend\" x=\"{}\" y=\"{}\">{}</text>\n", kWidth - kRight + 34, y, escape(names[i]));
  }
  return out;
}

}  // namespace

std::string render(const BarChart& chart) {
  std::vector<double> values;
  for (const auto& s : chart.series) {
    for (const auto& v : s.values) {
      if (v) values.push_back(*v);
    }
  }
  const Axes axes{{0, 1}, auto_range(values)};
  std::string out = header(chart.title) + y_axis(axes);
  const double group_width = kPlotWidth / static_cast<double>(std::max<size_t>(1, chart.groups.size()));
  const double bar_width = group_width * 0.8 / static_cast<double>(std::max<size_t>(1, chart.series.size()));
  for (size_t g = 0; g < chart.groups.size(); ++g) {
    const double group_left = kLeft + group_width * static_cast<double>(g);
    out += fmt::format("<text class=\"x-tick\" x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                       group_left + group_width / 2, kTop + kPlotHeight + 18, escape(chart.groups[g]));
    for (size_t s = 0; s < chart.series.size(); ++s) {
      const auto& series = chart.series[s];
      if (g >= series.values.size() || !series.values[g]) continue;
      const double value = *series.values[g];
      const double top = axes.py(std::max(value, 0.0)), base = axes.py(std::min(value, 0.0));
      out += fmt::format(
          "<rect class=\"bar\" data-group=\"{}\" data-series=\"{}\" data-value=\"{}\" x=\"{:.1f}\" y=\"{:.1f}\" "
          "width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"><title>{}, {}: {}</title></rect>\n",
          escape(chart.groups[g]), escape(series.name), number(value),
          group_left + group_width * 0.1 + bar_width * static_cast<double>(s), top, bar_width, base - top, color(s),
          escape(chart.groups[g]), escape(series.name), number(value));
    }
  }
  std::vector<std::string> names;
  for (const auto& s : chart.series) names.push_back(s.name);
  return out + axis_labels(chart.x_label, chart.y_label) + legend(names) + "</svg>\n";
}

std::string render(const LineChart& chart) {
  std::vector<double> xs, ys;
  for (const auto& s : chart.series) {
    for (const auto& p : s.points) {
      xs.push_back(p.x);
      ys.push_back(p.y);
    }
  }
  const Axes axes{chart.x_range.value_or(auto_range(xs)), chart.y_range.value_or(auto_range(ys))};
  std::string out = header(chart.title) + y_axis(axes);
  const double x_step = nice_step((axes.x.high - axes.x.low) / kTargetTicks);
  for (double v = axes.x.low; v <= axes.x.high + x_step / 2; v += x_step) {
    out += fmt::format("<text class=\"x-tick\" x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", axes.px(v),
                       kTop + kPlotHeight + 18, number(std::abs(v) < x_step * 1e-9 ? 0 : v));
  }
  for (size_t s = 0; s < chart.series.size(); ++s) {
    const auto& series = chart.series[s];
    if (series.joined && series.points.size() > 1) {
      std::string path;
      for (const auto& p : series.points) path += fmt::format("{:.1f},{:.1f} ", axes.px(p.x), axes.py(p.y));
      path.pop_back();
      out += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>\n", path, color(s));
    }
    for (const auto& p : series.points) {
      out += fmt::format(
          "<circle class=\"point\" data-series=\"{}\" data-label=\"{}\" data-x=\"{}\" data-y=\"{}\" cx=\"{:.1f}\" "
          "cy=\"{:.1f}\" r=\"5\" fill=\"{}\"><title>{} {}: ({}, {})</title></circle>\n",
          escape(series.name), escape(p.label), number(p.x), number(p.y), axes.px(p.x), axes.py(p.y), color(s),
          escape(series.name), escape(p.label), number(p.x), number(p.y));
      if (!p.label.empty()) {
        out += fmt::format("<text class=\"point-label\" x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"10\">{}</text>\n",
                           axes.px(p.x) + 7, axes.py(p.y) - 7, escape(p.label));
      }
    }
  }
  std::vector<std::string> names;
  for (const auto& s : chart.series) names.push_back(s.name);
  return out + axis_labels(chart.x_label, chart.y_label) + legend(names) + "</svg>\n";
}

void write_svg_file(const std::string& path, const std::string& svg) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << svg;
  file.flush();
  if (!file) throw Error(fmt::format("cannot write the chart to {}", path));
}

}  // namespace bantam::svg
