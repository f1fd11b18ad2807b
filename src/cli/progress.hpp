// A progress bar on stderr for long work: redrawn in place on a terminal (at most 10 times a
// second), a line every 10% otherwise (so logs stay short). Byte counts (pull, quantize) show
// speed and time left ("12.3 MiB/s, ETA 0:42"), other work its time left. The line always ends:
// finish() closes it with a summary, and a bar destroyed unfinished (an error unwinding past it)
// ends its line before the error message is printed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace bantam::cli {

// Where a bar draws and what time it is: stderr and the steady clock, or a test's capture and
// fake clock.
struct ProgressOutput {
  using Clock = std::chrono::steady_clock;
  bool terminal = false;
  std::function<void(const std::string&)> write;
  std::function<Clock::time_point()> now;

  static ProgressOutput standard_error();
};

// "0:42", "12:05", "1:02:03"
std::string format_duration(double seconds);

class ProgressBar {
 public:
  explicit ProgressBar(std::string label, ProgressOutput output = ProgressOutput::standard_error());
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar();

  // Work measured in units of its own: `fraction` done, `detail` shown after the percentage.
  void update(double fraction, const std::string& detail = "");
  // Work measured in bytes: `done` of `total` (a resumed download may start above 0; the speed
  // counts only the bytes moved since the first call).
  void bytes(uint64_t done, uint64_t total);
  void operator()(uint64_t done, uint64_t total) { bytes(done, total); }
  // Ends the bar's line: "LABEL: done in 3.2 s, SUMMARY".
  void finish(const std::string& summary = "");

 private:
  using Clock = ProgressOutput::Clock;
  void draw(double fraction, const std::string& detail);
  double seconds_since_start() const;

  std::string label_;
  ProgressOutput out_;
  Clock::time_point start_;
  std::optional<Clock::time_point> last_draw_;
  int last_decile_ = -1;
  bool line_open_ = false;  // a terminal line drawn with no newline yet
  bool finished_ = false;
  std::optional<uint64_t> first_bytes_;  // bytes() counts speed from its first call
  Clock::time_point bytes_start_;
};

}  // namespace bantam::cli
