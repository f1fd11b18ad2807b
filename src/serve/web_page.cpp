#include "serve/web_page.hpp"

#include "serve/api_error.hpp"

namespace bantam::serve {

bool is_web_page(std::string_view path) { return path == "/" || path == "/index.html"; }

void send_web_page(const HttpRequest& request, HttpResponse& response) {
  if (request.method != "GET" && request.method != "HEAD") throw ApiError(405, "use GET / for the chat page");
  response.add_header("Content-Security-Policy", std::string(kChatPageCsp));
  response.add_header("X-Content-Type-Options", "nosniff");
  response.add_header("Referrer-Policy", "no-referrer");
  response.add_header("Cache-Control", "no-cache");
  response.send(200, "text/html; charset=utf-8", kChatPage);
}

}  // namespace bantam::serve
