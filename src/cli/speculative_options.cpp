#include "cli/speculative_options.hpp"

#include "bantam/error.hpp"
#include "cli/model_file.hpp"

namespace bantam::cli {

void add_speculative_options(CLI::App& cmd, SpeculativeFlags& flags) {
  cmd.add_option("--spec", flags.mode,
                 "Speculative decoding: auto (prompt lookup, plus --model-draft when given; each stops "
                 "where it does not pay) or off; run, chat and bench default to auto, serve to what "
                 "--lookup and --model-draft ask for")
      ->check(CLI::IsMember({"auto", "off"}));
  cmd.add_option("--model-draft", flags.draft_model, "Draft model for speculative decoding (same vocabulary; also -md)");
  cmd.add_option("--draft-max", flags.draft_max, "Most tokens drafted per pass")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd.add_option("--draft-p-min", flags.draft_p_min, "The draft model stops below this probability of its token")
      ->check(CLI::Range(0.0f, 1.0f))
      ->capture_default_str();
  cmd.add_option("--lookup", flags.lookup, "Prompt lookup: draft by matching n-grams of up to N tokens (0: off)")
      ->check(CLI::Range(0, 16))
      ->default_str(std::to_string(kAutoLookupNgram) + " with auto, else 0");
  cmd.add_flag("--draft-fixed", flags.fixed,
               "Always draft --draft-max tokens: no adaptive length, no pause when speculation does not pay");
}

std::vector<char*> with_long_draft_flag(int argc, char** argv) {
  static char long_name[] = "--model-draft";
  std::vector<char*> args(argv, argv + argc);
  for (char*& arg : args) {
    if (std::string_view(arg) == "-md") arg = long_name;
  }
  return args;
}

SpeculativeOptions resolve_speculative(const SpeculativeFlags& flags, bool auto_by_default) {
  SpeculativeOptions options;
  if (flags.mode == "off") {
    if (!flags.draft_model.empty()) throw Error("--spec off and --model-draft contradict each other");
    if (flags.lookup > 0) throw Error("--spec off and --lookup contradict each other");
    return options;
  }
  const bool automatic = flags.mode == "auto" || (flags.mode.empty() && auto_by_default);
  options.lookup = flags.lookup >= 0 ? flags.lookup : automatic ? kAutoLookupNgram : 0;
  options.draft_max = flags.draft_max;
  options.draft_p_min = flags.draft_p_min;
  options.adaptive = !flags.fixed;
  if (!flags.draft_model.empty()) options.draft = Model::load(model_file(flags.draft_model));
  return options;
}

}  // namespace bantam::cli
