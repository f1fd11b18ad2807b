#include "serve/cors.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "serve/api_error.hpp"

namespace bantam::serve {

namespace {

constexpr const char* kMethods = "GET, HEAD, POST, OPTIONS";
// What a page calling the API sends beyond the CORS-safelisted headers, when the preflight
// asks for nothing the echo below accepts.
constexpr const char* kDefaultHeaders = "Authorization, Content-Type";
// Seconds a browser may reuse a preflight's answer: short, so that a changed --cors-origin
// takes effect soon.
constexpr const char* kMaxAge = "600";
// Bounds on the requested header names that are echoed back.
constexpr size_t kMaxRequestedHeaders = 32;
constexpr size_t kMaxHeaderNameBytes = 64;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// An HTTP field name (RFC 9110's token).
bool is_token(std::string_view s) {
  if (s.empty() || s.size() > kMaxHeaderNameBytes) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

// The header names a preflight asks for, re-joined, when they are a reasonable list of field
// names; else the default list.
std::string allowed_headers(const std::string& requested) {
  std::string out;
  size_t count = 0;
  for (size_t start = 0; start <= requested.size();) {
    size_t end = requested.find(',', start);
    if (end == std::string::npos) end = requested.size();
    const std::string_view name = trim(std::string_view(requested).substr(start, end - start));
    start = end + 1;
    if (name.empty()) continue;
    if (!is_token(name) || ++count > kMaxRequestedHeaders) return kDefaultHeaders;
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out.empty() ? kDefaultHeaders : out;
}

std::string normalized_origin(const std::string& given) {
  std::string origin = lower(given);
  if (origin.ends_with('/')) origin.pop_back();
  const size_t scheme_end = origin.find("://");
  const bool valid = scheme_end != std::string::npos && scheme_end > 0 && origin.size() > scheme_end + 3 &&
                     origin.find_first_of("/?#", scheme_end + 3) == std::string::npos &&
                     std::none_of(origin.begin(), origin.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
  if (!valid) {
    throw Error(fmt::format("--cors-origin '{}': give an origin as SCHEME://HOST[:PORT] without a path "
                            "(http://localhost:3000), or * for every origin",
                            given));
  }
  return origin;
}

}  // namespace

CorsPolicy::CorsPolicy(const std::vector<std::string>& origins) {
  for (const std::string& origin : origins) {
    if (origin == "*") {
      any_ = true;
    } else {
      origins_.push_back(normalized_origin(origin));
    }
  }
}

bool CorsPolicy::allows(const std::string& origin) const {
  if (origin.empty()) return false;
  return any_ || std::find(origins_.begin(), origins_.end(), lower(origin)) != origins_.end();
}

void CorsPolicy::add_headers(const HttpRequest& request, HttpResponse& response) const {
  if (!any_ && origins_.empty()) return;
  const std::string origin = request.header("origin");
  if (origin.empty()) return;
  // The answer depends on the Origin either way: caches must keep them apart.
  response.add_header("Vary", "Origin");
  if (allows(origin)) response.add_header("Access-Control-Allow-Origin", origin);
}

bool CorsPolicy::answer_options(const HttpRequest& request, HttpResponse& response) const {
  if (request.method != "OPTIONS") return false;
  const std::string origin = request.header("origin");
  const std::string method = request.header("access-control-request-method");
  if (origin.empty() || method.empty()) {
    response.add_header("Allow", kMethods);
    response.send(204, "", "");
    return true;
  }
  if (!allows(origin)) {
    throw ApiError(403,
                   fmt::format("cross-origin requests from {} are not allowed (bantam serve --cors-origin ORIGIN "
                               "allows an origin)",
                               origin),
                   "", "cors_origin_not_allowed");
  }
  response.add_header("Access-Control-Allow-Methods", kMethods);
  response.add_header("Access-Control-Allow-Headers",
                      allowed_headers(request.header("access-control-request-headers")));
  response.add_header("Access-Control-Max-Age", kMaxAge);
  response.send(204, "", "");
  return true;
}

}  // namespace bantam::serve
