#include "ops/thread_pool.hpp"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <system_error>

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam::ops {

namespace {

// Spin this many polls before sleeping: a forward pass issues jobs microseconds apart.
constexpr int kSpinPolls = 20000;

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

int available_cores() {
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cores = CPU_COUNT(&set);
  // "QUOTA PERIOD" or "max PERIOD" (no limit), in microseconds.
  std::ifstream cpu_max("/sys/fs/cgroup/cpu.max");
  std::string quota;
  double period = 0;
  if (cpu_max >> quota >> period && quota != "max" && period > 0) {
    const double share = std::stod(quota) / period;
    if (share > 0) cores = std::min(cores, static_cast<int>(std::ceil(share)));
  }
  return std::max(1, cores);
}

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = available_cores();
  n_threads_ = n_threads;
  participants_.store(n_threads_);
  try {
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
  } catch (const std::system_error& e) {
    // The destructor will not run: join the threads that did start before giving up.
    stop_workers();
    throw Error(fmt::format("cannot start thread {} of {}: {}; use fewer threads", workers_.size() + 1,
                            n_threads_, e.what()));
  }
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::stop_workers() {
  stopping_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t current = generation_.load(std::memory_order_acquire);
    for (int spin = 0; current == seen && spin < kSpinPolls; ++spin) {
      cpu_relax();
      current = generation_.load(std::memory_order_acquire);
    }
    if (current == seen) {
      generation_.wait(seen);
      continue;
    }
    seen = current;
    if (stopping_.load()) return;
    if (index >= participants_.load(std::memory_order_relaxed)) continue;
    // Announce first, then look: the caller closes the job before waiting for active_ to drain,
    // so a worker either sees the job closed or is waited for.
    active_.fetch_add(1);
    if (open_.load()) work_on_job();
    active_.fetch_sub(1);
  }
}

void ThreadPool::work_on_job() {
  for (;;) {
    const int64_t piece = next_piece_.fetch_add(1, std::memory_order_relaxed);
    if (piece >= n_pieces_) return;
    const int64_t begin = piece * piece_;
    (*body_)(begin, std::min(n_, begin + piece_));
    if (pieces_done_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_pieces_) pieces_done_.notify_all();
  }
}

void ThreadPool::wait_for_pieces(std::chrono::steady_clock::duration own_share) {
  int64_t done = pieces_done_.load(std::memory_order_acquire);
  std::chrono::steady_clock::time_point sleep_start{};
  for (int spin = 0; done != n_pieces_; ++spin) {
    if (spin < kSpinPolls) {
      cpu_relax();
    } else {
      if (spin == kSpinPolls) sleep_start = std::chrono::steady_clock::now();
      pieces_done_.wait(done);
    }
    done = pieces_done_.load(std::memory_order_acquire);
  }
  // Waiting longer than the caller's own share took: the last piece's holder was not running.
  const bool slept = sleep_start != std::chrono::steady_clock::time_point{};
  adapt_participants(slept && std::chrono::steady_clock::now() - sleep_start > own_share);
}

// Threads on their own cores finish a job within about one piece of each other; a job whose end
// waits longer than the caller's whole share means a worker was descheduled mid-piece, most
// likely by another process on its core.
// After several such jobs the last participant is left out; it is tried again after a while,
// so the pool grows back when the other process goes away.
void ThreadPool::adapt_participants(bool waited_long) {
  constexpr int kStraggleLimit = 8;
  constexpr int64_t kRetryAfterJobs = 20000;
  straggle_score_ = std::max(0, straggle_score_ + (waited_long ? 2 : -1));
  ++jobs_since_change_;
  const int now = participants_.load(std::memory_order_relaxed);
  if (straggle_score_ >= kStraggleLimit && now > 1) {
    participants_.store(now - 1, std::memory_order_relaxed);
    straggle_score_ = 0;
    jobs_since_change_ = 0;
  } else if (now < n_threads_ && jobs_since_change_ >= kRetryAfterJobs) {
    participants_.store(now + 1, std::memory_order_relaxed);
    straggle_score_ = 0;
    jobs_since_change_ = 0;
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t min_per_piece,
                              const std::function<void(int64_t, int64_t)>& body) {
  if (n <= 0) return;
  min_per_piece = std::max<int64_t>(1, min_per_piece);
  const int threads = participants_.load(std::memory_order_relaxed);
  if (threads == 1 || n < 2 * min_per_piece) {
    body(0, n);
    return;
  }
  // A few pieces per thread: small enough that the share of a slowed thread moves to the
  // others, large enough that claiming costs nothing next to the work.
  constexpr int64_t kPiecesPerThread = 4;
  piece_ = std::max(min_per_piece, (n + threads * kPiecesPerThread - 1) / (threads * kPiecesPerThread));
  n_pieces_ = (n + piece_ - 1) / piece_;
  n_ = n;
  body_ = &body;
  next_piece_.store(0, std::memory_order_relaxed);
  pieces_done_.store(0, std::memory_order_relaxed);
  open_.store(true);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  const auto start = std::chrono::steady_clock::now();
  work_on_job();
  wait_for_pieces(std::chrono::steady_clock::now() - start);
  open_.store(false);
  while (active_.load() != 0) cpu_relax();
  body_ = nullptr;
}

}  // namespace bantam::ops
