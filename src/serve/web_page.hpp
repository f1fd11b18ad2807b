// The chat page `bantam serve` answers at / (web/: HTML, CSS and JS bundled at build time by
// web/build.mjs into one HTML file whose bytes are compiled in), so it works with no network.
#pragma once

#include <string_view>

#include "serve/http_server.hpp"

namespace bantam::serve {

// The generated part (the build's web/chat_page.cpp): the page and the Content-Security-Policy
// that allows exactly its inline script (by hash) and requests to this server only.
extern const std::string_view kChatPage;
extern const std::string_view kChatPageCsp;

bool is_web_page(std::string_view path);  // "/" or "/index.html"
// GET or HEAD: the page, never cached stale (it changes with the binary); ApiError 405 otherwise.
void send_web_page(const HttpRequest& request, HttpResponse& response);

}  // namespace bantam::serve
