#include "hybrid/hybrid_config.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace bantam::hybrid {
namespace {

using nlohmann::json;

TEST(HybridConfig, EveryKeyReachesItsOption) {
  HybridOptions o;
  apply_hybrid_config(json::parse(R"({
    "route_policy": "cloud-preferred", "cloud_consent": "ask", "sensitive": "keep-local",
    "cloud": {"url": "https://api.example.com/v1", "model": "big", "key_env": "KEY",
              "connect_timeout_ms": 100, "timeout_ms": 2000, "backoff_ms": 5, "attempts": 2},
    "cloud_aliases": ["gpt", "big2"],
    "thresholds": {"min_mean_logprob": -1.5, "min_token_logprob": -7, "max_mean_entropy": 3, "latency_budget_ms": 250},
    "breaker": {"threshold": 4, "cool_down_ms": 9000},
    "redact_patterns": {"EMPLOYEE_ID": "EMP-[0-9]{6}"},
    "safety": {"rules": [{"action": "local", "name": "health", "pattern": "diagnos"}],
               "moderation": {"url": "https://mod.example.com", "model": "omni", "key_env": "MKEY", "timeout_ms": 700}},
    "audit_log": "/tmp/a.sqlite", "audit_prompts": true})"),
                      o, "cfg");
  EXPECT_EQ(o.router.policy, Policy::CloudPreferred);
  EXPECT_EQ(o.router.consent, Consent::Ask);
  EXPECT_EQ(o.router.sensitive, SensitiveHandling::KeepLocal);
  EXPECT_EQ(o.cloud.url, "https://api.example.com/v1");
  EXPECT_EQ(o.cloud.model, "big");
  EXPECT_EQ(o.cloud.api_key_env, "KEY");
  EXPECT_EQ(o.cloud.connect_timeout.count(), 100);
  EXPECT_EQ(o.cloud.total_timeout.count(), 2000);
  EXPECT_EQ(o.cloud.backoff.count(), 5);
  EXPECT_EQ(o.cloud.max_attempts, 2);
  EXPECT_EQ(o.router.cloud_aliases, (std::vector<std::string>{"gpt", "big2"}));
  EXPECT_DOUBLE_EQ(o.router.min_mean_logprob, -1.5);
  EXPECT_DOUBLE_EQ(o.router.min_token_logprob, -7);
  EXPECT_DOUBLE_EQ(o.router.max_mean_entropy, 3);
  EXPECT_DOUBLE_EQ(o.router.latency_budget_ms, 250);
  EXPECT_EQ(o.breaker_threshold, 4);
  EXPECT_EQ(o.breaker_cool_down.count(), 9000);
  ASSERT_EQ(o.extra_patterns.size(), 1u);
  EXPECT_EQ(o.extra_patterns[0].label, "EMPLOYEE_ID");
  ASSERT_EQ(o.safety_rules.size(), 1u);
  EXPECT_EQ(o.safety_rules[0].action, SafetyAction::Local);
  EXPECT_EQ(o.safety_rules[0].name, "health");
  EXPECT_EQ(o.moderation.url, "https://mod.example.com");
  EXPECT_EQ(o.moderation.model, "omni");
  EXPECT_EQ(o.moderation.api_key_env, "MKEY");
  EXPECT_EQ(o.moderation.total_timeout.count(), 700);
  EXPECT_EQ(o.audit_path, "/tmp/a.sqlite");
  EXPECT_TRUE(o.audit_prompts);
}

TEST(HybridConfig, SeveralCloudsInOrder) {
  HybridOptions o;
  apply_hybrid_config(json::parse(R"({"clouds": [{"url": "http://a.example"},
                                                  {"url": "http://b.example", "timeout_ms": 50},
                                                  {"url": "http://c.example"}]})"),
                      o, "cfg");
  EXPECT_EQ(o.cloud.url, "http://a.example");
  ASSERT_EQ(o.more_clouds.size(), 2u);
  EXPECT_EQ(o.more_clouds[0].url, "http://b.example");
  EXPECT_EQ(o.more_clouds[0].total_timeout.count(), 50);
  EXPECT_EQ(o.more_clouds[1].url, "http://c.example");
  EXPECT_THROW(apply_hybrid_config(json::parse(R"({"clouds": []})"), o, "cfg"), Error);
  EXPECT_THROW(apply_hybrid_config(json::parse(R"({"clouds": [{"model": "m"}]})"), o, "cfg"), Error);
}

TEST(HybridConfig, MistakesNameTheKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"route_polcy": "auto"})", "cfg.route_polcy: unknown key"},
      {R"({"cloud": {"url": "x", "timeout": 5}})", "cfg.cloud.timeout: unknown key"},
      {R"({"cloud": {"timeout_ms": "fast"}})", "cfg.cloud.timeout_ms: must be an integer"},
      {R"({"cloud": {"attempts": 0}})", "cfg.cloud.attempts: 0 is not between 1 and 10"},
      {R"({"thresholds": {"min_mean_logprob": 2}})", "cfg.thresholds.min_mean_logprob"},
      {R"({"route_policy": "sometimes"})", "route policy 'sometimes'"},
      {R"({"cloud_aliases": "gpt"})", "cfg.cloud_aliases: must be an array"},
      {R"({"redact_patterns": {"lower": "x"}})", "label 'lower'"},
      {R"({"audit_prompts": "yes"})", "cfg.audit_prompts: must be true or false"},
      {R"({"safety": {"rules": [{"action": "ban", "name": "x", "pattern": "y"}]}})", "action 'ban'"},
      {R"({"safety": {"rules": [{"action": "refuse", "name": "x", "regex": "y"}]}})", "cfg.safety.rules[0].regex: unknown key"},
      {R"({"safety": {"moderation": {"uri": "x"}}})", "cfg.safety.moderation.uri: unknown key"},
      {R"([1, 2])", "cfg: must be a JSON object"},
  };
  for (const auto& [text, expected] : cases) {
    HybridOptions o;
    try {
      apply_hybrid_config(json::parse(text), o, "cfg");
      ADD_FAILURE() << "accepted " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  }
}

TEST(HybridConfig, FilesAndConsistency) {
  const auto dir = test::temp_dir();
  test::write_file(dir / "bad.json", "{\"route_policy\": ");
  HybridOptions o;
  EXPECT_THROW(load_hybrid_config((dir / "bad.json").string(), o), Error);
  EXPECT_THROW(load_hybrid_config((dir / "missing.json").string(), o), Error);
  test::write_file(dir / "auto.json", R"({"route_policy": "auto", "cloud_consent": "always"})");
  load_hybrid_config((dir / "auto.json").string(), o);
  EXPECT_THROW(check_hybrid_options(o), Error);  // a cloud policy needs a URL
  o.cloud.url = "http://127.0.0.1:9";
  EXPECT_NO_THROW(check_hybrid_options(o));
  EXPECT_NE(describe(o).find("cloud http://127.0.0.1:9"), std::string::npos);
  o.router.consent = Consent::Never;
  EXPECT_NE(describe(o).find("nothing leaves this device"), std::string::npos);
}

TEST(HybridConfig, ServeRefusesAnInconsistentSetup) {
  const std::string model = test::shared("models/weights/stories260K.gguf").string();
  auto r = test::run_cli({"serve", "-m", model, "--port", "0", "--route-policy", "auto", "--cloud-consent", "always"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no --cloud-url"), std::string::npos) << r.err;
  const auto dir = test::temp_dir();
  test::write_file(dir / "typo.json", R"({"sensitiv": "block"})");
  r = test::run_cli({"serve", "-m", model, "--port", "0", "--hybrid-config", (dir / "typo.json").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("sensitiv: unknown key"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bantam::hybrid
