// The chat page at / (web/, compiled in): served without the API key, with a Content-Security-
// Policy that lets it talk to this server only, GET and HEAD only, and off under --no-web-chat;
// and /v1/router/policy, which tells the page whether it may offer the cloud switch. The page's
// behaviour in a browser is tests/web/chat_browser.mjs (ctest web_chat_browser).
#include <gtest/gtest.h>

#include "raw_client.hpp"
#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

// The whole answer to one request on its own connection: status line, headers and body.
std::string raw_get(int port, const std::string& method, const std::string& path) {
  RawClient client(port);
  client.send(method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  return client.read_until_close();
}

std::string header_of(const std::string& raw, const std::string& name) {
  const std::string head = raw.substr(0, raw.find("\r\n\r\n"));
  std::string lower = head;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const size_t at = lower.find("\r\n" + name + ":");
  if (at == std::string::npos) return {};
  const size_t start = head.find_first_not_of(' ', at + name.size() + 3);
  return head.substr(start, head.find("\r\n", start) - start);
}

TEST(WebPage, ServedWithoutTheKeyAndTalksToThisServerOnly) {
  ServerProcess server({"--api-key-env", "BANTAM_TEST_KEY"}, {"BANTAM_TEST_KEY=s3cret"});
  const std::string page = raw_get(server.port(), "GET", "/");
  EXPECT_EQ(status_of(page), 200) << page.substr(0, 300);
  EXPECT_EQ(header_of(page, "content-type"), "text/html; charset=utf-8");
  const std::string body = body_of(page);
  EXPECT_TRUE(body.starts_with("<!doctype html>")) << body.substr(0, 100);
  EXPECT_NE(body.find("id=\"allow-cloud\""), std::string::npos);
  // Self-contained: no script, style or font is fetched from anywhere.
  EXPECT_EQ(body.find("<script src"), std::string::npos);
  EXPECT_EQ(body.find("<link rel=\"stylesheet\""), std::string::npos);
  const std::string csp = header_of(page, "content-security-policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("script-src 'sha256-"), std::string::npos) << csp;
  EXPECT_EQ(status_of(raw_get(server.port(), "GET", "/index.html")), 200);

  const std::string head = raw_get(server.port(), "HEAD", "/");
  EXPECT_EQ(status_of(head), 200);
  EXPECT_TRUE(body_of(head).empty());
  EXPECT_EQ(http(server.port(), "POST", "/", "{}").status, 405);

  // The page's policy question needs the key like every API route.
  EXPECT_EQ(http(server.port(), "GET", "/v1/router/policy").status, 401);
  const HttpResult policy = http(server.port(), "GET", "/v1/router/policy", "", {"Authorization: Bearer s3cret"});
  ASSERT_EQ(policy.status, 200) << policy.body;
  EXPECT_EQ(policy.json()["policy"], "local-only");
  EXPECT_EQ(policy.json()["cloud_configured"], false);
  EXPECT_EQ(policy.json()["endpoints"], nlohmann::json::array());
}

TEST(WebPage, PolicyNamesTheCloudAndConsent) {
  ServerProcess cloud({"-c", "256"});
  const std::string url = "http://127.0.0.1:" + std::to_string(cloud.port());
  ServerProcess server({"--cloud-url", url, "--route-policy", "auto", "--cloud-consent", "ask"});
  const nlohmann::json policy = http(server.port(), "GET", "/v1/router/policy").json();
  EXPECT_EQ(policy["policy"], "auto");
  EXPECT_EQ(policy["consent"], "ask");
  EXPECT_EQ(policy["sensitive"], "redact");
  EXPECT_EQ(policy["cloud_configured"], true);
  ASSERT_EQ(policy["endpoints"].size(), 1u);
  EXPECT_TRUE(policy["endpoints"][0].get<std::string>().starts_with(url)) << policy;
}

TEST(WebPage, NoWebChatLeavesOnlyTheApi) {
  ServerProcess server({"--no-web-chat"});
  EXPECT_EQ(http(server.port(), "GET", "/").status, 404);
  EXPECT_EQ(http(server.port(), "GET", "/v1/models").status, 200);
}

}  // namespace
}  // namespace bantam::test
