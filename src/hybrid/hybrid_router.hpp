// The hybrid deployment in one place: redacts, decides the route, runs the local model through a
// callback, escalates to the cloud client or falls back from it, restores placeholders, records
// the decision in the audit log and keeps counts for /v1/router/stats. The server supplies the local
// runner, so this part is tested without a model.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bantam/error.hpp"
#include "hybrid/audit_log.hpp"
#include "hybrid/cloud_client.hpp"
#include "hybrid/redactor.hpp"
#include "hybrid/router.hpp"
#include "hybrid/safety.hpp"

namespace bantam::hybrid {

struct HybridOptions {
  RouterConfig router;
  CloudOptions cloud;  // not used (no client is built) under local-only
  // Further endpoints, tried in order (each behind its own circuit breaker) when the ones before
  // fail or are shut off by their breakers.
  std::vector<CloudOptions> more_clouds;
  std::vector<ExtraPattern> extra_patterns;
  std::string audit_path = ":memory:";
  bool audit_prompts = false;
  std::vector<SafetyRule> safety_rules;
  // The moderation endpoint "moderate" safety rules ask (the router sets api = Moderations); no
  // URL: none. Like the cloud it is not built under local-only or consent never.
  CloudOptions moderation;
  int breaker_threshold = 3;
  std::chrono::milliseconds breaker_cool_down{30000};
  CircuitBreaker::Clock clock;  // empty: the steady clock
};

// What the local model produced for a chat request: an OpenAI chat.completion object plus the
// statistics the confidence rules use.
struct LocalAnswer {
  nlohmann::json response;
  LocalOutcome outcome;
  int64_t tokens_in = 0;
  int64_t tokens_out = 0;
};
// Runs the request on the device; throws on failure (a local failure the cloud may answer), or
// ClientGone when the caller left (nothing is escalated or retried then).
using LocalRunner = std::function<LocalAnswer(const nlohmann::json& request)>;

struct HybridRequest {
  nlohmann::json body;         // the chat completion request
  std::string route_header;    // X-Bantam-Route, "" when absent
  int64_t prompt_tokens = 0;   // positions the local model needs: the prompt as the local tokenizer
                               // counts it plus the room the answer needs
  double expected_queue_wait_ms = 0;
};

// A request no route may answer; status is the HTTP status to send (403 for privacy settings, 503
// when every allowed route failed).
class RouteRefused : public Error {
 public:
  RouteRefused(const std::string& message, int status, std::string code = "route_refused")
      : Error(message), status_(status), code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }  // "route_refused" or "content_filter"
 private:
  int status_;
  std::string code_;
};

class ClientGone : public Error {
 public:
  using Error::Error;
};

class HybridRouter {
 public:
  explicit HybridRouter(HybridOptions options);

  bool has_cloud() const { return !clouds_.empty(); }
  // The chat completion with "bantam": {"route", "reason", "escalated_from"} added (plus
  // "endpoint" and "redacted" (count per class) on a cloud answer, "fallback_from" and
  // "cloud_error" after a cloud failure, "cloud_denied" when a rule wanted the cloud but a setting
  // kept the request local, and "confidence" when the local model answered). Throws
  // bantam::Error for a malformed "bantam" field or header, RouteRefused when nothing may answer,
  // and the local runner's own exception when it failed and the cloud may not take over.
  nlohmann::json complete(const HybridRequest& request, const LocalRunner& local);
  // A streaming request: tokens reach the client as they come, so confidence rules cannot apply
  // and a cloud failure falls back locally only before the first event. stream_local streams the
  // local answer itself; on_event gets each cloud chunk's data with placeholders restored and the
  // route's "bantam" object added (a final chunk carries any text held back). on_route is called once, before anything is streamed, with
  // {"route", "reason", "escalated_from"} (and complete()'s additions). Throws like complete(), and CloudError when the cloud
  // fails after events were sent.
  void stream(const HybridRequest& request, const std::function<void(const nlohmann::json& meta)>& on_route,
              const std::function<bool(const std::string& data)>& on_event,
              const std::function<void()>& stream_local);
  // The time routing added to a request answered locally (everything but the local generation);
  // the server measures it around complete() and reports it here. Keeps the latest 4096.
  void record_overhead(double milliseconds);
  // {"policy", "cloud_enabled", "local", "cloud", "refused", "fallbacks", "escalations",
  // "by_reason", "breaker" (the first endpoint's), "clouds": [{"endpoint", "breaker"}],
  // "overhead_ms": {"samples", "p50", "p99"}}.
  nlohmann::json stats() const;
  // What a client needs to offer a person the choice: {"policy", "consent", "sensitive",
  // "cloud_configured", "endpoints"}; no counts, no keys.
  nlohmann::json policy() const;
  AuditLog& audit() { return audit_; }

 private:
  // What both paths need before deciding: facts, the request with and without redaction, the
  // started audit row.
  struct Prepared {
    std::chrono::steady_clock::time_point start;
    RequestFacts facts;
    nlohmann::json plain_body;
    nlohmann::json redacted_body;
    std::unique_ptr<Redaction> redaction;
    AuditEntry entry;
    std::string safety_reason;  // "safety:NAME" when a safety rule kept the request local
  };
  Prepared prepare(const HybridRequest& request);
  // Runs the safety pre-filter: throws RouteRefused for a refusal (or a moderation that flags the
  // text or cannot be asked), or pins the request to the device.
  void apply_safety(Prepared& prepared);
  void finish(Prepared& prepared, const std::string& route, const std::string& rule);
  [[noreturn]] void refuse(Prepared& prepared, const Decision& decision, const std::string& detail);
  void count(const std::string& route, const std::string& reason, bool escalated, bool fallback);

  HybridOptions options_;
  Redactor redactor_;
  SafetyFilter safety_;
  struct Endpoint {
    std::unique_ptr<CloudClient> client;
    std::unique_ptr<CircuitBreaker> breaker;
  };
  bool cloud_available() const;  // some endpoint's breaker lets a call through
  std::vector<Endpoint> clouds_;
  std::unique_ptr<CloudClient> moderator_;
  AuditLog audit_;
  mutable std::mutex stats_mutex_;
  std::map<std::string, int64_t> routes_;
  std::map<std::string, int64_t> reasons_;
  int64_t escalations_ = 0;
  int64_t fallbacks_ = 0;
  std::vector<double> overhead_ms_;  // ring of the latest samples
  size_t overhead_next_ = 0;
};

}  // namespace bantam::hybrid
