#include "hub/huggingface.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "bantam/error.hpp"
#include "format/json_input.hpp"
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

constexpr uint64_t kMaxListingBytes = 16 << 20;
constexpr size_t kMaxNamesInErrors = 40;
constexpr const char* kDefaultQuant = "Q4_K_M";

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string base_name(const std::string& path) { return split(path, '/').back(); }

bool is_gguf_name(const std::string& path) { return lowercase(path).ends_with(".gguf"); }

// The file name without ".gguf", split at '-' and '.', lowercased: the parts a tag may equal.
std::vector<std::string> name_parts(const std::string& path) {
  std::string stem = lowercase(base_name(path));
  stem.resize(stem.size() - 5);
  std::replace(stem.begin(), stem.end(), '.', '-');
  return split(stem, '-');
}

bool all_digits(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// llama.cpp's gguf-split names parts NAME-00001-of-00003.gguf.
bool is_split_part(const std::string& path) {
  const auto parts = name_parts(path);
  const size_t n = parts.size();
  return n >= 3 && parts[n - 2] == "of" && all_digits(parts[n - 1]) && all_digits(parts[n - 3]);
}

bool has_tag(const std::string& path, const std::string& tag) {
  const auto parts = name_parts(path);
  return std::find(parts.begin(), parts.end(), lowercase(tag)) != parts.end();
}

std::string name_list(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < kMaxNamesInErrors; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > kMaxNamesInErrors) out += fmt::format(" and {} more", names.size() - kMaxNamesInErrors);
  return out;
}

std::vector<std::string> tagged(const std::vector<std::string>& files, const std::string& tag) {
  std::vector<std::string> out;
  std::copy_if(files.begin(), files.end(), std::back_inserter(out), [&](const auto& f) { return has_tag(f, tag); });
  return out;
}

}  // namespace

std::string choose_gguf_file(const std::vector<std::string>& files, const std::string& quant,
                             const std::string& repository) {
  std::vector<std::string> ggufs;
  for (const std::string& file : files) {
    if (is_gguf_name(file) && !lowercase(base_name(file)).starts_with("mmproj")) ggufs.push_back(file);
  }
  if (ggufs.empty()) {
    throw Error(fmt::format("{} has no GGUF file (its files: {})", repository, files.empty() ? "none" : name_list(files)));
  }
  const std::vector<std::string> matches = tagged(ggufs, quant.empty() ? kDefaultQuant : quant);
  if (!matches.empty() && std::all_of(matches.begin(), matches.end(), is_split_part)) {
    throw Error(fmt::format("{}:{} is split into parts ({}); bantam reads single-file GGUF models only", repository,
                            quant.empty() ? kDefaultQuant : quant, name_list(matches)));
  }
  if (matches.size() == 1) return matches.front();
  if (matches.size() > 1) {
    throw Error(fmt::format("the tag {} matches {} files in {}: {}; name one as hf://{}/FILE",
                            quant.empty() ? kDefaultQuant : quant, matches.size(), repository, name_list(matches),
                            repository));
  }
  if (!quant.empty()) {
    throw Error(fmt::format("{} has no GGUF file tagged {}; its GGUF files: {}", repository, quant, name_list(ggufs)));
  }
  if (ggufs.size() == 1) return ggufs.front();
  throw Error(fmt::format("{} has {} GGUF files and none tagged {}; choose one with hf://{}:QUANT or "
                          "hf://{}/FILE: {}",
                          repository, ggufs.size(), kDefaultQuant, repository, repository, name_list(ggufs)));
}

std::vector<std::string> list_hf_files(const HfAddress& address, const std::string& endpoint,
                                       const FetchOptions& options) {
  const std::string url = address.listing_url(endpoint);
  const HttpResponse r = http_get(url, kMaxListingBytes, options);
  if (r.status == 404) {
    throw Error(fmt::format("{}: no repository {}/{} on the Hub", url, address.owner, address.repo));
  }
  if (r.status == 401 || r.status == 403) {
    throw Error(fmt::format("{}: HTTP status {}: the repository is private or gated (bantam sends no Hub token)",
                            url, r.status));
  }
  if (r.status != 200) throw Error(fmt::format("{}: HTTP status {}", url, r.status));
  const nlohmann::json listing = parse_json(r.body, url);
  if (!listing.is_object() || !listing.contains("siblings") || !listing["siblings"].is_array()) {
    throw Error(fmt::format("{}: the Hub's answer has no \"siblings\" array of files", url));
  }
  std::vector<std::string> files;
  for (const nlohmann::json& sibling : listing["siblings"]) {
    if (sibling.is_object() && sibling.contains("rfilename") && sibling["rfilename"].is_string()) {
      files.push_back(sibling["rfilename"].get<std::string>());
    }
  }
  return files;
}

std::string HfAddress::listing_url(const std::string& endpoint) const {
  std::string base = endpoint;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return fmt::format("{}/api/models/{}/{}", base, owner, repo);
}

std::string HfAddress::url(const std::string& endpoint) const {
  std::string base = endpoint;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return fmt::format("{}/{}/{}/resolve/main/{}", base, owner, repo, file);
}

bool is_hf_address(const std::string& text) { return text.starts_with("hf://"); }

HfAddress parse_hf_address(const std::string& address) {
  if (!is_hf_address(address)) throw Error(fmt::format("'{}' is not an hf:// address", address));
  auto parts = split(address.substr(5), '/');
  if (parts.size() < 2) {
    throw Error(fmt::format("'{}' should look like hf://OWNER/REPO[:QUANT] or hf://OWNER/REPO/FILE.gguf", address));
  }
  HfAddress out;
  if (const size_t colon = parts[1].find(':'); parts.size() == 2 && colon != std::string::npos) {
    out.quant = parts[1].substr(colon + 1);
    parts[1].resize(colon);
    check_safe_name(out.quant, fmt::format("'{}': quantization tag", address));
  }
  for (const auto& part : parts) check_safe_name(part, fmt::format("'{}': path component", address));
  out.owner = parts[0];
  out.repo = parts[1];
  for (size_t i = 2; i < parts.size(); ++i) out.file += (i > 2 ? "/" : "") + parts[i];
  return out;
}

InstalledVersion pull_from_hf(Store& store, const std::string& address, const std::string& endpoint,
                              const std::string& name, const FetchOptions& options) {
  if (!endpoint.starts_with("http://") && !endpoint.starts_with("https://")) {
    throw Error(fmt::format("Hugging Face endpoint '{}' must start with http:// or https://", endpoint));
  }
  HfAddress hf = parse_hf_address(address);
  if (hf.file.empty()) {
    const std::string repository = hf.owner + "/" + hf.repo;
    hf.file = choose_gguf_file(list_hf_files(hf, endpoint, options), hf.quant, repository);
    // The name comes from the Hub: it must be as safe as one typed in an address.
    for (const auto& part : split(hf.file, '/')) check_safe_name(part, fmt::format("{}: file name", repository));
  }
  const std::string url = hf.url(endpoint);
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
  record.source = fmt::format("hf://{}/{}/{}", hf.owner, hf.repo, hf.file);  // the file a tag chose, if any
  const BlobSpec spec{url, model_name + " (" + address + ")", etag, size, 0, {}};
  return install_blob(store, spec, record, "", options);
}

}  // namespace bantam::hub
