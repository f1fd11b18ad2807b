// Cross-origin requests from web pages (`bantam serve --cors-origin ORIGIN`, repeatable). With no
// origin configured no response carries an Access-Control-* header, so browsers keep other sites'
// pages from reading the API. An allowed origin gets Access-Control-Allow-Origin (its own value,
// with Vary: Origin) on every answer, errors included, and its preflights answered on every path
// without the API key (browsers never send credentials there). A preflight from any other origin
// is refused with a 403 and no CORS headers.
#pragma once

#include <string>
#include <vector>

#include "serve/http_server.hpp"

namespace bantam::serve {

class CorsPolicy {
 public:
  // Each origin SCHEME://HOST[:PORT] (a trailing slash allowed), or "*" for every origin; Error
  // naming one that is neither.
  explicit CorsPolicy(const std::vector<std::string>& origins);

  // The CORS headers of an answer to `request`: none unless its Origin is allowed.
  void add_headers(const HttpRequest& request, HttpResponse& response) const;
  // Answers an OPTIONS request: a preflight (204 with what the origin may send, or ApiError 403),
  // or a plain OPTIONS (204 with Allow). False for every other method. Call after add_headers.
  bool answer_options(const HttpRequest& request, HttpResponse& response) const;

 private:
  bool allows(const std::string& origin) const;

  std::vector<std::string> origins_;  // lower case, without a trailing slash
  bool any_ = false;
};

}  // namespace bantam::serve
