// Server metrics in Prometheus' text exposition format: request counts by route and status,
// token counters, latency histograms, and gauges read from the scheduler when scraped.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "runtime/scheduler.hpp"

namespace bantam::serve {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  void render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  mutable std::mutex mutex_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bound, plus +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Counts what the scheduler reports (tokens, latencies) beside the HTTP layer's requests.
class Metrics : public SchedulerObserver {
 public:
  Metrics();
  void prompt_tokens_evaluated(int64_t count) override { add_tokens(count, 0); }
  void token_sampled(bool first, double seconds) override;
  void embedding_tokens_evaluated(int64_t count) override { add_embedding_tokens(count); }
  void drafts_verified(int64_t drafted, int64_t accepted) override;
  void count_request(const std::string& route, int status);
  void add_tokens(int64_t prompt, int64_t completion);
  void add_embedding_tokens(int64_t evaluated);
  Histogram time_to_first_token;
  Histogram time_per_output_token;
  // Text for GET /metrics; gauges come from `gauges` at that moment.
  std::string render(const SchedulerGauges& gauges) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t prompt_tokens_ = 0;
  uint64_t completion_tokens_ = 0;
  uint64_t embedding_tokens_ = 0;
  uint64_t drafted_tokens_ = 0;  // speculative decoding
  uint64_t accepted_tokens_ = 0;
};

}  // namespace bantam::serve
