// A compiled PCRE2 regex (UTF-8, invalid UTF-8 tolerated) shared by the redactor and the safety
// filter.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct pcre2_real_code_8;

namespace bantam::hybrid {

class Pattern {
 public:
  // `what` names the pattern in the error when it does not compile (e.g. "redactor pattern EMAIL").
  Pattern(const std::string& regex, const std::string& what, bool caseless = false);
  ~Pattern();
  Pattern(const Pattern&) = delete;
  Pattern& operator=(const Pattern&) = delete;

  // Every non-empty match as [begin, end); match data is per call, so this is thread-safe.
  std::vector<std::pair<size_t, size_t>> all(std::string_view text) const;
  bool matches(std::string_view text) const;

 private:
  pcre2_real_code_8* code_ = nullptr;
};

}  // namespace bantam::hybrid
