// Redaction of personal data before a prompt leaves the device: emails, phone numbers, payment
// cards (Luhn-checked), IBANs (mod-97 checked), IPv4/IPv6 addresses and configured extra PCRE2
// patterns become stable placeholders such as [EMAIL_1]; the cloud's answer gets them restored,
// also when a placeholder arrives split across streamed chunks.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bantam::hybrid {

class Pattern;  // a compiled PCRE2 regex (pattern.hpp)

struct ExtraPattern {
  std::string label;  // placeholder stem, upper-case letters, digits and '_' (e.g. "EMPLOYEE_ID")
  std::string regex;  // PCRE2 syntax; the whole match is redacted
};

// Parses "LABEL=regex" (as given on the command line).
ExtraPattern parse_extra_pattern(const std::string& spec);

// The detectors; immutable after construction and shareable between threads.
class Redactor {
 public:
  explicit Redactor(const std::vector<ExtraPattern>& extra = {});
  ~Redactor();
  Redactor(const Redactor&) = delete;
  Redactor& operator=(const Redactor&) = delete;

  struct Match {
    size_t begin = 0, end = 0;
    std::string label;  // EMAIL, PHONE, CARD, IBAN, IP or an extra pattern's label
  };
  // Non-overlapping findings in text order; earlier detectors win overlaps (emails before
  // cards before phones, extras last).
  std::vector<Match> find(std::string_view text) const;

 private:
  struct Detector;
  std::vector<Detector> detectors_;
};

// One conversation's mapping between values and placeholders: the same value always gets the same
// placeholder, across every message redacted through it.
class Redaction {
 public:
  explicit Redaction(const Redactor& redactor) : redactor_(redactor) {}

  std::string redact(std::string_view text);
  std::string restore(std::string_view text) const;

  bool empty() const { return by_value_.empty(); }
  // Labels found so far with how many distinct values each, e.g. {"EMAIL": 2}.
  std::map<std::string, int> counts() const;
  // "EMAIL,PHONE" (sorted), or "" when nothing was found; for the audit log.
  std::string classes() const;
  size_t longest_placeholder() const { return longest_placeholder_; }

 private:
  const Redactor& redactor_;
  std::map<std::string, std::string> by_value_;        // "LABEL\0value" -> placeholder
  std::map<std::string, std::string> by_placeholder_;  // placeholder -> value
  std::map<std::string, int> next_index_;              // label -> last index given
  size_t longest_placeholder_ = 0;
};

// Restores placeholders in a stream of chunks: text that might be the start of a placeholder is
// held back until the next chunk shows whether it is one.
class StreamRestorer {
 public:
  explicit StreamRestorer(const Redaction& redaction) : redaction_(redaction) {}
  std::string push(std::string_view chunk);
  std::string finish();  // whatever is held back, restored

 private:
  const Redaction& redaction_;
  std::string pending_;
};

// Checks used by the detectors; exposed for tests.
bool luhn_valid(std::string_view digits);
bool iban_valid(std::string_view text);  // spaces allowed between groups

}  // namespace bantam::hybrid
