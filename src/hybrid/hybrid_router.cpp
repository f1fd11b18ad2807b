#include "hybrid/hybrid_router.hpp"

#include <algorithm>
#include <chrono>
#include <exception>

#include <fmt/format.h>

#include "format/json_input.hpp"

namespace bantam::hybrid {

namespace {

using nlohmann::json;

// Applies fn to every text a chat request or response carries for a person to read.
template <typename Fn>
void for_each_text(json& messages, Fn&& fn) {
  if (!messages.is_array()) return;
  for (json& message : messages) {
    if (!message.is_object()) continue;
    if (message.contains("content")) {
      json& content = message["content"];
      if (content.is_string()) {
        content = fn(content.get<std::string>());
      } else if (content.is_array()) {
        for (json& part : content)
          if (part.is_object() && part.contains("text") && part["text"].is_string())
            part["text"] = fn(part["text"].get<std::string>());
      }
    }
    if (message.contains("tool_calls") && message["tool_calls"].is_array()) {
      for (json& call : message["tool_calls"]) {
        if (call.is_object() && call.contains("function") && call["function"].is_object() &&
            call["function"].contains("arguments") && call["function"]["arguments"].is_string())
          call["function"]["arguments"] = fn(call["function"]["arguments"].get<std::string>());
      }
    }
  }
}

int refusal_status(const Decision& decision) {
  if (decision.rule == "local-failure" || decision.rule == "cloud-failure") return 503;
  if (decision.rule == "prompt-too-long") return 400;
  return 403;
}

int64_t usage_field(const json& response, const char* field) {
  if (!response.contains("usage") || !response["usage"].is_object()) return 0;
  const json& usage = response["usage"];
  return usage.contains(field) && usage[field].is_number_integer() ? usage[field].get<int64_t>() : 0;
}

// What a cloud answer's "bantam" object adds so a person can see what left the device: the
// endpoint and, when the prompt was redacted, how many values of each class were replaced (never
// the values themselves).
void describe_cloud(json& meta, const std::string& endpoint, const Redaction& redaction, bool redacted) {
  meta["endpoint"] = endpoint;
  meta["redacted"] = redacted ? json(redaction.counts()) : json::object();
}

}  // namespace

HybridRouter::HybridRouter(HybridOptions options)
    : options_(std::move(options)),
      redactor_(options_.extra_patterns),
      safety_(options_.safety_rules),
      audit_(options_.audit_path, options_.audit_prompts) {
  // Under local-only nothing may leave the device, so there is no client that could send it.
  if (options_.router.policy != Policy::LocalOnly && options_.router.consent != Consent::Never) {
    std::vector<CloudOptions> endpoints{options_.cloud};
    endpoints.insert(endpoints.end(), options_.more_clouds.begin(), options_.more_clouds.end());
    for (const CloudOptions& endpoint : endpoints) {
      clouds_.push_back(Endpoint{std::make_unique<CloudClient>(endpoint),
                                 std::make_unique<CircuitBreaker>(options_.breaker_threshold,
                                                                  options_.breaker_cool_down, options_.clock)});
    }
    if (!options_.moderation.url.empty()) {
      options_.moderation.api = CloudOptions::Api::Moderations;
      moderator_ = std::make_unique<CloudClient>(options_.moderation);
    }
  }
}

bool HybridRouter::cloud_available() const {
  return std::any_of(clouds_.begin(), clouds_.end(), [](const Endpoint& e) { return e.breaker->available(); });
}

void HybridRouter::apply_safety(Prepared& p) {
  const SafetyVerdict verdict =
      p.plain_body.is_object() && p.plain_body.contains("messages") ? safety_.check(p.plain_body["messages"]) : SafetyVerdict{};
  if (!verdict.action) return;
  const std::string rule = "safety:" + verdict.rule;
  auto refuse_with = [&](const std::string& message, int status) {
    finish(p, "refused", rule);
    count("refused", rule, false, false);
    throw RouteRefused(message, status, "content_filter");
  };
  switch (*verdict.action) {
    case SafetyAction::Refuse:
      refuse_with(fmt::format("the request was refused by the safety rule '{}'", verdict.rule), 400);
      break;
    case SafetyAction::Local:
      p.facts.overrides.route = RequestedRoute::Local;
      p.safety_reason = rule;
      break;
    case SafetyAction::Moderate: {
      // The text goes off the device only as the cloud would get it: with consent, redacted, and
      // never for data the server keeps local or blocks. Otherwise the filter fails closed.
      const RouterConfig& config = options_.router;
      std::string denied;
      if (!moderator_) denied = "no moderation endpoint may be used here";
      else if (config.consent == Consent::Ask && !p.facts.overrides.cloud_consent) denied = "the request did not consent";
      else if (p.facts.sensitive && config.sensitive != SensitiveHandling::Redact) denied = "the request holds sensitive data";
      if (!denied.empty())
        refuse_with(fmt::format("the safety rule '{}' needs moderation, and {}", verdict.rule, denied), 400);
      std::string text;
      json messages = p.redacted_body["messages"];
      for_each_text(messages, [&](const std::string& part) {
        text += part;
        text += '\n';
        return part;
      });
      CloudStats stats;
      bool flagged = true;
      try {
        flagged = moderator_->flagged(text, &stats);
      } catch (const CloudError& error) {
        p.entry.bytes_sent += stats.bytes_sent;
        refuse_with(fmt::format("the safety rule '{}' needs moderation, which failed: {}", verdict.rule, error.what()), 503);
      }
      p.entry.bytes_sent += stats.bytes_sent;
      if (flagged) refuse_with(fmt::format("the moderation endpoint flagged the request (safety rule '{}')", verdict.rule), 400);
      break;
    }
  }
}

void HybridRouter::count(const std::string& route, const std::string& reason, bool escalated,
                         bool fallback) {
  std::lock_guard lock(stats_mutex_);
  ++routes_[route];
  ++reasons_[reason];
  escalations_ += escalated ? 1 : 0;
  fallbacks_ += fallback ? 1 : 0;
}

HybridRouter::Prepared HybridRouter::prepare(const HybridRequest& request) {
  Prepared p;
  p.start = std::chrono::steady_clock::now();
  p.facts.overrides = parse_overrides(request.body, request.route_header);
  p.facts.prompt_tokens = request.prompt_tokens;
  p.facts.expected_queue_wait_ms = request.expected_queue_wait_ms;
  if (request.body.is_object() && request.body.contains("model") && request.body["model"].is_string())
    p.facts.model = request.body["model"].get<std::string>();
  p.plain_body = request.body;
  if (p.plain_body.is_object()) p.plain_body.erase("bantam");
  p.redacted_body = p.plain_body;
  p.redaction = std::make_unique<Redaction>(redactor_);
  if (p.redacted_body.is_object() && p.redacted_body.contains("messages"))
    for_each_text(p.redacted_body["messages"], [&](const std::string& text) { return p.redaction->redact(text); });
  p.facts.sensitive = !p.redaction->empty();
  p.entry.time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
  p.entry.sensitive = p.redaction->classes();
  if (options_.audit_prompts && p.plain_body.is_object() && p.plain_body.contains("messages"))
    p.entry.prompt = p.plain_body["messages"].dump(-1, ' ', false, json::error_handler_t::replace);
  return p;
}

void HybridRouter::finish(Prepared& p, const std::string& route, const std::string& rule) {
  p.entry.route = route;
  p.entry.rule = rule;
  p.entry.latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - p.start).count();
  audit_.record(p.entry);
}

void HybridRouter::refuse(Prepared& p, const Decision& decision, const std::string& detail) {
  finish(p, "refused", decision.rule);
  count("refused", decision.rule, false, false);
  throw RouteRefused(detail.empty() ? decision.message : decision.message + ": " + detail,
                     refusal_status(decision));
}

json HybridRouter::complete(const HybridRequest& request, const LocalRunner& local) {
  Prepared p = prepare(request);
  apply_safety(p);
  const RequestFacts& facts = p.facts;
  const json& plain_body = p.plain_body;
  const json& redacted_body = p.redacted_body;
  Redaction& redaction = *p.redaction;
  AuditEntry& entry = p.entry;

  std::string local_error, cloud_error;
  std::exception_ptr local_exception;
  auto try_local = [&]() -> std::optional<LocalAnswer> {
    try {
      return local(plain_body);
    } catch (const ClientGone&) {
      throw;
    } catch (const std::exception& error) {
      local_error = error.what();
      local_exception = std::current_exception();
      return std::nullopt;
    }
  };
  std::string cloud_endpoint;  // the endpoint that answered
  auto try_cloud = [&](const Decision& decision) -> std::optional<json> {
    cloud_error = "every cloud circuit breaker is open";
    std::string errors;
    for (Endpoint& endpoint : clouds_) {
      if (!endpoint.breaker->allow()) continue;
      CloudStats stats;
      try {
        json answer = endpoint.client->complete(decision.redact ? redacted_body : plain_body, &stats);
        endpoint.breaker->success();
        entry.bytes_sent += stats.bytes_sent;
        cloud_endpoint = endpoint.client->endpoint();
        return answer;
      } catch (const CloudError& error) {
        endpoint.breaker->failure();
        entry.bytes_sent += stats.bytes_sent;
        errors += (errors.empty() ? "" : "; ") + std::string(error.what());
        cloud_error = errors;
      }
    }
    return std::nullopt;
  };
  auto refuse = [&](const Decision& decision, const std::string& detail) { this->refuse(p, decision, detail); };

  Decision decision = first_route(options_.router, facts, cloud_available());
  std::string reason = p.safety_reason.empty() ? decision.rule : p.safety_reason;
  std::string cloud_denied = decision.cloud_denied;  // a rule wanted the cloud, but it was not allowed
  bool escalated = false, fallback = false;
  bool redacted = false;
  std::optional<LocalAnswer> local_answer;
  std::optional<json> cloud_answer;

  if (decision.route == Route::Local) {
    local_answer = try_local();
    LocalOutcome outcome = local_answer ? local_answer->outcome : LocalOutcome{true, {}, {}};
    Decision after = after_local(options_.router, facts, outcome, cloud_available());
    if (after.route == Route::Refuse && local_exception) {
      // Nothing else may answer: the client hears the local error itself (its status included).
      finish(p, "refused", after.rule);
      count("refused", after.rule, false, false);
      std::rethrow_exception(local_exception);
    }
    if (after.route == Route::Refuse) refuse(after, local_error);
    if (after.route == Route::Cloud) {
      escalated = true;
      decision = after;
    }
    if (after.rule != "local-first" && p.safety_reason.empty()) reason = after.rule;
    if (!after.cloud_denied.empty()) cloud_denied = after.cloud_denied;
  }
  if (decision.route == Route::Refuse) refuse(decision, {});
  if (decision.route == Route::Cloud) {
    cloud_answer = try_cloud(decision);
    redacted = decision.redact;
    if (!cloud_answer) {
      Decision after = after_cloud_failure(decision);
      if (after.route == Route::Refuse) refuse(after, cloud_error);
      fallback = true;
      reason = after.rule;
      if (!local_answer) local_answer = try_local();
      if (!local_answer) {
        Decision failed;
        failed.route = Route::Refuse;
        failed.rule = "cloud-failure";
        failed.message = fmt::format("the cloud failed ({}) and so did the local model", cloud_error);
        refuse(failed, local_error);
      }
    }
  }

  json response;
  std::string route;
  if (cloud_answer) {
    response = std::move(*cloud_answer);
    if (response.contains("choices") && response["choices"].is_array()) {
      for (json& choice : response["choices"]) {
        if (!choice.is_object() || !choice.contains("message")) continue;
        json messages = json::array({choice["message"]});
        for_each_text(messages, [&](const std::string& text) { return redaction.restore(text); });
        choice["message"] = messages[0];
      }
    }
    route = "cloud";
    entry.tokens_in = usage_field(response, "prompt_tokens");
    entry.tokens_out = usage_field(response, "completion_tokens");
  } else {
    response = std::move(local_answer->response);
    route = "local";
    entry.tokens_in = local_answer->tokens_in;
    entry.tokens_out = local_answer->tokens_out;
  }
  json meta{{"route", route}, {"reason", reason}, {"escalated_from", escalated ? json("local") : json()}};
  if (fallback) {
    meta["fallback_from"] = "cloud";
    meta["cloud_error"] = cloud_error;
  }
  if (route == "cloud") describe_cloud(meta, cloud_endpoint, redaction, redacted);
  if (route == "local" && !cloud_denied.empty()) meta["cloud_denied"] = cloud_denied;
  if (local_answer && !local_answer->outcome.failed) {
    const Confidence c = summarize(local_answer->outcome);
    meta["confidence"] = {{"tokens", c.tokens}, {"mean_logprob", c.mean_logprob},
                          {"min_logprob", c.min_logprob}, {"mean_entropy", c.mean_entropy}};
  }
  // What the local answer says of itself (speculative decoding) stays beside the route's fields.
  if (route == "local" && response.contains("bantam") && response["bantam"].is_object()) {
    for (const auto& [key, value] : response["bantam"].items()) {
      if (!meta.contains(key)) meta[key] = value;
    }
  }
  response["bantam"] = meta;
  finish(p, route, reason);
  count(route, reason, escalated, fallback);
  return response;
}

void HybridRouter::stream(const HybridRequest& request,
                          const std::function<void(const json& meta)>& on_route,
                          const std::function<bool(const std::string& data)>& on_event,
                          const std::function<void()>& stream_local) {
  Prepared p = prepare(request);
  apply_safety(p);
  Decision decision = first_route(options_.router, p.facts, cloud_available());
  if (decision.route == Route::Refuse) refuse(p, decision, {});
  if (!p.safety_reason.empty() && decision.route == Route::Local) decision.rule = p.safety_reason;
  std::string cloud_error = "every cloud circuit breaker is open";
  auto run_local = [&](const std::string& reason, bool fallback) {
    json meta{{"route", "local"}, {"reason", reason}, {"escalated_from", nullptr}};
    if (fallback) {
      meta["fallback_from"] = "cloud";
      meta["cloud_error"] = cloud_error;
    }
    if (!decision.cloud_denied.empty()) meta["cloud_denied"] = decision.cloud_denied;
    on_route(meta);
    try {
      stream_local();
    } catch (...) {
      finish(p, "local", "local-failure");
      count("local", "local-failure", false, fallback);
      throw;
    }
    finish(p, "local", reason);
    count("local", reason, false, fallback);
  };
  if (decision.route == Route::Local) return run_local(decision.rule, false);

  std::string errors;
  for (Endpoint& endpoint : clouds_) {
    if (!endpoint.breaker->allow()) continue;
    std::map<int64_t, StreamRestorer> restorers;
    bool announced = false;
    json meta{{"route", "cloud"}, {"reason", decision.rule}, {"escalated_from", nullptr}};
    describe_cloud(meta, endpoint.client->endpoint(), *p.redaction, decision.redact);
    auto announce = [&] {
      if (!announced) on_route(meta);
      announced = true;
    };
    auto relay = [&](const std::string& data) {
      announce();
      // The client passes only events it parsed within the limits (its size cap is larger).
      json chunk = parse_json(data, "the cloud's event", {.max_bytes = data.size()});
      if (chunk.is_object() && chunk.contains("usage") && chunk["usage"].is_object()) {
        p.entry.tokens_in = usage_field(chunk, "prompt_tokens");
        p.entry.tokens_out = usage_field(chunk, "completion_tokens");
      }
      if (chunk.is_object() && chunk.contains("choices") && chunk["choices"].is_array()) {
        for (json& choice : chunk["choices"]) {
          if (!choice.is_object()) continue;
          int64_t index = choice.contains("index") && choice["index"].is_number_integer() ? choice["index"].get<int64_t>() : 0;
          StreamRestorer& restorer = restorers.try_emplace(index, *p.redaction).first->second;
          bool finished = choice.contains("finish_reason") && !choice["finish_reason"].is_null();
          if (!choice.contains("delta") || !choice["delta"].is_object()) continue;
          json& delta = choice["delta"];
          bool has_text = delta.contains("content") && delta["content"].is_string();
          std::string text = has_text ? restorer.push(delta["content"].get<std::string>()) : std::string();
          if (finished) text += restorer.finish();
          if (has_text || !text.empty()) delta["content"] = text;
        }
      }
      if (chunk.is_object()) chunk["bantam"] = meta;
      return on_event(chunk.dump(-1, ' ', false, json::error_handler_t::replace));
    };
    CloudStats stats;
    try {
      endpoint.client->stream(decision.redact ? p.redacted_body : p.plain_body, relay, &stats);
      endpoint.breaker->success();
      p.entry.bytes_sent += stats.bytes_sent;
      announce();
      for (auto& [index, restorer] : restorers) {
        std::string rest = restorer.finish();
        if (rest.empty()) continue;
        json chunk{{"object", "chat.completion.chunk"},
                   {"choices", json::array({json{{"index", index}, {"delta", {{"content", rest}}}, {"finish_reason", nullptr}}})},
                   {"bantam", meta}};
        on_event(chunk.dump(-1, ' ', false, json::error_handler_t::replace));
      }
      finish(p, "cloud", decision.rule);
      count("cloud", decision.rule, false, false);
      return;
    } catch (const CloudError& error) {
      endpoint.breaker->failure();
      p.entry.bytes_sent += stats.bytes_sent;
      if (error.streamed() || announced) {
        finish(p, "cloud", "cloud-failure");
        count("cloud", "cloud-failure", false, false);
        throw;
      }
      // Nothing reached the client: the next endpoint, or the local model, may still answer.
      errors += (errors.empty() ? "" : "; ") + std::string(error.what());
      cloud_error = errors;
    }
  }
  Decision after = after_cloud_failure(decision);
  if (after.route == Route::Refuse) refuse(p, after, cloud_error);
  run_local(after.rule, true);
}

void HybridRouter::record_overhead(double milliseconds) {
  constexpr size_t kKept = 4096;
  std::lock_guard lock(stats_mutex_);
  if (overhead_ms_.size() < kKept) {
    overhead_ms_.push_back(milliseconds);
  } else {
    overhead_ms_[overhead_next_] = milliseconds;
    overhead_next_ = (overhead_next_ + 1) % kKept;
  }
}

json HybridRouter::stats() const {
  std::lock_guard lock(stats_mutex_);
  std::vector<double> sorted = overhead_ms_;
  std::sort(sorted.begin(), sorted.end());
  auto percentile = [&](double q) {
    if (sorted.empty()) return 0.0;
    return sorted[std::min(sorted.size() - 1, static_cast<size_t>(q * static_cast<double>(sorted.size())))];
  };
  auto routed = [&](const char* route) {
    auto it = routes_.find(route);
    return it == routes_.end() ? int64_t{0} : it->second;
  };
  auto state = [](const CircuitBreaker& breaker) {
    switch (breaker.state()) {
      case CircuitBreaker::State::Open: return "open";
      case CircuitBreaker::State::HalfOpen: return "half-open";
      case CircuitBreaker::State::Closed: break;
    }
    return "closed";
  };
  json clouds = json::array();
  for (const Endpoint& endpoint : clouds_)
    clouds.push_back({{"endpoint", endpoint.client->endpoint()}, {"breaker", state(*endpoint.breaker)}});
  return json{{"policy", to_string(options_.router.policy)},
              {"cloud_enabled", !clouds_.empty()},
              {"local", routed("local")},
              {"cloud", routed("cloud")},
              {"refused", routed("refused")},
              {"escalations", escalations_},
              {"fallbacks", fallbacks_},
              {"by_reason", reasons_},
              {"breaker", clouds_.empty() ? json() : json(state(*clouds_.front().breaker))},
              {"clouds", clouds},
              {"overhead_ms", {{"samples", sorted.size()}, {"p50", percentile(0.5)}, {"p99", percentile(0.99)}}}};
}

json HybridRouter::policy() const {
  json endpoints = json::array();
  for (const Endpoint& endpoint : clouds_) endpoints.push_back(endpoint.client->endpoint());
  const char* sensitive = "redact";
  if (options_.router.sensitive == SensitiveHandling::KeepLocal) sensitive = "keep-local";
  if (options_.router.sensitive == SensitiveHandling::Block) sensitive = "block";
  return json{{"policy", to_string(options_.router.policy)},
              {"consent", to_string(options_.router.consent)},
              {"sensitive", sensitive},
              {"cloud_configured", !clouds_.empty()},
              {"endpoints", endpoints}};
}

}  // namespace bantam::hybrid
