// The generation parameters as data: each one's request field, command-line flag, accepted range
// and default. The server's request parsing and the CLI's `run`/`chat` options both check values
// here, so they refuse the same values with the same words, and a request that leaves a field
// out samples as the CLI does without the flag (the defaults are SamplingOptions' and
// GenerateOptions'). OpenAI's fields take OpenAI's ranges; top_k, min_p, repeat_penalty and
// repeat_last_n are llama.cpp's request fields.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace bantam {

struct GenerationParam {
  std::string_view name;  // the request field (OpenAI's name where OpenAI has the parameter)
  std::string_view flag;  // the `run`/`chat` option
  bool integer = false;
  double min = 0, max = 0;  // real values: the accepted range
  bool above_min = false;   // real values: min itself is refused (repeat_penalty > 0)
  int64_t int_min = 0, int_max = 0;  // integer values: the accepted range
  double default_value = 0;          // without the flag or the request field
  std::optional<int64_t> cli_off;    // a value outside the range the CLI also takes, meaning "off"
};

std::span<const GenerationParam> generation_params();
// The row named `name` (a request field name); every caller names a row that exists.
const GenerationParam& generation_param(std::string_view name);

bool in_range(const GenerationParam& p, double value);  // a real parameter; NaN and infinities never are
bool in_range(const GenerationParam& p, int64_t value);  // an integer parameter
// "from 0 to 2", "greater than 0", "an integer from 1 to 16777216": completes "it must be ...".
std::string range_text(const GenerationParam& p);

// The CLI's check of one option's text: empty when it is a number in range (or the off value),
// else why not, naming the range (CLI11 puts the flag before it).
std::string check_cli_value(const GenerationParam& p, const std::string& text);

}  // namespace bantam
