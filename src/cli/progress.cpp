#include "cli/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

namespace bantam::cli {
namespace {

constexpr int kBarWidth = 30;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);
// Too little time has passed below this for a speed to mean anything.
constexpr double kMinSecondsForRate = 0.2;

double mib(uint64_t bytes) { return static_cast<double>(bytes) / 1048576.0; }

}  // namespace

ProgressOutput ProgressOutput::standard_error() {
  ProgressOutput out;
  out.terminal = isatty(fileno(stderr)) != 0;
  out.write = [](const std::string& text) {
    std::fputs(text.c_str(), stderr);
    std::fflush(stderr);
  };
  out.now = [] { return Clock::now(); };
  return out;
}

std::string format_duration(double seconds) {
  const auto total = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  const int64_t hours = total / 3600, minutes = total / 60 % 60, secs = total % 60;
  if (hours > 0) return fmt::format("{}:{:02}:{:02}", hours, minutes, secs);
  return fmt::format("{}:{:02}", minutes, secs);
}

ProgressBar::ProgressBar(std::string label, ProgressOutput output)
    : label_(std::move(label)), out_(std::move(output)), start_(out_.now()) {}

ProgressBar::~ProgressBar() {
  if (line_open_ && !finished_) out_.write("\n");
}

double ProgressBar::seconds_since_start() const {
  return std::chrono::duration<double>(out_.now() - start_).count();
}

void ProgressBar::update(double fraction, const std::string& detail) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  const double elapsed = seconds_since_start();
  std::string text = detail;
  if (fraction > 0 && fraction < 1 && elapsed >= kMinSecondsForRate) {
    text += fmt::format("{}ETA {}", text.empty() ? "" : ", ", format_duration(elapsed * (1 - fraction) / fraction));
  }
  draw(fraction, text);
}

void ProgressBar::bytes(uint64_t done, uint64_t total) {
  if (total == 0) return;
  if (!first_bytes_) {
    // Bytes already there (a resumed download) do not count towards the speed.
    first_bytes_ = done;
    bytes_start_ = out_.now();
  }
  const double fraction = static_cast<double>(done) / static_cast<double>(total);
  std::string text = fmt::format("{:.1f}/{:.1f} MiB", mib(done), mib(total));
  const double elapsed = std::chrono::duration<double>(out_.now() - bytes_start_).count();
  const uint64_t moved = done > *first_bytes_ ? done - *first_bytes_ : 0;
  if (elapsed >= kMinSecondsForRate && moved > 0) {
    const double per_second = static_cast<double>(moved) / elapsed;
    text += fmt::format(", {:.1f} MiB/s", per_second / 1048576.0);
    if (done < total) text += ", ETA " + format_duration(static_cast<double>(total - done) / per_second);
  }
  draw(std::min(fraction, 1.0), text);
}

void ProgressBar::draw(double fraction, const std::string& detail) {
  if (out_.terminal) {
    const auto now = out_.now();
    if (fraction < 1.0 && last_draw_ && now - *last_draw_ < kRedrawInterval) return;
    last_draw_ = now;
    const int filled = static_cast<int>(fraction * kBarWidth);
    // \033[K clears what a longer previous line left to the right.
    out_.write(fmt::format("\r{} [{}{}] {:3.0f}% {}\033[K", label_, std::string(filled, '#'),
                           std::string(kBarWidth - filled, '.'), fraction * 100, detail));
    line_open_ = true;
    return;
  }
  const int decile = static_cast<int>(fraction * 10);
  if (decile == last_decile_) return;
  last_decile_ = decile;
  out_.write(fmt::format("{}: {:.0f}%{}{}\n", label_, fraction * 100, detail.empty() ? "" : " ", detail));
}

void ProgressBar::finish(const std::string& summary) {
  out_.write(fmt::format("{}{}: done in {:.1f} s{}{}\n", line_open_ ? "\r\033[K" : "", label_,
                         seconds_since_start(), summary.empty() ? "" : ", ", summary));
  finished_ = true;
  line_open_ = false;
}

}  // namespace bantam::cli
