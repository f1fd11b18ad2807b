// The on-device safety pre-filter: configured pattern lists checked against every message before
// routing. A match can refuse the request, keep it on the device, or ask a moderation endpoint
// (OpenAI's POST /v1/moderations) whether to refuse it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bantam::hybrid {

class Pattern;

// Ordered by strength: when several rules match, the strongest action wins.
enum class SafetyAction { Local, Moderate, Refuse };
const char* to_string(SafetyAction action);

struct SafetyRule {
  SafetyAction action = SafetyAction::Refuse;
  std::string name;   // reported in errors, the route reason and the audit log
  std::string regex;  // PCRE2, matched case-insensitively against each message text
};

// Parses "ACTION:NAME=REGEX" with ACTION refuse, local or moderate (as given on the command line).
SafetyRule parse_safety_rule(const std::string& spec);

struct SafetyVerdict {
  std::optional<SafetyAction> action;  // none: no rule matched
  std::string rule;                    // the name of the rule that decided
};

class SafetyFilter {
 public:
  explicit SafetyFilter(const std::vector<SafetyRule>& rules = {});
  ~SafetyFilter();
  SafetyFilter(const SafetyFilter&) = delete;
  SafetyFilter& operator=(const SafetyFilter&) = delete;

  bool empty() const { return rules_.empty(); }
  // Checks every message's text (string content, text parts, tool-call arguments).
  SafetyVerdict check(const nlohmann::json& messages) const;

 private:
  struct Compiled;
  std::vector<Compiled> rules_;
};

}  // namespace bantam::hybrid
