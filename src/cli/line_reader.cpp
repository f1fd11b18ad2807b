#include "cli/line_reader.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <system_error>

#include <fmt/format.h>

#if BANTAM_LINE_EDITING
#include <editline/readline.h>
#endif

namespace bantam::cli {

namespace {

constexpr int kHistoryLines = 1000;

}  // namespace

bool line_editing_built_in() { return BANTAM_LINE_EDITING != 0; }

std::optional<std::filesystem::path> chat_history_path() {
  const char* state = std::getenv("XDG_STATE_HOME");
  if (state && *state) return std::filesystem::path(state) / "bantam" / "chat_history";
  const char* home = std::getenv("HOME");
  if (home && *home) return std::filesystem::path(home) / ".local" / "state" / "bantam" / "chat_history";
  return std::nullopt;
}

LineReader::LineReader(bool terminal, std::optional<std::filesystem::path> history)
    : terminal_(terminal), edit_(terminal && line_editing_built_in()), history_(std::move(history)) {
#if BANTAM_LINE_EDITING
  if (!edit_) return;
  rl_readline_name = "bantam";
  using_history();
  stifle_history(kHistoryLines);
  if (history_) {
    std::error_code ignored;  // a folder that cannot be made leaves the history in memory
    std::filesystem::create_directories(history_->parent_path(), ignored);
    read_history(history_->c_str());  // a missing file is a first run
  }
#endif
}

LineReader::~LineReader() = default;

std::optional<std::string> LineReader::read(const std::string& prompt) {
#if BANTAM_LINE_EDITING
  if (edit_) {
    char* raw = readline(prompt.c_str());
    if (!raw) return std::nullopt;
    std::string line(raw);
    std::free(raw);
    if (!line.empty()) {
      add_history(line.c_str());
      // Written after every line: Ctrl-C at the prompt ends the process without unwinding.
      if (history_ && write_history(history_->c_str()) != 0) {
        fmt::print(stderr, "bantam: note: cannot write the chat history to {}; it is kept for this run only\n",
                   history_->string());
        history_.reset();
      }
    }
    return line;
  }
#endif
  if (terminal_) {
    fmt::print("{}", prompt);
    std::fflush(stdout);
  }
  std::string line;
  if (!std::getline(std::cin, line)) return std::nullopt;
  return line;
}

}  // namespace bantam::cli
