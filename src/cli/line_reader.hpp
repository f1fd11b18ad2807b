// Reading what a person types at `bantam chat`: on a terminal through libedit (line editing, the
// arrow keys recall earlier lines, history kept in a file across runs) when the build has it;
// otherwise, and whenever stdin is not a terminal, plain lines from stdin with no history.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace bantam::cli {

// Whether this build has line editing (libedit found at configure time).
bool line_editing_built_in();

// $XDG_STATE_HOME/bantam/chat_history, else ~/.local/state/bantam/chat_history; nullopt when
// neither variable names a folder.
std::optional<std::filesystem::path> chat_history_path();

class LineReader {
 public:
  // `terminal`: stdin is a terminal, so prompts are shown and lines go through the line editor
  // (when built in); `history`: where the lines typed there are kept across runs (none: in memory).
  LineReader(bool terminal, std::optional<std::filesystem::path> history);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // One line without its newline, after showing `prompt` on a terminal; nullopt at end of input.
  std::optional<std::string> read(const std::string& prompt);

 private:
  bool terminal_;
  bool edit_;
  std::optional<std::filesystem::path> history_;
};

}  // namespace bantam::cli
