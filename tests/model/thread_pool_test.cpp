// Work is claimed in pieces (every index once, a slowed thread's share taken by the others);
// thread creation failure is an Error, not std::terminate; thread counts above the cores are
// capped by the CLI with a note.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>
#include <string>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "ops/thread_pool.hpp"
#include "test_support.hpp"

namespace bantam {
namespace {

TEST(ThreadPool, EveryIndexRunsOnceInEveryJob) {
  ops::ThreadPool pool(3);
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{64}, int64_t{1000}, int64_t{4099}}) {
    for (int64_t min_piece : {int64_t{1}, int64_t{16}, int64_t{5000}}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      for (int job = 0; job < 20; ++job) {
        pool.parallel_for(n, min_piece, [&](int64_t begin, int64_t end) {
          ASSERT_LT(begin, end);
          ASSERT_GE(end - begin, std::min(n, min_piece));
          for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
        });
      }
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 20) << n << " " << i;
    }
  }
}

// A thread that stalls in one piece (as one descheduled by another process would) leaves the
// rest of the job to the others instead of its fixed share: the other thread runs most pieces.
TEST(ThreadPool, PiecesOfAStalledThreadGoToTheOthers) {
  ops::ThreadPool pool(2);
  std::mutex mutex;
  std::map<std::thread::id, int> pieces;
  std::atomic<bool> stalled{false};
  pool.parallel_for(64, 1, [&](int64_t, int64_t) {
    if (!stalled.exchange(true)) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::lock_guard lock(mutex);
    ++pieces[std::this_thread::get_id()];
  });
  int most = 0, total = 0;
  for (const auto& [id, count] : pieces) {
    most = std::max(most, count);
    total += count;
  }
  EXPECT_EQ(total, 8);  // 4 pieces per thread
  EXPECT_GE(most, total - 1);  // the stalled thread ran only the piece it stalled in
}

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

TEST(ThreadPool, VerboseSaysTheThreadCountChosen) {
  const auto r = test::run_cli({"run", "-m", test::shared("models/weights/stories260K.gguf").string(), "-p", "Once",
                                "-n", "2", "-t", "1", "--verbose"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(fmt::format("bantam: threads: 1 ({} cores available", ops::available_cores())),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace bantam
