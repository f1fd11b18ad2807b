// CORS (`--cors-origin`): no Access-Control-* headers unless an origin is configured; allowed
// origins get them on every answer; preflights are answered on every path without the API key;
// other origins' preflights are refused.
#include <gtest/gtest.h>

#include <cctype>

#include "raw_client.hpp"
#include "serve_fixture.hpp"

namespace bantam::test {
namespace {

using namespace std::chrono_literals;

// The whole answer to one request sent on a fresh connection (Connection: close).
std::string exchange(int port, const std::string& method, const std::string& path,
                     const std::vector<std::string>& headers, const std::string& body = {}) {
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: bantam\r\nConnection: close\r\n";
  for (const std::string& h : headers) request += h + "\r\n";
  if (!body.empty()) request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n" + body;
  RawClient client(port);
  client.send(request);
  return client.read_until_close(60s);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The value of the header `name` in the head of `raw`, nullopt when absent.
std::optional<std::string> header_of(const std::string& raw, const std::string& name) {
  const std::string head = lower(raw.substr(0, raw.find("\r\n\r\n")));
  const std::string key = "\r\n" + lower(name) + ": ";
  const size_t at = head.find(key);
  if (at == std::string::npos) return std::nullopt;
  const size_t start = at + key.size();
  // The value as sent (not lower-cased).
  return raw.substr(start, head.find("\r\n", start) - start);
}

bool has_cors_headers(const std::string& raw) {
  return lower(raw.substr(0, raw.find("\r\n\r\n"))).find("access-control-") != std::string::npos;
}

const std::string kApp = "http://app.example:3000";

std::vector<std::string> preflight_headers(const std::string& origin,
                                           const std::string& requested = "authorization, content-type") {
  return {"Origin: " + origin, "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: " + requested};
}

TEST(Cors, NoOriginConfiguredMeansNoCorsHeaders) {
  ServerProcess server;
  const std::string get = exchange(server.port(), "GET", "/health", {"Origin: " + kApp});
  EXPECT_EQ(status_of(get), 200) << get;
  EXPECT_FALSE(has_cors_headers(get)) << get;
  EXPECT_FALSE(header_of(get, "Vary")) << get;
  const std::string preflight = exchange(server.port(), "OPTIONS", "/v1/chat/completions", preflight_headers(kApp));
  EXPECT_EQ(status_of(preflight), 403) << preflight;
  EXPECT_FALSE(has_cors_headers(preflight)) << preflight;
}

TEST(Cors, AnAllowedOriginGetsItsOriginBackOnEveryAnswer) {
  ServerProcess server({"--cors-origin", kApp + "/", "--cors-origin", "https://other.example"});
  const std::string get = exchange(server.port(), "GET", "/health", {"Origin: " + kApp});
  EXPECT_EQ(status_of(get), 200) << get;
  EXPECT_EQ(header_of(get, "Access-Control-Allow-Origin"), kApp) << get;
  EXPECT_EQ(header_of(get, "Vary"), "Origin") << get;
  // The second configured origin, a POST, and an error answer (which the page must be able to read).
  const std::string chat = exchange(server.port(), "POST", "/v1/chat/completions", {"Origin: https://other.example"},
                                    short_chat().dump());
  EXPECT_EQ(status_of(chat), 200) << chat;
  EXPECT_EQ(header_of(chat, "Access-Control-Allow-Origin"), "https://other.example") << chat;
  const std::string missing = exchange(server.port(), "GET", "/v1/nothing-here", {"Origin: " + kApp});
  EXPECT_EQ(status_of(missing), 404) << missing;
  EXPECT_EQ(header_of(missing, "Access-Control-Allow-Origin"), kApp) << missing;
  // Another origin, and a request without one, get no CORS headers (the browser blocks the read).
  const std::string other = exchange(server.port(), "GET", "/health", {"Origin: http://evil.example"});
  EXPECT_EQ(status_of(other), 200) << other;
  EXPECT_FALSE(has_cors_headers(other)) << other;
  EXPECT_EQ(header_of(other, "Vary"), "Origin") << other;
  const std::string plain = exchange(server.port(), "GET", "/health", {});
  EXPECT_FALSE(has_cors_headers(plain)) << plain;
}

TEST(Cors, PreflightIsAnsweredOnEveryPathWithoutTheApiKey) {
  ServerProcess server({"--cors-origin", kApp, "--api-key-env", "BANTAM_TEST_KEY"}, {"BANTAM_TEST_KEY=s3cret"});
  for (const char* path : {"/v1/chat/completions", "/v1/embeddings", "/chat/completions", "/api/chat", "/completion",
                           "/tokenize", "/metrics", "/no/such/route"}) {
    const std::string raw = exchange(server.port(), "OPTIONS", path, preflight_headers(kApp));
    EXPECT_EQ(status_of(raw), 204) << path << "\n" << raw;
    EXPECT_EQ(header_of(raw, "Access-Control-Allow-Origin"), kApp) << raw;
    const auto methods = header_of(raw, "Access-Control-Allow-Methods");
    ASSERT_TRUE(methods) << raw;
    EXPECT_NE(methods->find("POST"), std::string::npos) << raw;
    EXPECT_NE(methods->find("GET"), std::string::npos) << raw;
    EXPECT_EQ(header_of(raw, "Access-Control-Allow-Headers"), "authorization, content-type") << raw;
    EXPECT_EQ(header_of(raw, "Access-Control-Max-Age"), "600") << raw;
    EXPECT_FALSE(header_of(raw, "Content-Length")) << raw;  // a 204 has no content
  }
  // The request the preflight cleared: with the key it is answered, with the origin's header.
  const std::string chat = exchange(server.port(), "POST", "/v1/chat/completions",
                                    {"Origin: " + kApp, "Authorization: Bearer s3cret"}, short_chat().dump());
  EXPECT_EQ(status_of(chat), 200) << chat;
  EXPECT_EQ(header_of(chat, "Access-Control-Allow-Origin"), kApp) << chat;
  // Without the key the 401 still carries the header, so the page can show why.
  const std::string anonymous =
      exchange(server.port(), "POST", "/v1/chat/completions", {"Origin: " + kApp}, short_chat().dump());
  EXPECT_EQ(status_of(anonymous), 401) << anonymous;
  EXPECT_EQ(header_of(anonymous, "Access-Control-Allow-Origin"), kApp) << anonymous;
}

TEST(Cors, PreflightFromAnotherOriginIsRefused) {
  ServerProcess server({"--cors-origin", kApp});
  const std::string raw = exchange(server.port(), "OPTIONS", "/v1/chat/completions",
                                   preflight_headers("http://app.example:3001"));
  EXPECT_EQ(status_of(raw), 403) << raw;
  EXPECT_FALSE(has_cors_headers(raw)) << raw;
  const auto error = nlohmann::json::parse(body_of(raw));
  EXPECT_EQ(error["error"]["code"], "cors_origin_not_allowed") << raw;
  EXPECT_NE(error["error"]["message"].get<std::string>().find("http://app.example:3001"), std::string::npos);
}

TEST(Cors, StarAllowsEveryOrigin) {
  ServerProcess server({"--cors-origin", "*"});
  for (const std::string origin : {"http://a.example", "https://b.example:8443", "null"}) {
    const std::string raw = exchange(server.port(), "OPTIONS", "/v1/models", preflight_headers(origin));
    EXPECT_EQ(status_of(raw), 204) << raw;
    EXPECT_EQ(header_of(raw, "Access-Control-Allow-Origin"), origin) << raw;
  }
}

TEST(Cors, RequestedHeadersAreEchoedWithinReason) {
  ServerProcess server({"--cors-origin", kApp});
  const auto allowed = [&](const std::string& requested) {
    const std::string raw = exchange(server.port(), "OPTIONS", "/v1/chat/completions", preflight_headers(kApp, requested));
    EXPECT_EQ(status_of(raw), 204) << raw;
    return header_of(raw, "Access-Control-Allow-Headers").value_or("(none)");
  };
  EXPECT_EQ(allowed("Content-Type,Authorization ,X-Stainless-OS"), "Content-Type, Authorization, X-Stainless-OS");
  // Not a list of field names, or too many of them: the headers the API needs.
  EXPECT_EQ(allowed("bad name(, authorization"), "Authorization, Content-Type");
  std::string many;
  for (int i = 0; i < 40; ++i) many += "x-h" + std::to_string(i) + ",";
  EXPECT_EQ(allowed(many), "Authorization, Content-Type");
}

TEST(Cors, PlainOptionsNamesTheMethods) {
  ServerProcess server;
  const std::string raw = exchange(server.port(), "OPTIONS", "/v1/chat/completions", {});
  EXPECT_EQ(status_of(raw), 204) << raw;
  EXPECT_EQ(header_of(raw, "Allow"), "GET, HEAD, POST, OPTIONS") << raw;
  EXPECT_FALSE(has_cors_headers(raw)) << raw;
}

TEST(Cors, AMalformedOriginIsRefusedAtStart) {
  const RunResult r = run_cli({"serve", "-m", stories_model(), "--port", "0", "--cors-origin", "http://app.example/ui"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--cors-origin 'http://app.example/ui'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace bantam::test
