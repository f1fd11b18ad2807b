// `bantam pull hf://OWNER/REPO/FILE.gguf`: a file from the Hugging Face Hub, checked against the
// SHA-256 the Hub publishes for it (the LFS object id in X-Linked-Etag/ETag), into the same
// resumable, atomic store as signed hub models.
#pragma once

#include <string>

#include "hub/client.hpp"

namespace bantam::hub {

inline constexpr const char* kDefaultHfEndpoint = "https://huggingface.co";

struct HfAddress {
  std::string owner;
  std::string repo;
  std::string file;  // may contain '/' for files in folders

  // {endpoint}/{owner}/{repo}/resolve/main/{file}
  std::string url(const std::string& endpoint) const;
};

bool is_hf_address(const std::string& text);  // starts with hf://
// Throws Error unless `address` is hf://OWNER/REPO/PATH with safe components.
HfAddress parse_hf_address(const std::string& address);

// `name` empty: the file name without .gguf. The version recorded is the file's sha256 prefix.
InstalledVersion pull_from_hf(Store& store, const std::string& address, const std::string& endpoint,
                              const std::string& name, const FetchOptions& options);

}  // namespace bantam::hub
