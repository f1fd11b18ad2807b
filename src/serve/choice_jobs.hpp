// The scheduler jobs of one request's choices: n of them for a chat, n per prompt for a text
// completion. At most `window` run at a time, so a request asking for many choices waits for slots
// as other requests do instead of filling the queue; each job's events reach the caller with the
// choice's index, in the order they come.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/scheduler.hpp"
#include "serve/http_server.hpp"

namespace bantam::serve {

class ChoiceJobs {
 public:
  // Submits the first `window` requests (QueueFull, as Scheduler::submit, when none can wait).
  ChoiceJobs(Scheduler& scheduler, std::vector<JobRequest> requests, size_t window);

  using Consume = std::function<bool(size_t index, std::vector<GeneratedToken>& events)>;
  // Drives every job to its end, submitting the rest as earlier ones finish and handing each
  // batch of events to `consume`; consume returning false, or the client going away, cancels
  // them all.
  void follow(HttpResponse& response, const Consume& consume);

  // Cancels the running jobs and submits no more.
  void cancel();

  size_t size() const { return jobs_.size(); }
  bool cancelled() const { return cancelled_; }
  // Valid after follow() unless cancelled().
  const Job& job(size_t index) const { return *jobs_[index]; }
  std::shared_ptr<Job> first() const { return jobs_.empty() ? nullptr : jobs_.front(); }
  // The first failed job's error, else nullopt.
  std::optional<std::string> error() const;
  // Over every job, as OpenAI's usage counts them: completion tokens of all choices summed, the
  // prompt once per prompt (the jobs of one prompt's choices are `choices_per_prompt` in a row).
  int64_t completion_tokens() const;
  int64_t prompt_tokens(size_t choices_per_prompt) const;
  int64_t reused_tokens(size_t choices_per_prompt) const;
  // Speculative decoding over every job: {"drafted": N, "accepted": M}; null when nothing was drafted.
  nlohmann::ordered_json speculation() const;

 private:
  void submit_ready();

  Scheduler& scheduler_;
  std::vector<JobRequest> requests_;
  std::vector<std::shared_ptr<Job>> jobs_;
  std::vector<bool> finished_;
  size_t window_;
  size_t next_ = 0;    // the next request to submit
  size_t running_ = 0;
  bool cancelled_ = false;
};

}  // namespace bantam::serve
