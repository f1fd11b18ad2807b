#include "runtime/generation_params.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

#include <fmt/format.h>

#include "bantam/bantam.hpp"

namespace bantam {
namespace {

// Values are stored in floats: a larger number would become infinity there.
constexpr double kFloatMax = std::numeric_limits<float>::max();
constexpr int64_t kIntMax = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxTokens = 1 << 24;

GenerationParam real(std::string_view name, std::string_view flag, double min, double max, double default_value,
                     bool above_min = false) {
  GenerationParam p;
  p.name = name;
  p.flag = flag;
  p.min = min;
  p.max = max;
  p.above_min = above_min;
  p.default_value = default_value;
  return p;
}

GenerationParam integer(std::string_view name, std::string_view flag, int64_t min, int64_t max, int64_t default_value,
                        std::optional<int64_t> cli_off = std::nullopt) {
  GenerationParam p;
  p.name = name;
  p.flag = flag;
  p.integer = true;
  p.int_min = min;
  p.int_max = max;
  p.default_value = static_cast<double>(default_value);
  p.cli_off = cli_off;
  return p;
}

// Defaults are the library's (bantam.hpp), so the CLI, the C++ API and requests sample alike.
// max_tokens -1 runs until done; seed 0 is a random one.
constexpr SamplingOptions kSampling{};
const int kDefaultMaxTokens = GenerateOptions{}.max_tokens;

const GenerationParam kParams[] = {
    real("temperature", "--temp", 0, 2, kSampling.temperature),
    real("top_p", "--top-p", 0, 1, kSampling.top_p),
    integer("top_k", "--top-k", 0, kIntMax, kSampling.top_k),
    real("min_p", "--min-p", 0, 1, kSampling.min_p),
    real("repeat_penalty", "--repeat-penalty", 0, kFloatMax, kSampling.repeat_penalty, /*above_min=*/true),
    integer("repeat_last_n", "--repeat-last-n", -1, kIntMax, kSampling.penalty_last_n),
    real("presence_penalty", "--presence-penalty", -2, 2, kSampling.presence_penalty),
    real("frequency_penalty", "--frequency-penalty", -2, 2, kSampling.frequency_penalty),
    integer("seed", "--seed", 0, std::numeric_limits<int64_t>::max(), static_cast<int64_t>(kSampling.seed)),
    integer("max_tokens", "--max-tokens", 1, kMaxTokens, kDefaultMaxTokens, /*cli_off=*/-1),
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
