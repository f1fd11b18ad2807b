// Thread creation failure is an Error, not std::terminate; thread counts above the cores are
// capped by the CLI with a note.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "ops/thread_pool.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

// Virtual memory this process maps now, from /proc/self/status.
size_t mapped_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmSize:")) return std::stoull(line.substr(7)) * 1024;
  }
  return 0;
}

// In a child under an address-space limit with room for a few thread stacks, not 256.
TEST(ThreadPool, ThreadThatCannotStartIsAnError) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const rlimit limit{mapped_bytes() + (64u << 20), RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &limit) != 0) _exit(10);
    try {
      ops::ThreadPool pool(256);
      _exit(11);
    } catch (const Error& e) {
      const std::string message = e.what();
      _exit(message.find("cannot start thread") != std::string::npos && message.find("of 256") != std::string::npos
                ? 0
                : 12);
    } catch (...) {
      _exit(13);
    }
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ThreadPool, CliCapsThreadsAtTheCoresAvailable) {
  const int cores = ops::available_cores();
  ASSERT_GE(cores, 1);
  const auto r = test::run_cli({"run", "-m", test::shared("models/weights/stories260K.gguf").string(), "-p", "Once",
                                "-n", "2", "-t", "1024"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(fmt::format("1024 threads requested but {} cores are available; using {}", cores, cores)),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace bantam
