#include "serve/route_access.hpp"

#include "serve/api_error.hpp"

namespace bantam::serve {

namespace {

// "." or ".." as a whole segment: a static file server could resolve it out of its folder.
bool has_dot_segment(std::string_view path) {
  for (size_t start = 0; start < path.size();) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view segment = path.substr(start, end - start);
    if (segment == "." || segment == "..") return true;
    start = end + 1;
  }
  return false;
}

bool is_static_file(std::string_view path) {
  if (has_dot_segment(path) || path.find('%') != std::string_view::npos) return false;
  if (path == "/" || path == "/index.html" || path == "/favicon.ico") return true;
  return path.starts_with("/ui/") || path.starts_with("/assets/");
}

}  // namespace

bool needs_api_key(std::string_view path, bool metrics_public) {
  if (path == "/health") return false;
  if (path == "/metrics") return !metrics_public;
  return !is_static_file(path);
}

void require_api_key(const HttpRequest& request, const std::string& key) {
  if (key.empty()) return;
  const std::string header = request.header("authorization");
  const std::string expected = "Bearer " + key;
  unsigned char diff = header.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    diff |= static_cast<unsigned char>((i < header.size() ? header[i] : 0) ^ expected[i]);
  }
  if (diff != 0) {
    throw ApiError(401, header.empty() ? "missing API key: send 'Authorization: Bearer <key>'" : "incorrect API key",
                   "", "invalid_api_key");
  }
}

std::optional<std::string> openai_route_with_prefix(std::string_view path) {
  for (std::string_view route : {"/chat/completions", "/completions", "/embeddings", "/models"}) {
    if (path == route) return "/v1" + std::string(path);
  }
  if (path.starts_with("/models/")) return "/v1" + std::string(path);
  return std::nullopt;
}

}  // namespace bantam::serve
