#include "cli/suggest.hpp"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

namespace bantam::cli {

namespace {

std::string_view without_dashes(std::string_view name) {
  while (!name.empty() && name.front() == '-') name.remove_prefix(1);
  return name;
}

// The deepest subcommand the parse went into (the app itself when none).
const CLI::App& deepest_parsed(const CLI::App& app) {
  const std::vector<CLI::App*> parsed = app.get_subcommands();
  return parsed.empty() ? app : deepest_parsed(*parsed.back());
}

std::string command_path(const CLI::App& app) {
  const CLI::App* parent = app.get_parent();
  if (!parent) return "bantam";
  return command_path(*parent) + " " + app.get_name();
}

std::vector<std::string> option_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* option : app.get_options()) {
    for (const std::string& name : option->get_lnames()) names.push_back("--" + name);
  }
  return names;
}

std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(sub->get_name());
  }
  return names;
}

}  // namespace

size_t edit_distance(std::string_view a, std::string_view b) {
  // Three rows of the classic table: the previous two and the current one.
  std::vector<size_t> before(b.size() + 1), previous(b.size() + 1), current(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        current[j] = std::min(current[j], before[j - 2] + 1);
      }
    }
    std::swap(before, previous);
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::optional<std::string> closest_name(std::string_view typed, const std::vector<std::string>& names) {
  const std::string_view bare = without_dashes(typed);
  const size_t allowed = std::clamp<size_t>((bare.size() + 2) / 3, 1, 3);
  std::optional<std::string> best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (const std::string& name : names) {
    const size_t distance = edit_distance(bare, without_dashes(name));
    if (distance <= allowed && distance < best_distance) {
      best = name;
      best_distance = distance;
    }
  }
  return best;
}

std::optional<std::string> explain_unknown_name(const CLI::App& app) {
  const CLI::App& command = deepest_parsed(app);
  for (std::string left : command.remaining()) {
    if (left.size() > 2 && left.starts_with("--")) {
      left = left.substr(0, left.find('='));  // --tmp=0
      if (const auto name = closest_name(left, option_names(command))) {
        return fmt::format("{}: unknown option {}; did you mean {}?", command_path(command), left, *name);
      }
    } else if (!left.starts_with("-") && command.get_subcommands().empty()) {
      if (const auto name = closest_name(left, subcommand_names(command))) {
        return fmt::format("{}: unknown command {}; did you mean {}?", command_path(command), left, *name);
      }
    }
  }
  return std::nullopt;
}

}  // namespace bantam::cli
