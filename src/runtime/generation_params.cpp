#include "runtime/generation_params.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam {
namespace {

// Values are stored in floats: a larger number would become infinity there.
constexpr double kFloatMax = std::numeric_limits<float>::max();
constexpr int64_t kIntMax = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxTokens = 1 << 24;

GenerationParam real(std::string_view name, std::string_view flag, double min, double max, bool in_api,
                     double api_default, bool above_min = false) {
  GenerationParam p;
  p.name = name;
  p.flag = flag;
  p.min = min;
  p.max = max;
  p.above_min = above_min;
  p.in_api = in_api;
  p.api_default = api_default;
  return p;
}

GenerationParam integer(std::string_view name, std::string_view flag, int64_t min, int64_t max, bool in_api,
                        int64_t api_default, std::optional<int64_t> cli_off = std::nullopt) {
  GenerationParam p;
  p.name = name;
  p.flag = flag;
  p.integer = true;
  p.int_min = min;
  p.int_max = max;
  p.in_api = in_api;
  p.api_default = static_cast<double>(api_default);
  p.cli_off = cli_off;
  return p;
}

// Fields outside OpenAI's API (top_k, min_p, repeat_penalty, repeat_last_n) are CLI-only for now:
// requests sample with them off, and OpenAI's penalties count every generated token. A request
// without max_tokens (-1) runs until done; one without a seed (0) gets a random one.
const GenerationParam kParams[] = {
    real("temperature", "--temp", 0, 2, true, 1),
    real("top_p", "--top-p", 0, 1, true, 1),
    integer("top_k", "--top-k", 0, kIntMax, false, 0),
    real("min_p", "--min-p", 0, 1, false, 0),
    real("repeat_penalty", "--repeat-penalty", 0, kFloatMax, false, 1, /*above_min=*/true),
    integer("repeat_last_n", "--repeat-last-n", -1, kIntMax, false, -1),
    real("presence_penalty", "--presence-penalty", -2, 2, true, 0),
    real("frequency_penalty", "--frequency-penalty", -2, 2, true, 0),
    integer("seed", "--seed", 0, std::numeric_limits<int64_t>::max(), true, 0),
    integer("max_tokens", "--max-tokens", 1, kMaxTokens, true, -1, /*cli_off=*/-1),
};

}  // namespace

std::span<const GenerationParam> generation_params() { return kParams; }

const GenerationParam& generation_param(std::string_view name) {
  for (const GenerationParam& p : kParams) {
    if (p.name == name) return p;
  }
  throw Error(fmt::format("no generation parameter is named '{}'", name));
}

bool in_range(const GenerationParam& p, double value) {
  return std::isfinite(value) && (p.above_min ? value > p.min : value >= p.min) && value <= p.max;
}

bool in_range(const GenerationParam& p, int64_t value) { return value >= p.int_min && value <= p.int_max; }

std::string range_text(const GenerationParam& p) {
  if (p.integer) return fmt::format("an integer from {} to {}", p.int_min, p.int_max);
  // Only repeat_penalty has no upper bound of its own.
  if (p.max == kFloatMax) return fmt::format("a number greater than {}", p.min);
  return fmt::format("a number from {} to {}", p.min, p.max);
}

std::string check_cli_value(const GenerationParam& p, const std::string& text) {
  const auto refusal = [&] {
    const std::string off = p.cli_off ? fmt::format(" (or {}: off)", *p.cli_off) : "";
    return fmt::format("{} is refused; it must be {}{}", text, range_text(p), off);
  };
  char* end = nullptr;
  errno = 0;
  if (p.integer) {
    const long long value = std::strtoll(text.c_str(), &end, 10);
    const bool number = !text.empty() && end == text.c_str() + text.size() && errno == 0;
    if (!number || !(in_range(p, static_cast<int64_t>(value)) || value == p.cli_off)) return refusal();
    return {};
  }
  const double value = std::strtod(text.c_str(), &end);
  const bool number = !text.empty() && end == text.c_str() + text.size();
  if (!number || !in_range(p, value)) return refusal();
  return {};
}

}  // namespace bantam
