#include "hybrid/redactor.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <functional>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "hybrid/pattern.hpp"

namespace bantam::hybrid {

struct Redactor::Detector {
  std::string label;
  std::unique_ptr<Pattern> pattern;
  std::function<bool(std::string_view)> accept;  // validates a candidate match
};

namespace {

std::string digits_of(std::string_view text) {
  std::string out;
  for (char c : text)
    if (c >= '0' && c <= '9') out += c;
  return out;
}

bool ipv4_valid(std::string_view text) {
  int parts = 0;
  size_t i = 0;
  while (i <= text.size()) {
    size_t dot = text.find('.', i);
    if (dot == std::string_view::npos) dot = text.size();
    std::string_view part = text.substr(i, dot - i);
    if (part.empty() || part.size() > 3) return false;
    if (part.size() > 1 && part[0] == '0') return false;  // "01" reads as octal somewhere
    if (std::stoi(std::string(part)) > 255) return false;
    ++parts;
    i = dot + 1;
  }
  return parts == 4;
}

bool ipv6_valid(std::string_view text) {
  if (std::count(text.begin(), text.end(), ':') < 2) return false;
  if (std::none_of(text.begin(), text.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); }))
    return false;
  in6_addr address;
  return inet_pton(AF_INET6, std::string(text).c_str(), &address) == 1;
}

// A date (2024-01-15, 15/01/2024, 2024.01.15) has the shape of some phone numbers; it is not one.
bool looks_like_date(std::string_view text) {
  std::vector<std::string> groups;
  std::string current;
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      current += c;
    } else if (!current.empty()) {
      groups.push_back(current);
      current.clear();
    }
  }
  if (!current.empty()) groups.push_back(current);
  if (groups.size() != 3) return false;
  auto small = [](const std::string& g) { return g.size() <= 2; };
  return (groups[0].size() == 4 && small(groups[1]) && small(groups[2])) ||
         (small(groups[0]) && small(groups[1]) && (groups[2].size() == 4 || groups[2].size() == 2));
}

bool phone_valid(std::string_view text) {
  size_t digits = digits_of(text).size();
  if (digits < 7 || digits > 15) return false;
  bool international = text[0] == '+';
  bool area_code = text.find('(') != std::string_view::npos;
  if (!international && !area_code && looks_like_date(text)) return false;
  return true;
}

}  // namespace

bool luhn_valid(std::string_view digits) {
  if (digits.empty()) return false;
  int sum = 0;
  bool twice = false;
  for (size_t i = digits.size(); i-- > 0;) {
    char c = digits[i];
    if (c < '0' || c > '9') return false;
    int d = c - '0';
    if (twice) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    twice = !twice;
  }
  return sum % 10 == 0;
}

bool iban_valid(std::string_view text) {
  std::string compact;
  for (char c : text)
    if (c != ' ') compact += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (compact.size() < 15 || compact.size() > 34) return false;
  if (!std::isalpha(static_cast<unsigned char>(compact[0])) ||
      !std::isalpha(static_cast<unsigned char>(compact[1])) ||
      !std::isdigit(static_cast<unsigned char>(compact[2])) ||
      !std::isdigit(static_cast<unsigned char>(compact[3])))
    return false;
  std::string rearranged = compact.substr(4) + compact.substr(0, 4);
  int remainder = 0;
  for (char c : rearranged) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      remainder = (remainder * 10 + (c - '0')) % 97;
    } else if (c >= 'A' && c <= 'Z') {
      int value = c - 'A' + 10;
      remainder = (remainder * 100 + value) % 97;
    } else {
      return false;
    }
  }
  return remainder == 1;
}

ExtraPattern parse_extra_pattern(const std::string& spec) {
  size_t eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
    throw Error(fmt::format("redactor: extra pattern '{}' is not LABEL=regex", spec));
  ExtraPattern out{spec.substr(0, eq), spec.substr(eq + 1)};
  for (char c : out.label)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      throw Error(fmt::format("redactor: extra pattern label '{}' must be A-Z, 0-9 and _",
                              out.label));
  return out;
}

Redactor::Redactor(const std::vector<ExtraPattern>& extra) {
  auto add = [this](std::string label, const std::string& regex,
                    std::function<bool(std::string_view)> accept) {
    detectors_.push_back(Detector{label, std::make_unique<Pattern>(regex, "redactor pattern " + label), std::move(accept)});
  };
  auto always = [](std::string_view) { return true; };
  add("EMAIL", R"([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})", always);
  add("IBAN", R"(\b[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)\b)",
      iban_valid);
  add("CARD", R"((?<![\w.])\d(?:[ -]?\d){12,18}(?![\w]|\.\d))",
      [](std::string_view text) {
        std::string digits = digits_of(text);
        return digits.size() >= 13 && digits.size() <= 19 && luhn_valid(digits);
      });
  add("IP", R"((?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?(?![\w:.]))",
      ipv6_valid);
  // After IPv6, so the IPv4 tail of ::ffff:10.0.0.1 stays part of that address.
  add("IP", R"((?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d))", ipv4_valid);
  add("PHONE",
      R"((?<![\w.+-])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4})"
      R"(|\(\d{2,4}\)[ .-]?\d{3,4}[ .-]?\d{3,4})"
      R"(|\d{3}[-. ]\d{3}[-. ]\d{4})"
      R"(|0\d{1,4}[ -]\d{3,4}[ -]?\d{3,4}))"
      R"((?![\w]|[.-]\d))",
      phone_valid);
  for (const ExtraPattern& pattern : extra) {
    if (pattern.label.empty()) throw Error("redactor: an extra pattern has an empty label");
    add(pattern.label, pattern.regex, always);
  }
}

Redactor::~Redactor() = default;

std::vector<Redactor::Match> Redactor::find(std::string_view text) const {
  std::vector<Match> found;
  for (const Detector& detector : detectors_) {
    for (const auto& span : detector.pattern->all(text)) {
      // Plain copies: clang 14 cannot capture structured bindings in a lambda.
      const auto begin = span.first, end = span.second;
      const bool overlaps = std::any_of(found.begin(), found.end(), [begin, end](const Match& m) {
        return begin < m.end && m.begin < end;
      });
      if (overlaps || !detector.accept(text.substr(begin, end - begin))) continue;
      found.push_back(Match{begin, end, detector.label});
    }
  }
  std::sort(found.begin(), found.end(),
            [](const Match& a, const Match& b) { return a.begin < b.begin; });
  return found;
}

std::string Redaction::redact(std::string_view text) {
  std::string out;
  size_t at = 0;
  for (const Redactor::Match& match : redactor_.find(text)) {
    out.append(text.substr(at, match.begin - at));
    std::string value(text.substr(match.begin, match.end - match.begin));
    std::string key = match.label + '\0' + value;
    auto it = by_value_.find(key);
    if (it == by_value_.end()) {
      std::string placeholder = fmt::format("[{}_{}]", match.label, ++next_index_[match.label]);
      longest_placeholder_ = std::max(longest_placeholder_, placeholder.size());
      by_placeholder_[placeholder] = value;
      it = by_value_.emplace(key, placeholder).first;
    }
    out += it->second;
    at = match.end;
  }
  out.append(text.substr(at));
  return out;
}

std::string Redaction::restore(std::string_view text) const {
  std::string out;
  size_t at = 0;
  while (at < text.size()) {
    size_t open = text.find('[', at);
    if (open == std::string_view::npos) break;
    size_t close = text.find(']', open);
    if (close == std::string_view::npos) break;
    out.append(text.substr(at, open - at));
    auto it = by_placeholder_.find(std::string(text.substr(open, close + 1 - open)));
    if (it != by_placeholder_.end()) {
      out += it->second;
      at = close + 1;
    } else {
      out += '[';
      at = open + 1;
    }
  }
  out.append(text.substr(at));
  return out;
}

std::map<std::string, int> Redaction::counts() const { return next_index_; }

std::string Redaction::classes() const {
  std::string out;
  for (const auto& [label, count] : next_index_) {
    if (!out.empty()) out += ',';
    out += label;
  }
  return out;
}

std::string StreamRestorer::push(std::string_view chunk) {
  pending_.append(chunk);
  // Hold back from the last '[' when what follows it could still grow into a placeholder.
  size_t hold = pending_.size();
  size_t open = pending_.rfind('[');
  if (open != std::string::npos && pending_.find(']', open) == std::string::npos &&
      pending_.size() - open < redaction_.longest_placeholder()) {
    bool could_be = std::all_of(pending_.begin() + static_cast<std::ptrdiff_t>(open) + 1,
                                pending_.end(), [](char c) {
                                  return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
                                });
    if (could_be) hold = open;
  }
  std::string out = redaction_.restore(std::string_view(pending_).substr(0, hold));
  pending_.erase(0, hold);
  return out;
}

std::string StreamRestorer::finish() {
  std::string out = redaction_.restore(pending_);
  pending_.clear();
  return out;
}

}  // namespace bantam::hybrid
