// Adapters named at `bantam serve` start, chosen per request: concurrent streams with different
// adapters each match `bantam run --lora` for their set, /v1/models lists BASE+NAME, bad
// choices are 400s, a refused adapter file stops the start with its name.
#include <gmock/gmock.h>

#include <filesystem>
#include <thread>

#include "serve/adapters.hpp"
#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::string qvd() { return shared("models/adapters/stories260K-lora-qvd-r8-f32.gguf").string(); }
std::string kogu() { return shared("models/adapters/stories260K-lora-kogu-r4-f16.gguf").string(); }

constexpr int kTokens = 160;  // long enough that the three streams overlap in the batch
const char* const kPrompt = "Once upon a time";

// Greedy continuation text of `bantam run` with these --lora specs.
std::string run_text(const std::vector<std::string>& lora_specs) {
  std::vector<std::string> args = {"run", "-m", stories_model(), "-p", kPrompt, "-n", std::to_string(kTokens),
                                   "--temp", "0", "-t", "1"};
  for (const std::string& spec : lora_specs) {
    args.push_back("--lora");
    args.push_back(spec);
  }
  const RunResult r = run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // run ends its output with a newline of its own.
  EXPECT_TRUE(r.out.ends_with('\n'));
  return r.out.substr(0, r.out.size() - 1);
}

// The text of a streamed completion, and the usage it reported.
struct Streamed {
  long status = 0;
  std::string text;
  json usage;
  std::string model;
};

Streamed stream_completion(int port, json body) {
  body["prompt"] = kPrompt;
  body["max_tokens"] = kTokens;
  body["temperature"] = 0;
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  const HttpResult r = http(port, "POST", "/v1/completions", body.dump());
  Streamed out;
  out.status = r.status;
  if (r.status != 200) {
    out.text = r.body;
    return out;
  }
  bool done = false;
  for (const json& e : sse_events(r.body, &done)) {
    out.model = e["model"];
    if (!e["choices"].empty()) out.text += e["choices"][0]["text"].get<std::string>();
    if (e.contains("usage")) out.usage = e["usage"];
  }
  EXPECT_TRUE(done) << r.body;
  return out;
}

class ServeAdapters : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess({"--parallel", "3", "-c", "256", "--lora", "style=" + qvd() + ":0.8", "--lora",
                                 "kogu=" + kogu()});
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(server_->stop(), 0) << server_->log();
    delete server_;
  }
  static int port() { return server_->port(); }
  static ServerProcess* server_;
};
ServerProcess* ServeAdapters::server_ = nullptr;

TEST_F(ServeAdapters, ConcurrentStreamsWithDifferentAdaptersMatchRun) {
  const std::string base = run_text({});
  const std::string style = run_text({qvd() + ":0.8"});
  const std::string kogu_half = run_text({kogu() + ":0.5"});
  const std::string both = run_text({qvd() + ":0.8", kogu()});
  // The adapters change the answer, so equal texts below mean each request ran with its own set.
  ASSERT_NE(base, style);
  ASSERT_NE(base, kogu_half);
  ASSERT_NE(style, kogu_half);

  const std::vector<json> bodies = {
      {{"model", "stories260K+style"}},
      {{"model", "stories260K"}, {"bantam", {{"adapters", {{{"name", "kogu"}, {"scale", 0.5}}}}}}},
      {{"model", "stories260K"}},
  };
  const std::vector<std::string> expected = {style, kogu_half, base};
  // Twice: the second round finds every slot's cache filled with the same prompt under some other
  // set of adapters (or the same one), which it may reuse only for the same set.
  for (int round = 0; round < 2; ++round) {
    std::vector<Streamed> results(bodies.size());
    std::vector<std::thread> clients;
    for (size_t i = 0; i < bodies.size(); ++i) {
      const size_t k = (i + static_cast<size_t>(round)) % bodies.size();
      clients.emplace_back([&, k] { results[k] = stream_completion(port(), bodies[k]); });
    }
    for (auto& c : clients) c.join();
    for (size_t k = 0; k < bodies.size(); ++k) {
      ASSERT_EQ(results[k].status, 200) << results[k].text;
      EXPECT_EQ(results[k].text, expected[k]) << "round " << round << ", request " << bodies[k].dump();
    }
    EXPECT_EQ(results[0].model, "stories260K+style");
    EXPECT_EQ(results[2].model, "stories260K");
  }

  // Several adapters in the model id apply in the order named, as --lora does.
  const Streamed combined = stream_completion(port(), {{"model", "stories260K+style+kogu"}});
  ASSERT_EQ(combined.status, 200) << combined.text;
  EXPECT_EQ(combined.text, both);
  EXPECT_EQ(combined.usage["prompt_tokens_details"]["cached_tokens"], 0) << "no slot has computed this set yet";

  // The same set again reuses the prompt its slot computed under it.
  const Streamed again = stream_completion(port(), {{"model", "stories260K+style+kogu"}});
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(again.text, both);
  EXPECT_GT(again.usage["prompt_tokens_details"]["cached_tokens"].get<int>(), 0);
}

TEST_F(ServeAdapters, ModelsListsEachAdapterAsBasePlusName) {
  const auto models = http(port(), "GET", "/v1/models");
  ASSERT_EQ(models.status, 200);
  const json list = models.json();
  std::vector<std::string> ids;
  for (const json& card : list["data"]) ids.push_back(card["id"]);
  EXPECT_THAT(ids, ::testing::ElementsAre("stories260K", "stories260K+style", "stories260K+kogu"));
  EXPECT_EQ(list["data"][1]["bantam"]["scale"], 0.8);
  EXPECT_EQ(list["data"][1]["parent"], "stories260K");
  EXPECT_EQ(http(port(), "GET", "/v1/models/stories260K+kogu").status, 200);
  EXPECT_EQ(http(port(), "GET", "/v1/models/stories260K+nope").status, 404);
}

TEST_F(ServeAdapters, BadAdapterChoicesAre400s) {
  const auto expect_400 = [&](json body, const std::string& path, const std::string& param, const std::string& words) {
    const auto r = post(port(), path, body);
    EXPECT_EQ(r.status, 400) << body.dump() << " -> " << r.body;
    const json error = json::parse(r.body)["error"];
    EXPECT_EQ(error["type"], "invalid_request_error");
    EXPECT_EQ(error["param"], param) << r.body;
    EXPECT_THAT(error["message"].get<std::string>(), HasSubstr(words)) << r.body;
  };
  const json chat = {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 4}};
  const json text = {{"prompt", "Hi"}, {"max_tokens", 4}};
  auto with = [](json body, const json& extra) {
    body.update(extra);
    return body;
  };
  expect_400(with(chat, {{"model", "stories260K+nope"}}), "/v1/chat/completions", "model", "no adapter named \"nope\"");
  expect_400(with(text, {{"model", "stories260K+style+"}}), "/v1/completions", "model", "empty");
  expect_400(with(text, {{"model", "stories260K+style+style"}}), "/v1/completions", "model", "chosen twice");
  expect_400(with(text, {{"bantam", {{"adapters", {{{"name", "other"}}}}}}}), "/v1/completions", "bantam.adapters",
             "adapters: style, kogu");
  expect_400(with(chat, {{"bantam", {{"adapters", "style"}}}}), "/v1/chat/completions", "bantam.adapters",
             "must be an array");
  expect_400(with(text, {{"bantam", {{"adapters", {42}}}}}), "/v1/completions", "bantam.adapters", "string \"name\"");
  expect_400(with(text, {{"bantam", {{"adapters", {{{"name", "style"}, {"scale", "big"}}}}}}}), "/v1/completions",
             "bantam.adapters", "must be a number");
  expect_400(with(text, {{"bantam", {{"adapters", {{{"name", "style"}, {"scale", 1e9}}}}}}}), "/v1/completions",
             "bantam.adapters", "between -16 and 16");
  expect_400(with(text, {{"bantam", {{"adapters", {{{"name", "style"}, {"weight", 1}}}}}}}), "/v1/completions",
             "bantam.adapters", "unknown field \"weight\"");
  expect_400(with(text, {{"model", "stories260K+kogu"}, {"bantam", {{"adapters", {"kogu"}}}}}), "/v1/completions",
             "bantam.adapters", "chosen twice");
  const json embed = {{"model", "stories260K+style"}, {"input", "Hi"}};
  expect_400(embed, "/v1/embeddings", "model", "embeddings come from the base model");
  // The server still answers normally afterwards.
  EXPECT_EQ(post(port(), "/v1/completions", with(text, {{"model", "stories260K+kogu"}})).status, 200);
}

TEST(ServeAdapterStart, UnnamedAdaptersApplyToEveryRequestBeforeChosenOnes) {
  ServerProcess server({"-c", "256", "--lora", qvd() + ":0.8", "--lora", "kogu=" + kogu()});
  const Streamed base = stream_completion(server.port(), {{"model", "stories260K"}});
  ASSERT_EQ(base.status, 200) << base.text;
  EXPECT_EQ(base.text, run_text({qvd() + ":0.8"}));
  const Streamed chosen = stream_completion(server.port(), {{"model", "stories260K+kogu"}});
  ASSERT_EQ(chosen.status, 200) << chosen.text;
  EXPECT_EQ(chosen.text, run_text({qvd() + ":0.8", kogu()}));
  EXPECT_EQ(server.stop(), 0) << server.log();
}

// The loop end to end: an adapter `bantam finetune` has just made is chosen per request,
// changes the answer, and gives what `bantam run --lora` gives with it.
TEST(ServeAdapterStart, FreshlyTrainedAdapterIsServedPerRequest) {
  const std::filesystem::path dir = temp_dir();
  write_file(dir / "train.txt", read_file(shared("corpus/gpl-3.txt")).substr(0, 6000));
  const std::string adapter = (dir / "gpl.gguf").string();
  const RunResult trained = run_cli({"finetune", "-m", stories_model(), "--data", (dir / "train.txt").string(), "-o",
                                     adapter, "-c", "64", "-b", "1", "--epochs", "1", "--lr", "2e-3", "-t", "1",
                                     "--rank", "4", "--targets", "attn_q,attn_v", "--eval-split", "0"});
  ASSERT_EQ(trained.exit_code, 0) << trained.err;

  ServerProcess server({"-c", "256", "--lora", "gpl=" + adapter});
  const Streamed base = stream_completion(server.port(), {{"model", "stories260K"}});
  const Streamed tuned = stream_completion(server.port(), {{"model", "stories260K+gpl"}});
  ASSERT_EQ(base.status, 200) << base.text;
  ASSERT_EQ(tuned.status, 200) << tuned.text;
  EXPECT_NE(tuned.text, base.text);
  EXPECT_EQ(base.text, run_text({}));
  EXPECT_EQ(tuned.text, run_text({adapter}));
  EXPECT_EQ(server.stop(), 0) << server.log();
}

TEST(ServeAdapterStart, RefusedAdapterFileStopsTheStartNamingIt) {
  const std::string other_architecture = shared("models/adapters/synth-qwen2-lora-qkvu-r8-f16.gguf").string();
  for (const std::string& file : {other_architecture, stories_model(), (temp_dir() / "missing.gguf").string()}) {
    const RunResult r = run_cli({"serve", "-m", stories_model(), "--port", "0", "-t", "1", "--lora", "x=" + file});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr("adapter " + file + " refused")) << r.err;
    EXPECT_THAT(r.out, ::testing::Not(HasSubstr("listening")));
  }
  const RunResult bad_scale =
      run_cli({"serve", "-m", stories_model(), "--port", "0", "--lora", "style=" + qvd() + ":nan"});
  EXPECT_EQ(bad_scale.exit_code, 1);
  EXPECT_THAT(bad_scale.err, HasSubstr("the scale must be a finite number"));
}

TEST(AdapterSpec, NamedPlainAndScaled) {
  const serve::AdapterSpec named = serve::parse_adapter_spec("style=/a/b.gguf:0.5");
  EXPECT_EQ(named.name, "style");
  EXPECT_EQ(named.path, "/a/b.gguf");
  EXPECT_EQ(named.scale, 0.5f);
  const serve::AdapterSpec plain = serve::parse_adapter_spec("/a/b=c.gguf");
  EXPECT_EQ(plain.name, "");
  EXPECT_EQ(plain.path, "/a/b=c.gguf");
  EXPECT_EQ(plain.scale, 1.0f);
  EXPECT_THROW(serve::parse_adapter_spec("=/a/b.gguf"), Error);
  EXPECT_THROW(serve::parse_adapter_spec("style="), Error);
  EXPECT_THROW(serve::parse_adapter_spec("style=/a.gguf:99"), Error);
}

}  // namespace
}  // namespace bantam::test
