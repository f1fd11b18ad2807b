#include "hub/huggingface.hpp"

#include <charconv>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "hub/digest.hpp"

namespace bantam::hub {
namespace {

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t end = text.find(sep, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

// ETag values look like "abc..." or W/"abc..."; the LFS ones are the file's sha256.
std::string strip_etag(std::string etag) {
  if (etag.starts_with("W/")) etag.erase(0, 2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return etag;
}

uint64_t parse_size(const std::string& text, const std::string& url) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0) {
    throw Error(fmt::format("{}: the Hub gave no usable file size ('{}')", url, text));
  }
  return value;
}

}  // namespace

std::string HfAddress::url(const std::string& endpoint) const {
  std::string base = endpoint;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return fmt::format("{}/{}/{}/resolve/main/{}", base, owner, repo, file);
}

bool is_hf_address(const std::string& text) { return text.starts_with("hf://"); }

HfAddress parse_hf_address(const std::string& address) {
  if (!is_hf_address(address)) throw Error(fmt::format("'{}' is not an hf:// address", address));
  const auto parts = split(address.substr(5), '/');
  if (parts.size() < 3) {
    throw Error(fmt::format("'{}' should look like hf://OWNER/REPO/FILE.gguf", address));
  }
  for (const auto& part : parts) check_safe_name(part, fmt::format("'{}': path component", address));
  HfAddress out{parts[0], parts[1], ""};
  for (size_t i = 2; i < parts.size(); ++i) out.file += (i > 2 ? "/" : "") + parts[i];
  return out;
}

InstalledVersion pull_from_hf(Store& store, const std::string& address, const std::string& endpoint,
                              const std::string& name, const FetchOptions& options) {
  const HfAddress hf = parse_hf_address(address);
  const std::string url = hf.url(endpoint);
  if (!url.starts_with("http://") && !url.starts_with("https://")) {
    throw Error(fmt::format("Hugging Face endpoint '{}' must start with http:// or https://", endpoint));
  }
  const HttpResponse head = http_head(url, options);
  if (head.status == 404) throw Error(fmt::format("{}: not found on the Hub", url));
  if (head.status != 200 && (head.status < 300 || head.status > 399)) {
    throw Error(fmt::format("{}: HTTP status {}", url, head.status));
  }
  auto header = [&](const char* key) {
    const auto it = head.headers.find(key);
    return it == head.headers.end() ? std::string() : it->second;
  };
  const std::string etag = strip_etag(!header("x-linked-etag").empty() ? header("x-linked-etag") : header("etag"));
  if (!is_sha256_hex(etag)) {
    throw Error(fmt::format("{}: the Hub publishes no SHA-256 for this file (ETag '{}'); refusing an "
                            "unverifiable download",
                            url, etag));
  }
  const std::string size_text = !header("x-linked-size").empty() ? header("x-linked-size") : header("content-length");
  const uint64_t size = parse_size(size_text, url);

  std::string model_name = name;
  if (model_name.empty()) {
    const std::string base = split(hf.file, '/').back();
    model_name = base.ends_with(".gguf") ? base.substr(0, base.size() - 5) : base;
  }
  check_safe_name(model_name, "model name (choose one with --name)");
  InstalledVersion record;
  record.name = model_name;
  record.version = etag.substr(0, 12);
  record.sha256 = etag;
  record.size = size;
  record.source = address;
  const BlobSpec spec{url, model_name + " (" + address + ")", etag, size, 0, {}};
  return install_blob(store, spec, record, "", options);
}

}  // namespace bantam::hub
