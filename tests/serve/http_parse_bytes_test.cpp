// parse_http_request: the socket-free parse the request fuzzer drives gives the statuses the
// server gives on a connection.
#include <gtest/gtest.h>

#include "serve/http_server.hpp"

namespace bantam::serve {
namespace {

constexpr size_t kBodyLimit = 1024;

TEST(HttpParseBytes, ChunkedBodyWithTrailersIsJoined) {
  const auto r = parse_http_request(
      "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n",
      kBodyLimit);
  ASSERT_EQ(r.status, 0) << r.error;
  EXPECT_EQ(r.request.method, "POST");
  EXPECT_EQ(r.request.path, "/v1/chat/completions");
  EXPECT_EQ(r.request.query, "x=1");
  EXPECT_EQ(r.request.body, "abcde");
  EXPECT_EQ(r.request.header("host"), "a");
}

TEST(HttpParseBytes, BadFramingGetsTheConnectionsStatus) {
  const auto status = [](std::string_view bytes) { return parse_http_request(bytes, kBodyLimit).status; };
  EXPECT_EQ(status("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"), 400);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"), 400);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), 400);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"), 501);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n"), 413);
  EXPECT_EQ(status("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"), 400);  // cut short
  EXPECT_EQ(status(""), 400);
  EXPECT_EQ(status("GET / HTTP/1.1\r\nX: " + std::string(70000, 'a') + "\r\n\r\n"), 431);
}

}  // namespace
}  // namespace bantam::serve
