// A lean fork-join pool: the workers live as long as the pool and spin briefly between jobs,
// so the many small parallel steps of one forward pass cost no thread creation.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace bantam::ops {

// Cores this process may run on: its CPU affinity, bounded by a cgroup v2 CPU quota.
int available_cores();

// Work is claimed in small pieces rather than split once per thread: a worker that shares its
// core with another process (the normal state of a phone or laptop) simply claims fewer, and a
// worker that is not running when a job starts is not waited for. The pool also notices workers
// that keep the caller waiting (descheduled mid-piece) and leaves them out for a while.
class ThreadPool {
 public:
  // n_threads counts the calling thread too; 0 picks available_cores(). Error when a thread
  // cannot be started (e.g. under a memory or process limit).
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // Threads taking part in jobs now (fewer than size() while workers are being left out).
  int participants() const { return participants_.load(std::memory_order_relaxed); }

  // Runs body over [0, n) in pieces of at least min_per_piece items, on the caller and the
  // workers, and returns when every piece is done; runs inline when n < 2 * min_per_piece.
  void parallel_for(int64_t n, int64_t min_per_piece,
                    const std::function<void(int64_t begin, int64_t end)>& body);

 private:
  void worker_loop(int index);
  void stop_workers();
  void work_on_job();  // claims and runs pieces of the open job until none is left
  void wait_for_pieces(std::chrono::steady_clock::duration own_share);
  void adapt_participants(bool waited_long);

  int n_threads_;
  std::vector<std::thread> workers_;
  // The open job. Written by the caller only while no worker is inside a job (active_ == 0).
  const std::function<void(int64_t, int64_t)>* body_ = nullptr;
  int64_t n_ = 0, piece_ = 0, n_pieces_ = 0;
  std::atomic<int64_t> next_piece_{0};
  std::atomic<int64_t> pieces_done_{0};
  std::atomic<bool> open_{false};
  std::atomic<int> active_{0};  // workers inside work_on_job or about to check open_
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<int> participants_;
  int straggle_score_ = 0;   // caller-only: recent jobs that ended waiting on a worker
  int64_t jobs_since_change_ = 0;
};

}  // namespace bantam::ops
