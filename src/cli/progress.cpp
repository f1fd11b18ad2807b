#include "cli/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

namespace bantam::cli {

ProgressBar::ProgressBar(std::string label)
    : label_(std::move(label)),
      tty_(isatty(fileno(stderr)) != 0),
      start_(std::chrono::steady_clock::now()) {}

void ProgressBar::update(double fraction, const std::string& detail) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  const auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ < std::chrono::milliseconds(100) && fraction < 1.0) return;
    last_draw_ = now;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth);
    fmt::print(stderr, "\r{} [{}{}] {:3.0f}% {:<40.40}", label_, std::string(filled, '#'),
               std::string(kWidth - filled, ' '), fraction * 100, detail);
  } else {
    const int decile = static_cast<int>(fraction * 10);
    if (decile == last_decile_) return;
    last_decile_ = decile;
    fmt::print(stderr, "{}: {:.0f}% {}\n", label_, fraction * 100, detail);
  }
  std::fflush(stderr);
}

void ProgressBar::finish(const std::string& summary) {
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  fmt::print(stderr, "{}{}: done in {:.1f} s{}{}\n", tty_ ? "\r\033[K" : "", label_, secs,
             summary.empty() ? "" : ", ", summary);
}

}  // namespace bantam::cli
