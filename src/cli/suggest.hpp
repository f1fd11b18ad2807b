// "Did you mean ...?" for mistyped option and subcommand names: the closest known name by edit
// distance (insertions, deletions, substitutions and swaps of neighbours), when it is close.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

namespace bantam::cli {

// Edits from `a` to `b` (optimal string alignment distance).
size_t edit_distance(std::string_view a, std::string_view b);
// The name in `names` closest to `typed`, when at most a third of it (rounded up; at most 3
// edits) differs; leading dashes count for nothing. nullopt when none is that close.
std::optional<std::string> closest_name(std::string_view typed, const std::vector<std::string>& names);

// After a failed parse of `app`: a message naming a mistyped option or subcommand that was left
// over and the closest known name ("bantam run: unknown option --tmp; did you mean --temp?"), or
// nullopt when nothing left over is close to a known name.
std::optional<std::string> explain_unknown_name(const CLI::App& app);

}  // namespace bantam::cli
