#include "cli/services/route_options.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "hybrid/hybrid_config.hpp"

namespace bantam::cli {

bool RouteFlags::any_given() const {
  const auto given_here = command->get_options(
      [this](const CLI::Option* option) { return option->get_group() == group && option->count() > 0; });
  return !given_here.empty();
}

void add_route_options(CLI::App& cmd, RouteFlags& o, const std::string& group, bool with_invocation_flags) {
  o.command = &cmd;
  o.group = group;
  auto* h = &o.hybrid;
  cmd.add_option("--hybrid-config", o.hybrid_config, "JSON file with the hybrid settings (flags override it)")
      ->check(CLI::ExistingFile)->group(group);
  cmd.add_option("--route-policy", o.route_policy,
                 "local-only | auto | cloud-preferred (default: auto with a cloud, else local-only)")
      ->check(CLI::IsMember({"local-only", "auto", "cloud-preferred"}))->group(group);
  cmd.add_option("--cloud-url", h->cloud.url, "OpenAI-compatible endpoint of the cloud model")->group(group);
  cmd.add_option("--cloud-model", h->cloud.model, "Model name sent to the cloud (also a cloud alias)")->group(group);
  cmd.add_option("--cloud-key-env", h->cloud.api_key_env, "Environment variable holding the cloud API key")->group(group);
  cmd.add_option("--cloud-alias", h->router.cloud_aliases, "A requested model name that means the cloud (repeatable)")
      ->group(group);
  cmd.add_option("--cloud-consent", o.cloud_consent,
                 with_invocation_flags ? "never | ask (--allow-cloud opts one invocation in) | always (default never)"
                                       : "never | ask (requests opt in with \"bantam\": {\"cloud_consent\": true}) | "
                                         "always (default never)")
      ->check(CLI::IsMember({"never", "ask", "always"}))->group(group);
  cmd.add_option("--sensitive", o.sensitive,
                 "Cloud-bound requests with personal data: redact | keep-local | block (default redact)")
      ->check(CLI::IsMember({"redact", "keep-local", "block"}))->group(group);
  cmd.add_option("--redact-pattern", o.redact_patterns, "Extra data to redact, LABEL=PCRE2 regex (repeatable)")
      ->group(group);
  cmd.add_option("--cloud-timeout-ms", o.cloud_timeout_ms, "Whole cloud request limit per attempt")
      ->check(CLI::Range(int64_t{1}, int64_t{3600000}))->group(group);
  cmd.add_option("--cloud-connect-timeout-ms", o.cloud_connect_timeout_ms, "Cloud connection limit per attempt")
      ->check(CLI::Range(int64_t{1}, int64_t{600000}))->group(group);
  cmd.add_option("--cloud-attempts", h->cloud.max_attempts, "Cloud tries before falling back")
      ->check(CLI::Range(1, 10))->group(group);
  cmd.add_option("--breaker-threshold", h->breaker_threshold, "Consecutive cloud failures that open the circuit breaker")
      ->check(CLI::Range(1, 1000))->group(group);
  cmd.add_option("--breaker-cooldown-ms", o.breaker_cool_down_ms, "How long an open breaker keeps the cloud off")
      ->check(CLI::Range(int64_t{0}, int64_t{86400000}))->group(group);
  cmd.add_option("--min-mean-logprob", h->router.min_mean_logprob, "auto: escalate below this mean token log-prob")
      ->group(group);
  cmd.add_option("--min-token-logprob", h->router.min_token_logprob, "auto: escalate when any token's log-prob is lower")
      ->group(group);
  cmd.add_option("--max-mean-entropy", h->router.max_mean_entropy, "auto: escalate above this mean entropy (nats)")
      ->group(group);
  cmd.add_option("--latency-budget-ms", h->router.latency_budget_ms,
                 "auto: escalate when the local queue wait would exceed this (0: off)")
      ->check(CLI::Range(0.0, 1e9))->group(group);
  cmd.add_option("--audit-log", h->audit_path, "SQLite file recording each routing decision (default: in memory)")
      ->group(group);
  cmd.add_flag("--audit-prompts", h->audit_prompts, "Also store prompt text in the audit log")->group(group);
  cmd.add_option("--safety-rule", o.safety_rules,
                 "Pre-filter ACTION:NAME=REGEX, ACTION refuse | local | moderate (repeatable; case-insensitive)")
      ->group(group);
  cmd.add_option("--moderation-url", h->moderation.url, "OpenAI-compatible /v1/moderations endpoint for 'moderate' rules")
      ->group(group);
  cmd.add_option("--moderation-model", h->moderation.model, "Model name sent to the moderation endpoint")->group(group);
  cmd.add_option("--moderation-key-env", h->moderation.api_key_env, "Environment variable holding its API key")
      ->group(group);
  if (!with_invocation_flags) return;
  cmd.add_flag("--allow-cloud", o.overrides.cloud_consent,
               "Consent for this invocation to send prompts to the cloud (needed under --cloud-consent ask)")
      ->group(group);
  cmd.add_option("--route", o.overrides.route, "Ask for a route within what the policy allows: local | cloud | auto")
      ->check(CLI::IsMember({"local", "cloud", "auto"}))->group(group);
}

hybrid::HybridOptions resolve_route_options(const RouteFlags& o) {
  hybrid::HybridOptions h;
  if (!o.hybrid_config.empty()) hybrid::load_hybrid_config(o.hybrid_config, h);
  const hybrid::HybridOptions& flags = o.hybrid;
  if (o.given("--cloud-url")) h.cloud.url = flags.cloud.url;
  if (o.given("--cloud-model")) h.cloud.model = flags.cloud.model;
  if (o.given("--cloud-key-env")) h.cloud.api_key_env = flags.cloud.api_key_env;
  if (o.given("--cloud-timeout-ms")) h.cloud.total_timeout = std::chrono::milliseconds(o.cloud_timeout_ms);
  if (o.given("--cloud-connect-timeout-ms"))
    h.cloud.connect_timeout = std::chrono::milliseconds(o.cloud_connect_timeout_ms);
  if (o.given("--cloud-attempts")) h.cloud.max_attempts = flags.cloud.max_attempts;
  if (o.given("--cloud-alias")) h.router.cloud_aliases = flags.router.cloud_aliases;
  // A cloud without an explicit policy is used in auto mode; no cloud means local-only.
  if (o.given("--route-policy")) {
    h.router.policy = hybrid::parse_policy(o.route_policy);
  } else if (o.hybrid_config.empty() && !h.cloud.url.empty()) {
    h.router.policy = hybrid::Policy::Auto;
  }
  if (o.given("--cloud-consent")) h.router.consent = hybrid::parse_consent(o.cloud_consent);
  if (o.given("--sensitive")) h.router.sensitive = hybrid::parse_sensitive(o.sensitive);
  if (o.given("--min-mean-logprob")) h.router.min_mean_logprob = flags.router.min_mean_logprob;
  if (o.given("--min-token-logprob")) h.router.min_token_logprob = flags.router.min_token_logprob;
  if (o.given("--max-mean-entropy")) h.router.max_mean_entropy = flags.router.max_mean_entropy;
  if (o.given("--latency-budget-ms")) h.router.latency_budget_ms = flags.router.latency_budget_ms;
  if (o.given("--breaker-threshold")) h.breaker_threshold = flags.breaker_threshold;
  if (o.given("--breaker-cooldown-ms")) h.breaker_cool_down = std::chrono::milliseconds(o.breaker_cool_down_ms);
  for (const std::string& spec : o.redact_patterns) h.extra_patterns.push_back(hybrid::parse_extra_pattern(spec));
  for (const std::string& spec : o.safety_rules) h.safety_rules.push_back(hybrid::parse_safety_rule(spec));
  if (o.given("--moderation-url")) h.moderation.url = flags.moderation.url;
  if (o.given("--moderation-model")) h.moderation.model = flags.moderation.model;
  if (o.given("--moderation-key-env")) h.moderation.api_key_env = flags.moderation.api_key_env;
  if (o.given("--audit-log")) h.audit_path = flags.audit_path;
  if (o.given("--audit-prompts")) h.audit_prompts = true;
  // Asking for the cloud model by name is always a cloud request.
  if (!h.cloud.model.empty()) h.router.cloud_aliases.push_back(h.cloud.model);
  hybrid::check_hybrid_options(h);
  return h;
}

RoutedTurn route_turn(hybrid::HybridRouter& router, const hybrid::HybridRequest& request, const std::string& model_id,
                      const std::function<GenerateResult(const TokenCallback& on_token)>& generate_local,
                      const TokenCallback& print_token, const std::function<bool()>& keep_going) {
  RoutedTurn turn;
  try {
    if (!router.has_cloud()) {
      // Nothing can leave the device, so the answer streams as before; the router still applies
      // the safety rules and writes the audit log.
      router.stream(
          request,
          [&](const nlohmann::json& meta) {
            turn.meta = meta;
            fmt::print(stderr, "{}\n", hybrid::route_line(meta));
          },
          [](const std::string&) { return false; },  // no cloud client, so no cloud events
          [&] {
            turn.local = generate_local(print_token);
            turn.text = turn.local->text;
          });
      return turn;
    }
    const nlohmann::json out = router.complete(request, [&](const nlohmann::json&) {
      std::vector<float> logprobs;
      GenerateResult result = generate_local([&](const TokenEvent& event) {
        if (event.id >= 0) logprobs.push_back(event.logprob);
        return keep_going();
      });
      turn.local = result;
      if (result.stop_reason == StopReason::Cancelled) throw hybrid::ClientGone("the answer was interrupted");
      return hybrid::turn_answer(result, std::move(logprobs), model_id);
    });
    turn.meta = out["bantam"];
    turn.text = hybrid::answer_text(out);
  } catch (const hybrid::RouteRefused& refused) {
    fmt::print(stderr, "route: refused (reason: {})\n", refused.code());
    throw;
  }
  fmt::print(stderr, "{}\n", hybrid::route_line(turn.meta));
  fmt::print("{}", turn.text);
  std::fflush(stdout);
  return turn;
}

}  // namespace bantam::cli
