#include "hybrid/router.hpp"

#include <gtest/gtest.h>

#include "bantam/error.hpp"

namespace bantam::hybrid {
namespace {

RouterConfig config(Policy policy, Consent consent = Consent::Always,
                    SensitiveHandling sensitive = SensitiveHandling::Redact) {
  RouterConfig c;
  c.policy = policy;
  c.consent = consent;
  c.sensitive = sensitive;
  c.local_context = 100;
  c.cloud_aliases = {"gpt-big"};
  c.latency_budget_ms = 500;
  return c;
}

struct FirstRouteCase {
  const char* name;
  RouterConfig config;
  RequestFacts facts;
  bool cloud_healthy;
  Route route;
  const char* rule;
  const char* denied;
};

RequestFacts facts(RequestedRoute route = RequestedRoute::Default, bool consent = false,
                   bool sensitive = false, int64_t tokens = 10, std::string model = "local",
                   double wait_ms = 0) {
  return RequestFacts{RequestOverrides{route, consent}, sensitive, tokens, std::move(model), wait_ms};
}

TEST(Router, FirstRouteTable) {
  using P = Policy;
  using C = Consent;
  using S = SensitiveHandling;
  using R = RequestedRoute;
  const FirstRouteCase cases[] = {
      {"local-only stays local", config(P::LocalOnly), facts(), true, Route::Local, "local-first", ""},
      {"local-only: a prompt over the local context cannot run", config(P::LocalOnly), facts(R::Default, true, false, 500),
       true, Route::Refuse, "prompt-too-long", "policy-local-only"},
      {"local-only refuses a cloud request", config(P::LocalOnly), facts(R::Cloud, true), true,
       Route::Refuse, "requested", "policy-local-only"},
      {"auto starts local", config(P::Auto), facts(), true, Route::Local, "local-first", ""},
      {"auto: long prompt goes to cloud", config(P::Auto), facts(R::Default, false, false, 101), true,
       Route::Cloud, "prompt-too-long", ""},
      {"auto: cloud alias", config(P::Auto), facts(R::Default, false, false, 10, "gpt-big"), true,
       Route::Cloud, "cloud-model", ""},
      {"auto: queue over budget", config(P::Auto), facts(R::Default, false, false, 10, "m", 900), true,
       Route::Cloud, "latency-budget", ""},
      {"auto: queue within budget", config(P::Auto), facts(R::Default, false, false, 10, "m", 400), true,
       Route::Local, "local-first", ""},
      {"auto: over budget but consent never", config(P::Auto, C::Never),
       facts(R::Default, false, false, 10, "m", 900), true, Route::Local, "latency-budget", "consent-never"},
      {"ask without opt-in", config(P::Auto, C::Ask), facts(R::Default, false, false, 10, "m", 900), true,
       Route::Local, "latency-budget", "consent-missing"},
      {"ask with opt-in", config(P::Auto, C::Ask), facts(R::Default, true, false, 10, "m", 900), true,
       Route::Cloud, "latency-budget", ""},
      {"requested cloud", config(P::Auto), facts(R::Cloud), true, Route::Cloud, "requested", ""},
      {"requested cloud without consent", config(P::Auto, C::Ask), facts(R::Cloud), true, Route::Refuse,
       "requested", "consent-missing"},
      {"requested cloud, breaker open: local fallback", config(P::Auto), facts(R::Cloud), false,
       Route::Local, "requested", "circuit-open"},
      {"requested local on cloud-preferred", config(P::CloudPreferred), facts(R::Local), true, Route::Local,
       "policy", "requested-local"},
      {"requested local, prompt too long", config(P::Auto), facts(R::Local, false, false, 500), true,
       Route::Refuse, "prompt-too-long", "requested-local"},
      {"cloud-preferred goes to cloud", config(P::CloudPreferred), facts(), true, Route::Cloud, "policy", ""},
      {"cloud-preferred, request asks auto", config(P::CloudPreferred), facts(R::Auto), true, Route::Local,
       "local-first", ""},
      {"cloud-preferred, breaker open", config(P::CloudPreferred), facts(), false, Route::Local, "policy",
       "circuit-open"},
      {"sensitive + redact goes redacted", config(P::CloudPreferred), facts(R::Default, false, true), true,
       Route::Cloud, "policy", ""},
      {"sensitive + keep-local", config(P::CloudPreferred, C::Always, S::KeepLocal),
       facts(R::Default, false, true), true, Route::Local, "policy", "sensitive-keep-local"},
      {"sensitive + block", config(P::CloudPreferred, C::Always, S::Block), facts(R::Default, false, true),
       true, Route::Refuse, "policy", "sensitive-blocked"},
      {"not sensitive + block", config(P::CloudPreferred, C::Always, S::Block), facts(), true, Route::Cloud,
       "policy", ""},
      {"cloud alias with cloud off", config(P::Auto, C::Never), facts(R::Default, false, false, 10, "gpt-big"),
       true, Route::Refuse, "cloud-model", "consent-never"},
  };
  for (const FirstRouteCase& c : cases) {
    Decision d = first_route(c.config, c.facts, c.cloud_healthy);
    EXPECT_EQ(d.route, c.route) << c.name << ": got " << to_string(d.route);
    EXPECT_EQ(d.rule, c.rule) << c.name;
    EXPECT_EQ(d.cloud_denied, c.denied) << c.name;
    if (d.route == Route::Refuse) {
      EXPECT_FALSE(d.message.empty()) << c.name;
    }
    if (d.route == Route::Cloud) {
      EXPECT_EQ(d.redact, c.config.sensitive == SensitiveHandling::Redact) << c.name;
    }
  }
}

TEST(Router, CloudFallbackOnlyWhereLocalCanAnswer) {
  Decision policy = first_route(config(Policy::CloudPreferred), facts(), true);
  EXPECT_TRUE(policy.local_fallback);
  Decision fallback = after_cloud_failure(policy);
  EXPECT_EQ(fallback.route, Route::Local);
  EXPECT_EQ(fallback.rule, "cloud-failure");
  Decision too_long = first_route(config(Policy::Auto), facts(RequestedRoute::Default, false, false, 101), true);
  EXPECT_FALSE(too_long.local_fallback);
  EXPECT_EQ(after_cloud_failure(too_long).route, Route::Refuse);
}

struct AfterLocalCase {
  const char* name;
  RouterConfig config;
  RequestFacts facts;
  LocalOutcome outcome;
  Route route;
  const char* rule;
};

TEST(Router, AfterLocalTable) {
  using P = Policy;
  RouterConfig sensitive_block = config(P::Auto, Consent::Always, SensitiveHandling::Block);
  const AfterLocalCase cases[] = {
      {"confident answer stays", config(P::Auto), facts(), {false, {-0.1f, -0.5f, -1.0f}, {0.5f}},
       Route::Local, "local-first"},
      {"low mean log-probability", config(P::Auto), facts(), {false, {-3.0f, -3.0f}, {}}, Route::Cloud,
       "low-confidence"},
      {"one very unlikely token", config(P::Auto), facts(), {false, {-0.1f, -12.0f, -0.1f, -0.1f, -0.1f}, {}},
       Route::Cloud, "low-confidence"},
      {"high entropy", config(P::Auto), facts(), {false, {-0.5f}, {5.0f, 4.5f}}, Route::Cloud, "high-entropy"},
      {"no tokens: nothing to judge", config(P::Auto), facts(), {false, {}, {}}, Route::Local, "local-first"},
      {"local failure escalates", config(P::Auto), facts(), {true, {}, {}}, Route::Cloud, "local-failure"},
      {"local failure, local-only", config(P::LocalOnly), facts(), {true, {}, {}}, Route::Refuse,
       "local-failure"},
      {"low confidence, local-only keeps answer", config(P::LocalOnly), facts(), {false, {-5.0f}, {}},
       Route::Local, "low-confidence"},
      {"low confidence, requested local", config(P::Auto), facts(RequestedRoute::Local), {false, {-5.0f}, {}},
       Route::Local, "low-confidence"},
      {"low confidence, sensitive blocked", sensitive_block, facts(RequestedRoute::Default, false, true),
       {false, {-5.0f}, {}}, Route::Refuse, "low-confidence"},
      {"low confidence, consent missing", config(P::Auto, Consent::Ask), facts(), {false, {-5.0f}, {}},
       Route::Local, "low-confidence"},
  };
  for (const AfterLocalCase& c : cases) {
    Decision d = after_local(c.config, c.facts, c.outcome, true);
    EXPECT_EQ(d.route, c.route) << c.name << ": got " << to_string(d.route);
    EXPECT_EQ(d.rule, c.rule) << c.name;
  }
  // A failed local attempt's cloud retry has no local fallback left; a weak answer's has.
  EXPECT_FALSE(after_local(config(P::Auto), facts(), {true, {}, {}}, true).local_fallback);
  EXPECT_TRUE(after_local(config(P::Auto), facts(), {false, {-5.0f}, {}}, true).local_fallback);
  EXPECT_EQ(after_local(config(P::Auto), facts(), {false, {-5.0f}, {}}, false).cloud_denied, "circuit-open");
}

TEST(Router, ParsesOverrides) {
  using nlohmann::json;
  RequestOverrides o = parse_overrides(json::parse(R"({"bantam": {"route": "cloud", "cloud_consent": true}})"), "");
  EXPECT_EQ(o.route, RequestedRoute::Cloud);
  EXPECT_TRUE(o.cloud_consent);
  EXPECT_EQ(parse_overrides(json::object(), " local ").route, RequestedRoute::Local);
  EXPECT_EQ(parse_overrides(json::object(), "").route, RequestedRoute::Default);
  EXPECT_EQ(parse_overrides(json::parse(R"({"bantam": {"route": "auto"}})"), "auto").route, RequestedRoute::Auto);
  EXPECT_FALSE(parse_overrides(json::parse(R"({"model": "x"})"), "").cloud_consent);
  EXPECT_THROW(parse_overrides(json::parse(R"({"bantam": {"route": "local"}})"), "cloud"), Error);
  EXPECT_THROW(parse_overrides(json::parse(R"({"bantam": {"route": "moon"}})"), ""), Error);
  EXPECT_THROW(parse_overrides(json::parse(R"({"bantam": {"route": 1}})"), ""), Error);
  EXPECT_THROW(parse_overrides(json::parse(R"({"bantam": {"cloud_consent": "yes"}})"), ""), Error);
  EXPECT_THROW(parse_overrides(json::parse(R"({"bantam": []})"), ""), Error);
  EXPECT_THROW(parse_overrides(json::object(), "Cloud!"), Error);
}

TEST(Router, ParsesSettings) {
  EXPECT_EQ(parse_policy("auto"), Policy::Auto);
  EXPECT_EQ(parse_policy("local-only"), Policy::LocalOnly);
  EXPECT_EQ(parse_policy("cloud-preferred"), Policy::CloudPreferred);
  EXPECT_THROW(parse_policy("cloud"), Error);
  EXPECT_EQ(parse_consent("ask"), Consent::Ask);
  EXPECT_THROW(parse_consent("maybe"), Error);
  EXPECT_EQ(parse_sensitive("keep-local"), SensitiveHandling::KeepLocal);
  EXPECT_THROW(parse_sensitive("ignore"), Error);
  EXPECT_STREQ(to_string(Policy::CloudPreferred), "cloud-preferred");
}

TEST(CircuitBreaker, OpensHalfOpensAndCloses) {
  using namespace std::chrono_literals;
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  CircuitBreaker breaker(3, 10s, [&] { return now; });
  EXPECT_TRUE(breaker.allow());
  breaker.failure();
  breaker.failure();
  breaker.success();  // a success resets the count
  breaker.failure();
  breaker.failure();
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::Closed);
  breaker.failure();
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::Open);
  EXPECT_FALSE(breaker.allow());
  now += 9s;
  EXPECT_FALSE(breaker.available());
  EXPECT_FALSE(breaker.allow());
  now += 1s;
  EXPECT_TRUE(breaker.available());
  EXPECT_TRUE(breaker.available());  // asking does not take the trial
  EXPECT_TRUE(breaker.allow());  // the one trial call
  EXPECT_FALSE(breaker.available());
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::HalfOpen);
  EXPECT_FALSE(breaker.allow());  // only one at a time
  breaker.failure();               // the trial failed: open again, cool-down restarts
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::Open);
  now += 5s;
  EXPECT_FALSE(breaker.allow());
  now += 5s;
  EXPECT_TRUE(breaker.allow());
  breaker.success();
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::Closed);
  EXPECT_TRUE(breaker.allow());
  EXPECT_TRUE(breaker.allow());
}

}  // namespace
}  // namespace bantam::hybrid
