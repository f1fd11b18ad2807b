// A progress bar on stderr for long work: redrawn in place on a terminal, a line every 10%
// otherwise (so logs stay short).
#pragma once

#include <chrono>
#include <string>

namespace bantam::cli {

class ProgressBar {
 public:
  explicit ProgressBar(std::string label);
  void update(double fraction, const std::string& detail = "");
  void finish(const std::string& summary = "");

 private:
  std::string label_;
  bool tty_;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace bantam::cli
