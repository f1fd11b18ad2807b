#include "hybrid/router.hpp"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "bantam/error.hpp"

namespace bantam::hybrid {

Policy parse_policy(std::string_view text) {
  if (text == "local-only") return Policy::LocalOnly;
  if (text == "auto") return Policy::Auto;
  if (text == "cloud-preferred") return Policy::CloudPreferred;
  throw Error(fmt::format("route policy '{}' is not local-only, auto or cloud-preferred", text));
}

Consent parse_consent(std::string_view text) {
  if (text == "never") return Consent::Never;
  if (text == "ask") return Consent::Ask;
  if (text == "always") return Consent::Always;
  throw Error(fmt::format("cloud consent '{}' is not never, ask or always", text));
}

SensitiveHandling parse_sensitive(std::string_view text) {
  if (text == "redact") return SensitiveHandling::Redact;
  if (text == "keep-local") return SensitiveHandling::KeepLocal;
  if (text == "block") return SensitiveHandling::Block;
  throw Error(fmt::format("sensitive handling '{}' is not redact, keep-local or block", text));
}

const char* to_string(Policy policy) {
  switch (policy) {
    case Policy::LocalOnly: return "local-only";
    case Policy::Auto: return "auto";
    case Policy::CloudPreferred: return "cloud-preferred";
  }
  return "?";
}

const char* to_string(Consent consent) {
  switch (consent) {
    case Consent::Never: return "never";
    case Consent::Ask: return "ask";
    case Consent::Always: return "always";
  }
  return "?";
}

const char* to_string(Route route) {
  switch (route) {
    case Route::Local: return "local";
    case Route::Cloud: return "cloud";
    case Route::Refuse: return "refuse";
  }
  return "?";
}

namespace {

RequestedRoute parse_requested(std::string_view text, const char* where) {
  if (text == "local") return RequestedRoute::Local;
  if (text == "cloud") return RequestedRoute::Cloud;
  if (text == "auto") return RequestedRoute::Auto;
  throw Error(fmt::format("{} '{}' is not local, cloud or auto", where, text));
}

// Why the cloud may not be used for this request, or nothing when it may.
std::optional<std::string> cloud_denial(const RouterConfig& config, const RequestFacts& facts,
                                        bool cloud_healthy) {
  if (config.policy == Policy::LocalOnly) return "policy-local-only";
  if (facts.overrides.route == RequestedRoute::Local) return "requested-local";
  if (config.consent == Consent::Never) return "consent-never";
  if (config.consent == Consent::Ask && !facts.overrides.cloud_consent) return "consent-missing";
  if (facts.sensitive && config.sensitive == SensitiveHandling::KeepLocal) return "sensitive-keep-local";
  if (facts.sensitive && config.sensitive == SensitiveHandling::Block) return "sensitive-blocked";
  if (!cloud_healthy) return "circuit-open";
  return std::nullopt;
}

Decision refuse(std::string rule, std::string denied, std::string message) {
  Decision d;
  d.route = Route::Refuse;
  d.rule = std::move(rule);
  d.cloud_denied = std::move(denied);
  d.message = std::move(message);
  return d;
}

Decision local(std::string rule, std::string denied = {}) {
  Decision d;
  d.route = Route::Local;
  d.rule = std::move(rule);
  d.cloud_denied = std::move(denied);
  return d;
}

Decision cloud(const RouterConfig& config, std::string rule, bool local_fallback) {
  Decision d;
  d.route = Route::Cloud;
  d.rule = std::move(rule);
  d.redact = config.sensitive == SensitiveHandling::Redact;
  d.local_fallback = local_fallback;
  return d;
}

// The rule, if any, that wants the cloud before anything ran.
std::optional<std::string> upfront_rule(const RouterConfig& config, const RequestFacts& facts) {
  if (facts.overrides.route == RequestedRoute::Cloud) return "requested";
  if (facts.prompt_tokens > config.local_context) return "prompt-too-long";
  if (std::find(config.cloud_aliases.begin(), config.cloud_aliases.end(), facts.model) !=
      config.cloud_aliases.end())
    return "cloud-model";
  if (config.policy == Policy::CloudPreferred && facts.overrides.route != RequestedRoute::Auto)
    return "policy";
  if (config.latency_budget_ms > 0 && facts.expected_queue_wait_ms > config.latency_budget_ms)
    return "latency-budget";
  return std::nullopt;
}

}  // namespace

RequestOverrides parse_overrides(const nlohmann::json& body, std::string_view route_header) {
  RequestOverrides out;
  RequestedRoute from_body = RequestedRoute::Default;
  if (body.is_object() && body.contains("bantam")) {
    const nlohmann::json& bantam = body.at("bantam");
    if (!bantam.is_object()) throw Error("field 'bantam' must be an object");
    if (bantam.contains("route")) {
      if (!bantam.at("route").is_string()) throw Error("field 'bantam.route' must be a string");
      from_body = parse_requested(bantam.at("route").get<std::string>(), "field 'bantam.route'");
    }
    if (bantam.contains("cloud_consent")) {
      if (!bantam.at("cloud_consent").is_boolean())
        throw Error("field 'bantam.cloud_consent' must be a boolean");
      out.cloud_consent = bantam.at("cloud_consent").get<bool>();
    }
  }
  RequestedRoute from_header = RequestedRoute::Default;
  size_t first = route_header.find_first_not_of(" \t");
  if (first != std::string_view::npos) {
    size_t last = route_header.find_last_not_of(" \t");
    from_header = parse_requested(route_header.substr(first, last + 1 - first), "header X-Bantam-Route");
  }
  if (from_body != RequestedRoute::Default && from_header != RequestedRoute::Default &&
      from_body != from_header)
    throw Error("header X-Bantam-Route and field 'bantam.route' disagree");
  out.route = from_body != RequestedRoute::Default ? from_body : from_header;
  return out;
}

Decision first_route(const RouterConfig& config, const RequestFacts& facts, bool cloud_healthy) {
  std::optional<std::string> rule = upfront_rule(config, facts);
  if (!rule) return local("local-first");
  std::optional<std::string> denied = cloud_denial(config, facts, cloud_healthy);
  if (!denied) {
    // A prompt too long for the local context or a cloud-only model has no local fallback.
    bool fallback = *rule != "prompt-too-long" && *rule != "cloud-model";
    return cloud(config, *rule, fallback);
  }
  if (*denied == "sensitive-blocked")
    return refuse(*rule, *denied,
                  "the request holds sensitive data and this server blocks sending it to the cloud");
  if (*rule == "requested" && *denied != "circuit-open")
    return refuse(*rule, *denied, fmt::format("the cloud route is not allowed here ({})", *denied));
  if (*rule == "prompt-too-long")
    return refuse(*rule, *denied,
                  fmt::format("the prompt ({} tokens) exceeds the local context ({}) and the cloud "
                              "is not available ({})",
                              facts.prompt_tokens, config.local_context, *denied));
  if (*rule == "cloud-model")
    return refuse(*rule, *denied,
                  fmt::format("model '{}' runs in the cloud, which is not available ({})",
                              facts.model, *denied));
  return local(*rule, *denied);
}

Confidence summarize(const LocalOutcome& outcome) {
  Confidence c;
  const std::vector<float>& lp = outcome.token_logprobs;
  c.tokens = lp.size();
  if (!lp.empty()) {
    c.mean_logprob = std::accumulate(lp.begin(), lp.end(), 0.0) / static_cast<double>(lp.size());
    c.min_logprob = *std::min_element(lp.begin(), lp.end());
  }
  const std::vector<float>& h = outcome.token_entropies;
  if (!h.empty()) c.mean_entropy = std::accumulate(h.begin(), h.end(), 0.0) / static_cast<double>(h.size());
  return c;
}

Decision after_local(const RouterConfig& config, const RequestFacts& facts,
                     const LocalOutcome& outcome, bool cloud_healthy) {
  std::optional<std::string> rule;
  const Confidence c = summarize(outcome);
  if (outcome.failed) {
    rule = "local-failure";
  } else if (!outcome.token_logprobs.empty() &&
             (c.mean_logprob < config.min_mean_logprob || c.min_logprob < config.min_token_logprob)) {
    rule = "low-confidence";
  } else if (!outcome.token_entropies.empty() && c.mean_entropy > config.max_mean_entropy) {
    rule = "high-entropy";
  }
  if (!rule) return local("local-first");
  std::optional<std::string> denied = cloud_denial(config, facts, cloud_healthy);
  if (!denied) return cloud(config, *rule, !outcome.failed);
  if (*denied == "sensitive-blocked")
    return refuse(*rule, *denied,
                  "the request holds sensitive data and this server blocks sending it to the cloud");
  if (outcome.failed)
    return refuse(*rule, *denied,
                  fmt::format("local generation failed and the cloud is not available ({})", *denied));
  return local(*rule, *denied);
}

Decision after_cloud_failure(const Decision& cloud_decision) {
  if (!cloud_decision.local_fallback)
    return refuse("cloud-failure", {}, "the cloud model failed and this request cannot run locally");
  return local("cloud-failure");
}

CircuitBreaker::CircuitBreaker(int threshold, std::chrono::milliseconds cool_down, Clock clock)
    : threshold_(std::max(1, threshold)), cool_down_(cool_down), clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return std::chrono::steady_clock::now(); };
}

bool CircuitBreaker::allow() {
  std::lock_guard lock(mutex_);
  switch (state_) {
    case State::Closed:
      return true;
    case State::Open:
      if (clock_() - opened_at_ < cool_down_) return false;
      state_ = State::HalfOpen;
      trial_in_flight_ = true;
      return true;
    case State::HalfOpen:
      if (trial_in_flight_) return false;
      trial_in_flight_ = true;
      return true;
  }
  return false;
}

bool CircuitBreaker::available() const {
  std::lock_guard lock(mutex_);
  if (state_ == State::Closed) return true;
  if (state_ == State::Open) return clock_() - opened_at_ >= cool_down_;
  return !trial_in_flight_;
}

void CircuitBreaker::success() {
  std::lock_guard lock(mutex_);
  state_ = State::Closed;
  failures_ = 0;
  trial_in_flight_ = false;
}

void CircuitBreaker::failure() {
  std::lock_guard lock(mutex_);
  trial_in_flight_ = false;
  if (state_ == State::HalfOpen || ++failures_ >= threshold_) {
    state_ = State::Open;
    opened_at_ = clock_();
  }
}

CircuitBreaker::State CircuitBreaker::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

}  // namespace bantam::hybrid
