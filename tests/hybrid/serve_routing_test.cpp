// Hybrid routing through `bantam serve`: a local server routing to a second real `bantam serve` as
// its "cloud" on loopback (or, for failure modes and redaction round trips, a scripted or echoing
// stand-in), checking policies, each escalation rule, consent, sensitive handling, fallbacks, the
// circuit breaker and that every response names its route.
#include <atomic>
#include <filesystem>
#include <thread>

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

// A chat response with its X-Bantam-Route header.
struct Routed {
  long status = 0;
  std::string body;
  std::string route_header;
  double seconds = 0;
  json json_body() const { return json::parse(body); }
  std::string route() const { return json_body()["bantam"]["route"]; }
  std::string reason() const { return json_body()["bantam"]["reason"]; }
};

Routed chat(int port, const json& body, std::vector<std::string> headers = {}) {
  Routed out;
  CURL* curl = curl_easy_init();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/v1/chat/completions";
  const std::string text = body.dump();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(text.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  headers.push_back("Content-Type: application/json");
  headers.push_back("Expect:");
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out.body);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* user) -> size_t {
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
  });
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &out.route_header);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, +[](char* data, size_t size, size_t n, void* user) -> size_t {
    const std::string line(data, size * n);
    const std::string name = "x-bantam-route:";
    std::string lower = line.substr(0, std::min(line.size(), name.size()));
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == name) {
      std::string value = line.substr(name.size());
      while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.pop_back();
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      *static_cast<std::string*>(user) = value;
    }
    return size * n;
  });
  const auto start = std::chrono::steady_clock::now();
  curl_easy_perform(curl);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return out;
}

json ask(const std::string& text, int max_tokens = 12) {
  return {{"messages", {{{"role", "user"}, {"content", text}}}}, {"max_tokens", max_tokens}, {"temperature", 0}};
}

json with(json body, const json& extra) {
  body.update(extra);
  return body;
}

// Checks that the body and the header agree on the route and returns it.
std::string route_of(const Routed& r) {
  EXPECT_EQ(r.status, 200) << r.body;
  if (r.status != 200) return "";
  const std::string route = r.route();
  EXPECT_EQ(r.route_header, route);
  return route;
}

// Confidence thresholds that never fire, so only the rule a test is about can escalate.
std::vector<std::string> calm() {
  return {"--min-mean-logprob=-1000", "--min-token-logprob=-1000", "--max-mean-entropy=1000"};
}

std::vector<std::string> to_cloud(const std::string& url, const std::string& policy, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--cloud-url", url, "--cloud-consent", "always", "--route-policy", policy};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::string cloud_url(const ServerProcess& cloud) { return "http://127.0.0.1:" + std::to_string(cloud.port()); }

json router_stats(const ServerProcess& server) { return http(server.port(), "GET", "/v1/router/stats").json(); }

// A streamed request that keeps the local server's only slot busy until release().
class SlotHog {
 public:
  explicit SlotHog(int port) {
    thread_ = std::thread([this, port] {
      json body = with(ask("Once upon a time", 1800), {{"stream", true}});
      http(port, "POST", "/v1/chat/completions", body.dump(), {}, [this](const std::string&) {
        ++chunks_;
        return !released_.load();
      });
    });
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (chunks_.load() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(2ms);
  }
  ~SlotHog() { release(); }
  void release() {
    released_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<int> chunks_{0};
  std::atomic<bool> released_{false};
  std::thread thread_;
};

// One real "cloud" bantam server shared by the tests: same weights under another name, and it
// logs the prompts it receives, which is how a test sees what left the local server.
class ServeRouting : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cloud_ = new ServerProcess({"--alias", "cloud-model", "--log-prompts", "-c", "512", "--parallel", "2"});
  }
  static void TearDownTestSuite() {
    delete cloud_;
    cloud_ = nullptr;
  }
  static ServerProcess& cloud() { return *cloud_; }
  static ServerProcess* cloud_;
};
ServerProcess* ServeRouting::cloud_ = nullptr;

TEST_F(ServeRouting, LocalOnlyNeverContactsTheCloud) {
  ServerProcess cloud_server({"--alias", "cloud-model"});
  int port = 0;
  const int listener = hybrid::test::listening_socket(&port);  // a second "cloud" that only counts
  for (const std::string& url : {cloud_url(cloud_server), "http://127.0.0.1:" + std::to_string(port)}) {
    ServerProcess local(to_cloud(url, "local-only", {"--cloud-model", "cloud-model", "-c", "64"}));
    EXPECT_EQ(router_stats(local)["cloud_enabled"], false);
    EXPECT_EQ(route_of(chat(local.port(), ask("Hello"))), "local");
    // Whatever the request asks for, nothing leaves: refused, or answered on the device.
    const Routed by_header = chat(local.port(), ask("Hello"), {"X-Bantam-Route: cloud"});
    EXPECT_EQ(by_header.status, 403) << by_header.body;
    EXPECT_EQ(by_header.route_header, "refused");
    EXPECT_EQ(chat(local.port(), with(ask("Hello"), {{"bantam", {{"route", "cloud"}}}})).status, 403);
    EXPECT_EQ(chat(local.port(), with(ask("Hello"), {{"model", "cloud-model"}})).status, 403);
    std::string long_text;
    for (int i = 0; i < 20; ++i) long_text += "the cat sat on the mat and ";
    EXPECT_EQ(chat(local.port(), ask(long_text)).status, 400);
    EXPECT_EQ(route_of(chat(local.port(), with(ask("Mail ann@example.com"), {{"bantam", {{"route", "auto"}}}}))),
              "local");
  }
  EXPECT_EQ(chat_requests(cloud_server), 0);
  pollfd pending{listener, POLLIN, 0};
  EXPECT_EQ(poll(&pending, 1, 0), 0) << "a connection reached the listening cloud";
  close(listener);
}

TEST_F(ServeRouting, PromptTooLongForTheLocalContextEscalates) {
  ServerProcess local(to_cloud(cloud_url(cloud()), "auto", calm() + std::vector<std::string>{"-c", "64"}));
  const Routed short_one = chat(local.port(), ask("Hi", 8));
  EXPECT_EQ(route_of(short_one), "local");
  EXPECT_EQ(short_one.reason(), "local-first");
  std::string long_text;
  for (int i = 0; i < 10; ++i) long_text += "the cat sat on the mat and ";
  const Routed long_one = chat(local.port(), ask(long_text, 8));
  EXPECT_EQ(route_of(long_one), "cloud");
  EXPECT_EQ(long_one.reason(), "prompt-too-long");
  EXPECT_EQ(long_one.json_body()["model"], "cloud-model");
  // A short prompt whose answer would not fit is the same rule.
  const Routed long_answer = chat(local.port(), ask("Hi", 60));
  EXPECT_EQ(route_of(long_answer), "cloud");
  EXPECT_EQ(long_answer.reason(), "prompt-too-long");
}

TEST_F(ServeRouting, CloudModelNameEscalates) {
  ServerProcess local(to_cloud(cloud_url(cloud()), "auto", calm() + std::vector<std::string>{"--cloud-alias", "big"}));
  EXPECT_EQ(route_of(chat(local.port(), with(ask("Hi"), {{"model", "stories260K"}}))), "local");
  const Routed big = chat(local.port(), with(ask("Hi"), {{"model", "big"}}));
  EXPECT_EQ(route_of(big), "cloud");
  EXPECT_EQ(big.reason(), "cloud-model");
}

TEST_F(ServeRouting, ConfidenceRulesFireExactlyAtTheirThresholds) {
  const json prompt = ask("Once upon a time there was a cat.", 16);
  json measured;
  {
    ServerProcess never(to_cloud(cloud_url(cloud()), "auto", calm()));
    const Routed r = chat(never.port(), prompt);
    ASSERT_EQ(route_of(r), "local");
    measured = r.json_body()["bantam"]["confidence"];
    ASSERT_EQ(measured["tokens"], 16);
  }
  const double mean = measured["mean_logprob"], lowest = measured["min_logprob"], entropy = measured["mean_entropy"];
  struct Case {
    std::vector<std::string> flags;
    std::string route;
    std::string reason;
  };
  const auto flag = [](const char* name, double value) { return fmt::format("{}={:.6f}", name, value); };
  const std::vector<Case> cases = {
      {{flag("--min-mean-logprob", mean + 0.01), "--min-token-logprob=-1000", "--max-mean-entropy=1000"}, "cloud", "low-confidence"},
      {{flag("--min-mean-logprob", mean - 0.01), "--min-token-logprob=-1000", "--max-mean-entropy=1000"}, "local", "local-first"},
      {{"--min-mean-logprob=-1000", flag("--min-token-logprob", lowest + 0.01), "--max-mean-entropy=1000"}, "cloud", "low-confidence"},
      {{"--min-mean-logprob=-1000", flag("--min-token-logprob", lowest - 0.01), "--max-mean-entropy=1000"}, "local", "local-first"},
      {{"--min-mean-logprob=-1000", "--min-token-logprob=-1000", flag("--max-mean-entropy", entropy - 0.01)}, "cloud", "high-entropy"},
      {{"--min-mean-logprob=-1000", "--min-token-logprob=-1000", flag("--max-mean-entropy", entropy + 0.01)}, "local", "local-first"},
  };
  for (const Case& c : cases) {
    ServerProcess local(to_cloud(cloud_url(cloud()), "auto", c.flags));
    const Routed r = chat(local.port(), prompt);
    EXPECT_EQ(route_of(r), c.route) << c.flags[0] << " " << c.flags[1] << " " << c.flags[2];
    EXPECT_EQ(r.reason(), c.reason);
    const json meta = r.json_body()["bantam"];
    EXPECT_EQ(meta["escalated_from"], c.route == "cloud" ? json("local") : json());
    EXPECT_EQ(meta["confidence"]["mean_logprob"], measured["mean_logprob"]);  // the same local answer
  }
}

TEST_F(ServeRouting, QueueWaitOverTheLatencyBudgetEscalates) {
  ServerProcess local(to_cloud(cloud_url(cloud()), "auto",
                               calm() + std::vector<std::string>{"--latency-budget-ms", "1", "--parallel", "1", "-c", "2048"}));
  EXPECT_EQ(route_of(chat(local.port(), ask("Hi", 48))), "local");  // idle: no wait, and a timing sample
  {
    SlotHog hog(local.port());
    const Routed waiting = chat(local.port(), ask("Hi", 8));
    EXPECT_EQ(route_of(waiting), "cloud");
    EXPECT_EQ(waiting.reason(), "latency-budget");
  }
  // Once the slot is free again the request stays local (the server notices the hog left).
  std::string route;
  for (int i = 0; i < 100 && route != "local"; ++i) {
    route = route_of(chat(local.port(), ask("Hi", 4)));
    if (route != "local") std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(route, "local");
}

TEST_F(ServeRouting, LocalFailureEscalates) {
  // No queue: while the only slot is busy a second request fails locally at once.
  ServerProcess local(to_cloud(cloud_url(cloud()), "auto",
                               calm() + std::vector<std::string>{"--parallel", "1", "--max-queue", "0", "-c", "2048"}));
  SlotHog hog(local.port());
  const Routed r = chat(local.port(), ask("Hi", 8));
  EXPECT_EQ(route_of(r), "cloud");
  EXPECT_EQ(r.reason(), "local-failure");
  EXPECT_EQ(r.json_body()["bantam"]["escalated_from"], "local");
}

TEST_F(ServeRouting, RedactionReplacesAndRestoresEveryClass) {
  EchoCloud echo;
  const std::string audit = (temp_dir() / "audit.sqlite").string();
  ServerProcess local(to_cloud(echo.url(), "cloud-preferred",
                               {"--redact-pattern", "EMPLOYEE_ID=EMP-[0-9]{6}", "--audit-log", audit}));
  const std::string text =
      "Mail ann.lee@example.com or call +1 555 123 4567; card 4111 1111 1111 1111, IBAN DE89370400440532013000, "
      "hosts 192.168.1.20 and 2001:db8::8a2e:370:7334, badge EMP-123456.";
  const std::vector<std::string> values = {"ann.lee@example.com", "+1 555 123 4567", "4111 1111 1111 1111",
                                           "DE89370400440532013000", "192.168.1.20", "2001:db8::8a2e:370:7334",
                                           "EMP-123456"};
  const std::vector<std::string> placeholders = {"[EMAIL_1]", "[PHONE_1]", "[CARD_1]", "[IBAN_1]",
                                                 "[IP_1]",    "[IP_2]",    "[EMPLOYEE_ID_1]"};
  const Routed whole = chat(local.port(), ask(text));
  EXPECT_EQ(route_of(whole), "cloud");
  EXPECT_EQ(whole.json_body()["choices"][0]["message"]["content"], text);  // echoed, then restored

  const Routed streamed = chat(local.port(), with(ask(text), {{"stream", true}}));
  EXPECT_EQ(streamed.route_header, "cloud");
  bool done = false;
  std::string joined;
  for (const json& event : sse_events(streamed.body, &done)) {
    EXPECT_EQ(event["bantam"]["route"], "cloud");
    const json& delta = event["choices"][0]["delta"];
    if (delta.contains("content") && delta["content"].is_string()) joined += delta["content"].get<std::string>();
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(joined, text);

  const std::vector<std::string> sent = echo.bodies();
  ASSERT_EQ(sent.size(), 2u);
  for (const std::string& body : sent) {
    for (const std::string& value : values) EXPECT_EQ(body.find(value), std::string::npos) << value << " left: " << body;
    for (const std::string& placeholder : placeholders) EXPECT_NE(body.find(placeholder), std::string::npos) << placeholder;
  }
  // The audit log names the classes, never the text.
  hybrid::AuditLog log(audit, false);
  const auto rows = log.recent(10);
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& row : rows) {
    EXPECT_EQ(row.route, "cloud");
    EXPECT_EQ(row.sensitive, "CARD,EMAIL,EMPLOYEE_ID,IBAN,IP,PHONE");
    EXPECT_TRUE(row.prompt.empty());
    EXPECT_GT(row.bytes_sent, 0);
  }
  for (const std::string& file : {audit, audit + "-wal"}) {
    if (std::filesystem::exists(file)) {
      EXPECT_EQ(read_file(file).find("ann.lee@example.com"), std::string::npos);
    }
  }
}

TEST_F(ServeRouting, TheRealCloudSeesOnlyPlaceholders) {
  ServerProcess local(to_cloud(cloud_url(cloud()), "auto", calm()));
  const Routed r = chat(local.port(), ask("Write to zed.q@example.org about 4111 1111 1111 1111"), {"X-Bantam-Route: cloud"});
  EXPECT_EQ(route_of(r), "cloud");
  EXPECT_EQ(r.reason(), "requested");
  const std::string seen = cloud().log();
  EXPECT_NE(seen.find("Write to [EMAIL_1] about [CARD_1]"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("zed.q@example.org"), std::string::npos);
}

TEST_F(ServeRouting, ConsentAskNeedsTheRequestsOptIn) {
  ServerProcess local({"--cloud-url", cloud_url(cloud()), "--cloud-consent", "ask", "--cloud-model", "cloud-model"});
  const Routed without = chat(local.port(), with(ask("Hi"), {{"model", "cloud-model"}}));
  EXPECT_EQ(without.status, 403) << without.body;
  EXPECT_EQ(without.json_body()["error"]["code"], "route_refused");
  const Routed opted_in =
      chat(local.port(), with(ask("Hi"), {{"model", "cloud-model"}, {"bantam", {{"cloud_consent", true}}}}));
  EXPECT_EQ(route_of(opted_in), "cloud");
  EXPECT_EQ(router_stats(local)["policy"], "auto");  // a cloud without a policy means auto

  ServerProcess never({"--cloud-url", cloud_url(cloud()), "--route-policy", "cloud-preferred"});
  EXPECT_EQ(router_stats(never)["cloud_enabled"], false);
  EXPECT_EQ(route_of(chat(never.port(), ask("Hi"))), "local");
}

TEST_F(ServeRouting, SensitiveConversationsStayLocalOrAreBlocked) {
  // Every answer is "unconfident" here, so anything allowed to escalate does.
  ServerProcess keep(to_cloud(cloud_url(cloud()), "auto", {"--min-mean-logprob=0", "--sensitive", "keep-local"}));
  EXPECT_EQ(route_of(chat(keep.port(), ask("Tell me a story"))), "cloud");
  json conversation = ask("Later turn, nothing personal");
  conversation["messages"] = {{{"role", "user"}, {"content", "My IBAN is DE89370400440532013000"}},
                              {{"role", "assistant"}, {"content", "Noted."}},
                              {{"role", "user"}, {"content", "Tell me a story"}}};
  const Routed kept = chat(keep.port(), conversation);
  EXPECT_EQ(route_of(kept), "local");
  EXPECT_EQ(kept.reason(), "low-confidence");
  EXPECT_EQ(kept.json_body()["bantam"]["cloud_denied"], "sensitive-keep-local");

  ServerProcess block(to_cloud(cloud_url(cloud()), "cloud-preferred", {"--sensitive", "block"}));
  const Routed blocked = chat(block.port(), conversation);
  EXPECT_EQ(blocked.status, 403) << blocked.body;
  EXPECT_EQ(blocked.route_header, "refused");
  EXPECT_EQ(route_of(chat(block.port(), ask("Tell me a story"))), "cloud");
}

ScriptedResponse completion_text(const std::string& text) {
  json answer{{"object", "chat.completion"},
              {"choices", {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", text}}}, {"finish_reason", "stop"}}}}};
  return ScriptedResponse{200, "application/json", {answer.dump()}, 0ms, 0ms};
}

TEST_F(ServeRouting, CloudDownSlowErrorOrGarbageFallsBackLocallyInBoundedTime) {
  struct Case {
    std::string name;
    std::vector<ScriptedResponse> script;  // empty: nothing listens
  };
  const std::vector<Case> cases = {
      {"down", {}},
      {"slow", {ScriptedResponse{200, "application/json", {"{}"}, 3000ms, 0ms}}},
      {"500", {ScriptedResponse{500, "application/json", {"{\"error\": \"boom\"}"}, 0ms, 0ms}}},
      {"429", {ScriptedResponse{429, "application/json", {"{}"}, 0ms, 0ms}}},
      {"garbage", {ScriptedResponse{200, "application/json", {"<html>not a completion"}, 0ms, 0ms}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::unique_ptr<LoopbackServer> fake;
    std::string url = "http://127.0.0.1:" + std::to_string(hybrid::test::closed_port());
    if (!c.script.empty()) {
      fake = std::make_unique<LoopbackServer>(c.script);
      url = fake->url();
    }
    ServerProcess local(to_cloud(url, "cloud-preferred",
                                 {"--cloud-timeout-ms", "300", "--cloud-connect-timeout-ms", "300", "--cloud-attempts", "1"}));
    const Routed r = chat(local.port(), ask("Hi", 8));
    EXPECT_EQ(route_of(r), "local");
    EXPECT_EQ(r.reason(), "cloud-failure");
    EXPECT_EQ(r.json_body()["bantam"]["fallback_from"], "cloud");
    // Well inside the slow cloud's 3 s: the 300 ms limit plus a local answer.
    EXPECT_LT(r.seconds, 2.5);
    const Routed streamed = chat(local.port(), with(ask("Hi", 8), {{"stream", true}}));
    EXPECT_EQ(streamed.route_header, "local");
    bool done = false;
    const auto events = sse_events(streamed.body, &done);
    EXPECT_TRUE(done);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.front()["bantam"]["fallback_from"], "cloud");
    EXPECT_LT(streamed.seconds, 2.5);
  }
}

TEST_F(ServeRouting, CloudFailingMidStreamEndsWithAnErrorEvent) {
  json chunk{{"object", "chat.completion.chunk"},
             {"choices", {{{"index", 0}, {"delta", {{"content", "Once"}}}, {"finish_reason", nullptr}}}}};
  LoopbackServer fake({ScriptedResponse{200, "text/event-stream", {"data: " + chunk.dump() + "\n\n", "data: {broken\n\n"}, 0ms, 20ms}});
  ServerProcess local(to_cloud(fake.url(), "cloud-preferred", {"--cloud-attempts", "3"}));
  const Routed r = chat(local.port(), with(ask("Hi"), {{"stream", true}}));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.route_header, "cloud");
  bool done = false;
  const auto events = sse_events(r.body, &done);
  EXPECT_FALSE(done);
  ASSERT_EQ(events.size(), 2u) << r.body;
  EXPECT_EQ(events[0]["choices"][0]["delta"]["content"], "Once");
  EXPECT_EQ(events[1]["error"]["code"], "cloud_failed");
  EXPECT_EQ(fake.requests().size(), 1u);  // no retry once tokens were streamed
}

TEST_F(ServeRouting, CircuitBreakerOpensAndCloses) {
  const ScriptedResponse failure{500, "application/json", {"{}"}, 0ms, 0ms};
  LoopbackServer fake({failure, failure, completion_text("back")});
  ServerProcess local(to_cloud(fake.url(), "cloud-preferred",
                               {"--breaker-threshold", "2", "--breaker-cooldown-ms", "400", "--cloud-attempts", "1"}));
  for (int i = 0; i < 2; ++i) EXPECT_EQ(chat(local.port(), ask("Hi", 4)).reason(), "cloud-failure");
  EXPECT_EQ(router_stats(local)["breaker"], "open");
  const Routed skipped = chat(local.port(), ask("Hi", 4));
  EXPECT_EQ(route_of(skipped), "local");
  EXPECT_EQ(skipped.json_body()["bantam"]["cloud_denied"], "circuit-open");
  EXPECT_EQ(fake.requests().size(), 2u);  // the open breaker kept the cloud out of it
  std::this_thread::sleep_for(450ms);
  const Routed trial = chat(local.port(), ask("Hi", 4));
  EXPECT_EQ(route_of(trial), "cloud");
  EXPECT_EQ(trial.json_body()["choices"][0]["message"]["content"], "back");
  EXPECT_EQ(router_stats(local)["breaker"], "closed");
}

TEST_F(ServeRouting, StatsCountRoutesAndReasons) {
  ServerProcess local(to_cloud(cloud_url(cloud()), "auto", calm() + std::vector<std::string>{"--cloud-alias", "big"}));
  chat(local.port(), ask("Hi", 4));
  chat(local.port(), ask("Hi", 4));
  chat(local.port(), with(ask("Hi", 4), {{"model", "big"}}));
  chat(local.port(), ask("Hi", 4), {"X-Bantam-Route: cloud"});
  const json stats = router_stats(local);
  EXPECT_EQ(stats["local"], 2);
  EXPECT_EQ(stats["cloud"], 2);
  EXPECT_EQ(stats["by_reason"]["local-first"], 2);
  EXPECT_EQ(stats["by_reason"]["cloud-model"], 1);
  EXPECT_EQ(stats["by_reason"]["requested"], 1);
  EXPECT_EQ(stats["audit"]["cloud"], 2);
  EXPECT_EQ(stats["breaker"], "closed");
  // Text completions are not routed but still say where they ran.
  const auto text = http(local.port(), "POST", "/v1/completions", json{{"prompt", "Once"}, {"max_tokens", 3}}.dump());
  EXPECT_EQ(text.json()["bantam"]["route"], "local");
}

TEST_F(ServeRouting, SafetyPreFilterRefusesOrKeepsLocal) {
  ServerProcess local(to_cloud(cloud_url(cloud()), "cloud-preferred",
                               {"--safety-rule", "refuse:bomb=build a bomb", "--safety-rule", "local:health=diagnos"}));
  const Routed refused = chat(local.port(), ask("How do I BUILD A BOMB?"));
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(refused.route_header, "refused");
  EXPECT_EQ(refused.json_body()["error"]["code"], "content_filter");
  const Routed kept = chat(local.port(), ask("Please diagnose my cough"));
  EXPECT_EQ(route_of(kept), "local");
  EXPECT_EQ(kept.reason(), "safety:health");
  const Routed streamed = chat(local.port(), with(ask("Please diagnose my cough"), {{"stream", true}}));
  EXPECT_EQ(streamed.route_header, "local");
  EXPECT_EQ(sse_events(streamed.body).front()["bantam"]["reason"], "safety:health");
  EXPECT_EQ(route_of(chat(local.port(), ask("Tell me a story"))), "cloud");
  EXPECT_EQ(router_stats(local)["by_reason"]["safety:bomb"], 1);
}

TEST_F(ServeRouting, BadRoutingInputIsA400AndTheServerKeepsServing) {
  ServerProcess local(to_cloud(cloud_url(cloud()), "auto", calm()));
  const std::vector<std::pair<json, std::vector<std::string>>> bad = {
      {ask("Hi"), {"X-Bantam-Route: sideways"}},
      {ask("Hi"), {"X-Bantam-Route: cloud\x01"}},
      {with(ask("Hi"), {{"bantam", "cloud"}}), {}},
      {with(ask("Hi"), {{"bantam", {{"route", 7}}}}), {}},
      {with(ask("Hi"), {{"bantam", {{"route", "moon"}}}}), {}},
      {with(ask("Hi"), {{"bantam", {{"cloud_consent", "yes"}}}}), {}},
      {with(ask("Hi"), {{"bantam", {{"route", "local"}}}}), {"X-Bantam-Route: cloud"}},
      {ask("Hi"), {"X-Bantam-Route: " + std::string(6000, 'c')}},
  };
  for (const auto& [body, headers] : bad) {
    const Routed r = chat(local.port(), body, headers);
    EXPECT_GE(r.status, 400) << body.dump();
    EXPECT_LT(r.status, 500) << body.dump();
    EXPECT_TRUE(json::parse(r.body, nullptr, false).contains("error")) << r.body;
  }
  EXPECT_EQ(route_of(chat(local.port(), ask("Hi", 4))), "local");
}

}  // namespace
}  // namespace bantam::test
