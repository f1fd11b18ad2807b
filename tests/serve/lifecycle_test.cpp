// Start-up memory planning and graceful shutdown of `bantam serve`.
#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using nlohmann::json;

TEST(ServeLifecycle, PrintsTheMemoryPlanAndRefusesWhatDoesNotFit) {
  const auto r = run_cli({"serve", "-m", stories_model(), "--port", "0", "--parallel", "256", "-c", "4194304"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("memory plan: weights"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("KV cache"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("MemAvailable"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("at most --parallel"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("listening"), std::string::npos);
}

TEST(ServeLifecycle, SigtermLetsRunningStreamsFinish) {
  ServerProcess server({"--shutdown-grace", "20", "-c", "1024"});
  std::atomic<int> chunks{0};
  HttpResult stream;
  std::thread client([&] {
    const json body = {{"prompt", "Once upon a time"}, {"max_tokens", 300}, {"temperature", 0}, {"stream", true}};
    stream = http(server.port(), "POST", "/v1/completions", body.dump(), {}, [&](const std::string&) {
      ++chunks;
      return true;
    });
  });
  while (chunks.load() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ::kill(server.pid(), SIGTERM);
  client.join();
  bool done = false;
  const auto events = sse_events(stream.body, &done);
  EXPECT_TRUE(done) << stream.body;
  EXPECT_EQ(events.back()["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(server.stop(std::chrono::seconds(10)), 0) << server.log();
  EXPECT_NE(server.log().find("stopped"), std::string::npos);
}

TEST(ServeLifecycle, SigtermCancelsWhatOutlivesTheGracePeriod) {
  ServerProcess server({"--shutdown-grace", "0.2", "-c", "2048"});
  std::atomic<int> chunks{0};
  std::thread client([&] {
    const json body = {{"prompt", "Once"}, {"max_tokens", 2000}, {"temperature", 0}, {"stream", true}};
    http(server.port(), "POST", "/v1/completions", body.dump(), {}, [&](const std::string&) {
      ++chunks;
      return true;
    });
  });
  while (chunks.load() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(server.stop(std::chrono::seconds(10)), 0) << server.log();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  client.join();
}

}  // namespace
}  // namespace bantam::test
