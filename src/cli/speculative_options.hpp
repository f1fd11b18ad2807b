// The speculative decoding flags of run, chat, serve and bench (llama.cpp's names where it has
// them): --spec, -md/--model-draft, --draft-max, --draft-p-min, --lookup.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bantam/bantam.hpp"

namespace bantam::cli {

struct SpeculativeFlags {
  // "auto": prompt lookup (--lookup, 3 unless given), plus the draft model when one is given;
  // "off": neither; empty: auto where the command makes it the default (resolve_speculative),
  // else what --lookup and --model-draft ask for.
  std::string mode;
  std::string draft_model;    // NAME[:VERSION] or path; empty: none
  int draft_max = SpeculativeOptions{}.draft_max;
  float draft_p_min = SpeculativeOptions{}.draft_p_min;
  int lookup = -1;  // n-gram length for prompt lookup; < 0: auto's choice
  bool fixed = false;  // --draft-fixed: always draft_max tokens, never paused
};

inline constexpr int kAutoLookupNgram = 3;

void add_speculative_options(CLI::App& cmd, SpeculativeFlags& flags);
// argv with llama.cpp's multi-letter single-dash `-md` spelled `--model-draft`, which CLI11 parses.
std::vector<char*> with_long_draft_flag(int argc, char** argv);

// The session options the flags ask for (the draft model loaded); Error for contradictions.
// auto_by_default: no --spec means auto (run, chat, bench, where bench/RESULTS.md (4) measured
// it within 5% of plain decoding); serve, not measured so, keeps speculation to what is asked.
SpeculativeOptions resolve_speculative(const SpeculativeFlags& flags, bool auto_by_default = false);

}  // namespace bantam::cli
