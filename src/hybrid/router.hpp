// Where a request runs: on the device or at a cloud model. Pure decision logic (no I/O), so every
// case is a table row in the tests; plus the circuit breaker that stops calling a failing cloud.
//
// Policies: local-only (nothing ever leaves; no cloud client exists), auto (local first, escalate
// when a rule fires), cloud-preferred (cloud first, local fallback). Whatever a request asks for,
// the cloud is used only when the server's policy, the consent setting and the sensitive-data
// handling all allow it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace bantam::hybrid {

enum class Policy { LocalOnly, Auto, CloudPreferred };
// never: the cloud is off; ask: only requests carrying "bantam": {"cloud_consent": true}; always.
enum class Consent { Never, Ask, Always };
// What to do when a cloud-bound request holds sensitive data: send it redacted, answer it on the
// device instead, or refuse it.
enum class SensitiveHandling { Redact, KeepLocal, Block };
enum class RequestedRoute { Default, Local, Cloud, Auto };

Policy parse_policy(std::string_view text);  // "local-only" | "auto" | "cloud-preferred"
Consent parse_consent(std::string_view text);  // "never" | "ask" | "always"
SensitiveHandling parse_sensitive(std::string_view text);  // "redact" | "keep-local" | "block"
const char* to_string(Policy policy);
const char* to_string(Consent consent);

struct RouterConfig {
  Policy policy = Policy::LocalOnly;
  Consent consent = Consent::Never;
  SensitiveHandling sensitive = SensitiveHandling::Redact;
  int64_t local_context = 2048;             // prompts longer than this cannot run locally
  std::vector<std::string> cloud_aliases;   // model names that mean "the cloud model"
  double min_mean_logprob = -2.5;           // escalate when the mean token log-probability is lower
  double min_token_logprob = -9.0;          // ... or any single token's is lower
  double max_mean_entropy = 4.0;            // ... or the mean entropy (nats) is higher
  double latency_budget_ms = 0;             // escalate when the expected queue wait is longer; 0: off
};

// The per-request part of the body ("bantam": {...}) and the X-Bantam-Route header.
struct RequestOverrides {
  RequestedRoute route = RequestedRoute::Default;
  bool cloud_consent = false;
};
// Throws bantam::Error naming the field for a wrong type or value, or when header and body disagree.
RequestOverrides parse_overrides(const nlohmann::json& body, std::string_view route_header);

struct RequestFacts {
  RequestOverrides overrides;
  bool sensitive = false;  // the redactor found something in the prompt
  int64_t prompt_tokens = 0;
  std::string model;
  double expected_queue_wait_ms = 0;
};

enum class Route { Local, Cloud, Refuse };
const char* to_string(Route route);

struct Decision {
  Route route = Route::Local;
  std::string rule;         // why: "policy", "requested", "prompt-too-long", "cloud-model",
                            // "latency-budget", "low-confidence", "high-entropy", "local-failure",
                            // "cloud-failure", "local-first"
  std::string cloud_denied; // when the rule wanted the cloud but it was not allowed: why not
  bool redact = false;      // Cloud: redact the prompt before sending
  bool local_fallback = false;  // Cloud: a cloud failure may be answered locally
  std::string message;      // Refuse: what to tell the client
};

// Statistics of the local answer that the confidence rules look at.
struct LocalOutcome {
  bool failed = false;
  std::vector<float> token_logprobs;  // of the chosen tokens
  std::vector<float> token_entropies; // of each step's distribution, in nats; may be empty
};

// The numbers the confidence rules compare with their thresholds; all 0 when no token was made.
struct Confidence {
  size_t tokens = 0;
  double mean_logprob = 0;
  double min_logprob = 0;
  double mean_entropy = 0;  // 0 also when the entropies are missing
};
Confidence summarize(const LocalOutcome& outcome);

// The route before anything runs. cloud_healthy: the circuit breaker allows a call.
Decision first_route(const RouterConfig& config, const RequestFacts& facts, bool cloud_healthy);
// In auto mode after the local attempt: Cloud when a rule fires and the cloud is allowed, else
// Local (keep the local answer), or Refuse when the local attempt failed and nothing can answer.
Decision after_local(const RouterConfig& config, const RequestFacts& facts,
                     const LocalOutcome& outcome, bool cloud_healthy);
// After a cloud failure on a decision with local_fallback.
Decision after_cloud_failure(const Decision& cloud_decision);

// Opens after `threshold` consecutive failures; after `cool_down` lets one trial call through
// (half-open): its success closes the breaker, its failure opens it again.
class CircuitBreaker {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  enum class State { Closed, Open, HalfOpen };

  CircuitBreaker(int threshold, std::chrono::milliseconds cool_down, Clock clock = {});
  bool allow();  // true: make the call (and then report success() or failure())
  bool available() const;  // whether allow() would say yes now, without taking the trial call
  void success();
  void failure();
  State state() const;

 private:
  int threshold_;
  std::chrono::milliseconds cool_down_;
  Clock clock_;
  mutable std::mutex mutex_;
  State state_ = State::Closed;
  int failures_ = 0;
  std::chrono::steady_clock::time_point opened_at_{};
  bool trial_in_flight_ = false;
};

}  // namespace bantam::hybrid
