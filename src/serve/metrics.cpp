#include "serve/metrics.hpp"

#include <fmt/format.h>

namespace bantam::serve {

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  std::lock_guard lock(mutex_);
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  std::lock_guard lock(mutex_);
  out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds_[i], cumulative);
  }
  cumulative += counts_.back();
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, cumulative, name, sum_, name, count_);
}

Metrics::Metrics()
    : time_to_first_token({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}),
      time_per_output_token({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}) {}

void Metrics::count_request(const std::string& route, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{route, status}];
}

void Metrics::add_tokens(int64_t prompt, int64_t completion) {
  std::lock_guard lock(mutex_);
  prompt_tokens_ += static_cast<uint64_t>(prompt);
  completion_tokens_ += static_cast<uint64_t>(completion);
}

void Metrics::add_embedding_tokens(int64_t evaluated) {
  std::lock_guard lock(mutex_);
  embedding_tokens_ += static_cast<uint64_t>(evaluated);
}

void Metrics::drafts_verified(int64_t drafted, int64_t accepted) {
  std::lock_guard lock(mutex_);
  drafted_tokens_ += static_cast<uint64_t>(drafted);
  accepted_tokens_ += static_cast<uint64_t>(accepted);
}

void Metrics::token_sampled(bool first, double seconds) {
  if (first) {
    time_to_first_token.observe(seconds);
  } else {
    time_per_output_token.observe(seconds);
  }
  add_tokens(0, 1);
}

std::string Metrics::render(const SchedulerGauges& g) const {
  std::string out;
  {
    std::lock_guard lock(mutex_);
    out += "# HELP bantam_requests_total HTTP requests by route and status.\n# TYPE bantam_requests_total counter\n";
    for (const auto& [key, count] : requests_) {
      out += fmt::format("bantam_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, count);
    }
    out += fmt::format("# HELP bantam_prompt_tokens_total Prompt tokens received.\n"
                       "# TYPE bantam_prompt_tokens_total counter\nbantam_prompt_tokens_total {}\n",
                       prompt_tokens_);
    out += fmt::format("# HELP bantam_completion_tokens_total Tokens generated.\n"
                       "# TYPE bantam_completion_tokens_total counter\nbantam_completion_tokens_total {}\n",
                       completion_tokens_);
    out += fmt::format("# HELP bantam_embedding_tokens_total Tokens evaluated for embeddings, counted piece by piece "
                       "(so abandoned requests count what they used).\n"
                       "# TYPE bantam_embedding_tokens_total counter\nbantam_embedding_tokens_total {}\n",
                       embedding_tokens_);
    out += fmt::format("# HELP bantam_draft_tokens_total Speculative decoding: drafted tokens verified.\n"
                       "# TYPE bantam_draft_tokens_total counter\nbantam_draft_tokens_total {}\n"
                       "# HELP bantam_draft_accepted_tokens_total Speculative decoding: drafted tokens kept.\n"
                       "# TYPE bantam_draft_accepted_tokens_total counter\nbantam_draft_accepted_tokens_total {}\n",
                       drafted_tokens_, accepted_tokens_);
  }
  time_to_first_token.render(out, "bantam_time_to_first_token_seconds",
                             "Seconds from a request's arrival to its first token.");
  time_per_output_token.render(out, "bantam_time_per_output_token_seconds", "Seconds between consecutive tokens.");
  const auto gauge = [&out](const char* name, const char* help, auto value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{} {}\n", name, help, name, name, value);
  };
  gauge("bantam_queue_depth", "Requests waiting for a slot.", g.queue_depth);
  gauge("bantam_active_slots", "Slots generating now.", g.active_slots);
  gauge("bantam_slots", "Slots configured (--parallel).", g.slots);
  gauge("bantam_kv_cache_used_tokens", "Positions held in the KV caches of all slots.", g.kv_used_tokens);
  gauge("bantam_kv_cache_capacity_tokens", "Positions the KV caches of all slots can hold.", g.kv_capacity_tokens);
  gauge("bantam_kv_cache_bytes", "Bytes allocated for KV caches.", g.kv_bytes);
  gauge("bantam_kv_cache_usage_ratio", "Used over capacity.",
        g.kv_capacity_tokens > 0 ? static_cast<double>(g.kv_used_tokens) / static_cast<double>(g.kv_capacity_tokens) : 0.0);
  return out;
}

}  // namespace bantam::serve
