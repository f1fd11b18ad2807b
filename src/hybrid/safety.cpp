#include "hybrid/safety.hpp"

#include <cctype>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "hybrid/pattern.hpp"

namespace bantam::hybrid {

const char* to_string(SafetyAction action) {
  switch (action) {
    case SafetyAction::Local: return "local";
    case SafetyAction::Moderate: return "moderate";
    case SafetyAction::Refuse: return "refuse";
  }
  return "?";
}

SafetyRule parse_safety_rule(const std::string& spec) {
  const size_t colon = spec.find(':');
  const size_t eq = spec.find('=', colon == std::string::npos ? 0 : colon);
  if (colon == std::string::npos || eq == std::string::npos || eq == colon + 1 || eq + 1 == spec.size())
    throw Error(fmt::format("safety rule '{}' is not ACTION:NAME=REGEX", spec));
  SafetyRule rule;
  const std::string action = spec.substr(0, colon);
  if (action == "refuse") {
    rule.action = SafetyAction::Refuse;
  } else if (action == "local") {
    rule.action = SafetyAction::Local;
  } else if (action == "moderate") {
    rule.action = SafetyAction::Moderate;
  } else {
    throw Error(fmt::format("safety rule '{}': action '{}' is not refuse, local or moderate", spec, action));
  }
  rule.name = spec.substr(colon + 1, eq - colon - 1);
  for (char c : rule.name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
      throw Error(fmt::format("safety rule '{}': name '{}' must be letters, digits, - and _", spec, rule.name));
  rule.regex = spec.substr(eq + 1);
  return rule;
}

struct SafetyFilter::Compiled {
  SafetyRule rule;
  std::unique_ptr<Pattern> pattern;
};

SafetyFilter::SafetyFilter(const std::vector<SafetyRule>& rules) {
  for (const SafetyRule& rule : rules)
    rules_.push_back(Compiled{rule, std::make_unique<Pattern>(rule.regex, "safety rule " + rule.name, true)});
}

SafetyFilter::~SafetyFilter() = default;

SafetyVerdict SafetyFilter::check(const nlohmann::json& messages) const {
  SafetyVerdict verdict;
  if (rules_.empty() || !messages.is_array()) return verdict;
  std::vector<std::string> texts;
  for (const nlohmann::json& message : messages) {
    if (!message.is_object()) continue;
    if (message.contains("content")) {
      const nlohmann::json& content = message["content"];
      if (content.is_string()) texts.push_back(content.get<std::string>());
      if (content.is_array())
        for (const nlohmann::json& part : content)
          if (part.is_object() && part.contains("text") && part["text"].is_string()) texts.push_back(part["text"]);
    }
    if (message.contains("tool_calls") && message["tool_calls"].is_array())
      for (const nlohmann::json& call : message["tool_calls"])
        if (call.is_object() && call.contains("function") && call["function"].is_object() &&
            call["function"].contains("arguments") && call["function"]["arguments"].is_string())
          texts.push_back(call["function"]["arguments"]);
  }
  for (const Compiled& c : rules_) {
    if (verdict.action && *verdict.action >= c.rule.action) continue;  // cannot win
    for (const std::string& text : texts) {
      if (!c.pattern->matches(text)) continue;
      verdict.action = c.rule.action;
      verdict.rule = c.rule.name;
      break;
    }
  }
  return verdict;
}

}  // namespace bantam::hybrid
