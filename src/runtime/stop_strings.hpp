// Streams generated text while watching for stop strings: text that could still be the start of
// a stop string is held back until it is known either way, and nothing of the stop string itself
// is ever emitted.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace bantam {

class StopStringFilter {
 public:
  explicit StopStringFilter(std::vector<std::string> stops);

  // Appends generated text; returns what is now safe to show (maybe empty).
  std::string push(std::string_view text);
  // True once a stop string has appeared; later pushes return nothing.
  bool stopped() const { return stopped_; }
  // What is still held back (at the end of generation it is safe to show).
  std::string flush();

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace bantam
