// `bantam run` and `bantam chat` through the hybrid router, with a real `bantam serve` on loopback
// as the "cloud" (or, for redaction round trips and failures, an echoing or scripted stand-in):
// local-only isolation, escalation by prompt length and by confidence, consent, redaction and
// restoration, local fallback when the cloud is down or slow, and per-turn routing in chat.
#include <chrono>

#include <fmt/format.h>

#include "hybrid/audit_log.hpp"
#include "hybrid/echo_cloud.hpp"
#include "hybrid/loopback_server.hpp"
#include "serve/serve_fixture.hpp"

namespace bantam::test {
namespace {

using namespace std::chrono_literals;
using hybrid::test::EchoCloud;
using hybrid::test::LoopbackServer;
using hybrid::test::ScriptedResponse;
using nlohmann::json;

const std::string kPrompt = "Once upon a time";

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// `bantam run` on stories260K, greedy, a few tokens, one thread.
std::vector<std::string> run_args(const std::string& prompt = kPrompt, int max_tokens = 8) {
  return {"run", "-m", stories_model(), "-p", prompt, "-n", std::to_string(max_tokens), "--temp", "0", "-t", "1"};
}

std::vector<std::string> chat_args() { return {"chat", "-m", stories_model(), "-n", "6", "--temp", "0", "-t", "1"}; }

std::vector<std::string> cloud(const std::string& url, const std::string& policy, const std::string& consent = "always") {
  return {"--cloud-url", url, "--route-policy", policy, "--cloud-consent", consent};
}

// Confidence thresholds that never fire, so only the rule a test is about can escalate.
const std::vector<std::string> kCalm = {"--min-mean-logprob=-1000", "--min-token-logprob=-1000",
                                        "--max-mean-entropy=1000"};

std::string url_of(const ServerProcess& server) { return "http://127.0.0.1:" + std::to_string(server.port()); }

// The "route: ..." lines a command wrote on stderr, in order.
std::vector<std::string> route_lines(const std::string& err) {
  std::vector<std::string> lines;
  size_t at = 0;
  while ((at = err.find("route: ", at)) != std::string::npos) {
    if (at == 0 || err[at - 1] == '\n') lines.push_back(err.substr(at, err.find('\n', at) - at));
    at += 7;
  }
  return lines;
}

// What the cloud server answers on its own to the request run sends for `prompt`.
std::string cloud_answer(const ServerProcess& server, const std::string& prompt, int max_tokens) {
  const json body{{"messages", {{{"role", "user"}, {"content", prompt}}}}, {"max_tokens", max_tokens}, {"temperature", 0}};
  const HttpResult r = post(server.port(), "/v1/chat/completions", body);
  EXPECT_EQ(r.status, 200) << r.body;
  return r.json()["choices"][0]["message"]["content"];
}

TEST(CliRouting, NoRoutingFlagLeavesRunAsItWas) {
  const RunResult plain = run_cli(run_args());
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_TRUE(route_lines(plain.err).empty()) << plain.err;
  EXPECT_NE(plain.err.find("prompt: "), std::string::npos);
  // Local-only through the router: the same text, streamed, plus the route line.
  const RunResult routed = run_cli(run_args() + std::vector<std::string>{"--route-policy", "local-only"});
  ASSERT_EQ(routed.exit_code, 0) << routed.err;
  EXPECT_EQ(routed.out, plain.out);
  EXPECT_EQ(route_lines(routed.err), std::vector<std::string>{"route: local (reason: local-first)"});
  EXPECT_NE(routed.err.find("prompt: "), std::string::npos);
}

TEST(CliRouting, LocalOnlyNeverContactsTheCloud) {
  LoopbackServer listener({ScriptedResponse{500, "text/plain", {"must not be asked"}}});
  const RunResult plain = run_cli(run_args());
  // A rule that would escalate every answer, consent given, and still nothing leaves.
  const std::vector<std::string> eager = {"--min-mean-logprob=0", "--allow-cloud"};
  for (const std::string consent : {"always", "ask"}) {
    const RunResult r = run_cli(run_args() + cloud(listener.url(), "local-only", consent) + eager);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, plain.out);
    EXPECT_EQ(route_lines(r.err), std::vector<std::string>{"route: local (reason: local-first)"});
  }
  // The default consent is never: a cloud URL alone sends nothing either.
  RunResult r = run_cli(run_args() + std::vector<std::string>{"--cloud-url", listener.url(), "--min-mean-logprob=0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, plain.out);
  // Asking for the cloud under local-only is refused, not quietly answered.
  r = run_cli(run_args() + cloud(listener.url(), "local-only") + std::vector<std::string>{"--route", "cloud"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("route: refused"), std::string::npos) << r.err;
  // Chat too, over several turns.
  r = run_cli(chat_args() + cloud(listener.url(), "local-only") + eager, "Hello\nTell me more\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(route_lines(r.err).size(), 2u) << r.err;
  EXPECT_TRUE(listener.requests().empty());
}

TEST(CliRouting, AutoEscalatesAnOverLongPromptAndPrintsTheCloudAnswer) {
  ServerProcess server({"-c", "256"});
  const std::string prompt = "Once upon a time there was a little girl who liked to play in the park with her dog";
  const RunResult r = run_cli(run_args(prompt) + cloud(url_of(server), "auto") + kCalm +
                              std::vector<std::string>{"-c", "16"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(route_lines(r.err), std::vector<std::string>{"route: cloud (reason: prompt-too-long)"});
  EXPECT_EQ(chat_requests(server), 1);
  // The local model never ran (no timings), and what was printed is the cloud's own answer.
  EXPECT_EQ(r.err.find("prompt: "), std::string::npos) << r.err;
  EXPECT_EQ(r.out, cloud_answer(server, prompt, 8) + "\n");
}

TEST(CliRouting, AutoEscalatesOnLowConfidenceOnly) {
  ServerProcess server;
  const RunResult plain = run_cli(run_args());
  // Every answer's mean log-probability is below 0 and above -1000.
  RunResult r = run_cli(run_args() + cloud(url_of(server), "auto") + kCalm);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(route_lines(r.err), std::vector<std::string>{"route: local (reason: local-first)"});
  EXPECT_EQ(r.out, plain.out);
  EXPECT_EQ(chat_requests(server), 0);

  r = run_cli(run_args() + cloud(url_of(server), "auto") + std::vector<std::string>{"--min-mean-logprob=0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(route_lines(r.err), std::vector<std::string>{"route: cloud (reason: low-confidence, escalated_from: local)"});
  EXPECT_EQ(chat_requests(server), 1);
  EXPECT_NE(r.err.find("prompt: "), std::string::npos) << "the local attempt's timings";
  EXPECT_EQ(r.out, cloud_answer(server, kPrompt, 8) + "\n");

  // The same with a per-token threshold, and the audit log records the escalation.
  const auto audit = temp_dir() / "route.sqlite";
  r = run_cli(run_args() + cloud(url_of(server), "auto") +
              std::vector<std::string>{"--min-mean-logprob=-1000", "--max-mean-entropy=1000", "--min-token-logprob=0",
                                       "--audit-log", audit.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(route_lines(r.err), std::vector<std::string>{"route: cloud (reason: low-confidence, escalated_from: local)"});
  const hybrid::AuditLog log(audit.string(), false);
  const auto rows = log.recent(10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].route, "cloud");
  EXPECT_EQ(rows[0].rule, "low-confidence");
  EXPECT_GT(rows[0].bytes_sent, 0);
}

TEST(CliRouting, ConsentAskNeedsAllowCloud) {
  ServerProcess server;
  RunResult r = run_cli(run_args() + cloud(url_of(server), "cloud-preferred", "ask"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(route_lines(r.err), std::vector<std::string>{"route: local (reason: policy, cloud_denied: consent-missing)"});
  EXPECT_EQ(chat_requests(server), 0);
  r = run_cli(run_args() + cloud(url_of(server), "cloud-preferred", "ask") + std::vector<std::string>{"--allow-cloud"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(route_lines(r.err), std::vector<std::string>{"route: cloud (reason: policy)"});
  EXPECT_EQ(chat_requests(server), 1);
  // --route local keeps even an allowed, cloud-preferred invocation on the device.
  r = run_cli(run_args() + cloud(url_of(server), "cloud-preferred", "ask") +
              std::vector<std::string>{"--allow-cloud", "--route", "local"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(route_lines(r.err), std::vector<std::string>{"route: local (reason: policy, cloud_denied: requested-local)"});
  EXPECT_EQ(chat_requests(server), 1);
}

TEST(CliRouting, RedactsWhatLeavesAndRestoresThePrintedAnswer) {
  EchoCloud echo;
  const std::string prompt = "Mail alice@example.com or call +44 20 7946 0958 from 10.1.2.3";
  const RunResult r = run_cli(run_args(prompt) + cloud(echo.url(), "cloud-preferred"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(route_lines(r.err), std::vector<std::string>{"route: cloud (reason: policy)"});
  const auto bodies = echo.bodies();
  ASSERT_EQ(bodies.size(), 1u);
  const json sent = json::parse(bodies[0]);
  const std::string sent_text = sent["messages"][0]["content"];
  for (const char* original : {"alice@example.com", "7946 0958", "10.1.2.3"})
    EXPECT_EQ(bodies[0].find(original), std::string::npos) << original << " left the device: " << bodies[0];
  EXPECT_NE(sent_text.find("[EMAIL_1]"), std::string::npos) << sent_text;
  EXPECT_NE(sent_text.find("[IP_1]"), std::string::npos) << sent_text;
  EXPECT_FALSE(sent.contains("bantam"));
  // The echo answered with the placeholders; the user sees the originals.
  EXPECT_EQ(r.out, prompt + "\n");
}

TEST(CliRouting, CloudDownOrSlowFallsBackLocallyWithinTheTimeout) {
  const RunResult plain = run_cli(run_args());
  const std::string down = "http://127.0.0.1:" + std::to_string(hybrid::test::closed_port());
  RunResult r = run_cli(run_args() + cloud(down, "cloud-preferred"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(route_lines(r.err), std::vector<std::string>{"route: local (reason: cloud-failure, fallback_from: cloud)"});
  EXPECT_EQ(r.out, plain.out);

  ScriptedResponse slow;
  slow.delay_before = 20s;
  LoopbackServer stalled({slow});
  const auto start = std::chrono::steady_clock::now();
  r = run_cli(run_args() + cloud(stalled.url(), "cloud-preferred") +
              std::vector<std::string>{"--cloud-timeout-ms", "300", "--cloud-attempts", "1"});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(route_lines(r.err), std::vector<std::string>{"route: local (reason: cloud-failure, fallback_from: cloud)"});
  EXPECT_EQ(r.out, plain.out);
  EXPECT_EQ(stalled.requests().size(), 1u);
  EXPECT_LT(seconds, 5.0);

  // A prompt only the cloud could take has no fallback: a clear error, not a local overflow.
  r = run_cli(run_args(kPrompt + " there was a little girl who liked to play") + cloud(down, "auto") +
              std::vector<std::string>{"-c", "8"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("route: refused"), std::string::npos) << r.err;
}

TEST(CliRouting, ChatRoutesEachTurnAndKeepsASensitiveConversationLocal) {
  EchoCloud echo;
  const RunResult r = run_cli(chat_args() + cloud(echo.url(), "cloud-preferred") +
                                  std::vector<std::string>{"--sensitive", "keep-local"},
                              "Hello there\nmy mail is bob@example.com\nwhat next\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(route_lines(r.err), (std::vector<std::string>{
                                    "route: cloud (reason: policy)",
                                    "route: local (reason: policy, cloud_denied: sensitive-keep-local)",
                                    "route: local (reason: policy, cloud_denied: sensitive-keep-local)"}));
  const auto bodies = echo.bodies();
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_EQ(bodies[0].find("bob@"), std::string::npos);
  // The first reply is the echo; the two local ones follow on their own lines.
  EXPECT_TRUE(r.out.starts_with("Hello there\n")) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 3);
}

TEST(CliRouting, ChatEscalatesTheTurnThatNoLongerFits) {
  ServerProcess server({"-c", "512"});
  // The conversation grows each turn until the local context (48 positions) cannot hold it.
  const RunResult r = run_cli(chat_args() + cloud(url_of(server), "auto") + kCalm + std::vector<std::string>{"-c", "48"},
                              "Hi\nTell me a story about a little dog\nAnd then what did the little dog do in the park\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = route_lines(r.err);
  ASSERT_EQ(lines.size(), 3u) << r.err;
  EXPECT_EQ(lines.front(), "route: local (reason: local-first)");
  EXPECT_EQ(lines.back(), "route: cloud (reason: prompt-too-long)");
  EXPECT_GE(chat_requests(server), 1);
}

TEST(CliRouting, TokenIdsStayLocalAndBadSettingsAreNamed) {
  ServerProcess server;
  RunResult r = run_cli(run_args() + cloud(url_of(server), "auto") + std::vector<std::string>{"--ids"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--ids"), std::string::npos) << r.err;
  r = run_cli({"run", "-m", stories_model(), "--prompt-ids", "1 2 3", "--cloud-url", url_of(server), "--cloud-consent", "always"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--prompt-ids"), std::string::npos) << r.err;
  // Without a cloud client, ids work through the router as before.
  const std::vector<std::string> ids = {"run", "-m", stories_model(), "--prompt-ids", "1 2 3", "-n", "4", "--ids", "--temp", "0"};
  const RunResult plain = run_cli(ids);
  r = run_cli(ids + std::vector<std::string>{"--route-policy", "local-only"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, plain.out);
  // A cloud policy with no URL, and a bad pattern, stop before anything runs.
  r = run_cli(run_args() + std::vector<std::string>{"--route-policy", "auto", "--cloud-consent", "always"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--cloud-url"), std::string::npos) << r.err;
  r = run_cli(run_args() + std::vector<std::string>{"--redact-pattern", "nolabel"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(chat_requests(server), 0);
}

}  // namespace
}  // namespace bantam::test
