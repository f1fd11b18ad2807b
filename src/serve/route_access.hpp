// Who may call which route, decided by path before any route runs, so that a route added later
// is protected without a line of its own: with an API key (--api-key-env), every path needs it
// except an explicit open list. Also the OpenAI routes' spellings without /v1, as llama.cpp's
// server accepts them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "serve/http_server.hpp"

namespace bantam::serve {

// False for the open paths: /health; /metrics with --metrics-public; the web page's static files
// (/, /index.html, /favicon.ico, and everything under /ui/ and /assets/), since the page asks for
// the key for its own API calls. A path with a dot segment or a percent escape is never open, so
// that no spelling of an API path can pass as a static file.
bool needs_api_key(std::string_view path, bool metrics_public);

// ApiError 401 unless the request carries `Authorization: Bearer KEY` (compared in time
// independent of where the first difference is). An empty key lets everything through.
void require_api_key(const HttpRequest& request, const std::string& key);

// "/v1" + path for the OpenAI routes spelled without the prefix (/chat/completions,
// /completions, /embeddings, /models, /models/ID); nullopt for every other path.
std::optional<std::string> openai_route_with_prefix(std::string_view path);

}  // namespace bantam::serve
