// `bantam serve -m NAME` on a store model: a version activated while serving (an update, then a
// rollback) is swapped in between requests while a running stream finishes on the old one, the
// serving version shows in /v1/models and /metrics, and serving windows land in the catalog
// where `bantam status` shows them per version.
#include <gmock/gmock.h>

#include <atomic>
#include <thread>

#include "bantam/bantam.hpp"
#include "hub/digest.hpp"
#include "hub/store.hpp"
#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
namespace fs = std::filesystem;


std::string served_version(int port) {
  const auto r = http(port, "GET", "/v1/models");
  if (r.status != 200) return "";
  return r.json()["data"][0]["bantam"]["version"];
}

bool wait_for_version(int port, const std::string& version) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (served_version(port) == version) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

class StoreSwap : public ::testing::Test {
 protected:
  void SetUp() override {
    store = temp_dir() / "store";
    install_in_store(store, stories_model(), "1.0");
    // The end-of-generation tokens are pushed out of reach so answers run to max_tokens.
    const auto model = Model::load(stories_model());
    for (TokenId id = 0; id < model->info().n_vocab; ++id) {
      if (model->is_end_of_generation(id)) no_end[std::to_string(id)] = -100;
    }
  }
  json completion(int max_tokens, bool stream) const {
    return {{"model", "tiny"}, {"prompt", "Once upon a time"}, {"max_tokens", max_tokens}, {"temperature", 0},
            {"logit_bias", no_end}, {"stream", stream}};
  }
  std::string text_of(int port) const {
    const auto r = post(port, "/v1/completions", completion(24, false));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.json()["choices"][0]["text"].get<std::string>() : "";
  }

  fs::path store;
  json no_end = json::object();
};

TEST_F(StoreSwap, NewlyActiveVersionsAreSwappedInWhileRunningRequestsFinish) {
  ServerProcess server({"--store", store.string(), "--watch-interval", "0.05", "--metrics-window", "1", "--parallel",
                        "2", "-c", "1100"},
                       {}, "tiny");
  const int port = server.port();
  EXPECT_EQ(served_version(port), "1.0");
  const std::string old_text = text_of(port);
  ASSERT_FALSE(old_text.empty());

  // A long stream is running when 1.1 (other weights, same vocabulary) becomes active.
  constexpr int kLong = 1000;
  std::atomic<bool> swapped{false};
  bool activated = false;
  const HttpResult stream = http(port, "POST", "/v1/completions", completion(kLong, true).dump(), {},
                                 [&](const std::string&) {
                                   if (!activated) {
                                     activated = true;
                                     install_in_store(store, shared("models/synthetic/synth-llama3-f16.gguf"), "1.1");
                                     swapped = wait_for_version(port, "1.1");
                                   }
                                   return true;
                                 });
  ASSERT_TRUE(swapped.load()) << server.log();
  ASSERT_EQ(stream.status, 200);
  bool done = false;
  std::string streamed;
  json usage;
  std::string finish;
  for (const json& e : sse_events(stream.body, &done)) {
    streamed += e["choices"][0]["text"].get<std::string>();
    if (!e["choices"][0]["finish_reason"].is_null()) finish = e["choices"][0]["finish_reason"];
  }
  EXPECT_TRUE(done) << "the running stream was dropped";
  EXPECT_EQ(finish, "length");
  EXPECT_TRUE(streamed.starts_with(old_text)) << "the running stream left the old version";
  EXPECT_THAT(server.log(), HasSubstr("swapped tiny from version 1.0 to 1.1 (1 running"));

  // New requests run on 1.1.
  const std::string new_text = text_of(port);
  EXPECT_NE(new_text, old_text);
  const std::string metrics = http(port, "GET", "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("bantam_model_info{model=\"tiny\",version=\"1.1\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("bantam_model_swaps_total 1"));

  // A rollback is a change of the active version too.
  const RunResult rollback = run_cli({"rollback", "tiny", "--store", store.string()});
  ASSERT_EQ(rollback.exit_code, 0) << rollback.err;
  ASSERT_TRUE(wait_for_version(port, "1.0")) << server.log();
  EXPECT_EQ(text_of(port), old_text);

  // Each version's requests are recorded in its own serving windows (one a second here).
  json status;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    const RunResult r = run_cli({"status", "tiny", "--store", store.string(), "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    status = json::parse(r.out).at(0);
    if (!status["active"]["serving"].is_null() && !status["previous"]["serving"].is_null()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(status["active"]["version"], "1.0") << status.dump(1);
  // The old stream's window: the version's first one, which is also its latest when everything
  // fitted in one window (fast machines).
  const json& active = status["active"];
  const json& baseline = (active["serving_baseline"].is_null() ? active["serving"] : active["serving_baseline"])["figures"];
  EXPECT_GE(baseline["requests"].get<double>(), 1.0) << status.dump(1);
  EXPECT_EQ(baseline["errors"], 0.0);
  EXPECT_GT(baseline["latency_ms_p95"].get<double>(), 0.0);
  EXPECT_GT(baseline["ttft_ms_p95"].get<double>(), 0.0);
  EXPECT_GT(baseline["tokens_per_s"].get<double>(), 0.0);
  const json& previous = status["previous"];
  EXPECT_EQ(previous["version"], "1.1");
  EXPECT_EQ(previous["serving"]["figures"]["requests"], 1.0) << status.dump(1);  // the one request on 1.1
  EXPECT_EQ(server.stop(), 0) << server.log();
}

TEST_F(StoreSwap, APinnedVersionIsNotSwapped) {
  ServerProcess server({"--store", store.string(), "--watch-interval", "0.05"}, {}, "tiny:1.0");
  EXPECT_EQ(served_version(server.port()), "1.0");
  install_in_store(store, shared("models/synthetic/synth-llama3-f16.gguf"), "1.1");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(served_version(server.port()), "1.0");
  EXPECT_THAT(server.log(), ::testing::Not(HasSubstr("swapped")));
}

}  // namespace
}  // namespace bantam::test
