#include "serve/choice_jobs.hpp"

#include <algorithm>
#include <thread>

namespace bantam::serve {

ChoiceJobs::ChoiceJobs(Scheduler& scheduler, std::vector<JobRequest> requests, size_t window)
    : scheduler_(scheduler),
      requests_(std::move(requests)),
      jobs_(requests_.size()),
      finished_(requests_.size(), false),
      window_(std::max<size_t>(1, window)) {
  if (!requests_.empty()) jobs_[0] = scheduler_.submit(std::move(requests_[0]));
  next_ = requests_.empty() ? 0 : 1;
  running_ = next_;
  submit_ready();
}

void ChoiceJobs::submit_ready() {
  while (!cancelled_ && running_ < window_ && next_ < requests_.size()) {
    try {
      jobs_[next_] = scheduler_.submit(std::move(requests_[next_]));
    } catch (const QueueFull&) {
      return;  // other requests fill the queue: try again once one of ours has finished
    }
    ++next_;
    ++running_;
  }
}

void ChoiceJobs::cancel() {
  cancelled_ = true;
  for (const auto& job : jobs_) {
    if (job) job->cancel();
  }
}

void ChoiceJobs::follow(HttpResponse& response, const Consume& consume) {
  std::vector<GeneratedToken> events;
  for (;;) {
    bool waited = false;
    for (size_t i = 0; i < jobs_.size(); ++i) {
      if (!jobs_[i] || finished_[i]) continue;
      // One job is waited on; the others are only looked at, so no choice holds up another.
      const bool done = jobs_[i]->wait(events, std::chrono::milliseconds(waited ? 0 : 50));
      waited = true;
      if (!events.empty()) {
        if (!consume(i, events)) cancel();
        events.clear();
      }
      if (done) {
        finished_[i] = true;
        --running_;
      }
    }
    // Nothing running while the queue is full of other requests' jobs: wait a little, then retry.
    if (!waited) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    submit_ready();
    const bool all_submitted = cancelled_ || next_ == requests_.size();
    if (all_submitted && running_ == 0) return;
    if (!cancelled_ && response.client_gone()) cancel();
  }
}

std::optional<std::string> ChoiceJobs::error() const {
  for (const auto& job : jobs_) {
    if (job && job->finish_reason() == StopReason::Error) return job->error();
  }
  return std::nullopt;
}

int64_t ChoiceJobs::completion_tokens() const {
  int64_t total = 0;
  for (const auto& job : jobs_) total += job ? job->completion_tokens() : 0;
  return total;
}

int64_t ChoiceJobs::prompt_tokens(size_t choices_per_prompt) const {
  int64_t total = 0;
  for (size_t i = 0; i < jobs_.size(); i += std::max<size_t>(1, choices_per_prompt)) {
    total += jobs_[i] ? jobs_[i]->prompt_tokens() : 0;
  }
  return total;
}

int64_t ChoiceJobs::reused_tokens(size_t choices_per_prompt) const {
  int64_t total = 0;
  for (size_t i = 0; i < jobs_.size(); i += std::max<size_t>(1, choices_per_prompt)) {
    total += jobs_[i] ? jobs_[i]->reused_tokens() : 0;
  }
  return total;
}

nlohmann::ordered_json ChoiceJobs::speculation() const {
  int64_t drafted = 0, accepted = 0;
  for (const auto& job : jobs_) {
    drafted += job ? job->drafted_tokens() : 0;
    accepted += job ? job->accepted_tokens() : 0;
  }
  if (drafted == 0) return nullptr;
  return {{"drafted", drafted}, {"accepted", accepted}};
}

}  // namespace bantam::serve
