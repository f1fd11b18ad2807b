// Continuous batching: requests wait in a bounded queue for one of N slots; a scheduler thread
// advances every busy slot by one forward pass per step (prompt chunks and sampled tokens side
// by side), steps each slot's Generation (the state machine Session steps too), and streams the
// tokens to the request's Job. A free slot keeps its cache, so a request continuing the same conversation
// lands on the slot holding the longest common prefix.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bantam/bantam.hpp"
#include "runtime/generation.hpp"

namespace bantam {

class LoraSet;
struct Draft;

struct JobRequest {
  std::vector<TokenId> prompt;
  GenerationSpec generation;
  // Adapters for this request (null: the base model) and their identity: a slot's cached prefix
  // is reused only by a request with the same key, since adapters change the KV cache.
  std::shared_ptr<const LoraSet> lora;
  std::string lora_key;
};

// What the scheduler reports while it works (the server's metrics count it); called on the
// scheduler thread.
class SchedulerObserver {
 public:
  virtual ~SchedulerObserver() = default;
  virtual void prompt_tokens_evaluated(int64_t count) = 0;
  // A token was sampled: `first` after `seconds` since the request arrived, else `seconds` after
  // the previous one.
  virtual void token_sampled(bool first, double seconds) = 0;
  virtual void embedding_tokens_evaluated(int64_t count) = 0;
  // A speculative pass of one slot verified `drafted` tokens and kept `accepted` of them.
  virtual void drafts_verified(int64_t /*drafted*/, int64_t /*accepted*/) {}
};

// The scheduler's load, read when metrics are scraped.
struct SchedulerGauges {
  int queue_depth = 0;
  int active_slots = 0;
  int slots = 0;
  int64_t kv_used_tokens = 0;
  int64_t kv_capacity_tokens = 0;
  size_t kv_bytes = 0;
};

class Job {
 public:
  // Waits up to `timeout` for events or the end; moves pending events into `out`.
  // Returns true once the job has finished and every event was taken.
  bool wait(std::vector<GeneratedToken>& out, std::chrono::milliseconds timeout);
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

  // Valid once wait() returned true.
  StopReason finish_reason() const { return finish_; }
  const std::string& error() const { return error_; }
  int64_t prompt_tokens() const { return prompt_tokens_; }
  int64_t completion_tokens() const { return completion_tokens_; }
  int64_t reused_tokens() const { return reused_tokens_; }
  // Speculative decoding: tokens drafted and verified, and how many of them were kept.
  int64_t drafted_tokens() const { return drafted_tokens_; }
  int64_t accepted_tokens() const { return accepted_tokens_; }
  // Milliseconds from submission to the first generated token; nullopt when none was generated.
  std::optional<double> ttft_ms() const;
  // Generated tokens after the first, per second of generating them; nullopt with fewer than two.
  std::optional<double> decode_tokens_per_s() const;

 private:
  friend class Scheduler;
  void push(GeneratedToken event);
  void finish(StopReason reason, std::string error = {});

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<GeneratedToken> events_;
  bool done_ = false;
  std::atomic<bool> cancelled_{false};
  StopReason finish_ = StopReason::Cancelled;
  std::string error_;
  int64_t prompt_tokens_ = 0;
  int64_t completion_tokens_ = 0;
  int64_t reused_tokens_ = 0;
  int64_t drafted_tokens_ = 0;
  int64_t accepted_tokens_ = 0;
  std::chrono::steady_clock::time_point submitted_at_, first_token_at_, finished_at_;
};

struct SchedulerOptions {
  int slots = 1;
  int64_t context = 2048;  // per slot
  KvCacheTypes kv_types = {};
  int threads = 0;
  int max_batch = 512;
  int max_queue = 64;
  bool context_shift = false;  // every request's full context is shifted, not its end (context_shift.hpp)
  // Per slot: prompt lookup and/or a draft model (with a cache per slot); drafts ride in the
  // slot's segment of the shared forward pass.
  SpeculativeOptions speculative = {};
};

class QueueFull : public Error {
 public:
  using Error::Error;
};

class Scheduler {
 public:
  Scheduler(std::shared_ptr<const Model> model, const SchedulerOptions& options, SchedulerObserver& observer);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // QueueFull when max_queue requests already wait; Error once shutting down.
  std::shared_ptr<Job> submit(JobRequest request);
  // Embeds the inputs on the scheduler thread in pieces of at most a batch, time-shared with the
  // decode steps (so chat keeps going), blocking the caller. `abandoned` is asked every 50 ms; once it says
  // true the work stops before its next piece and nullopt is returned. QueueFull as submit().
  std::optional<std::vector<std::vector<float>>> embed(std::vector<std::vector<TokenId>> inputs,
                                                       const std::function<bool()>& abandoned);
  // Stops taking requests, lets running ones finish until `deadline`, then cancels the rest.
  void drain(std::chrono::steady_clock::time_point deadline);

  SchedulerGauges gauges() const;
  std::vector<bool> slots_processing() const;  // per slot: a request holds it
  int64_t context() const { return options_.context; }
  // How long a request submitted now would wait for a slot: 0 while one is free, else the queue
  // ahead of it times the recent mean time a request holds a slot, spread over the slots.
  double expected_wait_ms() const;

 private:
  struct Slot;
  struct EmbedTask;
  void loop();
  void admit_locked();
  void run_embedding_piece(const std::shared_ptr<EmbedTask>& task);
  void run_step();
  // Samples the slot's next token from `logits`, or with drafts verifies them over the logits
  // of each evaluated position (one row per position).
  void sample_slot(Slot& slot, std::span<const float> logits, const Draft& draft);
  bool make_room(Slot& slot);
  void finish_slot(Slot& slot);

  std::shared_ptr<const Model> model_;
  SchedulerOptions options_;
  SchedulerObserver& observer_;
  struct Engine;
  std::unique_ptr<Engine> engine_;
  std::vector<std::unique_ptr<Slot>> slots_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  struct Pending {
    std::shared_ptr<Job> job;
    JobRequest request;
    std::chrono::steady_clock::time_point arrival;
  };
  std::deque<Pending> queue_;
  std::deque<std::shared_ptr<EmbedTask>> embeds_;  // round robin: the front one runs the next piece
  bool accepting_ = true;
  bool quit_ = false;
  int active_ = 0;
  int64_t kv_used_ = 0;
  double mean_occupancy_ms_ = 0;  // moving average over finished requests; 0 before the first
  std::thread thread_;
};

}  // namespace bantam
