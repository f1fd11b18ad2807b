// A lean fork-join pool: the workers live as long as the pool and spin briefly between jobs,
// so the many small parallel steps of one forward pass cost no thread creation.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace bantam::ops {

// Cores this process may run on: its CPU affinity, bounded by a cgroup v2 CPU quota.
int available_cores();

class ThreadPool {
 public:
  // n_threads counts the calling thread too; 0 picks available_cores(). Error when a thread
  // cannot be started (e.g. under a memory or process limit).
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs job(thread_index) once on every thread (the caller is index 0) and waits for all.
  void run(const std::function<void(int)>& job);

  // Splits [0, n) into one contiguous range per thread; runs inline when n < 2 * min_per_thread.
  void parallel_for(int64_t n, int64_t min_per_thread,
                    const std::function<void(int64_t begin, int64_t end)>& body);

 private:
  void worker_loop(int index);
  void stop_workers();

  int n_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace bantam::ops
