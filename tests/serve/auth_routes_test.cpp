// The API key (--api-key-env) on every route but the open list, decided before any route runs:
// OpenAI's, ollama's and llama.cpp's routes alike (and any route added later), while /health,
// the web page's files and preflights stay open.
#include <gtest/gtest.h>

#include "serve/llamacpp_api.hpp"
#include "serve/route_access.hpp"
#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using serve::needs_api_key;

// Every route class a client may call, including routes other parts of the server add.
const std::vector<std::pair<std::string, std::string>> kApiRoutes = {
    {"POST", "/v1/chat/completions"}, {"POST", "/v1/completions"}, {"POST", "/v1/embeddings"},
    {"GET", "/v1/models"},           {"GET", "/v1/models/stories260K"}, {"GET", "/v1/router/stats"},
    {"GET", "/v1/router/policy"},
    {"POST", "/chat/completions"},   {"POST", "/completions"},     {"POST", "/embeddings"},
    {"GET", "/models"},              {"POST", "/api/chat"},        {"POST", "/api/generate"},
    {"GET", "/api/tags"},            {"POST", "/api/show"},        {"POST", "/api/embed"},
    {"GET", "/api/ps"},              {"GET", "/api/version"},      {"POST", "/completion"},
    {"POST", "/tokenize"},           {"POST", "/detokenize"},      {"POST", "/apply-template"},
    {"GET", "/props"},               {"GET", "/slots"},            {"POST", "/infill"},
    {"GET", "/no/such/route"},
};

TEST(RouteAccess, EveryPathButTheOpenListNeedsTheKey) {
  for (const auto& [method, path] : kApiRoutes) EXPECT_TRUE(needs_api_key(path, false)) << path;
  for (const char* open : {"/health", "/", "/index.html", "/favicon.ico", "/ui/", "/ui/app.js", "/assets/chat.css"}) {
    EXPECT_FALSE(needs_api_key(open, false)) << open;
  }
  EXPECT_TRUE(needs_api_key("/metrics", false));
  EXPECT_FALSE(needs_api_key("/metrics", true));
  // Near misses and spellings that a static file server could resolve elsewhere are not open.
  for (const char* path : {"/healthz", "/health/", "/ui", "/uix/app.js", "/ui/../v1/chat/completions", "/assets/./x",
                           "/ui/%2e%2e/v1/models", "/index.htm", "/v1/health"}) {
    EXPECT_TRUE(needs_api_key(path, false)) << path;
  }
}

TEST(RouteAccess, OpenAiRoutesWithoutV1MapToTheV1Routes) {
  EXPECT_EQ(serve::openai_route_with_prefix("/chat/completions"), "/v1/chat/completions");
  EXPECT_EQ(serve::openai_route_with_prefix("/completions"), "/v1/completions");
  EXPECT_EQ(serve::openai_route_with_prefix("/embeddings"), "/v1/embeddings");
  EXPECT_EQ(serve::openai_route_with_prefix("/models"), "/v1/models");
  EXPECT_EQ(serve::openai_route_with_prefix("/models/m+lora"), "/v1/models/m+lora");
  for (const char* other : {"/completion", "/v1/models", "/api/chat", "/health", "/chat", "/router/stats"}) {
    EXPECT_FALSE(serve::openai_route_with_prefix(other)) << other;
  }
}

class AuthRoutes : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess({"--api-key-env", "BANTAM_TEST_KEY"}, {"BANTAM_TEST_KEY=s3cret"});
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static int port() { return server_->port(); }
  static HttpResult call(const std::string& method, const std::string& path, std::vector<std::string> headers) {
    const std::string body = method == "POST" ? R"({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2,
                                                    "prompt": "Hi", "input": "Hi", "model": "stories260K"})"
                                              : "";
    return http(port(), method, path, body, std::move(headers));
  }
  static ServerProcess* server_;
};
ServerProcess* AuthRoutes::server_ = nullptr;

TEST_F(AuthRoutes, EveryApiRouteNeedsTheKey) {
  for (const auto& [method, path] : kApiRoutes) {
    const HttpResult anonymous = call(method, path, {});
    EXPECT_EQ(anonymous.status, 401) << method << " " << path << ": " << anonymous.body;
    // The 401 comes in the shape of the API asked for: ollama's, llama.cpp's or OpenAI's.
    const auto error = anonymous.json()["error"];
    if (path.starts_with("/api/")) {
      EXPECT_NE(error.get<std::string>().find("API key"), std::string::npos) << path << ": " << anonymous.body;
    } else if (serve::is_llamacpp_route(path)) {
      EXPECT_EQ(error["code"], 401) << path;
      EXPECT_NE(error["message"].get<std::string>().find("API key"), std::string::npos) << path;
    } else {
      EXPECT_EQ(error["code"], "invalid_api_key") << path << ": " << anonymous.body;
    }
    const HttpResult wrong = call(method, path, {"Authorization: Bearer s3cret-not"});
    EXPECT_EQ(wrong.status, 401) << method << " " << path;
    EXPECT_NE(wrong.body.find("incorrect API key"), std::string::npos) << wrong.body;
    // With the key the route itself answers (routes this build lacks say 404, not 401).
    const HttpResult keyed = call(method, path, {"Authorization: Bearer s3cret"});
    EXPECT_NE(keyed.status, 401) << method << " " << path << ": " << keyed.body;
  }
  EXPECT_EQ(call("GET", "/metrics", {}).status, 401);
  EXPECT_EQ(call("GET", "/metrics", {"Authorization: Bearer s3cret"}).status, 200);
}

TEST_F(AuthRoutes, OpenRoutesDoNot) {
  EXPECT_EQ(call("GET", "/health", {}).status, 200);
  // The chat page is open (it asks for the key itself); the other open paths hold no file yet,
  // so they answer 404 rather than 401.
  for (const char* path : {"/", "/index.html"}) EXPECT_EQ(call("GET", path, {}).status, 200) << path;
  for (const char* path : {"/ui/app.js", "/assets/chat.css"}) {
    const HttpResult r = call("GET", path, {});
    EXPECT_EQ(r.status, 404) << path << ": " << r.body;
  }
  // OPTIONS, preflight or not, never needs the key (browsers do not send it there).
  EXPECT_EQ(http(port(), "OPTIONS", "/v1/chat/completions").status, 204);
  EXPECT_EQ(http(port(), "OPTIONS", "/api/chat", "", {"Origin: http://x.example", "Access-Control-Request-Method: POST"})
                .status,
            403);  // no --cors-origin: refused as a CORS preflight, not for want of the key
}

}  // namespace
}  // namespace bantam::test
