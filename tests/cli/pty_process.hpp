// The bantam CLI run on a pseudo-terminal, as a person at a terminal runs it: what it writes
// (stdout and stderr together, with the terminal's echo and line editor output) is read back,
// and keys are typed into it.
#pragma once

#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "test_support.hpp"

namespace bantam::test {

class PtyProcess {
 public:
  // Starts `bantam ARGS...` on a new terminal, with TERM=xterm and the `env` variables set.
  explicit PtyProcess(const std::vector<std::string>& args,
                      const std::vector<std::pair<std::string, std::string>>& env = {}) {
    std::vector<std::string> argv = {cli_path().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    winsize size{};
    size.ws_row = 40;
    size.ws_col = 250;  // wide enough that the line editor never wraps a typed line
    pid_ = forkpty(&master_, nullptr, nullptr, &size);
    if (pid_ < 0) throw std::runtime_error("forkpty failed");
    if (pid_ == 0) {
      setenv("TERM", "xterm", 1);
      for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
      std::vector<char*> cargs;
      for (auto& a : argv) cargs.push_back(a.data());
      cargs.push_back(nullptr);
      execv(cargs[0], cargs.data());
      _exit(127);
    }
  }
  ~PtyProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (master_ >= 0) close(master_);
  }
  PtyProcess(const PtyProcess&) = delete;
  PtyProcess& operator=(const PtyProcess&) = delete;

  // Waits until the program has taken the terminal out of line mode (a line editor reading keys),
  // so keys typed next reach it rather than the terminal's own line discipline; false on timeout.
  bool wait_key_mode(std::chrono::seconds timeout = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      termios mode{};
      if (tcgetattr(master_, &mode) == 0 && (mode.c_lflag & ICANON) == 0) return true;
      read_some(10);
    }
    return false;
  }

  void type(std::string_view keys) {
    while (!keys.empty()) {
      const ssize_t n = write(master_, keys.data(), keys.size());
      if (n <= 0) throw std::runtime_error("cannot write to the terminal");
      keys.remove_prefix(static_cast<size_t>(n));
    }
  }

  // Waits until `text` is written after the end of the last text waited for; false when it is
  // not within `timeout` (or the process ends first).
  bool expect(std::string_view text, std::chrono::seconds timeout = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const size_t found = output_.find(text, cursor_);
      if (found != std::string::npos) {
        cursor_ = found + text.size();
        return true;
      }
      if (std::chrono::steady_clock::now() >= deadline || read_some(100) < 0) return false;
    }
  }

  // The exit status once the process ends (-1 when a signal ended it or it ran past `timeout`).
  int wait_exit(std::chrono::seconds timeout = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      read_some(50);  // a full terminal buffer would keep it from exiting
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        while (read_some(0) > 0) {
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
    }
    return -1;
  }

  const std::string& output() const { return output_; }

 private:
  // Appends what is ready within `timeout_ms`: the bytes read, 0 for none, -1 once the terminal
  // is closed (EIO: every process on it is gone).
  ssize_t read_some(int timeout_ms) {
    pollfd p{master_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return 0;
    char buffer[4096];
    const ssize_t n = read(master_, buffer, sizeof buffer);
    if (n <= 0) return -1;
    output_.append(buffer, static_cast<size_t>(n));
    return n;
  }

  pid_t pid_ = -1;
  int master_ = -1;
  bool exited_ = false;
  std::string output_;
  size_t cursor_ = 0;
};

}  // namespace bantam::test
