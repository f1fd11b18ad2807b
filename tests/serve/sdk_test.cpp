// The official OpenAI Node SDK (npm `openai`) against a real server: models, chat, streamed chat,
// a streamed tool call the SDK assembles, embeddings, and an error the SDK parses.
#include <cstdio>
#include <filesystem>

#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using nlohmann::json;

TEST(ServeSdk, OpenAiNodeSdkWorksUnchanged) {
  const std::filesystem::path dir = std::filesystem::path(__FILE__).parent_path() / "sdk";
  ASSERT_TRUE(std::filesystem::exists(dir / "script.mjs")) << dir;
  int status = 0;
  if (!std::filesystem::exists(dir / "node_modules" / "openai")) {
    const std::string log = run_command("cd '" + dir.string() + "' && timeout 300 npm install --no-audit --no-fund 2>&1", status);
    ASSERT_EQ(status, 0) << "npm install failed:\n" << log;
  }
  ServerProcess server({"-c", "512"});
  const std::string out =
      run_command("cd '" + dir.string() + "' && timeout 120 node script.mjs " + std::to_string(server.port()) + " 2>&1", status);
  ASSERT_EQ(status, 0) << out;
  json result;
  ASSERT_NO_THROW(result = json::parse(out.substr(out.find('{')))) << out;

  EXPECT_EQ(result["models"], json::array({"stories260K"}));
  EXPECT_FALSE(result["chat"]["content"].get<std::string>().empty());
  EXPECT_EQ(result["chat"]["finish_reason"], "length");
  EXPECT_EQ(result["chat"]["usage"]["completion_tokens"], 24);
  EXPECT_EQ(result["stream"], result["chat"]["content"]);  // greedy: same text streamed or not

  EXPECT_EQ(result["tool"]["finish_reason"], "tool_calls");
  ASSERT_EQ(result["tool"]["calls"].size(), 1u);
  const json call = result["tool"]["calls"][0];
  EXPECT_EQ(call["type"], "function");
  EXPECT_FALSE(call["id"].get<std::string>().empty());
  EXPECT_EQ(call["function"]["name"], "get_weather");
  const json args = json::parse(call["function"]["arguments"].get<std::string>());
  EXPECT_TRUE(args["city"].is_string());
  EXPECT_TRUE(args["days"].is_number_integer());

  EXPECT_EQ(result["embeddings"].size(), 2u);
  EXPECT_GT(result["embeddings"][0].get<int>(), 0);
  EXPECT_EQ(result["error"]["status"], 400);
  EXPECT_EQ(result["error"]["param"], "messages[0].role");
}

}  // namespace
}  // namespace bantam::test
