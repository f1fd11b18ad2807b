// The official ollama JavaScript client (npm `ollama`, pinned by ollama-client/package-lock.json)
// against a real server: version, list, show, chat whole and streamed, generate whole and
// streamed, a JSON-schema format, embed, the older embeddings, ps, and a 404 the client parses.
#include <filesystem>

#include "bantam/bantam.hpp"
#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using nlohmann::json;

TEST(ServeOllamaClient, OfficialOllamaClientWorksUnchanged) {
  const std::filesystem::path dir = std::filesystem::path(__FILE__).parent_path() / "ollama-client";
  ASSERT_TRUE(std::filesystem::exists(dir / "script.mjs")) << dir;
  int status = 0;
  if (!std::filesystem::exists(dir / "node_modules" / "ollama")) {
    const std::string log = run_command("cd '" + dir.string() + "' && timeout 300 npm ci --no-audit --no-fund 2>&1", status);
    ASSERT_EQ(status, 0) << "npm ci failed:\n" << log;
  }
  ServerProcess server({"-c", "512"});
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port());
  const std::string out = run_command("cd '" + dir.string() + "' && timeout 120 node script.mjs " + url + " 2>&1", status);
  ASSERT_EQ(status, 0) << out;
  json result;
  ASSERT_NO_THROW(result = json::parse(out.substr(out.find('{')))) << out;

  EXPECT_FALSE(result["version"].get<std::string>().empty());
  EXPECT_EQ(result["models"], json::array({"stories260K:latest"}));
  EXPECT_EQ(result["show"]["family"], "llama");
  EXPECT_EQ(result["show"]["architecture"], "llama");

  EXPECT_FALSE(result["chat"]["content"].get<std::string>().empty());
  EXPECT_EQ(result["chat"]["done_reason"], "length");
  EXPECT_EQ(result["chat"]["eval_count"], 16);
  EXPECT_EQ(result["chat_stream"]["content"], result["chat"]["content"]);  // greedy: the same text
  // At least one piece of text and the last frame (pieces batch up when the machine is busy).
  EXPECT_GE(result["chat_stream"]["frames"].get<int>(), 2);
  EXPECT_EQ(result["chat_stream"]["done"], true);
  EXPECT_EQ(result["chat_stream"]["eval_count"], 16);

  EXPECT_FALSE(result["generate"]["response"].get<std::string>().empty());
  EXPECT_EQ(result["generate"]["eval_count"], 16);
  EXPECT_EQ(result["generate_stream"], result["generate"]["response"]);
  EXPECT_TRUE(result["structured"]["mood"] == "happy" || result["structured"]["mood"] == "sad") << result["structured"];
  EXPECT_TRUE(result["structured"]["name"].is_string());

  const int n_embd = Model::load(stories_model())->info().n_embd;
  EXPECT_EQ(result["embed"], json::array({n_embd, n_embd}));
  EXPECT_EQ(result["embeddings"], n_embd);
  EXPECT_EQ(result["ps"], json::array({"stories260K:latest"}));

  EXPECT_EQ(result["error"]["name"], "ResponseError");
  EXPECT_EQ(result["error"]["status_code"], 404);
  EXPECT_EQ(result["error"]["error"], "model 'no-such-model' not found");
}

}  // namespace
}  // namespace bantam::test
